# Copyright: Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pourtrait.ops checkout pourtrait-ops works on: where it is, its playbooks, its
inventories, and the checks of a run's inputs (each failure a one-line ConfigError)."""

import os
import re
import shlex

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
PLAYBOOK_SUFFIXES = ('.yml', '.yaml')


class ConfigError(Exception):
    """Bad configuration or input: exit 3 with this one-line message."""


def is_checkout(path):
    """Whether path is the root of a pourtrait.ops checkout (galaxy.yml naming pourtrait.ops, playbooks/)."""
    galaxy = os.path.join(path, 'galaxy.yml')
    if not (os.path.isfile(galaxy) and os.path.isdir(os.path.join(path, 'playbooks'))):
        return False
    try:
        with open(galaxy, encoding='utf-8') as handle:
            text = handle.read()
    except OSError:
        return False
    return (re.search(r'^namespace:\s*pourtrait\s*$', text, re.M) is not None
            and re.search(r'^name:\s*ops\s*$', text, re.M) is not None)


def find_root(explicit=None, cwd=None, environ=None):
    """The checkout: --project-dir, else $POURTRAIT_OPS_PROJECT_DIR, else the nearest one above the current
    directory, else the one this package was installed from (set-up installs it in editable mode)."""
    environ = os.environ if environ is None else environ
    given = explicit or environ.get('POURTRAIT_OPS_PROJECT_DIR')
    if given:
        root = os.path.abspath(given)
        if not is_checkout(root):
            raise ConfigError('%s is not a pourtrait.ops checkout (no galaxy.yml for pourtrait.ops with a playbooks/ '
                              'directory); pass --project-dir with the repository root' % root)
        return root
    candidates = []
    path = os.path.abspath(cwd or os.getcwd())
    while True:
        candidates.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    candidates.append(os.path.dirname(os.path.dirname(os.path.dirname(PACKAGE_DIR))))
    for candidate in candidates:
        if is_checkout(candidate):
            return candidate
    raise ConfigError('cannot find the pourtrait.ops checkout from %s; run pourtrait-ops inside it or pass '
                      '--project-dir' % (cwd or os.getcwd()))


def playbook_description(path):
    """The first line of a playbook's leading comment ('Runbook: rollback - ...'), else the first play's name."""
    try:
        with open(path, encoding='utf-8') as handle:
            lines = handle.read().splitlines()
    except OSError:
        return ''
    for line in lines:
        stripped = line.strip()
        if stripped in ('', '---'):
            continue
        if stripped.startswith('#'):
            text = stripped.lstrip('#').strip()
            if text:
                return re.sub(r'^Runbook:\s*', '', text)
            continue
        match = re.match(r'-\s*name:\s*(.+)$', stripped)
        return match.group(1).strip('\'"') if match else ''
    return ''


def list_playbooks(root):
    """[(name, relative path, description)] of playbooks/*.yml, sorted by name."""
    directory = os.path.join(root, 'playbooks')
    found = []
    for entry in sorted(os.listdir(directory)):
        base, ext = os.path.splitext(entry)
        full = os.path.join(directory, entry)
        if ext in PLAYBOOK_SUFFIXES and os.path.isfile(full):
            found.append((base, os.path.join('playbooks', entry), playbook_description(full)))
    return found


def resolve_playbook(root, name, cwd=None):
    """(display name, absolute path) of a playbook given by name ('rollback') or as a path to a .yml file."""
    cwd = cwd or os.getcwd()
    if name.endswith(PLAYBOOK_SUFFIXES) or os.sep in name:
        for base in (cwd, root):
            path = os.path.abspath(os.path.join(base, name))
            if os.path.isfile(path):
                return os.path.splitext(os.path.basename(path))[0], path
        raise ConfigError('playbook file %s not found (relative to %s)' % (name, _where(cwd, root)))
    known = list_playbooks(root)
    for base, rel, _desc in known:
        if base == name:
            return base, os.path.join(root, rel)
    raise ConfigError("unknown playbook '%s'; known playbooks: %s (see pourtrait-ops list)"
                      % (name, ', '.join(base for base, _rel, _desc in known) or 'none'))


def _where(cwd, root):
    return cwd if os.path.abspath(cwd) == os.path.abspath(root) else '%s or %s' % (cwd, root)


def resolve_inventory(root, inventory, cwd=None):
    """Absolute path of an inventory given relative to the current directory or the checkout; None keeps
    ansible.cfg's default (inventory/local)."""
    if inventory is None:
        return None
    cwd = cwd or os.getcwd()
    for base in (cwd, root):
        path = os.path.abspath(os.path.join(base, os.path.expanduser(inventory)))
        if os.path.exists(path):
            return path
    choices = sorted(os.path.join('inventory', d) for d in os.listdir(os.path.join(root, 'inventory'))
                     if os.path.isdir(os.path.join(root, 'inventory', d))) if os.path.isdir(
        os.path.join(root, 'inventory')) else []
    raise ConfigError('inventory %s not found (relative to %s)%s'
                      % (inventory, _where(cwd, root), '; available: ' + ', '.join(choices) if choices else ''))


def prepare_extra_vars(values, cwd=None):
    """Check -e values and make @file paths absolute (ansible-playbook runs in the checkout).
    Returns (arguments for ansible-playbook, names for the summary: variable names, @files, or <inline>)."""
    cwd = cwd or os.getcwd()
    args, names = [], []
    for value in values or []:
        if value.startswith('@'):
            path = os.path.abspath(os.path.join(cwd, os.path.expanduser(value[1:])))
            if not value[1:]:
                raise ConfigError('-e @ needs a file name: -e @vars.yml')
            if not os.path.isfile(path):
                raise ConfigError('extra vars file %s not found (-e %s)' % (path, value))
            args.append('@' + path)
            names.append('@' + path)
            continue
        stripped = value.strip()
        if not stripped:
            raise ConfigError('-e needs key=value, @file or a JSON/YAML mapping, not an empty string')
        if stripped[0] in '{[':
            args.append(value)
            names.append('<inline>')
            continue
        try:
            tokens = shlex.split(stripped)
        except ValueError as exc:
            raise ConfigError('cannot parse -e %r: %s' % (value, exc))
        for token in tokens:
            key = token.split('=', 1)[0]
            if '=' not in token or not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', key):
                raise ConfigError("-e %r: expected key=value (a variable name, '=', a value) or @file" % token)
            names.append(key)
        args.append(value)
    return args, names

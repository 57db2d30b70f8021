"""The one way tests run ``ansible-playbook``: :func:`run_playbook` (and :func:`playbook_command` for tests that
start the process themselves).

Every run gets the same environment: the test process's, without what a developer's shell may carry into it
(libpq settings, credentials of Vercel, Supabase and the other outside services, Ansible and pourtrait.ops
settings), then the checkout's Ansible settings (``config=True``: its ansible.cfg and .collections link; with
``config=False`` none, as in a user's shell outside the checkout), a reports directory of its own for the
runbook_report callback, and the test's ``env`` last.

The result carries the exit code, stdout, stderr and the run report the callback wrote (parsed JSON, Markdown
text, path), so a test needs neither glob nor a second directory to find it.
"""

import glob
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, '.collections')
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

# Variables of the developer's shell that never reach a playbook run (a test hands over what it needs in env).
LIBPQ_VARS = ('PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE', 'DATABASE_URL', 'PGSSLMODE', 'PGPASSFILE',
              'PGSERVICE')
STRIPPED_VARS = LIBPQ_VARS + ('APP_URL', 'SLACK_WEBHOOK_URL', 'OPENAI_API_KEY', 'GOOGLE_VISION_API_KEY',
                              'RESEND_API_KEY')
STRIPPED_PREFIXES = ('ANSIBLE_', 'VERCEL_', 'SUPABASE_', 'POURTRAIT_')


def ensure_collection_link():
    """FQCN imports (ansible_collections.pourtrait.ops...) resolve to this checkout."""
    link = os.path.join(COLLECTIONS, 'ansible_collections', 'pourtrait', 'ops')
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(ROOT, link)
        except FileExistsError:  # another test worker made it meanwhile
            pass


def base_env():
    """The test process's environment without the developer's libpq, credential, Ansible and pourtrait settings."""
    return {key: value for key, value in os.environ.items()
            if key not in STRIPPED_VARS and not key.startswith(STRIPPED_PREFIXES)}


def playbook_env(*parts, config=True, reports_dir=None):
    """The environment of one ``ansible-playbook`` run: :func:`base_env`, the checkout's Ansible settings
    (``config``), POURTRAIT_REPORTS_DIR=``reports_dir`` (when given), then ``parts`` (dicts) in order."""
    env = base_env()
    env.update(ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_RETRY_FILES_ENABLED='0')
    if reports_dir is None:  # the session's (tests/conftest.py): never the checkout's reports/
        reports_dir = os.environ.get('POURTRAIT_REPORTS_DIR')
    if config:
        ensure_collection_link()
        env.update(ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
                   PYTHONPATH=COLLECTIONS)
    else:
        env.pop('PYTHONPATH', None)
    if reports_dir is not None:
        env['POURTRAIT_REPORTS_DIR'] = str(reports_dir)
        # the production lock (pourtrait.ops.run_lock) of the runs of this test session, not the user's
        env['POURTRAIT_LOCK_PATH'] = os.path.join(str(reports_dir), 'production.lock')
    for part in parts:
        env.update(part or {})
    return env


def playbook_path(name):
    """``rollback`` -> <checkout>/playbooks/rollback.yml; a path (absolute, or ending in .yml) or an FQCN
    (``pourtrait.ops.rollback``) as given."""
    name = str(name)
    if os.path.isabs(name) or name.endswith(('.yml', '.yaml')) or '.' in name:
        return name
    return os.path.join(ROOT, 'playbooks', name + '.yml')


def inventory_path(inventory):
    """``production`` -> <checkout>/inventory/production; a path as given; None: no -i at all."""
    if inventory is None:
        return None
    inventory = str(inventory)
    if os.sep in inventory or ',' in inventory:
        return inventory
    return os.path.join(ROOT, 'inventory', inventory)


def write_vars_file(directory, name, variables):
    """Extra vars as a 0600 JSON file (``-e @file``: values kept out of ansible-playbook's argv); its path."""
    os.makedirs(str(directory), exist_ok=True)
    fd, path = tempfile.mkstemp(prefix='%s-' % name, suffix='.vars.json', dir=str(directory))
    with os.fdopen(fd, 'w') as handle:
        json.dump(variables, handle)
    return path


def playbook_command(name, *args, inventory='production', extra_vars=None, vars_dir=None, check=False, diff=False,
                     verbosity=0):
    """``ansible-playbook [-v...] [-i <inventory>] <playbook> [--check] [--diff] [-e @vars.json] <args>``;
    (argv, vars file or None). ``extra_vars`` (a dict) goes through a file in ``vars_dir`` (the caller removes
    it, or leaves it in a tmp_path)."""
    argv = [ANSIBLE_PLAYBOOK]
    if verbosity:
        argv.append('-' + 'v' * verbosity)
    if inventory_path(inventory) is not None:
        argv += ['-i', inventory_path(inventory)]
    argv.append(playbook_path(name))
    if check:
        argv.append('--check')
    if diff:
        argv.append('--diff')
    vars_path = None
    if extra_vars is not None:
        vars_path = write_vars_file(vars_dir or tempfile.gettempdir(), os.path.basename(str(name)).split('.')[0],
                                    extra_vars)
        argv += ['-e', '@' + vars_path]
    return argv + [str(arg) for arg in args], vars_path


class PlaybookResult(object):
    """How one ``ansible-playbook`` run ended, and the run report it left."""

    def __init__(self, argv, rc, stdout, stderr, reports_dir, elapsed):
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.reports_dir = reports_dir
        self.elapsed = elapsed
        self.timed_out = rc is None

    @property
    def output(self):
        """stdout + stderr, as the tests read it."""
        return self.stdout + self.stderr

    def report_bases(self):
        """<reports_dir>/<time>-<playbook> of every report in the run's reports directory (oldest first)."""
        if not self.reports_dir or not os.path.isdir(str(self.reports_dir)):
            return []
        return sorted(path[:-len('.json')] for path in glob.glob(os.path.join(str(self.reports_dir), '*.json')))

    @property
    def report_base(self):
        bases = self.report_bases()
        return bases[-1] if bases else None

    def _report_text(self, suffix):
        """The text of the newest report's ``suffix`` file (.json, .md), or None without a report."""
        base = self.report_base
        if base is None:
            return None
        with open(base + suffix) as handle:
            return handle.read()

    @property
    def report(self):
        """The JSON run report (the newest in the reports directory), or None."""
        text = self._report_text('.json')
        return None if text is None else json.loads(text)

    @property
    def report_markdown(self):
        return self._report_text('.md')

    def __repr__(self):
        return 'PlaybookResult(rc=%r, argv=%s)' % (self.rc, ' '.join(shlex.quote(a) for a in self.argv))


def run_playbook(name, *args, extra_vars=None, env=None, inventory='production', check=False, diff=False,
                 verbosity=0, config=True, reports_dir=None, vars_dir=None, cwd=ROOT, timeout=300):
    """Run one playbook and wait for it; a :class:`PlaybookResult`.

    ``name``: a playbook of the checkout (``rollback``), a path, or an FQCN. ``inventory``: a name under
    inventory/, a path, or None (no -i). ``extra_vars``: a dict, handed over in a 0600 vars file (removed after
    the run unless ``vars_dir`` is given). ``env``: dict(s) applied last (a dict or a list of dicts).
    ``config``: the checkout's ansible.cfg and collections link (False: a user's shell, no ANSIBLE_CONFIG nor
    ANSIBLE_COLLECTIONS_PATH). ``reports_dir``: POURTRAIT_REPORTS_DIR (default: left to the session's, see
    tests/conftest.py). A run that outlives ``timeout`` is killed: rc -1, the output so far, and a last line
    saying so.
    """
    parts = env if isinstance(env, (list, tuple)) else [env]
    run_env = playbook_env(*parts, config=config, reports_dir=reports_dir)
    argv, vars_path = playbook_command(name, *args, inventory=inventory, extra_vars=extra_vars,
                                       vars_dir=vars_dir or tempfile.gettempdir(), check=check, diff=diff,
                                       verbosity=verbosity)
    started = time.time()
    try:
        proc = subprocess.run(argv, cwd=str(cwd), env=run_env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        def text(value):
            return value.decode('utf-8', 'replace') if isinstance(value, bytes) else (value or '')
        rc, stdout = -1, text(exc.stdout)
        stderr = text(exc.stderr) + '\n(ansible-playbook killed after %s s)' % timeout
    finally:
        if vars_path and not vars_dir:
            os.unlink(vars_path)
    return PlaybookResult(argv, rc, stdout, stderr, run_env.get('POURTRAIT_REPORTS_DIR'), time.time() - started)

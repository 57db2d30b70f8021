# Copyright: Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pourtrait-ops watch: the alert_response rulebook (ansible-rulebook) in the foreground, with readable progress
lines; Ctrl-C stops it (and the playbook it may be running) cleanly."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import yaml

from pourtrait_ops_cli.execute import descendants, signal_all
from pourtrait_ops_cli.project import ConfigError, find_root, resolve_inventory

RULEBOOK = os.path.join('extensions', 'eda', 'rulebooks', 'alert_response.yml')
DEFAULT_VARS = os.path.join('extensions', 'eda', 'rulebooks', 'alert_response.vars.yml')
# ansible-rulebook's log lines: "2026-12-03 10:40:48,952 - ansible_rulebook.rule_set_runner - INFO - message"
LOG_LINE = re.compile(r'^\d{4}-\d\d-\d\d (\d\d:\d\d:\d\d),\d+ - (\S+) - (\w+) - (.*)$')
SHOWN = ('pourtrait.ops', 'ansible_rulebook.action', 'ansible_rulebook.rule_set_runner', 'ansible_rulebook.engine',
         'ansible_rulebook.cli', 'ansible_rulebook.app')
PLAYBOOK_LINES = re.compile(r'^(PLAY \[|TASK \[|PLAY RECAP|fatal:|changed:|localhost\s+:|RECOVERED|RESOLVED|'
                            r'.*"msg": ")')


def find_program(name):
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.access(here, os.X_OK) else shutil.which(name)


def progress_line(line, verbose):
    """What to print for one line of ansible-rulebook's output (None: nothing)."""
    line = line.rstrip('\n')
    match = LOG_LINE.match(line)
    if match:
        clock, logger, level, message = match.groups()
        if verbose or level in ('WARNING', 'ERROR', 'CRITICAL') or logger.startswith(SHOWN):
            return '[%s] %s%s' % (clock, '' if level == 'INFO' else level + ': ', message)
        return None
    if verbose or PLAYBOOK_LINES.match(line.strip()):
        return '    ' + line if line.strip() else None
    return None


def rulebook_command(root, inventory, vars_path, verbose):
    program = find_program('ansible-rulebook')
    if not program:
        raise ConfigError('ansible-rulebook is not installed: pip install -r requirements.txt (make setup)')
    if not (os.environ.get('JAVA_HOME') or shutil.which('java')):
        raise ConfigError('ansible-rulebook needs Java 17+: apt-get install openjdk-17-jre-headless (or set JAVA_HOME)')
    argv = [program, '-r', os.path.join(root, RULEBOOK), '-i', inventory, '--vars', vars_path]
    return argv + ['-v' * min(verbose + 1, 2)]


def rulebook_env(root):
    env = dict(os.environ)
    env.setdefault('ANSIBLE_CONFIG', os.path.join(root, 'ansible.cfg'))
    collections = os.path.join(root, '.collections')
    link = os.path.join(collections, 'ansible_collections', 'pourtrait', 'ops')
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(root, link)
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', collections)
    # ansible-rulebook looks for ansible-galaxy (and runs ansible-playbook) on PATH: this virtualenv's first
    env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    return env


def yaml_problem(exc):
    """One line of a YAML error: where and what (PyYAML's own text spans several lines)."""
    mark = getattr(exc, 'problem_mark', None)
    problem = getattr(exc, 'problem', None) or str(exc)
    where = 'line %d, column %d: ' % (mark.line + 1, mark.column + 1) if mark is not None else ''
    return ' '.join(('%s%s' % (where, problem)).split())


def merged_vars(root, files, dry_run):
    with open(os.path.join(root, DEFAULT_VARS), encoding='utf-8') as handle:
        variables = yaml.safe_load(handle) or {}
    for path in files:
        try:
            with open(path, encoding='utf-8') as handle:
                loaded = yaml.safe_load(handle)
        except OSError as exc:
            raise ConfigError('cannot read the rulebook variables %s: %s' % (path, exc.strerror or exc))
        except yaml.YAMLError as exc:
            raise ConfigError('the rulebook variables %s are not YAML (%s); fix the file' % (path, yaml_problem(exc)))
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError('the rulebook variables %s are not a mapping of names to values (a %s); write them '
                              'as "monitor_interval: 30" lines' % (path, type(loaded).__name__))
        variables.update(loaded or {})
    if dry_run:
        variables['dry_run'] = True
    return variables


def stop(proc, out):
    """Ctrl-C for ansible-rulebook and its playbook: SIGINT to its process group and to every process below it
    (ansible-runner starts ansible-playbook in a session of its own, which the group signal misses), then SIGTERM
    and SIGKILL for what is still there after a grace time."""
    if proc.poll() is not None:
        return
    out('pourtrait-ops: stopping the rulebook (a playbook it runs is interrupted too)...')
    below = descendants(proc.pid)
    signal_all(below, signal.SIGINT)
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass
    for signum, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 3.0)):
        deadline = time.monotonic() + grace
        alive = signal_all(below, 0)
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = signal_all(alive, 0)
        signal_all(alive, signum)


def cmd_watch(args, out, err):
    try:
        root = find_root(args.project_dir)
        inventory = resolve_inventory(root, args.inventory) or os.path.join(root, 'inventory', 'local')
        variables = merged_vars(root, args.vars or [], args.dry_run)
    except ConfigError as exc:
        err('pourtrait-ops: error: %s' % exc)
        return 3
    workdir = tempfile.mkdtemp(prefix='pourtrait-watch-')
    try:
        vars_path = os.path.join(workdir, 'vars.yml')
        with open(os.open(vars_path, os.O_WRONLY | os.O_CREAT, 0o600), 'w', encoding='utf-8') as handle:
            yaml.safe_dump(variables, handle)
        try:
            argv = rulebook_command(root, inventory, vars_path, args.verbose)
        except ConfigError as exc:
            err('pourtrait-ops: error: %s' % exc)
            return 3
        out('pourtrait-ops: watching production with %s on %s%s (Ctrl-C stops)' % (
            RULEBOOK, os.path.relpath(inventory, root), ' - DRY RUN, nothing is changed' if variables.get('dry_run')
            else ''))
        out('pourtrait-ops: app monitor every %ss; webhook %s' % (
            variables.get('monitor_interval'), '%s:%s' % (variables.get('webhook_host'), variables.get('webhook_port'))
            if variables.get('webhook_enabled') else 'off'))
        env = rulebook_env(root)
        env['TMPDIR'] = workdir  # its private data dirs go with the work dir
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            for line in proc.stdout:
                shown = progress_line(line, args.verbose)
                if shown:
                    out(shown)
            rc = proc.wait()
        except KeyboardInterrupt:
            stop(proc, out)
            out('pourtrait-ops: watch stopped')
            return 0
        err('pourtrait-ops: the rulebook ended (rc %s)' % rc)
        return 3 if rc else 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

"""Interrupted runs (issue 6): ``ansible-playbook`` killed with SIGKILL together with everything it started
(its process group, and the ansible workers' own sessions: the modules, pg_dump and its workers die with
it, as when a CI job is cancelled), then the next state is checked and the same playbook rerun.

* backup.yml killed while pg_dump streams (the temporary ``.<name>.partial-<id>`` directory exists and a
  pg_dump backend is copying a table): nothing is left under a final dump name, the leftover is not a
  backup to anyone - the pruning of the next run does not count or keep it, postgres_restore refuses
  it (no manifest; ``pg_restore --list`` alone would read its table of contents, so the hidden temporary
  name and the manifest written last are what keep it out) - our sessions end, and the rerun writes a
  verified dump;
* migrate.yml killed while the second of three files executes: the server notices the dead client within
  a second (the engine sets ``client_connection_check_interval`` in each file's transaction), rolls the
  file back and frees the migration lock - instead of running the file on to its end (here a two-minute
  ``pg_sleep``) with the lock held; the history holds the first file only, and the rerun applies the
  other two, each once.

* maintenance_window.yml killed while a step inside the open window runs (a command polling the app, so a
  survivor would show in the stand-in's request log): nothing of the run is left, no process and no request
  after the kill; maintenance mode stays on (nobody closed the window), and the next run of the playbook
  closes the window first, runs its task in a window of its own and ends with the window closed.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import namedtuple

from tests.conftest import COLLECTIONS, assert_one_line_error, ensure_collection_link, run_module
from tests.reliability.test_db_faults import (
    DUMP_APP,
    MIGRATION_APP,
    VERSIONS,
    assert_only_first_applied,
    assert_readable_dump,
    assert_rerun_applies_the_rest,
    backup_entries,
    backup_vars,
    bulk_table,
    migrate_vars,
    playbook_command,
    run_playbook,
    scratch_databases,
    sleep_switch,
    tail,
    write_migrations,
)
from tests.integration.test_maintenance_window import assert_window_closed, command, extra, health, make_role, playbook

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.prune import existing_dumps  # noqa: E402

WAIT = 90
Process = namedtuple('Process', 'pid start cmdline')


def wait_for(predicate, timeout=WAIT, interval=0.02, what='the condition'):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError('gave up waiting %s s for %s' % (timeout, what))


def active(db, where, params=()):
    return db.query('SELECT pid, application_name, datname, state, left(query, 120) FROM pg_stat_activity '
                    'WHERE pid <> pg_backend_pid() AND (%s)' % where, params)


def process_tree(root):
    """``root`` and all its descendants (from /proc), parents first."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as handle:
                stat = handle.read()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(')', 1)[1].split()[1]), []).append(int(entry))
    found = []
    todo = [root]
    while todo:
        pid = todo.pop(0)
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def proc_stat(pid):
    """The fields of /proc/<pid>/stat after the command name: [0] state, [1] parent, [19] start time."""
    with open('/proc/%d/stat' % pid) as handle:
        return handle.read().rsplit(')', 1)[1].split()


def still_running(process):
    """Whether ``process`` (a ``Process``) is alive: its pid exists with the same start time, not a zombie."""
    try:
        fields = proc_stat(process.pid)
    except OSError:
        return False
    return fields[19] == process.start and fields[0] not in ('Z', 'X')


def carrying(variable):
    """The live processes anywhere on the host whose environment holds ``variable`` (``NAME=value``):
    every process a run started inherits it, in whatever group or session, reparented or not."""
    needle = variable.encode()
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open('/proc/%s/environ' % entry, 'rb') as handle:
                if needle not in handle.read().split(b'\0'):
                    continue
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                cmdline = handle.read().replace(b'\0', b' ').decode('utf-8', 'replace')
            process = Process(int(entry), proc_stat(int(entry))[19], cmdline)
        except OSError:
            continue
        if still_running(process):
            found.append(process)
    return found


def signal_quietly(pid, signum, group=False):
    try:
        (os.killpg if group else os.kill)(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def kill_tree(root):
    """SIGKILL ``root``'s process group and every process it started, in whatever group or session.

    ansible-core's workers call setsid(), so killing ansible-playbook's process group alone leaves the
    worker, the module and pg_dump running (the module then finishes on its own). A cancelled CI job or an
    OOM kill of the job's cgroup takes the whole tree: first stop everything (a stopped process cannot start
    another), then kill it."""
    signal_quietly(root, signal.SIGSTOP, group=True)
    tree = []
    for _round in range(3):
        tree = process_tree(root)
        for pid in tree:
            signal_quietly(pid, signal.SIGSTOP)
    groups = set()
    for pid in tree:
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            pass
    for group in groups:
        signal_quietly(group, signal.SIGKILL, group=True)
    for pid in tree:
        signal_quietly(pid, signal.SIGKILL)
    return tree


def kill_when(argv, env, ready, what):
    """Start the playbook in its own process group; SIGKILL it and everything it started once ``ready()``
    holds. Returns the processes killed (``Process``: pid, start time, command line).
    What the killed processes leave in their temporary directory (AnsiballZ payloads, a role's temporary files:
    nothing can remove them after a SIGKILL) goes to a directory of the run's own, removed after the kill."""
    own_tmp = tempfile.mkdtemp(prefix='killed-run-')
    proc = subprocess.Popen(argv, env=dict(env, TMPDIR=own_tmp), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    killed = []
    try:
        wait_for(lambda: ready() or proc.poll() is not None, what=what)
        assert proc.poll() is None, 'the run ended (rc %s) before %s' % (proc.returncode, what)
        for pid in process_tree(proc.pid):
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as handle:
                    cmdline = handle.read().replace(b'\0', b' ').decode('utf-8', 'replace')
                killed.append(Process(pid, proc_stat(pid)[19], cmdline))
            except OSError:
                pass
    finally:
        kill_tree(proc.pid)
        proc.wait(30)
        shutil.rmtree(own_tmp, ignore_errors=True)
    assert proc.returncode == -signal.SIGKILL
    return killed


def test_backup_killed_while_pg_dump_streams(db, tmp_path):
    # large enough that its COPY lasts well beyond a poll (150,000 rows were copied in about 50 ms, and a CI run
    # once finished the whole backup between two polls)
    bulk_table(db, rows=1000000)
    backups = tmp_path / 'backups'
    argv, env = playbook_command('backup', db, tmp_path, backup_vars(backups))
    copying = "application_name = %s AND datname = %s AND query LIKE 'COPY public.fault_bulk %%'"

    def dumping():
        return glob.glob(str(backups / '.*.partial-*')) and active(db, copying, (DUMP_APP, db.name))
    killed = kill_when(argv, env, dumping, 'pg_dump copying public.fault_bulk into a temporary dump')
    assert [p for p in killed if 'pg_dump' in p.cmdline.split(' ')[0]], killed

    # our sessions (the snapshot holder, pg_dump's) end with their clients
    wait_for(lambda: not active(db, 'application_name = %s', (DUMP_APP,)), what='the killed run\'s sessions to end')
    entries = backup_entries(backups)
    leftovers = [e for e in entries if e.startswith('.') and '.partial-' in e]
    assert leftovers and entries == leftovers, entries  # nothing under a final name, no manifest
    partial = str(backups / leftovers[0])
    assert existing_dumps(str(backups), db.name) == []  # pruning and restore see no backup here
    # pg_restore --list can read a killed directory dump (pg_dump writes toc.dat before the data): only its
    # hidden temporary name and the missing manifest keep it from being taken for a backup
    assert os.path.basename(partial).startswith('.') and not os.path.exists(partial + '.manifest.json')
    result = run_module('postgres_restore', dict(db.conn_args(), path=partial, target_db='fault_never_created'))
    assert_one_line_error(result, 'no manifest', 'beside the dump')
    assert 'fault_never_created' not in [r[0] for r in db.query('SELECT datname FROM pg_database')]
    assert scratch_databases(db) == []

    # the rerun, keeping one dump: the new dump is kept and verified; the leftover was never counted as a dump
    # and, its run being gone (nobody holds its claim), the rerun discards it
    rc, output = run_playbook('backup', db, tmp_path, dict(backup_vars(backups), db_backup_keep=1))
    assert rc == 0, tail(output)
    dumps = existing_dumps(str(backups), db.name)
    assert len(dumps) == 1 and dumps[0]['path'] in output, (dumps, tail(output))
    assert re.search(r'verification toc: ok \(\d+ tables\); removed 0 old dump\(s\)', output), tail(output)
    assert_readable_dump(db, dumps[0]['path'])
    assert 'discarded 1 leftover(s) of killed runs: %s' % leftovers[0] in output, tail(output)
    assert set(backup_entries(backups)) == {os.path.basename(dumps[0]['path']),
                                            os.path.basename(dumps[0]['manifest_path'])}


def test_migrate_killed_while_a_file_runs(db, tmp_path):
    directory = write_migrations(tmp_path)
    sleep_switch(db, 120)
    argv, env = playbook_command('migrate', db, tmp_path, migrate_vars(directory))
    sleeping = "application_name = %s AND datname = %s AND state = 'active' AND query LIKE '%%pg_sleep(%%'"
    killed = kill_when(argv, env, lambda: active(db, sleeping, (MIGRATION_APP, db.name)), 'the second file to run')
    assert [p for p in killed if 'AnsiballZ_supabase_migration' in p.cmdline], killed

    # the server notices the dead client and rolls the file back well before its two-minute sleep is over
    wait_for(lambda: not active(db, 'application_name = %s AND datname = %s', (MIGRATION_APP, db.name)), timeout=60,
             interval=0.2, what='the killed migration\'s session to end')
    assert_only_first_applied(db, 'killed run')  # the lock is free, the second file absent
    assert db.scalar('SELECT count(*) FROM supabase_migrations.schema_migrations WHERE version = ANY(%s)',
                     (VERSIONS[1:],)) == 0
    assert_rerun_applies_the_rest(db, tmp_path, migrate_vars(directory))


POLL_SCRIPT = '''import sys, time, urllib.error, urllib.request
url, seconds = sys.argv[1], float(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
end = time.time() + seconds
while True:
    try:
        opener.open(url, timeout=5).read()
    except (urllib.error.URLError, OSError):
        pass
    if time.time() >= end:
        break
    time.sleep(0.1)
'''
POLL_ROLE = '''- name: Poll the app from inside the window
  ansible.builtin.command:
    argv: ["{{ ansible_playbook_python }}", "{{ poll_step_script }}", "{{ poll_step_url }}", "{{ poll_step_seconds }}"]
  changed_when: false
'''


def test_maintenance_window_killed_while_a_step_runs(sandbox, tmp_path):
    roles = tmp_path / 'roles'
    make_role(roles, 'poll_step', POLL_ROLE)
    script = tmp_path / 'poll.py'
    script.write_text(POLL_SCRIPT)

    def window(run, seconds):
        """The task list: one step polling the app's /health (tagged ?run=<run>) for ``seconds``."""
        return extra([{'role': 'poll_step', 'vars': {'poll_step_script': str(script), 'poll_step_seconds': seconds,
                                                     'poll_step_url': sandbox.app_url + '/health?run=' + run}}])

    def polls(run):
        return [r for r in sandbox.requests(path_prefix='/health') if r['query'] == 'run=' + run]

    def production_builds():
        """MAINTENANCE_MODE of every production build that set it, oldest first, and whether it went live."""
        state = sandbox.state()
        return [(d['env']['MAINTENANCE_MODE'], d['uid'] in state['history']) for d in reversed(state['deployments'])
                if 'MAINTENANCE_MODE' in d['env'] and d['target'] == 'production']

    argv, env = command('maintenance_window', sandbox, {}, *window('killed', 120), roles_dir=roles)
    env['POURTRAIT_KILLED_RUN'] = uuid.uuid4().hex  # every process of the run inherits it
    tag = 'POURTRAIT_KILLED_RUN=' + env['POURTRAIT_KILLED_RUN']

    def step_running():
        # the window is open and the step inside it polls (seen twice, so it is past its start)
        return (health(sandbox) == (503, 'maintenance') and len(polls('killed')) >= 2
                and [p for p in carrying(tag) if str(script) in p.cmdline])
    killed = kill_when(argv, env, step_running, 'the step inside the window to run')
    killed_at = time.time()
    assert [p for p in killed if str(script) in p.cmdline] and [p for p in killed if 'AnsiballZ_command' in p.cmdline], \
        killed

    # nothing of the run is left: no process of its tree, none anywhere with its environment (SIGKILL is
    # delivered at once, but a process takes a moment to exit) ...
    def survivors():
        return [p for p in killed if still_running(p)] + carrying(tag)
    for _i in range(100):
        if not survivors():
            break
        time.sleep(0.1)
    assert survivors() == []
    # ... and no request after the kill (a surviving step would poll on, ten times a second)
    time.sleep(1.5)
    assert [r for r in sandbox.requests() if r['time'] > killed_at + 0.25] == []
    before = polls('killed')
    assert len(before) >= 2 and {r['status'] for r in before} == {503}, before  # the step ran inside the window
    # the window is still open: maintenance mode on, live, announced and never closed
    assert sandbox.env_value('MAINTENANCE_MODE') == 'true'
    assert sandbox.live()['env'].get('MAINTENANCE_MODE') == 'true'
    assert health(sandbox) == (503, 'maintenance')
    assert production_builds() == [('true', True)]
    assert len(sandbox.webhook_messages()) == 1

    # the next run of the same playbook closes the window first, runs its step in a window of its own, closes it
    rc, out = playbook('maintenance_window', sandbox, {}, *window('rerun', 0.3), roles_dir=roles)
    assert rc == 0, out
    assert 'A maintenance window was left open by an earlier run (MAINTENANCE_MODE=true on production, ' \
           'production serving the maintenance page): closed it first.' in out, out
    assert 'Task 1/1 poll_step: done' in out, out
    assert_window_closed(sandbox)
    assert production_builds() == [('true', True), ('false', True), ('true', True), ('false', True)]
    rerun = polls('rerun')
    assert rerun and {r['status'] for r in rerun} == {503}, rerun
    assert polls('killed') == before
    texts = [m['text'] for m in sandbox.webhook_messages()]
    assert [t.split(' ', 3)[1] for t in texts] == ['Maintenance', 'A', 'Maintenance', 'Maintenance'], texts
    assert 'left open by an earlier run was closed' in texts[1]
    assert texts[3].startswith('[production] Maintenance window ended')

"""Interrupted runs (issue 6): ``ansible-playbook`` killed with SIGKILL together with everything it started
(its process group, and the ansible workers' own sessions: the modules, pg_dump and its workers die with
it, as when a CI job is cancelled), then the next state is checked and the same playbook rerun.

* backup.yml killed while pg_dump streams (the temporary ``.<name>.partial-<id>`` directory exists and a
  pg_dump backend is copying a table): nothing is left under a final dump name, the leftover is not a
  backup to anyone - the retention of the next run does not count or keep it, postgres_restore refuses
  it (no manifest; ``pg_restore --list`` alone would read its table of contents, so the hidden temporary
  name and the manifest written last are what keep it out) - our sessions end, and the rerun writes a
  verified dump;
* migrate.yml killed while the second of three files executes: the server notices the dead client within
  a second (the engine sets ``client_connection_check_interval`` in each file's transaction), rolls the
  file back and frees the migration lock - instead of running the file on to its end (here a two-minute
  ``pg_sleep``) with the lock held; the history holds the first file only, and the rerun applies the
  other two, each once.

The maintenance window's SIGKILL test (a killed run leaves the window open; the next run closes it first)
is tests/integration/test_maintenance_window.py::test_a_killed_run_leaves_the_window_open_and_the_next_run_closes_it.
"""

import glob
import os
import re
import signal
import subprocess
import sys
import time

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

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils.dump import existing_dumps  # noqa: E402

WAIT = 90


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
    holds. Returns the command lines of the processes killed."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    killed = []
    try:
        wait_for(lambda: ready() or proc.poll() is not None, what=what)
        assert proc.poll() is None, 'the run ended (rc %s) before %s' % (proc.returncode, what)
        for pid in process_tree(proc.pid):
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as handle:
                    killed.append(handle.read().replace(b'\0', b' ').decode('utf-8', 'replace'))
            except OSError:
                pass
    finally:
        kill_tree(proc.pid)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    return killed


def test_backup_killed_while_pg_dump_streams(db, tmp_path):
    bulk_table(db)
    backups = tmp_path / 'backups'
    argv, env = playbook_command('backup', db, tmp_path, backup_vars(backups))
    copying = "application_name = %s AND datname = %s AND query LIKE 'COPY public.fault_bulk %%'"

    def dumping():
        return glob.glob(str(backups / '.*.partial-*')) and active(db, copying, (DUMP_APP, db.name))
    killed = kill_when(argv, env, dumping, 'pg_dump copying public.fault_bulk into a temporary dump')
    assert [c for c in killed if 'pg_dump' in c.split(' ')[0]], killed

    # our sessions (the snapshot holder, pg_dump's) end with their clients
    wait_for(lambda: not active(db, 'application_name = %s', (DUMP_APP,)), what='the killed run\'s sessions to end')
    entries = backup_entries(backups)
    leftovers = [e for e in entries if e.startswith('.') and '.partial-' in e]
    assert leftovers and entries == leftovers, entries  # nothing under a final name, no manifest
    partial = str(backups / leftovers[0])
    assert existing_dumps(str(backups), db.name) == []  # retention and restore see no backup here
    # pg_restore --list can read a killed directory dump (pg_dump writes toc.dat before the data): only its
    # hidden temporary name and the missing manifest keep it from being taken for a backup
    assert os.path.basename(partial).startswith('.') and not os.path.exists(partial + '.manifest.json')
    result = run_module('postgres_restore', dict(db.conn_args(), path=partial, target_db='fault_never_created'))
    assert_one_line_error(result, 'no manifest', 'beside the dump')
    assert 'fault_never_created' not in [r[0] for r in db.query('SELECT datname FROM pg_database')]
    assert scratch_databases(db) == []

    # the rerun, keeping one dump: the new dump is kept and verified, the leftover is neither counted nor kept
    rc, output = run_playbook('backup', db, tmp_path, dict(backup_vars(backups), db_backup_keep=1))
    assert rc == 0, tail(output)
    dumps = existing_dumps(str(backups), db.name)
    assert len(dumps) == 1 and dumps[0]['path'] in output, (dumps, tail(output))
    assert re.search(r'verification toc: ok \(\d+ tables\); removed 0 old dump\(s\)', output), tail(output)
    assert_readable_dump(db, dumps[0]['path'])
    assert set(backup_entries(backups)) == {leftovers[0], os.path.basename(dumps[0]['path']),
                                            os.path.basename(dumps[0]['manifest_path'])}


def test_migrate_killed_while_a_file_runs(db, tmp_path):
    directory = write_migrations(tmp_path)
    sleep_switch(db, 120)
    argv, env = playbook_command('migrate', db, tmp_path, migrate_vars(directory))
    sleeping = "application_name = %s AND datname = %s AND state = 'active' AND query LIKE '%%pg_sleep(%%'"
    killed = kill_when(argv, env, lambda: active(db, sleeping, (MIGRATION_APP, db.name)), 'the second file to run')
    assert [c for c in killed if 'AnsiballZ_supabase_migration' in c], killed

    # the server notices the dead client and rolls the file back well before its two-minute sleep is over
    wait_for(lambda: not active(db, 'application_name = %s AND datname = %s', (MIGRATION_APP, db.name)), timeout=60,
             interval=0.2, what='the killed migration\'s session to end')
    assert_only_first_applied(db, 'killed run')  # the lock is free, the second file absent
    assert db.scalar('SELECT count(*) FROM supabase_migrations.schema_migrations WHERE version = ANY(%s)',
                     (VERSIONS[1:],)) == 0
    assert_rerun_applies_the_rest(db, tmp_path, migrate_vars(directory))

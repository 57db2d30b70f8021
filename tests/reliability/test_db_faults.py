"""Fault matrix, database side (issue 6): a database connection cut in the middle of migrate.yml and backup.yml.

Each test runs the playbook as on-call does (``ansible-playbook -i inventory/production``, DATABASE_URL in
the environment) against a fresh database, and from another session ends OUR backend with
``pg_terminate_backend()`` while the run is in its critical part. Our backends are told apart by their
``application_name``: every connection of the collection's modules (and pg_dump / pg_restore, through
PGAPPNAME) is ``pourtrait.ops/<module>``.

migrate.yml (three files; the second holds its transaction open with ``pg_sleep``, or waits on a lock):

* cut while the second file executes: the run fails with one line naming the lost connection, the second
  file's effects are absent, the history holds exactly the first file, and a rerun applies the rest, each
  file once;
* cut between two transactions - the second file hit its lock_timeout, was rolled back and the engine
  waits to retry it; the session is idle, nothing in flight: same outcome.

backup.yml:

* cut a pg_dump backend while it streams a table (COPY);
* cut the module's own session, which holds the snapshot pg_dump reads, while pg_dump runs;
* cut the pg_restore backend of ``verify=restore`` while it loads the scratch database.

Each backup run fails with one line naming the lost connection and saying to run the backup again, leaves
no dump under a final name and no temporary entry in the backup directory, no scratch database, and the
rerun writes a backup whose table of contents reads back.

migrate.yml does not call the Supabase Management API to change anything (only its optional health check
reads the project), so there is no request that could be repeated: the 30% API-fault matrix of the other
playbooks does not apply to it.
"""

import glob
import os
import re
import subprocess
import threading
import time

from tests import helpers
from tests.reliability.conftest import playbook_argv, playbook_env, tail, vars_file

PG_BIN = '/usr/lib/postgresql/15/bin'
MIGRATION_APP = 'pourtrait.ops/supabase_migration'
DUMP_APP = 'pourtrait.ops/postgres_dump'
RUN_TIMEOUT = 240


# -- helpers shared with test_interrupted.py ------------------------------------------------------

class Cutter(object):
    """From another session, terminate the backends that ``where`` (SQL over pg_stat_activity, parameters
    ``params``) selects, as soon as one shows up; at most ``times`` rounds. ``cut`` holds
    (pid, application_name, datname, state, query) of each backend ended."""

    def __init__(self, db, where, params=(), times=1, poll=0.02, timeout=RUN_TIMEOUT):
        self.db = db
        self.where = where
        self.params = tuple(params)
        self.times = times
        self.poll = poll
        self.timeout = timeout
        self.cut = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.daemon = True

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)

    def run(self):
        conn = self.db.connect()
        rounds = 0
        try:
            cur = conn.cursor()
            deadline = time.time() + self.timeout
            while rounds < self.times and not self.stop.is_set() and time.time() < deadline:
                cur.execute('SELECT pid, application_name, datname, state, left(query, 200) FROM pg_stat_activity '
                            'WHERE pid <> pg_backend_pid() AND (%s)' % self.where, self.params)
                rows = cur.fetchall()
                for row in rows:
                    cur.execute('SELECT pg_terminate_backend(%s)', (row[0],))
                    self.cut.append(row)
                if rows:
                    rounds += 1
                else:
                    time.sleep(self.poll)
        finally:
            conn.close()


def run_playbook(name, db, tmp_path, variables, timeout=RUN_TIMEOUT):
    """ansible-playbook -i inventory/production playbooks/<name>.yml against ``db``; (rc, output)."""
    result = helpers.run_playbook(name, extra_vars=variables, vars_dir=tmp_path, env={'DATABASE_URL': db.url},
                                  reports_dir=tmp_path / 'reports', timeout=timeout)
    return result.rc, result.output


def playbook_command(name, db, tmp_path, variables):
    """(argv, env) of a playbook run, for tests that start it themselves."""
    env = playbook_env({'DATABASE_URL': db.url, 'POURTRAIT_REPORTS_DIR': str(tmp_path / 'reports')})
    return playbook_argv(name, '-e', vars_file(tmp_path, '%s-%d' % (name, time.time() * 1000), variables)), env


def fatal_line(rc, output):
    """The one ``fatal:`` line of a failed run, with its message (rc 2, no traceback)."""
    assert rc == 2, 'rc %s\n%s' % (rc, tail(output))
    assert 'Traceback' not in output, tail(output)
    fatal = [line for line in output.splitlines() if line.startswith('fatal: ')]
    assert len(fatal) >= 1, tail(output)
    message = re.search(r'"msg": "(.*?)"(, "|})', fatal[-1])
    assert message, fatal[-1]
    assert '\\n' not in message.group(1), fatal[-1]
    return message.group(1)


LOST = re.compile(r'connection to PostgreSQL was lost|server closed the connection|terminating connection')

MIGRATIONS = {
    '20260401090000_first.sql': (
        'CREATE TABLE public.fault_effects (file text NOT NULL);\n'
        "INSERT INTO public.fault_effects VALUES ('first');\n"),
    '20260402090000_second.sql': (
        'CREATE TABLE public.fault_second (id int);\n'
        "INSERT INTO public.fault_effects VALUES ('second');\n"
        # holds the file's transaction open while public.fault_sleep says so (the test's switch)
        'SELECT pg_sleep(coalesce((SELECT max(seconds) FROM public.fault_sleep), 0));\n'
        'ALTER TABLE public.wines ADD COLUMN fault_note text;\n'),
    '20260403090000_third.sql': "INSERT INTO public.fault_effects VALUES ('third');\n",
}
VERSIONS = ['20260401090000', '20260402090000', '20260403090000']


def write_migrations(tmp_path):
    directory = tmp_path / 'migrations'
    directory.mkdir()
    for name, text in MIGRATIONS.items():
        (directory / name).write_text(text)
    return str(directory)


def sleep_switch(db, seconds):
    """How long the second migration sleeps (0: not at all)."""
    db.query('CREATE TABLE IF NOT EXISTS public.fault_sleep (seconds float)')
    db.query('DELETE FROM public.fault_sleep')
    if seconds:
        db.query('INSERT INTO public.fault_sleep VALUES (%s)', (seconds,))


def recorded(db):
    return [r[0] for r in db.query("SELECT version FROM supabase_migrations.schema_migrations "
                                   "WHERE version LIKE '202604%%' ORDER BY version")]


def exists(db, relation):
    return db.scalar('SELECT to_regclass(%s) IS NOT NULL', (relation,))


def note_column(db):
    return db.scalar("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' "
                     "AND table_name = 'wines' AND column_name = 'fault_note'")


def assert_only_first_applied(db, output):
    assert recorded(db) == VERSIONS[:1], tail(output)
    assert db.query('SELECT file FROM public.fault_effects ORDER BY file') == [('first',)], tail(output)
    assert not exists(db, 'public.fault_second'), 'a table of the half-run file stayed'
    assert note_column(db) == 0
    assert db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0


def assert_rerun_applies_the_rest(db, tmp_path, variables):
    sleep_switch(db, 0)
    rc, output = run_playbook('migrate', db, tmp_path, variables)
    assert rc == 0, tail(output)
    assert 'Apply the pending migrations - 20260402090000, 20260403090000' in output, tail(output)
    assert recorded(db) == VERSIONS
    assert db.query('SELECT file, count(*) FROM public.fault_effects GROUP BY file ORDER BY file') == [
        ('first', 1), ('second', 1), ('third', 1)]
    assert exists(db, 'public.fault_second') and note_column(db) == 1
    # a third run has nothing to do
    rc, output = run_playbook('migrate', db, tmp_path, variables)
    assert rc == 0 and 'Nothing to apply' in output and 'changed=0' in output, tail(output)


def migrate_vars(directory, **extra):
    variables = dict(db_migrate_dir=directory, db_migrate_backup=False, db_migrate_health_check=False,
                     db_migrate_lock_wait_timeout=60)
    variables.update(extra)
    return variables


def bulk_table(db, rows=150000):
    """A table large enough that pg_dump's COPY of it (and pg_restore's) is seen running."""
    db.query('CREATE TABLE public.fault_bulk (id int PRIMARY KEY, payload text)')
    db.query("INSERT INTO public.fault_bulk SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) "
             'FROM generate_series(1, %s) g', (rows,))
    db.query('ANALYZE public.fault_bulk')


def backup_entries(backups):
    return sorted(os.listdir(str(backups))) if os.path.isdir(str(backups)) else []


def scratch_databases(db):
    return [r[0] for r in db.query("SELECT datname FROM pg_database WHERE datname LIKE 'pourtrait\\_verify\\_%%'")]


def assert_readable_dump(db, path):
    listing = subprocess.run([os.path.join(PG_BIN, 'pg_restore'), '--list', path], capture_output=True, text=True,
                             check=False)
    assert listing.returncode == 0, listing.stderr
    assert 'TABLE DATA public fault_bulk' in listing.stdout and 'TABLE DATA public wines' in listing.stdout


# -- migrate.yml ----------------------------------------------------------------------------------

def test_migrate_connection_cut_while_a_file_runs(db, tmp_path):
    directory = write_migrations(tmp_path)
    sleep_switch(db, 120)
    # on-call's run: a verified backup first (toc, quick), then the files
    variables = migrate_vars(directory, db_migrate_backup=True, db_backup_dir=str(tmp_path / 'backups'),
                             db_backup_verify='toc')
    where = "application_name = %s AND datname = %s AND state = 'active' AND query LIKE '%%pg_sleep(%%'"
    with Cutter(db, where, (MIGRATION_APP, db.name)) as cutter:
        rc, output = run_playbook('migrate', db, tmp_path, variables)
    assert [c[1] for c in cutter.cut] == [MIGRATION_APP], cutter.cut
    message = fatal_line(rc, output)
    assert LOST.search(message), message
    assert message.startswith('Migration failed: 20260402090000_second.sql failed: the connection to PostgreSQL '
                              'was lost ('), message
    assert 'nothing from this file was applied (its transaction was rolled back; version 20260402090000 is not ' \
           'recorded)' in message, message
    assert 'run the same playbook again' in message, message
    assert 'Applied by this run before it (they stay applied): 20260401090000_first.sql.' in message, message
    assert 'restore the verified backup taken before it: ansible-playbook playbooks/restore.yml' in message, message
    assert_only_first_applied(db, output)
    assert_rerun_applies_the_rest(db, tmp_path, variables)


def test_migrate_connection_cut_between_transactions(db, tmp_path):
    """The second file waits for a lock the test holds: it times out, is rolled back, and while the engine
    waits to retry it (the session idle, the first file committed) the session is ended."""
    directory = write_migrations(tmp_path)
    sleep_switch(db, 0)
    holder = db.connect(autocommit=False)
    try:
        holder.cursor().execute('LOCK TABLE public.wines IN ACCESS EXCLUSIVE MODE')
        where = "application_name = %s AND datname = %s AND state = 'idle' AND query = 'ROLLBACK'"
        with Cutter(db, where, (MIGRATION_APP, db.name)) as cutter:
            rc, output = run_playbook('migrate', db, tmp_path, migrate_vars(
                directory, db_migrate_lock_timeout='300ms', db_migrate_lock_retries=3))
    finally:
        holder.rollback()
        holder.close()
    assert [c[1] for c in cutter.cut] == [MIGRATION_APP], (cutter.cut, tail(output))
    assert 'retrying the whole file in 1 s (retry 1 of 3)' in output, tail(output)
    message = fatal_line(rc, output)
    assert LOST.search(message), message
    assert message.startswith('Migration failed: 20260402090000_second.sql failed: the connection to PostgreSQL '
                              'was lost ('), message
    assert 'nothing from this file was applied' in message and 'run the same playbook again' in message, message
    assert 'Applied by this run before it (they stay applied): 20260401090000_first.sql.' in message, message
    assert_only_first_applied(db, output)
    assert_rerun_applies_the_rest(db, tmp_path, migrate_vars(directory))


# -- backup.yml -----------------------------------------------------------------------------------

def backup_vars(backups, verify='toc'):
    return dict(db_backup_dir=str(backups), db_backup_verify=verify, db_backup_format='directory', db_backup_jobs=2)


def assert_backup_failed_cleanly(db, backups, rc, output):
    message = fatal_line(rc, output)
    assert message.startswith('Backup failed: '), message
    assert LOST.search(message), message
    assert 'the database was only read and is unchanged: run the backup again.' in message, message
    assert 'No new dump was kept in %s.' % backups in message, message
    # nothing a later run (or its pruning, or a restore) could take for a backup, and nothing half-written
    assert backup_entries(backups) == [], backup_entries(backups)
    assert scratch_databases(db) == []


def assert_rerun_backs_up(db, tmp_path, backups):
    rc, output = run_playbook('backup', db, tmp_path, backup_vars(backups))
    assert rc == 0, tail(output)
    dumps = glob.glob(str(backups / (db.name + '-*.dir')))
    assert len(dumps) == 1, backup_entries(backups)
    assert backup_entries(backups) == sorted([os.path.basename(dumps[0]), os.path.basename(dumps[0]) + '.manifest.json'])
    assert 'verification toc: ok' in output, tail(output)
    assert_readable_dump(db, dumps[0])


def test_backup_connection_cut_while_pg_dump_streams(db, tmp_path):
    bulk_table(db)
    backups = tmp_path / 'backups'
    where = "application_name = %s AND datname = %s AND query LIKE 'COPY public.fault_bulk %%'"
    with Cutter(db, where, (DUMP_APP, db.name)) as cutter:
        rc, output = run_playbook('backup', db, tmp_path, backup_vars(backups))
    assert len(cutter.cut) == 1 and cutter.cut[0][4].startswith('COPY public.fault_bulk'), cutter.cut
    assert_backup_failed_cleanly(db, backups, rc, output)
    assert 'pg_dump failed' in output, tail(output)
    assert_rerun_backs_up(db, tmp_path, backups)


def test_backup_connection_cut_of_the_snapshot_session(db, tmp_path):
    """The module's own session exports the snapshot pg_dump reads (table checksums on, the default); it is
    ended while pg_dump copies the data."""
    bulk_table(db)
    backups = tmp_path / 'backups'
    where = ("application_name = %s AND datname = %s AND query LIKE '%%pg_export_snapshot%%' AND EXISTS ("
             "SELECT 1 FROM pg_stat_activity c WHERE c.application_name = %s AND c.query LIKE 'COPY %%')")
    with Cutter(db, where, (DUMP_APP, db.name, DUMP_APP)) as cutter:
        rc, output = run_playbook('backup', db, tmp_path, backup_vars(backups))
    assert len(cutter.cut) == 1, cutter.cut
    assert_backup_failed_cleanly(db, backups, rc, output)
    assert_rerun_backs_up(db, tmp_path, backups)


def test_backup_connection_cut_while_verification_restores(db, tmp_path):
    bulk_table(db)
    backups = tmp_path / 'backups'
    where = ("application_name = %s AND datname LIKE 'pourtrait\\_verify\\_%%' AND state = 'active' "
             "AND query LIKE 'COPY public.fault_bulk %%'")
    with Cutter(db, where, (DUMP_APP,)) as cutter:
        rc, output = run_playbook('backup', db, tmp_path, backup_vars(backups, verify='restore'))
    assert len(cutter.cut) == 1 and cutter.cut[0][2].startswith('pourtrait_verify_'), cutter.cut
    assert_backup_failed_cleanly(db, backups, rc, output)
    assert 'verification restore into a scratch database failed' in output, tail(output)
    assert_rerun_backs_up(db, tmp_path, backups)


def test_backup_failure_that_is_not_a_lost_connection_does_not_claim_one(db, tmp_path):
    backups = tmp_path / 'backups'
    rc, output = run_playbook('backup', db, tmp_path, dict(backup_vars(backups), db_backup_tables=['fault_missing']))
    message = fatal_line(rc, output)
    assert message == ('Backup failed: table \\"public.fault_missing\\" does not exist in database \\"%s\\"; check the '
                       'name (schema.table). No new dump was kept in %s.' % (db.name, backups)), message
    assert backup_entries(backups) == []

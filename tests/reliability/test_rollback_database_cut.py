"""Fault matrix, rollback with its database step (issue 6): the connection cut in the middle of the restore.

A release that carried a bad migration is rolled back as on-call does it: ``ansible-playbook -i
inventory/production playbooks/rollback.yml -e rollback_database=restore -e rollback_database_backup=<the
pre-deploy dump> -e rollback_database_target_db=<db> -e rollback_database_confirm=<db>``, with VERCEL_* /
APP_URL pointing at a stand-in of the pool (a broken release live over the previous, healthy one) and
DATABASE_URL at a fresh database.

The database holds a table large enough that pg_restore's COPY of it is seen running; the pre-deploy dump of
it is taken with postgres_dump, then the "bad migration" deletes rows and adds columns. While the restore
streams that table, the test ends the pg_restore backend from another session (``pg_terminate_backend()``,
found by its application_name).

* The cut run fails with one line saying production points at the previous build (the app rollback was made,
  once), that the database step failed because the connection to PostgreSQL was lost, and to run again; the
  restore ran in one transaction, so the database is exactly as it was before the run (the bad migration
  still in place, nothing half-restored); the stand-in processed exactly one rollback POST.
* The same command again, without the cut, succeeds without a second rollback POST (the app is already
  rolled back) and leaves the database holding exactly the dump's data: every table's row count and a
  checksum of the big table equal the source's at dump time, the bad migration's columns gone.
"""

import json
import re

from tests.conftest import run_module
from tests.reliability.test_db_faults import LOST, Cutter, bulk_table
from tests.reliability.test_vercel_faults import ROLLBACK_VARS, rollback_posts, run_playbook
from tests.reliability.conftest import tail

RESTORE_APP = 'pourtrait.ops/postgres_restore'
# pg_restore's backend while it loads the big table (the safety dump's COPY comes from pourtrait.ops/postgres_dump)
CUT_WHERE = "application_name = %s AND datname = %s AND state = 'active' AND query LIKE 'COPY public.fault_bulk %%'"


class MaintenanceSession(object):
    """What the Cutter connects through: the server's ``postgres`` database, so that its session is not one of
    the target database's (the restore refuses a database other sessions are connected to)."""

    def __init__(self, server):
        self.server = server

    def connect(self):
        return self.server.connect('postgres')


def table_counts(db):
    """{table: exact row count} of every table in schema public."""
    tables = [r[0] for r in db.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
    return dict((t, db.scalar('SELECT count(*) FROM public.%s' % t)) for t in tables)


def bulk_checksum(db):
    return db.scalar("SELECT md5(string_agg(id::text || ':' || payload, ',' ORDER BY id)) FROM public.fault_bulk")


def added_columns(db):
    """The columns the bad migration adds, where they exist."""
    return db.query("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND column_name = 'bad_migration_note' ORDER BY 1")


def database_state(db):
    return dict(counts=table_counts(db), bulk=bulk_checksum(db), columns=added_columns(db))


def bad_migration(db):
    db.query('DELETE FROM public.fault_bulk WHERE id % 3 = 0')
    db.query("UPDATE public.fault_bulk SET payload = 'rewritten by the bad migration' WHERE id % 7 = 0")
    db.query('ALTER TABLE public.fault_bulk ADD COLUMN bad_migration_note text')
    db.query('ALTER TABLE public.wines ADD COLUMN bad_migration_note text')


def final_fatal(rc, output):
    """The message of the ``fatal:`` line that ended the play. The roles rescue the failures below it to word
    them better (each leaves a ``fatal:`` line the recap counts as rescued): exactly one failure is left."""
    assert rc == 2, 'expected the play to fail (rc 2), got rc %s:\n%s' % (rc, tail(output))
    assert 'Traceback' not in output, tail(output)
    recap = re.search(r'^localhost\s+: ok=\d+.*failed=(\d+).*rescued=(\d+)', output, re.M)
    assert recap and recap.group(1) == '1', tail(output)
    fatal = [line for line in output.splitlines() if line.startswith('fatal: ')]
    assert len(fatal) == int(recap.group(2)) + 1, tail(output)
    msg = json.loads(fatal[-1].split(' => ', 1)[1])['msg']
    assert isinstance(msg, str) and '\n' not in msg, 'not one line: %r' % (msg,)
    return msg


def done_posts(sandbox):
    return [p for p in rollback_posts(sandbox) if p['status'] is not None and p['status'] < 300]


def test_rollback_database_connection_cut_mid_restore(db, pg_server, standin_pool, tmp_path):
    sandbox = standin_pool[0].fresh()
    bulk_table(db)
    dump = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path / 'pre-deploy'), format='custom',
                                            verify='toc'))
    assert dump.rc == 0 and dump['changed'], dump
    source = database_state(db)
    assert source['columns'] == [] and source['counts']['fault_bulk'] == 150000
    bad_migration(db)
    migrated = database_state(db)
    assert migrated['counts']['fault_bulk'] == 100000 and len(migrated['columns']) == 2
    previous = sandbox.live()['uid']
    broken = sandbox.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']

    variables = dict(ROLLBACK_VARS, rollback_reason='INC-6: bad migration', rollback_database='restore',
                     rollback_database_backup=dump['path'], rollback_database_target_db=db.name,
                     rollback_database_confirm=db.name, db_backup_dir=str(tmp_path / 'backups'))
    env = {'DATABASE_URL': db.url}
    with Cutter(MaintenanceSession(pg_server), CUT_WHERE, (RESTORE_APP, db.name)) as cutter:
        rc, output = run_playbook('rollback', sandbox, variables, env=env)
    assert len(cutter.cut) == 1 and cutter.cut[0][1] == RESTORE_APP, (cutter.cut, tail(output))
    message = final_fatal(rc, output)
    assert message.startswith('Production points at %s (rolled back from %s), but the database step (restore) '
                              'failed: ' % (previous, broken)), message
    assert 'failed at "Restore the dump into the target database - %s": pg_restore failed (exit 1): ' % db.name in message, message
    assert LOST.search(message), message
    assert 'so the database is as it was. The connection to PostgreSQL was lost (ended by pg_terminate_backend, ' in message, message
    assert 'nothing is wrong with the dump; run the same playbook again.' in message, message
    assert message.endswith('Run the same playbook again: the app rollback is not repeated.'), message
    # the app rollback happened, once; the database is exactly as before the run (nothing half-restored)
    assert sandbox.live()['uid'] == previous
    assert len(done_posts(sandbox)) == 1 and len(rollback_posts(sandbox)) == 1, rollback_posts(sandbox)
    assert '/rollback/%s' % previous in done_posts(sandbox)[0]['path']
    assert database_state(db) == migrated

    # the same command again, nothing cut: the restore only, no second rollback POST
    rc, output = run_playbook('rollback', sandbox, variables, env=env)
    assert rc == 0, tail(output)
    assert 'Production already points at %s' % previous in output, tail(output)
    assert 'Database: restored the pre-deploy backup %s into %s' % (dump['path'], db.name) in output, tail(output)
    assert len(rollback_posts(sandbox)) == 1, rollback_posts(sandbox)
    assert sandbox.live()['uid'] == previous
    status, body, _headers = sandbox.app('/health')
    assert status == 200 and body['deploymentId'] == previous, body
    assert database_state(db) == source

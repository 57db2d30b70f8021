"""End-to-end runs of playbooks/migrate.yml with ansible-playbook against inventory/production,
the way an on-call engineer runs it: the inventory keeps no secret, so the modules and the
SQL checks' psql read the connection from DATABASE_URL alone (no PG* variables; the password
percent-encoded, as in a Supabase URL), here a fresh database on the test server."""

import json
import os
import re
import shlex
import shutil

import pytest

from tests.conftest import ROOT
from tests.helpers import run_playbook

SAMPLE = os.path.join(ROOT, 'extensions', 'molecule', 'db_migrate', 'files', 'migrations')
HISTORY = 'SELECT version FROM supabase_migrations.schema_migrations ORDER BY version'


def database_url(db):
    """db.url with the password's first character percent-encoded (libpq decodes it)."""
    password = db.server.password
    return db.url.replace(':%s@' % password, ':%%%02X%s@' % (ord(password[0]), password[1:]))


def migrate(db, tmp_path, *args):
    """Run playbooks/migrate.yml; returns (rc, stdout + stderr)."""
    result = run_playbook('migrate', '-e', 'db_migrate_dir=%s' % (tmp_path / 'migrations'),
                          '-e', 'db_backup_dir=%s' % (tmp_path / 'backups'), '-e', 'db_backup_verify=toc',
                          '-e', 'db_migrate_health_check=false', *args, env={'DATABASE_URL': database_url(db)})
    return result.rc, result.output


def checks(*statements):
    return ['-e', json.dumps({'db_migrate_checks': list(statements)})]


@pytest.mark.pg_matrix  # its backup gate dumps a PostgreSQL 17 server too
def test_check_mode_then_apply_then_nothing_to_do(db, tmp_path):
    shutil.copytree(SAMPLE, tmp_path / 'migrations')

    rc, out = migrate(db, tmp_path, '--check')
    assert rc == 0, out
    assert 'Would apply 3 migration(s) from %s' % (tmp_path / 'migrations') in out, out
    assert db.scalar("SELECT to_regclass('supabase_migrations.schema_migrations') IS NULL")
    assert db.scalar("SELECT to_regclass('public.tasting_notes') IS NULL")
    assert not (tmp_path / 'backups').exists()

    rc, out = migrate(db, tmp_path, *checks("SELECT current_database() = '%s'" % db.name,
                                            "SELECT to_regclass('public.tasting_notes') IS NOT NULL"))
    assert rc == 0, out
    assert 'Applied 3 migration(s)' in out, out
    assert 'SQL checks passed: 2 of 2.' in out
    assert [r[0] for r in db.query(HISTORY)] == ['20260110090000', '20260111090000', '20260112090000']
    assert len(list((tmp_path / 'backups').iterdir())) == 2  # the dump and its manifest
    assert db.server.password not in out

    rc, out = migrate(db, tmp_path, *checks("SELECT to_regclass('public.tasting_notes') IS NOT NULL"))
    assert rc == 0, out
    assert 'changed=0' in out, out
    assert 'Nothing to apply: all 3 migration(s) in %s are recorded (newest 20260112090000).' % (
        tmp_path / 'migrations') in out, out
    assert len(list((tmp_path / 'backups').iterdir())) == 2


@pytest.mark.pg_matrix
def test_the_restore_command_of_a_failed_run_returns_the_database_to_before_it(db, tmp_path):
    """The run applied three files (a table with keys to dumped tables, a function, an index), then one failed:
    the restore command it prints must work, although those objects depend on the dump's tables."""
    shutil.copytree(SAMPLE, tmp_path / 'migrations')
    (tmp_path / 'migrations' / '20260201090000_broken.sql').write_text('ALTER TABLE public.winez ADD COLUMN x int;\n')
    before = db.query(HISTORY) if db.scalar("SELECT to_regclass('supabase_migrations.schema_migrations')") else None
    rc, out = migrate(db, tmp_path)
    assert rc == 2 and db.scalar("SELECT to_regclass('public.tasting_notes') IS NOT NULL"), out
    [fatal] = [x for x in out.splitlines() if x.startswith('fatal:') and '"msg": "Migration failed: ' in x]
    msg = json.loads(fatal.split(' => ', 1)[1])['msg']
    command = re.search(r'restore the verified backup taken before it: (ansible-playbook .*)$', msg).group(1)
    argv = shlex.split(command)
    inventory = os.path.join(ROOT, 'inventory', 'production')
    assert argv[:4] == ['ansible-playbook', 'playbooks/restore.yml', '-i', inventory], argv
    args = argv[4:] + ['-e', 'db_restore_safety_backup_dir=%s' % (tmp_path / 'pre')]
    checked = run_playbook('restore', *args, check=True, env={'DATABASE_URL': database_url(db)})
    assert checked.rc == 0, checked.output
    assert re.search(r'; would drop \d+ object\(s\) created since the dump: [^"]*TABLE public\.tasting_notes',
                     checked.output), checked.output
    assert db.scalar("SELECT to_regclass('public.tasting_notes') IS NOT NULL")   # check mode changed nothing
    result = run_playbook('restore', *args, env={'DATABASE_URL': database_url(db)})
    assert result.rc == 0, result.output
    assert 'TABLE public.tasting_notes' in result.output, result.output
    assert 'FUNCTION public.wine_average_score(bigint)' in result.output, result.output
    assert 'object(s) created since the dump: ' in result.output, result.output
    assert db.scalar("SELECT to_regclass('public.tasting_notes') IS NULL")
    assert db.scalar("SELECT to_regprocedure('public.wine_average_score(bigint)') IS NULL")
    history = db.query(HISTORY) if db.scalar("SELECT to_regclass('supabase_migrations.schema_migrations')") else None
    assert history == before
    # as before the run: the same files apply again
    (tmp_path / 'migrations' / '20260201090000_broken.sql').unlink()
    rc, out = migrate(db, tmp_path)
    assert rc == 0, out
    assert [r[0] for r in db.query(HISTORY)] == ['20260110090000', '20260111090000', '20260112090000']


def test_a_failing_file_and_a_failing_check_fail_the_play(db, tmp_path):
    shutil.copytree(SAMPLE, tmp_path / 'migrations')
    (tmp_path / 'migrations' / '20260201090000_broken.sql').write_text(
        'CREATE TABLE public.must_vanish (id int);\nALTER TABLE public.winez ADD COLUMN x int;\n')

    rc, out = migrate(db, tmp_path)
    assert rc == 2, out
    line = [x for x in out.splitlines() if x.startswith('fatal:') and '"msg": "Migration failed: ' in x]
    assert len(line) == 1, out
    assert ('Migration failed: 20260201090000_broken.sql statement 2 failed: relation \\"public.winez\\" does not '
            'exist (SQLSTATE 42P01); nothing from this file was applied. Applied by this run before it (they stay '
            'applied): 20260110090000_wine_tasting_notes.sql, 20260111090000_wine_average_score.sql, '
            '20260112090000_wines_vintage_index.sql. To return to the state before this run, restore the verified '
            'backup taken before it: ansible-playbook playbooks/restore.yml -i %s -e db_restore_path=%s/%s-'
            % (os.path.join(ROOT, 'inventory', 'production'), tmp_path / 'backups', db.name)) in line[0], line[0]
    assert line[0].endswith('-e db_restore_confirm=%s -e db_restore_target_db=%s"}' % (db.name, db.name)), line[0]
    assert db.scalar("SELECT to_regclass('public.must_vanish') IS NULL")
    assert [r[0] for r in db.query(HISTORY)] == ['20260110090000', '20260111090000', '20260112090000']

    (tmp_path / 'migrations' / '20260201090000_broken.sql').unlink()
    rc, out = migrate(db, tmp_path, *checks('SELECT count(*) > 100000 FROM public.wines'))
    assert rc == 2, out
    assert ('Verification failed at \\"Every SQL check passed\\" after a run with nothing to apply: 1 of 1 SQL '
            'check(s) failed: \\"SELECT count(*) > 100000 FROM public.wines\\" returned false.') in out, out

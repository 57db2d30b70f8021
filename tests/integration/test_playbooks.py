"""End-to-end runs of the database playbooks with ansible-playbook, the way an
on-call engineer runs them against staging/production: the inventory's
connection dict is empty and the modules read DATABASE_URL / PG* from the
environment (here: a fresh database on the test server)."""

import glob
import json
import os
import re

import pytest

from tests.helpers import run_playbook


OLD_READ = ("SELECT count(*) FROM public.notifications "
            "WHERE read AND created_at < now() - interval '90 days'")


def playbook(name, db, *args, inventory='production'):
    """Run playbooks/<name>.yml; returns (rc, stdout + stderr)."""
    result = run_playbook(name, *args, inventory=inventory, env=db.env)
    return result.rc, result.output


def test_backup_check_mode_writes_nothing(db, tmp_path):
    backups = tmp_path / 'backups'
    rc, out = playbook('backup', db, '--check', '-e', 'db_backup_dir=%s' % backups)
    assert rc == 0, out
    assert 'Would write a directory dump to %s/%s-' % (backups, db.name) in out, out
    assert not backups.exists()


@pytest.mark.pg_matrix  # backup and restore through a PostgreSQL 17 server too
def test_backup_then_confirmed_production_restore(db, tmp_path):
    backups = tmp_path / 'backups'
    rc, out = playbook('backup', db, '-e', 'db_backup_dir=%s' % backups, '-e', 'db_backup_format=custom',
                       '-e', 'db_backup_verify=toc')
    assert rc == 0, out
    dumps = glob.glob(str(backups / (db.name + '-*.dump')))
    assert len(dumps) == 1, out
    assert oct(os.stat(dumps[0]).st_mode & 0o777) == '0o600'
    # the summary names the pg_dump the backup found by itself (at least the server's major) and the server
    with open(dumps[0] + '.manifest.json') as handle:
        manifest = json.load(handle)
    server_version = db.scalar('SHOW server_version')
    dump_client = manifest['clients']['pg_dump']['version']
    assert manifest['server_version'] == server_version
    assert int(dump_client.split('.')[0]) >= int(server_version.split('.')[0])
    assert ' by pg_dump %s from PostgreSQL %s; verification toc: ok' % (dump_client, server_version) in out, out

    db.query('DELETE FROM public.notifications')
    rc, out = playbook('restore', db, '-e', 'db_restore_path=%s' % dumps[0],
                       '-e', 'db_restore_confirm=%s' % db.name,
                       '-e', 'db_restore_safety_backup_dir=%s' % (tmp_path / 'pre-restore'))
    assert rc == 0, out
    assert db.scalar('SELECT count(*) FROM public.notifications') == 1200
    # the emptied state was kept before it was overwritten
    assert len(glob.glob(str(tmp_path / 'pre-restore' / (db.name + '-*.dump')))) == 1
    assert 'Restored %s (custom) into %s' % (dumps[0], db.name) in out, out
    restore_client = re.search(r'into %s in [0-9.]+ s by pg_restore ([0-9.]+): ' % re.escape(db.name), out)
    assert restore_client, out
    assert int(restore_client.group(1).split('.')[0]) >= int(dump_client.split('.')[0])


def test_production_restore_refused_without_matching_confirmation(db, tmp_path):
    before = db.scalar('SELECT count(*) FROM public.notifications')
    for extra in ([], ['-e', 'db_restore_confirm=postgres']):
        rc, out = playbook('restore', db, '-e', 'db_restore_path=%s' % (tmp_path / 'some.dump'),
                           '-e', 'db_restore_safety_backup_dir=%s' % (tmp_path / 'pre-restore'), *extra)
        assert rc == 2, out
        line = [x for x in out.splitlines() if '"msg": "Refusing' in x]
        assert len(line) == 1, out
        assert ('Refusing to restore into database %s on production: ' % db.name) in line[0]
        assert ('nothing was changed. Re-run with -e db_restore_confirm=%s"' % db.name) in line[0]
        assert 'Restore the dump' not in out
    assert not (tmp_path / 'pre-restore').exists()
    assert db.scalar('SELECT count(*) FROM public.notifications') == before


def test_monthly_maintenance_check_mode_then_run(db):
    old_read = db.scalar(OLD_READ)
    unread = db.scalar('SELECT count(*) FROM public.notifications WHERE NOT read')
    assert old_read > 0

    rc, out = playbook('db_maintenance', db, '--check', '-e', 'db_maintenance_schedule=monthly', inventory='staging')
    assert rc == 0, out
    assert 'public.notifications %d row(s) would be deleted' % old_read in out, out
    assert db.scalar(OLD_READ) == old_read

    rc, out = playbook('db_maintenance', db, '-e', 'db_maintenance_schedule=monthly', inventory='staging')
    assert rc == 0, out
    assert 'public.notifications %d row(s) in 1 batch(es)' % old_read in out, out
    assert db.scalar(OLD_READ) == 0
    assert db.scalar('SELECT count(*) FROM public.notifications WHERE NOT read') == unread
    assert db.scalar("SELECT count(*) FROM public.error_logs WHERE created_at < now() - interval '90 days'") == 0

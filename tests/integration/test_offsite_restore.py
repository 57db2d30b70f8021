"""restore.yml and dr_test.yml from a recovery point of the off-site bucket, end to end with ansible-playbook:
a real postgres_dump uploaded by the real backup_upload to the S3 stand-in (moto behind the sandbox's front,
HTTPS with the sandbox CA), the bucket and keys in the environment as .sandbox/env gives them, the database
connection from DATABASE_URL (a fresh database on the test server)."""

import json
import os
import uuid

from tests.conftest import run_module
from tests.helpers import run_playbook


def offsite_point(db, s3, tmp_path, **upload_args):
    """Dump ``db`` (with table checksums), upload it; returns the backup_upload result."""
    dump = run_module('postgres_dump', dict(backup_dir=str(tmp_path / 'backups'), format='directory',
                                            table_checksums=True), env=db.env)
    assert not dump.get('failed'), dump
    uploaded = run_module('backup_upload', dict(upload_args, path=dump['path']), env=s3.env())
    assert uploaded['changed'] and not uploaded.get('failed'), uploaded
    return uploaded


def drill(db, s3, tmp_path, *args, bucket=True):
    prefix = 'dro_' + uuid.uuid4().hex[:8]
    env = [db.env, s3.env() if bucket else {}]
    result = run_playbook('dr_test', '-e', 'dr_test_dir=%s' % (tmp_path / 'drills'),
                          '-e', 'dr_test_log=%s' % (tmp_path / 'dr-log.jsonl'),
                          '-e', 'dr_test_scratch_prefix=%s' % prefix, *args, inventory='staging', env=env)
    path = tmp_path / 'dr-log.jsonl'
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return result.rc, result.output, prefix, lines


def scratch_databases(pg_server, prefix):
    return pg_server.execute('SELECT datname FROM pg_database WHERE datname LIKE %s', params=(prefix + '%',))


def test_drill_defaults_to_the_offsite_copy(pg_server, db, s3, tmp_path):
    uploaded = offsite_point(db, s3, tmp_path)
    db.query('DELETE FROM public.notifications')   # the drill restores the bucket's copy, not the live database
    rc, out, prefix, lines = drill(db, s3, tmp_path)
    assert rc == 0, out
    [line] = lines
    name = uploaded['prefix'].rstrip('/').rsplit('/', 1)[1]
    assert line['result'] == 'passed' and line['source'] == 'offsite' and line['recovery_point'] == name, line
    assert line['bucket'] == s3.bucket and line['note'] is None and line['mismatches'] == []
    assert line['tables_compared'] >= 9 and line['rows_compared'] > 5000
    assert line['dump_size'] == uploaded['size'] > 4096, line   # the bytes fetched, not the directory's stat()
    assert line['download_seconds'] > 0 and line['verify_seconds'] >= 0 and line['restore_seconds'] > 0
    assert line['recovery_seconds'] >= line['download_seconds'] + line['restore_seconds'] - 0.01
    assert line['scratch_dropped'] is True and scratch_databases(pg_server, prefix) == []
    assert os.listdir(str(tmp_path / 'drills')) == []   # the downloaded copy is gone
    assert 'DR drill passed: %s restored from off-site recovery point %s of s3://%s' % (db.name, name, s3.bucket) \
        in out, out
    assert 'recovery time' in out and '(download ' in out, out


def test_drill_without_a_bucket_falls_back_with_a_note(pg_server, db, s3, tmp_path):
    rc, out, prefix, lines = drill(db, s3, tmp_path, bucket=False)
    assert rc == 0, out
    [line] = lines
    assert line['source'] == 'local' and line['result'] == 'passed' and 'no off-site bucket is configured' in line['note']
    assert 'Note: no off-site bucket is configured' in out, out


def test_drill_of_a_tampered_object_fails_restores_nothing(pg_server, db, s3, tmp_path):
    uploaded = offsite_point(db, s3, tmp_path)
    key = sorted(k for k in uploaded['keys'] if k.endswith('.dat.gz') or k.endswith('.dat'))[-1]
    client = s3.client()
    head = client.head_object(Bucket=s3.bucket, Key=key)
    client.put_object(Bucket=s3.bucket, Key=key, Body=b'not the data', Metadata=head['Metadata'])
    rc, out, prefix, lines = drill(db, s3, tmp_path)
    assert rc != 0, out
    [line] = lines
    assert line['result'] == 'failed' and line['source'] == 'offsite', line
    assert 'Download, verify and decrypt the off-site recovery point' in line['failed_step']
    assert 'tampered or corrupt' in line['reason'] and key in line['reason'], line
    assert line['restore_seconds'] is None and scratch_databases(pg_server, prefix) == []
    assert os.listdir(str(tmp_path / 'drills')) == []


def test_drill_check_mode_names_the_point(pg_server, db, s3, tmp_path):
    offsite_point(db, s3, tmp_path)
    rc, out, prefix, lines = drill(db, s3, tmp_path, '--check')
    assert rc == 0, out
    assert 'Would download recovery point ' in out and 'from s3://%s' % s3.bucket in out, out
    assert lines == [] and scratch_databases(pg_server, prefix) == []


def restore(db, s3, tmp_path, *args, check=False, full=False):
    result = run_playbook('restore', '-e', 'db_restore_from=s3', '-e', 'db_restore_confirm=%s' % db.name,
                          '-e', 'db_restore_download_dir=%s' % (tmp_path / 'restore'),
                          '-e', 'db_restore_safety_backup_dir=%s' % (tmp_path / 'pre-restore'), *args,
                          inventory='production', env=[db.env, s3.env()], check=check,
                          reports_dir=tmp_path / 'reports')
    return result if full else (result.rc, result.output)


def test_restore_playbook_from_the_bucket(db, s3, tmp_path):
    uploaded = offsite_point(db, s3, tmp_path)
    name = uploaded['prefix'].rstrip('/').rsplit('/', 1)[1]
    db.query('DELETE FROM public.notifications')
    rc, out = restore(db, s3, tmp_path, check=True)
    assert rc == 0, out
    assert 'Would download recovery point %s' % name in out, out
    assert db.scalar('SELECT count(*) FROM public.notifications') == 0
    result = restore(db, s3, tmp_path, '-e', 'db_restore_point=%s' % name, full=True)
    rc, out = result.rc, result.output
    assert rc == 0, out
    [fetched] = [t for t in result.report['tasks'] if t['action'].endswith('backup_download')]
    assert fetched['key_results']['point'] == name and fetched['key_results']['timings.download_s'] > 0, fetched
    assert 'timings.verify_s' in fetched['key_results']
    assert db.scalar('SELECT count(*) FROM public.notifications') == 1200
    assert 'Restored recovery point %s of s3://%s (directory) into %s' % (name, s3.bucket, db.name) in out, out
    assert 'recovery time' in out and '(download ' in out and ', restore ' in out, out
    # again: the verified copy is already here, nothing is fetched, and the summary says so
    db.query('DELETE FROM public.notifications')
    rc, out = restore(db, s3, tmp_path, '-e', 'db_restore_point=%s' % name)
    assert rc == 0, out
    assert db.scalar('SELECT count(*) FROM public.notifications') == 1200
    assert '(already downloaded and verified, restore ' in out and 'None s' not in out, out


def test_restore_playbook_missing_point_changes_nothing(db, s3, tmp_path):
    offsite_point(db, s3, tmp_path)
    db.query('DELETE FROM public.notifications')
    rc, out = restore(db, s3, tmp_path, '-e', 'db_restore_point=postgres-19990101T000000Z.dir')
    assert rc != 0, out
    assert 'recovery point "postgres-19990101T000000Z.dir" does not exist' in out and 'the newest are:' in out, out
    assert db.scalar('SELECT count(*) FROM public.notifications') == 0
    assert not (tmp_path / 'pre-restore').exists()

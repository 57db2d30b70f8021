"""The disaster-recovery drill (playbooks/dr_test.yml) end to end with ansible-playbook against a real
PostgreSQL 15, as CI runs it against staging: the inventory's connection dict is empty and the modules
read DATABASE_URL / PG* from the environment (here: a fresh database on the test server).

A passing drill, check mode, and the faults: a dump corrupted between the steps, a scratch database that
cannot be created, and a difference injected into the scratch database between restore and compare.
Each failure must fail the play, be logged as failed with its reason, and leave no scratch database."""

import json
import os
import uuid

import pytest

from tests.conftest import run_module
from tests.helpers import run_playbook


def drill(env, tmp_path, *args):
    """Run the drill with its own scratch prefix, dump dir and log; returns (rc, output, prefix)."""
    prefix = 'dr_' + uuid.uuid4().hex[:8]
    result = run_playbook('dr_test', '-e', 'dr_test_dir=%s' % (tmp_path / 'drills'),
                          '-e', 'dr_test_log=%s' % (tmp_path / 'dr-log.jsonl'),
                          '-e', 'dr_test_scratch_prefix=%s' % prefix, *args, inventory='staging', env=env)
    return result.rc, result.output, prefix


def log_lines(tmp_path):
    path = tmp_path / 'dr-log.jsonl'
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def scratch_databases(pg_server, prefix):
    return pg_server.execute('SELECT datname FROM pg_database WHERE datname LIKE %s', params=(prefix + '%',))


def drill_dirs(tmp_path):
    drills = tmp_path / 'drills'
    return sorted(os.listdir(drills)) if drills.exists() else []


def hook(tmp_path, name, tasks):
    path = tmp_path / name
    path.write_text(tasks)
    return str(path)


@pytest.mark.pg_matrix  # backup and restore through a PostgreSQL 17 server too
def test_drill_passes_logs_and_cleans_up(pg_server, db, tmp_path):
    rc, out, prefix = drill(db.env, tmp_path)
    assert rc == 0, out
    [line] = log_lines(tmp_path)
    assert line['result'] == 'passed' and line['reason'] is None and line['failed_step'] is None, line
    assert line['database'] == db.name and line['scratch_db'].startswith(prefix + '_')
    assert line['mismatches'] == [] and line['checksums'] is True
    assert line['tables_compared'] >= 9 and line['rows_compared'] > 5000
    assert line['dump_format'] == 'directory' and line['dump_size'] > 0 and line['dump_path'].endswith('.dir')
    assert line['source_size'] > 0 and line['restored_size'] > 0
    assert 0 < line['restore_seconds'] <= line['total_seconds'] and line['dump_seconds'] > 0
    assert line['scratch_dropped'] is True and line['dump_kept'] is False
    assert scratch_databases(pg_server, prefix) == []
    assert drill_dirs(tmp_path) == []  # the drill's dump is gone
    assert 'DR drill passed: %s restored from' % db.name in out, out


def test_check_mode_does_nothing(pg_server, db, tmp_path):
    rc, out, prefix = drill(db.env, tmp_path, '--check')
    assert rc == 0, out
    assert 'Would dump the database to %s/%s_' % (tmp_path / 'drills', prefix) in out, out
    assert log_lines(tmp_path) == [] and drill_dirs(tmp_path) == []
    assert scratch_databases(pg_server, prefix) == []


def test_dump_corrupted_between_steps_fails_and_is_logged(pg_server, db, tmp_path):
    corrupt = hook(tmp_path, 'corrupt.yml', """---
- name: Corrupt the dump's table of contents
  ansible.builtin.copy:
    content: not a pg_dump archive
    dest: "{{ dr_test_dump_file }}/toc.dat"
    mode: "0600"
""")
    rc, out, prefix = drill(db.env, tmp_path, '-e', 'dr_test_after_dump_tasks=%s' % corrupt)
    assert rc == 2, out
    assert 'DR drill failed at "Restore the dump into the scratch database"' in out, out
    [line] = log_lines(tmp_path)
    assert line['result'] == 'failed' and line['failed_step'] == 'Restore the dump into the scratch database'
    assert 'does not match its manifest' in line['reason'], line
    assert line['tables_compared'] == 0 and line['database'] == db.name
    assert line['scratch_dropped'] is True
    assert scratch_databases(pg_server, prefix) == [] and drill_dirs(tmp_path) == []


def test_scratch_database_that_cannot_be_created(pg_server, db, tmp_path):
    role = 'drill_' + uuid.uuid4().hex[:8]
    pg_server.execute("CREATE ROLE %s LOGIN PASSWORD 'drill-pw' NOCREATEDB IN ROLE pg_read_all_data" % role)
    try:
        env = dict(db.env, PGUSER=role, PGPASSWORD='drill-pw',
                   DATABASE_URL='postgresql://%s:drill-pw@127.0.0.1:%d/%s' % (role, pg_server.port, db.name))
        rc, out, prefix = drill(env, tmp_path, '-e', 'dr_test_format=custom', '-e', 'dr_test_keep_dump=true')
        assert rc == 2, out
        [line] = log_lines(tmp_path)
        assert line['result'] == 'failed' and line['failed_step'] == 'Restore the dump into the scratch database'
        assert 'cannot create database "%s"' % line['scratch_db'] in line['reason'], line
        assert 'grant CREATEDB' in line['reason']
        assert scratch_databases(pg_server, prefix) == []
        # kept on request: the dump and its manifest are still there
        [kept] = drill_dirs(tmp_path)
        files = sorted(os.listdir(tmp_path / 'drills' / kept))
        assert len(files) == 2 and files[0].endswith('.dump') and line['dump_kept'] is True, files
    finally:
        pg_server.execute('DROP ROLE IF EXISTS %s' % role)


def test_changed_row_in_scratch_fails_naming_the_table(pg_server, db, tmp_path):
    tamper = hook(tmp_path, 'tamper.yml', """---
- name: Change one wine's price in the scratch database
  ansible.builtin.command:
    argv: [psql, -X, -q, -v, ON_ERROR_STOP=1, -d, "{{ dr_test_scratch_db }}", -c,
           "UPDATE public.wines SET price_cents = price_cents + 1 WHERE id = (SELECT min(id) FROM public.wines)"]
  changed_when: true
""")
    rc, out, prefix = drill(db.env, tmp_path, '-e', 'dr_test_after_restore_tasks=%s' % tamper)
    assert rc == 2, out
    rows = db.scalar('SELECT count(*) FROM public.wines')
    [line] = log_lines(tmp_path)
    assert line['result'] == 'failed' and line['failed_step'] == 'Compare the scratch database with the source'
    assert line['mismatches'] == ['public.wines: checksum differs (%d rows on both sides)' % rows], line
    assert 'public.wines: checksum differs' in line['reason'] and line['tables_compared'] >= 9
    assert line['restore_seconds'] > 0
    # the scratch database existed when the drill failed: the always-section dropped it
    assert line['scratch_dropped'] is True and scratch_databases(pg_server, prefix) == []
    assert drill_dirs(tmp_path) == []
    assert "DR drill FAILED at 'Compare the scratch database with the source': 1 of" in out, out


def test_source_written_after_the_dump_is_no_difference(pg_server, db, tmp_path):
    """The drill compares with the source as dumped: writes to the (busy) source between the dump and the
    comparison are not differences. Comparing with the live source after the restore would fail here."""
    busy = hook(tmp_path, 'busy.yml', """---
- name: Keep writing to the source after the dump
  ansible.builtin.command:
    argv: [psql, -X, -q, -v, ON_ERROR_STOP=1, -d, "%s", -c,
           "UPDATE public.wines SET price_cents = price_cents + 1 WHERE id = (SELECT min(id) FROM public.wines);
            DELETE FROM public.notifications WHERE id = (SELECT max(id) FROM public.notifications);
            INSERT INTO public.error_logs (message) VALUES ('written after the dump')"]
  changed_when: true
""" % db.name)
    before = db.scalar('SELECT count(*) FROM public.notifications')
    rc, out, prefix = drill(db.env, tmp_path, '-e', 'dr_test_after_dump_tasks=%s' % busy)
    assert rc == 0, out
    assert db.scalar('SELECT count(*) FROM public.notifications') == before - 1  # the source did change
    [line] = log_lines(tmp_path)
    assert line['result'] == 'passed' and line['mismatches'] == [], line
    assert line['tables_compared'] >= 9 and line['rows_compared'] > 5000 and line['checksums'] is True
    assert line['source_time'] and line['source_time'] <= line['finished']
    assert scratch_databases(pg_server, prefix) == [] and drill_dirs(tmp_path) == []


def test_existing_dump_without_checksums_fails_before_the_restore(pg_server, db, tmp_path):
    dumped = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path / 'nightly'), format='custom'))
    assert not dumped.get('failed'), dumped
    rc, out, prefix = drill(db.env, tmp_path, '-e', 'dr_test_dump_path=%s' % dumped['path'])
    assert rc == 2, out
    [line] = log_lines(tmp_path)
    assert line['result'] == 'failed', line
    assert line['failed_step'] == "Check the existing dump recorded its tables' checksums", line
    assert ('%s has no table_checksums: dump taken without table_checksums: true' % dumped['manifest_path']
            in line['reason']), line
    assert line['restore_seconds'] is None and line['dump_kept'] is True
    assert scratch_databases(pg_server, prefix) == []
    assert os.path.exists(dumped['path'])  # never removed

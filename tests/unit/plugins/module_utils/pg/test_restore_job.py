"""Unit tests of plugins/module_utils/pg/restore_job.py: the order of the steps, the option checks that need
no server, and the plan of what is dropped and created."""

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import restore_job
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError
from tests.unit.plugins.module_utils.pg.helpers import FakeConn, fake_program

STEPS = ('validate', 'check_checksum', 'plan', 'prepare_target', 'restore', 'count_rows')


class Recorder(restore_job.RestoreJob):
    admin_db = 'postgres'

    def __init__(self, *args, **kwargs):
        super(Recorder, self).__init__(*args, **kwargs)
        self.calls = []


def _step(name):
    def step(self, *args):
        self.calls.append(name)
    return step


for _name in STEPS + ('check_mode_result', 'result'):
    setattr(Recorder, _name, _step(_name))


def test_the_steps_run_in_order_and_the_admin_session_is_closed(monkeypatch):
    admin = FakeConn()
    monkeypatch.setattr(restore_job, 'connect', lambda *a, **kw: admin)
    job = Recorder({}, dict(path='/b/x.dump'))
    job.run()
    assert job.calls == list(STEPS) + ['result']
    assert admin.closed


def test_check_mode_stops_after_the_plan(monkeypatch):
    admin = FakeConn()
    monkeypatch.setattr(restore_job, 'connect', lambda *a, **kw: admin)
    job = Recorder({}, dict(path='/b/x.dump'), check_mode=True)
    job.run()
    assert job.calls == ['validate', 'check_checksum', 'plan', 'check_mode_result'] and admin.closed


def _dump(tmp_path, head=b'PGDMP\x01'):
    path = tmp_path / 'x.dump'
    path.write_bytes(head)
    return str(path)


@pytest.mark.parametrize('opts, message', [
    (dict(jobs=-1), 'jobs must be 1 or more, got -1'),
    (dict(maintenance_work_mem='1GB; x'), 'maintenance_work_mem "1GB; x" is not a memory size'),
    (dict(clean=True, plain=True), 'clean needs a custom or directory dump'),
    (dict(), 'no target database; set target_db (or login_db / PGDATABASE)'),
])
def test_bad_options(tmp_path, opts, message):
    plain = opts.pop('plain', False)
    path = _dump(tmp_path, b'-- SQL\n' if plain else b'PGDMP\x01')
    bin_dir = str(tmp_path / 'bin')
    fake_program(tmp_path, 'pg_restore', 'exit 0\n')
    fake_program(tmp_path, 'psql', 'exit 0\n')
    job = restore_job.RestoreJob({}, dict(opts, path=path, bin_dir=bin_dir))
    with pytest.raises(PgModuleError) as err:
        job.validate()
    assert message in str(err.value)


def test_a_missing_dump_is_named(tmp_path):
    with pytest.raises(PgModuleError, match='dump .*nope.dump does not exist; check path'):
        restore_job.RestoreJob({}, dict(path=str(tmp_path / 'nope.dump'))).validate()


def test_the_plan_recreates_with_create_and_clean(tmp_path):
    path = _dump(tmp_path)
    fake_program(tmp_path, 'pg_restore', 'exit 0\n')
    job = restore_job.RestoreJob(dict(dbname='app'), dict(path=path, bin_dir=str(tmp_path / 'bin'), create=True,
                                                          clean=True, target_db='copy', jobs=2))
    job.validate()
    assert job.admin_db == 'app'
    admin = FakeConn(answers=[[('copy',)], []])  # the target exists, no other sessions
    job.plan(admin)
    assert job.plan_result == dict(drop_database=True, create_database=True, drop_created_since_dump=[])
    assert '--clean' not in job.argv and '--jobs=2' in job.argv and job.argv[-1] == path
    assert job.check_mode_result()['plan'] == job.plan_result


def test_other_sessions_stop_the_plan_unless_they_may_be_ended(tmp_path):
    path = _dump(tmp_path)
    fake_program(tmp_path, 'pg_restore', 'exit 0\n')
    job = restore_job.RestoreJob(dict(dbname='postgres'), dict(path=path, bin_dir=str(tmp_path / 'bin'),
                                                               target_db='app'))
    job.validate()
    with pytest.raises(PgModuleError, match=r'database "app" has 2 other session\(s\) connected \(pids 7, 8\)'):
        job.plan(FakeConn(answers=[[('app',)], [(7, 'u', 'a'), (8, 'u', 'b')]]))


# -- the restore client against the dump's pg_dump ----------------------------------------------------------

@pytest.mark.parametrize('client, fmt, dump_version, restrict, fragment', [
    (dict(path='/x/pg_restore', version='15.18', major=15), 'custom', '18.6',
     False, 'the dump was written by pg_dump 18.6 and pg_restore 15.18 (/x/pg_restore) cannot read archives of a '
            'newer pg_dump; restore with pg_restore 18 or newer'),
    (dict(path='/x/psql', version='15.13', major=15), 'plain', '15.14',
     True, 'the plain dump carries \\restrict meta-commands (pg_dump 15.14) that psql 15.13 (/x/psql) does not know'),
    (dict(path='/x/pg_restore', version='18.6', major=18), 'directory', '15.18', False, None),
    (dict(path='/x/psql', version='15.18', major=15), 'plain', '18.6', True, None),
    (dict(path='/x/psql', version='15.13', major=15), 'plain', '', False, None),
])
def test_check_restore_client(client, fmt, dump_version, restrict, fragment):
    refusal = restore_job.check_restore_client(client, fmt, dump_version, restrict)
    if fragment is None:
        assert refusal is None
    else:
        assert fragment in refusal and '\n' not in refusal


def test_plain_has_restrict(tmp_path):
    with_it, without = tmp_path / 'a.sql', tmp_path / 'b.sql'
    with_it.write_bytes(b'--\n-- PostgreSQL database dump\n--\n\n\\restrict abc123\n\nSET x = 1;\n')
    without.write_bytes(b'--\nSET x = 1;\n')
    assert restore_job.plain_has_restrict(str(with_it)) is True
    assert restore_job.plain_has_restrict(str(without)) is False
    assert restore_job.plain_has_restrict(str(tmp_path / 'missing.sql')) is False


@pytest.mark.parametrize('source, target, refused', [
    ('17.10', 150018, True), ('17.10', 170006, False), ('15.18', 170010, False), ('', 150018, False),
    ('17.10', 0, False),
])
def test_check_target_server(source, target, refused):
    refusal = restore_job.check_target_server(source, target)
    if refused:
        assert refusal == ('the dump is of a PostgreSQL 17 server (17.10) and the target server runs 15.18; a dump '
                           'restores into the same or a newer major: restore into a PostgreSQL 17 or newer server')
    else:
        assert refusal is None

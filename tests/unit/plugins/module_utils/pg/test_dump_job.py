"""Unit tests of plugins/module_utils/pg/dump_job.py: the option checks, the order of the steps, what a failing
step leaves, the plan of names and arguments."""

import os

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import dump_job
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError
from tests.unit.plugins.module_utils.pg.helpers import FakeConn


@pytest.mark.parametrize('opts, fragment', [
    (dict(schema_only=True, data_only=True), 'mutually exclusive'),
    (dict(compression=10), 'between 0 and 9'),
    (dict(jobs=0), 'jobs must be 1 or more'),
    (dict(keep=0), 'keep must be 1 or more'),
    (dict(max_age_days=-1), 'max_age_days'),
    (dict(verify='restore', data_only=True), 'verify=restore needs the schema'),
    (dict(name='../x'), 'plain file name'),
])
def test_bad_dump_options(opts, fragment):
    with pytest.raises(PgModuleError) as err:
        dump_job.validate_dump_options(opts)
    assert fragment in str(err.value)


# -- the job's steps ---------------------------------------------------------------------------

STEPS = ('validate', 'find_programs', 'read_database', 'plan', 'snapshot', 'run_pg_dump', 'checksum', 'verify',
         'describe', 'place', 'write_manifest', 'prune')


class Recorder(dump_job.DumpJob):
    """A DumpJob whose steps only note that they ran (and fail when told to)."""

    fail_at = None

    def __init__(self, *args, **kwargs):
        super(Recorder, self).__init__(*args, **kwargs)
        self.calls = []
        self.tmp_path = '/b/.x.dump.partial-0123abcd'
        self.backup_dir = '/b'


def _step(name):
    def step(self):
        self.calls.append(name)
        if name == self.fail_at:
            raise PgModuleError('%s failed' % name)
    return step


for _name in STEPS:
    setattr(Recorder, _name, _step(_name))
Recorder.check_mode_result = lambda self: self.calls.append('check_mode_result') or dict(changed=True)
Recorder.result = lambda self: self.calls.append('result') or dict(changed=True)


@pytest.fixture
def quiet_files(monkeypatch):
    """No database, no backup directory: what the steps around them do is recorded."""
    done = []
    conn = FakeConn()

    class Claim(object):
        def __init__(self, path):
            done.append(('claim', path))

        def release(self):
            done.append(('release',))

    monkeypatch.setattr(dump_job, 'connect', lambda *a, **kw: conn)
    monkeypatch.setattr(dump_job, 'ensure_backup_dir', lambda path: done.append(('ensure_backup_dir',)))
    monkeypatch.setattr(dump_job, 'discard_leftovers', lambda path: [])
    monkeypatch.setattr(dump_job, 'PartialClaim', Claim)
    monkeypatch.setattr(dump_job, 'remove_path', lambda path: done.append(('remove', path)))
    return done, conn


def test_the_steps_run_in_order(quiet_files):
    done, conn = quiet_files
    job = Recorder({}, dict(backup_dir='/b'))
    assert job.run() == dict(changed=True)
    assert job.calls == list(STEPS) + ['result']
    assert done == [('ensure_backup_dir',), ('claim', job.tmp_path), ('release',)]
    assert conn.closed


def test_check_mode_stops_after_the_plan(quiet_files):
    done, conn = quiet_files
    job = Recorder({}, dict(backup_dir='/b'), check_mode=True)
    job.run()
    assert job.calls == ['validate', 'find_programs', 'read_database', 'plan', 'check_mode_result']
    assert done == [] and conn.closed


@pytest.mark.parametrize('failing', ['checksum', 'verify', 'describe', 'place'])
def test_a_failure_after_the_dump_removes_the_temporary_dump(quiet_files, failing):
    done, conn = quiet_files
    job = Recorder({}, dict(backup_dir='/b'))
    job.fail_at = failing
    with pytest.raises(PgModuleError, match='%s failed' % failing):
        job.run()
    assert job.calls == list(STEPS[:STEPS.index(failing) + 1])
    assert ('remove', job.tmp_path) in done and done[-1] == ('release',)
    assert conn.closed


@pytest.mark.parametrize('failing', ['snapshot', 'run_pg_dump', 'write_manifest'])
def test_the_claim_is_released_however_the_dump_fails(quiet_files, failing):
    done, dummy = quiet_files
    job = Recorder({}, dict(backup_dir='/b'))
    job.fail_at = failing
    with pytest.raises(PgModuleError):
        job.run()
    assert done[-1] == ('release',) and 'prune' not in job.calls


def test_a_lost_session_is_said_in_one_line(quiet_files):
    done, conn = quiet_files
    job = Recorder({}, dict(backup_dir='/b'))
    job.fail_at = 'run_pg_dump'
    conn.closed = 1  # the dump's own session was cut
    with pytest.raises(PgModuleError) as err:
        job.run()
    assert str(err.value) == ('the database session of the dump was lost (run_pg_dump failed); nothing was written '
                              'and the database is unchanged: run the backup again')


def test_lost_session_error_only_for_the_dumps_own_session():
    assert dump_job.lost_session_error(FakeConn(), PgModuleError('pg_dump failed (exit 1): boom')) is None
    lost = dump_job.lost_session_error(FakeConn(), PgModuleError('error: invalid snapshot identifier: "0-1"'))
    assert 'the database session of the dump was lost' in str(lost)


def test_dump_argument_spec_adds_a_modules_own_options():
    spec = dump_job.dump_argument_spec(format=dict(type='str'))
    assert sorted(spec) == ['backup_dir', 'bin_dir', 'format', 'keep', 'max_age_days', 'name']
    assert spec['backup_dir'] == dict(type='path', required=True)


def test_a_custom_argument_list_needs_the_plain_format():
    class Custom(dump_job.DumpJob):
        custom_argv = True

    with pytest.raises(PgModuleError, match='a custom argument list or stream edit needs the plain format, not custom'):
        Custom({}, dict(backup_dir='/b', format='custom')).validate()
    with pytest.raises(PgModuleError, match='table_checksums needs pg_dump run in an exported snapshot'):
        Custom({}, dict(backup_dir='/b', format='plain', table_checksums=True)).validate()


def test_the_plan_names_the_dump_and_its_temporary_name(tmp_path):
    job = dump_job.DumpJob({}, dict(backup_dir=str(tmp_path), format='custom', compression=3, compressor='pg_dump'))
    job.validate()
    job.dbname, job.tables, job.exclude_tables, job.pg_dump = 'app', [], [], 'pg_dump'
    job.plan()
    assert job.final_path.startswith(str(tmp_path / 'app-')) and job.final_path.endswith('.dump')
    assert job.mpath == job.final_path + '.manifest.json'
    assert os.path.basename(job.tmp_path).startswith('.' + os.path.basename(job.final_path) + '.partial-')
    assert job.argv('snap-1') == ['pg_dump', '--format=c', '--no-password', '--compress=3', '--snapshot=snap-1']

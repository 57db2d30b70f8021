"""Unit tests of plugins/module_utils/pg/job.py: what the dump and restore jobs share."""

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.job import Job


class Module(object):
    name = 'postgres_x'
    conn_params = dict(host='h', dbname='app')
    params = dict(backup_dir='/b')
    check_mode = True


def test_a_job_is_made_from_its_module():
    job = Job.from_module(Module())
    assert job.conn_params == dict(host='h', dbname='app')
    assert job.opts == dict(backup_dir='/b')
    assert job.check_mode is True
    assert job.application_name == 'pourtrait.ops/postgres_x'
    assert 0 <= job.elapsed() < 5

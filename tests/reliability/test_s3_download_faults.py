"""Off-site downloads under S3 faults: with 30% of the S3 stand-in's requests answered 503 SlowDown, 500
InternalError, a dropped connection or a body cut half-way, every backup_download run either completes with a
verified copy (the dump matches its manifest) or fails with one line and leaves no partial copy behind."""

import hashlib
import os
import uuid

import pytest

from tests.conftest import run_module

RUNS = 8


@pytest.fixture(scope='module')
def dump(pg_server, tmp_path_factory):
    name = 'dlf_' + uuid.uuid4().hex[:8]
    pg_server.create_database(name, template='pourtrait_template')
    conn = dict(login_host='127.0.0.1', login_port=pg_server.port, login_user=pg_server.user,
                login_password=pg_server.password, login_db=name)
    result = run_module('postgres_dump', dict(conn, backup_dir=str(tmp_path_factory.mktemp('dl-fault-dumps')),
                                              format='directory', name='nightly'))
    pg_server.drop_database(name)
    assert not result.get('failed'), result
    return result


def sha256(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_downloads_under_30_percent_faults_complete_or_fail_cleanly(s3, dump, tmp_path):
    uploaded = run_module('backup_upload', dict(path=dump['path']), env=s3.env(https=False))
    assert uploaded['changed'] and not uploaded.get('failed'), uploaded
    s3.set_faults(rate=0.3, kinds=('500', '503', 'reset', 'cut'), seed=11)
    completed = 0
    for i in range(RUNS):
        dest = tmp_path / ('run-%d' % i)
        result = run_module('backup_download', dict(database=dump['manifest']['database'], dest=str(dest),
                                                    part_size_mb=1, max_attempts=4),
                            env=s3.env(https=False))
        if result.get('failed'):
            assert '\n' not in result['msg'] and 'Traceback' not in result.stdout + result.stderr, result['msg']
            assert not dest.exists() or os.listdir(str(dest)) == [], os.listdir(str(dest))
            continue
        completed += 1
        for rel, digest in dump['manifest']['files'].items():
            assert sha256(os.path.join(result['path'], rel)) == digest, rel
    assert s3.faults()['injected'] > RUNS, 'faults were injected'
    s3.clear_faults()
    print('completed %d of %d under faults' % (completed, RUNS))
    assert completed >= RUNS // 2, 'most downloads complete through the retries (%d of %d)' % (completed, RUNS)

"""Off-site uploads under S3 faults: with 30% of the S3 stand-in's requests answered 503 SlowDown, 500
InternalError, a dropped connection, or a connection cut half-way through an upload's body, every
backup_upload run completes or fails with one line; afterwards (faults off, the failed ones run again)
every recovery point in the bucket matches its manifest and no multipart upload is left open."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import uuid

import pytest

from tests.conftest import run_module

RUNS = 6


@pytest.fixture(scope='module')
def dump(pg_server, tmp_path_factory):
    name = 'flt_' + uuid.uuid4().hex[:8]
    pg_server.create_database(name, template='pourtrait_template')
    conn = dict(login_host='127.0.0.1', login_port=pg_server.port, login_user=pg_server.user,
                login_password=pg_server.password, login_db=name)
    result = run_module('postgres_dump', dict(conn, backup_dir=str(tmp_path_factory.mktemp('fault-dumps')),
                                              format='directory', name='nightly'))
    pg_server.drop_database(name)
    assert not result.get('failed'), result
    return result


def upload(s3, dump, name):
    return run_module('backup_upload', dict(path=dump['path'], name=name, multipart_threshold_mb=0.001,
                                            part_size_mb=5, parallel_files=3), env=s3.env(https=False))


def test_uploads_under_30_percent_faults_complete_or_fail_cleanly(s3, dump):
    s3.set_faults(rate=0.3, kinds=('500', '503', 'reset', 'cut'), seed=7)
    outcomes = {}
    for i in range(RUNS):
        result = upload(s3, dump, 'run-%d' % i)
        if result.get('failed'):
            assert '\n' not in result['msg'] and 'Traceback' not in result.stdout + result.stderr, result['msg']
        outcomes['run-%d' % i] = result
    assert s3.faults()['injected'] > RUNS, 'faults were injected'
    cut = [r for r in s3.requests('PUT') if r['faulted'] == 'cut']
    assert cut, 'some uploads were cut off half-way'
    s3.clear_faults()
    for name, result in outcomes.items():
        if result.get('failed'):   # the next run finishes it (and aborts what the failed one left)
            again = upload(s3, dump, name)
            assert not again.get('failed') and again['changed'], again
    client = s3.client()
    objects = s3.objects()
    manifest = dump['manifest']
    for i in range(RUNS):
        prefix = 'pourtrait/%s/run-%d/' % (manifest['database'], i)
        record = json.loads(client.get_object(Bucket=s3.bucket, Key=prefix + 'recovery-point.json')['Body'].read())
        assert record['dump']['sha256'] == manifest['sha256']
        for rel, digest in manifest['files'].items():
            key = prefix + 'dump/run-%d/%s' % (i, rel)
            body = client.get_object(Bucket=s3.bucket, Key=key)['Body'].read()
            assert hashlib.sha256(body).hexdigest() == digest == objects[key]['metadata']['sha256'], key
    assert s3.state()['multipart_uploads'] == []
    # a second pass changes nothing
    assert all(upload(s3, dump, 'run-%d' % i)['changed'] is False for i in range(RUNS))


def test_upload_killed_midway_then_rerun_uploads_each_object_once(s3, dump, tmp_path):
    """SIGKILL while the objects go up (a slow link: 150 ms per request), then a rerun: the killed run left no
    record, the rerun aborts what it left open and uploads only what is missing, and every object ends up
    stored exactly once (one version each)."""
    from tests.conftest import MODULES, clean_env, ensure_collection_link
    from tests.waiting import poll
    ensure_collection_link()
    args = tmp_path / 'args.json'
    args.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': dict(
        path=dump['path'], name='killed', multipart_threshold_mb=0.001, part_size_mb=5, parallel_files=1,
        _ansible_check_mode=False, _ansible_diff=False)}))
    s3.set_faults(rate=0, latency_ms=150)
    proc = subprocess.Popen([sys.executable, os.path.join(MODULES, 'backup_upload.py'), str(args)],
                            env=clean_env(s3.env(https=False)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        poll(lambda: len([r for r in s3.requests('PUT') if 'partNumber' in r['query'] and r['status'] == 200]) >= 3,
             60, 0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    s3.clear_faults()
    prefix = 'pourtrait/%s/killed/' % dump['manifest']['database']
    left = s3.state()
    assert prefix + 'recovery-point.json' not in [o['key'] for o in left['objects']]
    result = upload(s3, dump, 'killed')
    assert result['changed'] and not result.get('failed'), result
    state = s3.state()
    assert state['multipart_uploads'] == []
    assert len(result['uploaded']) < len(result['keys']), 'the rerun skipped what the killed run had finished'
    assert sorted(o['key'] for o in state['objects']) == sorted(result['keys'])
    assert state['versions'] == len(result['keys']), 'each object stored once'

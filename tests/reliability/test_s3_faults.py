"""Off-site uploads under S3 faults (issue 12's fault matrix): with 30% of the S3 stand-in's requests answered
503 SlowDown, 500 InternalError, a dropped connection, or a connection cut half-way through an upload's body,
20 of 20 backup_upload runs (5 at a time; a directory dump and a custom-format dump made once, half of the runs
forced to multipart with a tiny threshold, half with the default single PUTs, some encrypted to a public key)
complete or fail with one line, and a failed one leaves no record. Afterwards (faults off, the failed ones run
again) every object in the bucket belongs to a recovery point and matches its manifest, no multipart upload is
left open, and a second pass (one run of each kind) changes nothing."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import run_module

RUNS = 20
AT_ONCE = 5


@pytest.fixture(scope='module')
def dumps(pg_server, tmp_path_factory):
    """A directory-format and a custom-format dump of a clone of the seeded template, made once."""
    name = 'flt_' + uuid.uuid4().hex[:8]
    pg_server.create_database(name, template='pourtrait_template')
    conn = dict(login_host='127.0.0.1', login_port=pg_server.port, login_user=pg_server.user,
                login_password=pg_server.password, login_db=name)
    backup_dir = str(tmp_path_factory.mktemp('fault-dumps'))
    try:
        out = {}
        for fmt in ('directory', 'custom'):
            result = run_module('postgres_dump', dict(conn, backup_dir=backup_dir, format=fmt, name='nightly-' + fmt))
            assert not result.get('failed'), result
            out[fmt] = result
    finally:
        pg_server.drop_database(name)
    return out


@pytest.fixture(scope='module')
def public_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import x25519
    private = x25519.X25519PrivateKey.generate()
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def plan(dumps, public_key):
    """The 20 runs: name -> module args (directory / custom dump, multipart forced or not, encrypted or not)."""
    runs = {}
    for i in range(RUNS):
        fmt = 'directory' if i % 2 == 0 else 'custom'
        args = dict(path=dumps[fmt]['path'], name='run-%02d' % i, parallel_files=3, parallel_parts=3)
        if i % 4 in (0, 1):     # multipart for every file (the parts of 5 MB minimum: one or more per file)
            args.update(multipart_threshold_mb=0.001, part_size_mb=5)
        if i % 5 == 0:
            args['encryption_public_key'] = public_key
        runs[args['name']] = args
    return runs


def upload(s3, args):
    return run_module('backup_upload', args, env=s3.env(https=False))


def test_uploads_under_30_percent_faults_complete_or_fail_cleanly(s3, dumps, public_key):
    runs = plan(dumps, public_key)
    database = dumps['directory']['manifest']['database']
    s3.set_faults(rate=0.3, kinds=('500', '503', 'reset', 'cut'), seed=7)
    started = time.time()
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        outcomes = dict(zip(runs, pool.map(lambda name: upload(s3, runs[name]), runs)))
    faulted_seconds = time.time() - started
    assert len(outcomes) == RUNS
    assert s3.faults()['injected'] > RUNS, 'faults were injected'
    cut = [r for r in s3.requests('PUT') if r['faulted'] == 'cut']
    assert cut, 'some uploads were cut off half-way'
    assert [r for r in s3.requests('PUT') if 'partNumber' in r['query']], 'some uploads went up in parts'
    injected = s3.faults()['injected']
    s3.clear_faults()
    failed = sorted(name for name, result in outcomes.items() if result.get('failed'))
    for name in failed:     # one line, no traceback, and no record: nothing that looks like a backup
        result = outcomes[name]
        assert '\n' not in result['msg'] and 'Traceback' not in result.stdout + result.stderr, result['msg']
        assert len(result['msg']) < 600, result['msg']
        assert 'pourtrait/%s/%s/recovery-point.json' % (database, name) not in s3.objects(), name
    for name in failed:     # the next run finishes it (and aborts what the failed one left)
        again = upload(s3, runs[name])
        assert not again.get('failed') and again['changed'], again
    sys.stderr.write('fault matrix: %d uploads under 30%% faults in %.1f s, %d failed with one line and were rerun; '
                     '%d faults injected\n' % (RUNS, faulted_seconds, len(failed), injected))

    client = s3.client()
    state = s3.state()
    assert state['multipart_uploads'] == [], 'orphaned multipart uploads'
    objects = dict((o['key'], o) for o in state['objects'])
    expected = set()
    for name, args in runs.items():
        fmt = 'directory' if args['path'] == dumps['directory']['path'] else 'custom'
        manifest = dumps[fmt]['manifest']
        prefix = 'pourtrait/%s/%s/' % (database, name)
        record = json.loads(client.get_object(Bucket=s3.bucket, Key=prefix + 'recovery-point.json')['Body'].read())
        assert record['dump']['sha256'] == manifest['sha256'], name
        expected.add(prefix + 'recovery-point.json')
        # what the manifest says each file is: the directory's files, or the one file, and the manifest itself
        with open(dumps[fmt]['manifest_path'], 'rb') as handle:
            want = {name + '.manifest.json': hashlib.sha256(handle.read()).hexdigest()}
        if fmt == 'directory':
            want.update(('%s/%s' % (name, rel), digest) for rel, digest in manifest['files'].items())
        else:
            want[name] = manifest['sha256']
        assert sorted(record['dump']['objects']) == sorted(want), name
        for rel, entry in record['dump']['objects'].items():
            key = entry['key']
            body = client.get_object(Bucket=s3.bucket, Key=key)['Body'].read()
            assert entry['sha256'] == want[rel] == objects[key]['metadata']['sha256'], (name, rel)
            assert hashlib.sha256(body).hexdigest() == entry['stored_sha256'], (name, key)
            if 'encryption_public_key' in args and not rel.endswith('.manifest.json'):
                assert entry['encrypted'] and entry['stored_sha256'] != want[rel], (name, key)
            else:
                assert hashlib.sha256(body).hexdigest() == want[rel], (name, key)
            expected.add(key)
    assert set(objects) == expected, 'objects that belong to no recovery point: %s' % sorted(set(objects) - expected)
    # a second pass changes nothing (one run of each kind: directory/custom, multipart or not, encrypted or not)
    sample = ['run-%02d' % i for i in (0, 1, 2, 3, 5)]
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        second = list(pool.map(lambda name: upload(s3, runs[name]), sample))
    assert [r.get('changed') for r in second] == [False] * len(sample), [r.get('msg') for r in second]


def test_upload_killed_midway_then_rerun_uploads_each_object_once(s3, dumps, tmp_path):
    """SIGKILL while the objects go up (a slow link: 150 ms per request), then a rerun: the killed run left no
    record, the rerun aborts what it left open and uploads only what is missing, and every object ends up
    stored exactly once (one version each)."""
    from tests.conftest import MODULES, clean_env, ensure_collection_link
    from tests.waiting import poll
    ensure_collection_link()
    dump = dumps['directory']
    args = tmp_path / 'args.json'
    args.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': dict(
        path=dump['path'], name='killed', multipart_threshold_mb=0.001, part_size_mb=5, parallel_files=1,
        tmp_dir=str(tmp_path), _ansible_check_mode=False, _ansible_diff=False)}))
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
    result = upload(s3, dict(path=dump['path'], name='killed', multipart_threshold_mb=0.001, part_size_mb=5,
                             parallel_files=3))
    assert result['changed'] and not result.get('failed'), result
    state = s3.state()
    assert state['multipart_uploads'] == []
    assert len(result['uploaded']) < len(result['keys']), 'the rerun skipped what the killed run had finished'
    assert sorted(o['key'] for o in state['objects']) == sorted(result['keys'])
    assert state['versions'] == len(result['keys']), 'each object stored once'

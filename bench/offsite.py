#!/usr/bin/env python
"""Benchmark: off-site upload and download of the bench's dump against the sandbox's S3, beside `aws s3 cp`.

The dump is the one bench/dump.py makes (a generated database of POURTRAIT_BENCH_OFFSITE_MB, else
POURTRAIT_BENCH_DUMP_MB, else 1024 MB of heap, dumped by postgres_dump in the custom format without
compression, so the file is about that size). Then, in the same run and against the same endpoint
(the sandbox's S3 stand-in over HTTPS with its CA):

* upload: ``backup_upload`` (multipart, parts in parallel, SHA-256 checked by the server per part and
  compared with the manifest) vs ``aws s3 cp <file> s3://...``;
* download: ``backup_download`` (ranged parts in parallel, the SHA-256 of every object computed and
  compared with the recovery point record, the dump checked against its manifest) vs
  ``aws s3 cp s3://... <file>`` (which checks no SHA-256).

awscli runs in its own virtualenv under .bench/awscli (created on the first run with pip), since
awscli v1 from PyPI pins its own botocore, which need not be the one requirements.txt's boto3 uses.
Each side runs ``--runs`` times, going first in every other run, each step after an ``os.sync()``
(no writeback of the step before lands on it); the median counts. Goal: ours / aws s3 cp <= 1.0.

    python bench/offsite.py [--size-mb N] [--runs N]
"""

import argparse
import hashlib
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from tests.conftest import run_module  # noqa: E402
from tests.sandbox.pg import PgServer  # noqa: E402

PYTHON = sys.executable
SANDBOXCTL = os.path.join(ROOT, 'tests', 'sandbox', 'sandboxctl.py')
ENV_FILE = os.path.join(ROOT, '.sandbox', 'env')
AWS_VENV = os.path.join(ROOT, '.bench', 'awscli')
AWS = os.path.join(AWS_VENV, 'bin', 'aws')
GOAL = 1.0


def load_dump_bench():
    spec = importlib.util.spec_from_file_location('bench_dump', os.path.join(HERE, 'dump.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def default_size_mb():
    return int(os.environ.get('POURTRAIT_BENCH_OFFSITE_MB') or os.environ.get('POURTRAIT_BENCH_DUMP_MB') or 1024)


def ensure_awscli(log):
    if os.path.exists(AWS):
        return
    log('creating %s (pip install awscli) ...' % AWS_VENV)
    subprocess.run([PYTHON, '-m', 'venv', AWS_VENV], check=True)
    subprocess.run([os.path.join(AWS_VENV, 'bin', 'pip'), 'install', '-q', 'awscli'], check=True)


def read_env():
    env = {}
    with open(ENV_FILE) as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith('#') and '=' in line:
                key, _sep, value = line.partition('=')
                env[key] = value
    return env


def sandbox_running():
    return subprocess.run([PYTHON, SANDBOXCTL, 'status'], capture_output=True, check=False).returncode == 0 \
        and os.path.exists(ENV_FILE)


def reset(sandbox):
    """The stand-ins' default state: the bucket emptied, faults off."""
    request = urllib.request.Request(sandbox['SANDBOX_ADMIN_URL'] + '/reset', data=b'{}', method='POST',
                                     headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=60) as answer:
        answer.read()


def make_dump(size_mb, work, log):
    """(server, dump result) - bench/dump.py's generated database, dumped custom-format, uncompressed."""
    bench = load_dump_bench()
    server = PgServer().start()
    log('generating %d MB in %d tables ...' % (size_mb, len(bench.TABLES)))
    bench.generate(server, size_mb)
    conn = dict(login_host='127.0.0.1', login_port=server.port, login_user=server.user,
                login_password=server.password, login_db=bench.DB)
    result = run_module('postgres_dump', dict(conn, backup_dir=os.path.join(work, 'backups'), format='custom',
                                              compression=0, bin_dir=server.bindir))
    if result.get('failed'):
        server.stop()
        raise RuntimeError('postgres_dump failed: %s' % result.get('msg'))
    log('dump %s: %d bytes' % (result['path'], result['size']))
    return server, result


def timed(func):
    started = time.time()
    func()
    return time.time() - started


def check(result, what):
    if result.get('failed'):
        raise RuntimeError('%s failed: %s' % (what, result.get('msg')))


def aws(args, env):
    proc = subprocess.run([AWS] + args, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError('aws %s failed: %s' % (' '.join(args[:2]), (proc.stderr or proc.stdout)[-1500:]))


def sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _bench(sandbox, dump, work, runs, log):
    """{side: [seconds]} for up/down, ours and aws, alternating."""
    s3_env = dict((k, sandbox[k]) for k in ('AWS_ENDPOINT_URL_S3', 'AWS_CA_BUNDLE', 'AWS_ACCESS_KEY_ID',
                                            'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'POURTRAIT_BACKUP_BUCKET'))
    aws_env = dict(os.environ, **s3_env)
    aws_env.pop('PYTHONPATH', None)
    endpoint = ['--endpoint-url', sandbox['AWS_ENDPOINT_URL_S3'], '--ca-bundle', sandbox['AWS_CA_BUNDLE'],
                '--only-show-errors']
    bucket = sandbox['POURTRAIT_BACKUP_BUCKET']
    database = dump['manifest']['database']
    times = dict(up_ours=[], up_aws=[], down_ours=[], down_aws=[])
    for index in range(runs):
        prefix = 'bench-%d' % index
        result, fetched = {}, {}
        dest = os.path.join(work, 'down-%d' % index)
        target = os.path.join(work, 'aws-%d.dump' % index)
        steps = dict(
            up_ours=lambda: result.update(run_module('backup_upload', dict(path=dump['path'], prefix=prefix),
                                                     env=s3_env)),
            up_aws=lambda: aws(['s3', 'cp', dump['path'], 's3://%s/aws-%d/%s' % (
                bucket, index, os.path.basename(dump['path']))] + endpoint, aws_env),
            down_ours=lambda: fetched.update(run_module(
                'backup_download', dict(database=database, prefix=prefix, dest=dest), env=s3_env)),
            down_aws=lambda: aws(['s3', 'cp', 's3://%s/aws-%d/%s' % (
                bucket, index, os.path.basename(dump['path'])), target] + endpoint, aws_env))
        # each side goes first in every other run, and each step starts with no dirty pages left by the one
        # before it (the stand-in keeps objects in files, the downloads write 1 GB: the kernel's writeback of
        # those would otherwise land on whoever comes next)
        order = ('ours', 'aws') if index % 2 == 0 else ('aws', 'ours')
        for what in ('up', 'down'):
            for side in order:
                os.sync()
                times['%s_%s' % (what, side)].append(timed(steps['%s_%s' % (what, side)]))
            if what == 'up':
                check(result, 'backup_upload')
        check(fetched, 'backup_download')
        if fetched['record']['dump']['sha256'] != dump['sha256']:
            raise RuntimeError('backup_download returned another dump')
        if index == 0 and sha256(target) != dump['sha256']:
            raise RuntimeError('aws s3 cp downloaded another file')
        log('run %d: upload ours %.2f s / aws %.2f s; download ours %.2f s (download %s, verify %s) / aws %.2f s'
            % (index + 1, times['up_ours'][-1], times['up_aws'][-1], times['down_ours'][-1],
               fetched['timings'].get('download_s'), fetched['timings'].get('verify_s'), times['down_aws'][-1]))
        shutil.rmtree(dest, ignore_errors=True)
        os.unlink(target)
    return times


def run(size_mb=None, runs=3, log=None):
    """Rows for bench/run.py."""
    size_mb = size_mb or default_size_mb()
    log = log or (lambda msg: print('   ' + msg, flush=True))
    ensure_awscli(log)
    started_here = False
    if not sandbox_running():
        subprocess.run([PYTHON, SANDBOXCTL, 'up'], check=True, capture_output=True)
        started_here = True
    work = tempfile.mkdtemp(prefix='pourtrait-bench-offsite-')
    server = None
    try:
        sandbox = read_env()
        server, dump = make_dump(size_mb, work, log)
        server.stop()
        server = None
        reset(sandbox)
        times = _bench(sandbox, dump, work, runs, log)
        reset(sandbox)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
        if started_here:
            subprocess.run([PYTHON, SANDBOXCTL, 'down'], check=False, capture_output=True)
    size = dump['size']
    rows = []
    for what, ours, theirs, note in (('upload', 'up_ours', 'up_aws', 'server-checked SHA-256 per part'),
                                     ('download', 'down_ours', 'down_aws', 'SHA-256 verified + manifest check')):
        mine, floor = statistics.median(times[ours]), statistics.median(times[theirs])
        rows.append(dict(name='backup_%s (%s) vs aws s3 cp, %d MB' % (what, note, size // 1048576),
                         seconds=round(mine, 3), floor_seconds=round(floor, 3), ratio=round(mine / floor, 2),
                         goal='<= %.1f x aws s3 cp' % GOAL, ok=mine / floor <= GOAL, size_bytes=size,
                         mb_per_s=round(size / 1048576.0 / mine, 1),
                         runs=dict(ours=[round(t, 3) for t in times[ours]],
                                   aws=[round(t, 3) for t in times[theirs]])))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--size-mb', type=int, default=None, help='heap of the generated database (default 1024)')
    parser.add_argument('--runs', type=int, default=3, help='timed runs of each side (median counts)')
    args = parser.parse_args(argv)
    for row in run(args.size_mb, args.runs):
        print('%-75s ours %7.2f s  aws %7.2f s  ratio %.2f  (%s MB/s)  %s'
              % (row['name'], row['seconds'], row['floor_seconds'], row['ratio'], row['mb_per_s'],
                 'met' if row['ok'] else 'MISSED'))
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Unit tests of plugins/module_utils/s3/download.py: choosing a recovery point, times, in-order hashing, and
pg/manifest.py's check of digests computed while downloading."""

import datetime
import hashlib
import os
import time
import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import download  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.pg import manifest as pg_manifest  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.stream import combined_digest  # noqa: E402

UTC = datetime.timezone.utc


def point(name, day, verified=True):
    return {'name': name, 'created': datetime.datetime(2026, 3, day, 2, 0, tzinfo=UTC), 'verified': verified,
            'record': {'name': name}}


POINTS = [point('p-12', 12), point('p-11', 11, verified=False), point('p-10', 10), point('p-09', 9)]


@pytest.mark.parametrize('wanted,expected', [
    ('latest', 'p-12'), ('', 'p-12'), ('p-10', 'p-10'),
    ('2026-03-11T23:00:00Z', 'p-10'),          # p-11 is not verified
    ('2026-03-10T02:00:00Z', 'p-10'),          # at or before: equal counts
    ('2026-03-10T03:00:00+01:00', 'p-10'),     # 02:00 UTC
    ('2026-03-12 01:59', 'p-10'),              # naive: UTC
])
def test_choose_point(wanted, expected):
    assert download.choose_point(POINTS, wanted, 's3://b/p/db/')['name'] == expected


def test_choose_unverified_when_allowed():
    assert download.choose_point(POINTS, 'p-11', 'w', require_verified=False)['name'] == 'p-11'


@pytest.mark.parametrize('wanted,fragment', [
    ('p-01', 'recovery point "p-01" does not exist in s3://b/p/db/; the newest are: p-12 (2026-03-12T02:00:00Z), '
             'p-10 (2026-03-10T02:00:00Z), p-09 (2026-03-09T02:00:00Z)'),
    ('2026-03-01T00:00:00Z', 'no recovery point at or before 2026-03-01T00:00:00Z in s3://b/p/db/; the oldest is p-09'),
])
def test_choose_point_errors(wanted, fragment):
    with pytest.raises(download.PointError) as info:
        download.choose_point(POINTS, wanted, 's3://b/p/db/')
    assert fragment in str(info.value) and '\n' not in str(info.value)


def test_no_points_at_all():
    with pytest.raises(download.PointError, match='no verified recovery point for this database in w'):
        download.choose_point([], 'latest', 'w')


def test_ordered_hash_out_of_order():
    parts = [b'a' * 10, b'b' * 5, b'c' * 7]
    hashed = []
    hasher = download._OrderedHash(on_hashed=hashed.append)
    for index in (2, 0, 1):
        hasher.add(index, parts[index])
    assert hasher.digest.hexdigest() == hashlib.sha256(b''.join(parts)).hexdigest() and not hasher.waiting
    assert hashed == [0, 1, 2]


class RangeS3(object):
    """Answers ranged GetObject from ``data``; ``fail`` (a part's first byte) gets a body that breaks off every time,
    after ``delay`` seconds (so the parts after it finish first)."""
    bucket = 'b'

    def __init__(self, data, fail=None, delay=0.0):
        self.data, self.fail, self.delay, self.calls = data, fail, delay, 0

    def call(self, name, key=None, **kwargs):
        import io
        assert name == 'get_object'
        self.calls += 1
        first, last = [int(x) for x in kwargs['Range'][len('bytes='):].split('-')]
        body = self.data[first:last + 1]
        s3 = self

        class Body(io.BytesIO):
            def read(self, size=-1):
                if first == s3.fail:
                    time.sleep(s3.delay)
                    raise ConnectionResetError('connection reset by peer')
                return io.BytesIO.read(self, size)
        return {'Body': Body(body), 'ContentRange': 'bytes %d-%d/%d' % (first, last, len(self.data))}


def test_ranged_download_reuses_its_part_buffers(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor
    monkeypatch.setattr(download, 'STREAM_CHUNK', 1000)
    made = []
    real = download._Buffers.take

    def take(self):
        buffer = real(self)
        made.append(self.made)
        return buffer
    monkeypatch.setattr(download._Buffers, 'take', take)
    data = os.urandom(50 * 4096 + 123)
    path = str(tmp_path / 'object')
    with ThreadPoolExecutor(max_workers=3) as pool:
        digest = download.ranged_download(RangeS3(data), 'k', path, len(data), 4096, pool, 3)
    assert digest == hashlib.sha256(data).hexdigest()
    with open(path, 'rb') as handle:
        assert handle.read() == data
    assert max(made) <= 6   # 51 parts through at most twice the window of buffers


def test_ranged_download_failing_part_raises_without_hanging(tmp_path, monkeypatch):
    """The first part breaks off every time while the parts after it finish and wait to be hashed, holding every
    buffer: the download still ends, with the one-line error, instead of waiting for a buffer forever."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    data = os.urandom(40 * 4096)
    s3 = RangeS3(data, fail=0, delay=0.05)
    outcome = {}

    def run():
        with ThreadPoolExecutor(max_workers=4) as pool:
            try:
                download.ranged_download(s3, 'k', str(tmp_path / 'object'), len(data), 4096, pool, 2)
            except download.S3Error as exc:
                outcome['error'] = str(exc)
    thread = threading.Thread(target=run)
    thread.daemon = True
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), 'the download hung waiting for a part buffer'
    assert outcome['error'].startswith('download of s3://b/k broke off 4 times (connection reset by peer)')


def test_check_digests_directory_and_file():
    files = {'toc.dat': 'a' * 64, '3001.dat.gz': 'b' * 64}
    manifest = {'format': 'directory', 'files': files, 'sha256': combined_digest(files)}
    pg_manifest.check_digests('/x/d.dir', 'directory', manifest, dict(files))
    with pytest.raises(Exception, match='changed: toc.dat'):
        pg_manifest.check_digests('/x/d.dir', 'directory', manifest, dict(files, **{'toc.dat': 'c' * 64}))
    with pytest.raises(Exception, match='missing: 3001.dat.gz'):
        pg_manifest.check_digests('/x/d.dir', 'directory', manifest, {'toc.dat': 'a' * 64})
    single = {'format': 'custom', 'sha256': 'd' * 64, 'size': 10}
    pg_manifest.check_digests('/x/f.dump', 'custom', single, 'd' * 64)
    with pytest.raises(Exception, match='does not match its manifest'):
        pg_manifest.check_digests('/x/f.dump', 'custom', single, 'e' * 64, 9)

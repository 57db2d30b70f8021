"""Unit tests of plugins/module_utils/s3/download.py: choosing a recovery point, times, in-order hashing, and
pg/manifest.py's check of digests computed while downloading."""

import datetime
import hashlib
import os
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


def test_ordered_hash_out_of_order(tmp_path):
    """Parts finish out of order; each is read back from the file and hashed once the parts before it are in."""
    parts = [b'a' * 10, b'b' * 5, b'c' * (download.READBACK_CHUNK + 7)]   # the last is read back in two reads
    offsets = [0, 10, 15]
    fd = os.open(str(tmp_path / 'file'), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        hasher = download._OrderedFileHash(fd)
        for index in (2, 0, 1):
            os.pwrite(fd, parts[index], offsets[index])
            hasher.done(index, offsets[index], len(parts[index]))
            if index == 2:
                assert hasher.next == 0 and hasher.digest.hexdigest() == hashlib.sha256().hexdigest()
        assert hasher.digest.hexdigest() == hashlib.sha256(b''.join(parts)).hexdigest() and not hasher.waiting
        with pytest.raises(OSError, match='ended 10 bytes early'):
            hasher.done(3, os.fstat(fd).st_size, 10)
    finally:
        os.close(fd)


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

"""Unit tests of plugins/module_utils/pg/compress.py: the ISA-L compressor of directory dumps."""

import gzip
import hashlib
import os
import stat

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import compress


@pytest.mark.parametrize('line, progress', [
    ('pg_dump: dumping contents of table "public.wines"', True),
    ('pg_dump:pg_dump: finished item 3497 TABLE DATA wines', True),  # two workers' lines run together
    ('pg_dump: error: query failed: server closed the connection unexpectedly', False),
    ('pg_dump: detail: Query was: COPY public.wines TO stdout;', False),
    ('pg_dump: hint: check the server', False),
    ('\tIs the server running on that host and accepting TCP/IP connections?', False),
])
def test_progress_lines_are_told_from_errors(line, progress):
    assert compress._is_progress_line(line) is progress


@pytest.mark.parametrize('fmt, level, requested, expected', [
    ('directory', 1, 'auto', 'isal'),
    ('directory', 3, 'auto', 'isal'),
    ('directory', 6, 'auto', 'pg_dump'),  # beyond ISA-L's levels: zlib at the level asked for
    ('custom', 1, 'auto', 'pg_dump'),
    ('directory', 1, 'pg_dump', 'pg_dump'),
    ('directory', 0, 'auto', None),
    ('plain', 1, 'isal', None),
])
def test_choose_compressor(fmt, level, requested, expected):
    assert compress.choose_compressor(fmt, level, requested) == expected


@pytest.mark.skipif(not compress.HAS_ISAL, reason='the isal package (requirements.txt) is not installed')
def test_compressor_follows_a_file_while_it_is_written(tmp_path):
    import gzip
    import threading
    import time
    source = tmp_path / '3500.dat'
    lines = [('%d\twine %d\tBarolo\n' % (i, i)).encode() for i in range(200000)]
    packer = compress.DataFileCompressor(str(tmp_path), 1, 2)

    def writer():
        with open(str(source), 'wb') as out:
            for start in range(0, len(lines), 20000):
                out.write(b''.join(lines[start:start + 20000]))
                out.flush()
                time.sleep(0.02)  # the compressor catches up and waits for more
        packer.finished('3500.dat')

    with open(str(source), 'wb'):
        pass  # the file appears empty first, as when pg_dump opens it
    packer.submit_new_files()
    thread = threading.Thread(target=writer)
    thread.start()
    thread.join()
    packer.finish()
    target = tmp_path / '3500.dat.gz'
    assert not source.exists() and stat.S_IMODE(os.stat(str(target)).st_mode) == 0o600
    data = target.read_bytes()
    assert gzip.decompress(data) == b''.join(lines)
    assert packer.digests == {'3500.dat.gz': hashlib.sha256(data).hexdigest()}
    assert packer.sizes == {'3500.dat.gz': len(data)}


@pytest.mark.skipif(not compress.HAS_ISAL, reason='the isal package (requirements.txt) is not installed')
def test_compressor_takes_up_files_left_at_the_end_and_never_toc(tmp_path):
    import gzip
    (tmp_path / 'toc.dat').write_bytes(b'PGDMP toc')
    (tmp_path / '12.dat').write_bytes(b'1\tone\n')
    (tmp_path / 'blob_16384.dat').write_bytes(b'large object')
    packer = compress.DataFileCompressor(str(tmp_path), 1, 2)
    packer.finish()
    assert sorted(os.listdir(str(tmp_path))) == ['12.dat.gz', 'blob_16384.dat.gz', 'toc.dat']
    assert gzip.decompress((tmp_path / 'blob_16384.dat.gz').read_bytes()) == b'large object'


def test_writeback_is_started_on_a_written_range_and_is_harmless_elsewhere(tmp_path):
    path = str(tmp_path / 'f')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, b'x' * 100000)
        compress.start_writeback(fd, 0, 100000)
        compress.start_writeback(fd, 100000, 0)  # nothing to write: not even called
    finally:
        os.close(fd)
    assert open(path, 'rb').read() == b'x' * 100000


def test_a_compressed_file_larger_than_the_writeback_step_is_whole(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(compress, 'WRITEBACK_BYTES', 1024)
    monkeypatch.setattr(compress, 'start_writeback', lambda fd, offset, length: calls.append((offset, length)))
    data = os.urandom(200000)  # incompressible: the compressed file passes the step many times
    (tmp_path / '7.dat').write_bytes(data)
    packer = compress.DataFileCompressor(str(tmp_path), 1, 1)
    packer.submit('7.dat')
    packer.finish()
    assert gzip.decompress((tmp_path / '7.dat.gz').read_bytes()) == data
    # consecutive ranges from the start, each at least the step
    assert calls and calls[0][0] == 0 and all(b[0] == a[0] + a[1] for a, b in zip(calls, calls[1:]))
    assert all(length >= 1024 for _offset, length in calls)

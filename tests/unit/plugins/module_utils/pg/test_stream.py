"""Unit tests of plugins/module_utils/pg/stream.py: streaming sha256 of pg_dump output and of files and directories."""

import hashlib
import os
import stat

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import stream
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError
from tests.unit.plugins.module_utils.pg.helpers import fake_program


def test_stream_digest_finds_copy_lines_across_chunk_boundaries():
    text = (b'SET x;\nCOPY public.wines (id, name) FROM stdin;\n1\ta\n\\.\n'
            b'COPY "My Schema"."odd ""t""" (id) FROM stdin;\n\\.\n'
            b'COPY auth.users (id) FROM stdin;\n\\.\n-- PostgreSQL database dump complete\n')
    for size in (1, 3, 7, 64, len(text)):
        digest = stream.StreamDigest(scan_copy=True)
        for i in range(0, len(text), size):
            digest.update(text[i:i + size])
        assert digest.copy_tables == [('public', 'wines'), ('My Schema', 'odd "t"'), ('auth', 'users')], size
        assert digest.hexdigest() == hashlib.sha256(text).hexdigest()
        assert digest.size == len(text)
        assert stream.PLAIN_TRAILER in digest.tail


def test_hash_directory_per_file_and_combined(tmp_path):
    (tmp_path / 'toc.dat').write_bytes(b'toc')
    (tmp_path / '1.dat.gz').write_bytes(b'data')
    files, overall, size = stream.hash_directory(str(tmp_path), workers=2)
    assert files == {'toc.dat': hashlib.sha256(b'toc').hexdigest(), '1.dat.gz': hashlib.sha256(b'data').hexdigest()}
    lines = '%s  1.dat.gz\n%s  toc.dat\n' % (files['1.dat.gz'], files['toc.dat'])
    assert overall == hashlib.sha256(lines.encode()).hexdigest()
    assert size == 7


def test_stream_to_file_hashes_and_cleans_up(tmp_path):
    ok = fake_program(tmp_path, 'ok', 'printf "hello"\n')
    target = str(tmp_path / 'out')
    digest = stream.stream_to_file([ok], {'PATH': os.environ['PATH']}, target)
    assert digest.hexdigest() == hashlib.sha256(b'hello').hexdigest()
    assert open(target, 'rb').read() == b'hello'
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    bad = fake_program(tmp_path, 'bad', 'printf "partial"\necho "pg_dump: error: query failed: boom" >&2\nexit 1\n')
    failed = str(tmp_path / 'failed')
    with pytest.raises(PgModuleError, match='failed \\(exit 1\\): error: query failed: boom'):
        stream.stream_to_file([bad], {'PATH': os.environ['PATH']}, failed)
    assert not os.path.exists(failed)

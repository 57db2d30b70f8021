"""Unit tests of plugins/module_utils/pg/formats.py: dump formats, names and a dump's format."""

import datetime

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import formats, manifest, programs
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError


def test_detect_format(tmp_path):
    (tmp_path / 'a.dump').write_bytes(b'PGDMP\x01')
    (tmp_path / 'a.sql').write_bytes(b'--\n-- PostgreSQL database dump\n')
    (tmp_path / 'a.gz').write_bytes(b'\x1f\x8b\x08')
    (tmp_path / 'a.dir').mkdir()
    (tmp_path / 'a.dir' / 'toc.dat').write_bytes(b'x')
    (tmp_path / 'empty.dir').mkdir()
    assert formats.detect_format(str(tmp_path / 'a.dump')) == 'custom'
    assert formats.detect_format(str(tmp_path / 'a.sql')) == 'plain'
    assert formats.detect_format(str(tmp_path / 'a.dir')) == 'directory'
    with pytest.raises(PgModuleError, match='gzip'):
        formats.detect_format(str(tmp_path / 'a.gz'))
    with pytest.raises(PgModuleError, match='without toc.dat'):
        formats.detect_format(str(tmp_path / 'empty.dir'))
    with pytest.raises(PgModuleError, match='does not exist'):
        formats.detect_format(str(tmp_path / 'nope'))


def test_names_and_suffixes():
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert formats.default_name('pourtrait', now) == 'pourtrait-20260102T030405Z'
    assert formats.dump_filename('a', 'custom') == 'a.dump'
    assert formats.dump_filename('a', 'directory') == 'a.dir'
    assert formats.dump_filename('a.sql', 'plain') == 'a.sql'
    assert manifest.manifest_path_for('/b/a.dir/') == '/b/a.dir.manifest.json'
    assert programs.default_jobs() >= 2

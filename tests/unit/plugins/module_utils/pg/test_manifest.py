"""Unit tests of plugins/module_utils/pg/manifest.py: the manifest: checking a dump against it."""

import hashlib

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import stream
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.manifest import check_manifest
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError


def test_check_manifest_detects_changed_and_missing_files(tmp_path):
    d = tmp_path / 'x.dir'
    d.mkdir()
    (d / 'toc.dat').write_bytes(b'toc')
    (d / '1.dat.gz').write_bytes(b'data')
    files, overall, dummy = stream.hash_directory(str(d))
    manifest = dict(format='directory', sha256=overall, files=files)
    assert check_manifest(str(d), 'directory', manifest) is None
    (d / '1.dat.gz').write_bytes(b'dat')
    with pytest.raises(PgModuleError, match=r'does not match its manifest .*changed: 1\.dat\.gz'):
        check_manifest(str(d), 'directory', manifest)
    (d / '1.dat.gz').unlink()
    with pytest.raises(PgModuleError, match=r'missing: 1\.dat\.gz'):
        check_manifest(str(d), 'directory', manifest)


def test_check_manifest_file_reports_size_difference(tmp_path):
    f = tmp_path / 'x.dump'
    f.write_bytes(b'PGDMP' + b'x' * 100)
    manifest = dict(format='custom', sha256=hashlib.sha256(f.read_bytes()).hexdigest(), size=105)
    check_manifest(str(f), 'custom', manifest)
    f.write_bytes(b'PGDMP' + b'x' * 50)
    with pytest.raises(PgModuleError) as err:
        check_manifest(str(f), 'custom', manifest)
    assert '55 bytes instead of 105' in str(err.value)
    assert '\n' not in str(err.value)

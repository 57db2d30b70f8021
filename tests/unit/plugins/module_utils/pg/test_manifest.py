"""Unit tests of plugins/module_utils/pg/manifest.py: the one reader, writer and checker of manifests."""

import hashlib
import json
import os
import stat

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import checksums, manifest, stream
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


# -- the one reader ----------------------------------------------------------------------------

def test_read_manifest_of_a_dump(tmp_path):
    dump = str(tmp_path / 'x.dump')
    assert manifest.read_manifest(dump) is None
    manifest.write_manifest(dump + '.manifest.json', dict(sha256='ab', database='app'))
    assert manifest.read_manifest(dump) == dict(sha256='ab', database='app')
    assert stat.S_IMODE(os.stat(dump + '.manifest.json').st_mode) == 0o600


def test_read_manifest_says_what_is_wrong_in_one_line(tmp_path):
    dump = str(tmp_path / 'x.dump')
    with open(dump + '.manifest.json', 'w') as handle:
        handle.write('{"sha256": ')
    with pytest.raises(PgModuleError) as err:
        manifest.read_manifest(dump)
    assert str(err.value).startswith('cannot read manifest %s.manifest.json: ' % dump)
    assert str(err.value).endswith('; restore it from the backup set or set verify_checksum=false')
    assert '\n' not in str(err.value)
    with open(dump + '.manifest.json', 'w') as handle:
        json.dump(dict(database='app'), handle)
    with pytest.raises(PgModuleError, match='manifest .* has no sha256; it was not written by pourtrait.ops'):
        manifest.read_manifest(dump)


def _checksum_manifest(tmp_path, **data):
    path = str(tmp_path / 'x.dump.manifest.json')
    with open(path, 'w') as handle:
        json.dump(data, handle)
    return path


def test_read_checksum_manifest_from_the_dump_or_the_manifest(tmp_path):
    entries = {'public.wines': dict(schema='public', table='wines', rows=3, checksum='42'), 'a.b': dict(rows=1)}
    mpath = _checksum_manifest(tmp_path, sha256='ab', table_checksums=entries,
                               table_checksum_method=checksums.TABLE_CHECKSUM_METHOD)
    assert manifest.read_checksum_manifest(mpath)[0] == mpath
    found_path, data = manifest.read_checksum_manifest(str(tmp_path / 'x.dump'))
    assert found_path == mpath
    assert manifest.manifest_checksums(mpath, data) == {('public', 'wines'): (3, '42'), ('a', 'b'): (1, None)}


@pytest.mark.parametrize('data, message', [
    (dict(database='app'), 'is not a dump manifest written by pourtrait.ops; set manifest to a dump\'s '
                           '<dump>.manifest.json'),
    (dict(sha256='ab'), 'has no table_checksums: dump taken without table_checksums: true'),
    (dict(sha256='ab', table_checksums={}, table_checksum_method='md5'), 'has table checksums computed as "md5"'),
])
def test_read_checksum_manifest_refuses(tmp_path, data, message):
    mpath = _checksum_manifest(tmp_path, **data)
    with pytest.raises(PgModuleError) as err:
        manifest.read_checksum_manifest(mpath)
    assert message in str(err.value)


def test_read_checksum_manifest_of_nothing(tmp_path):
    with pytest.raises(PgModuleError, match='manifest .*nope.dump.manifest.json does not exist; set manifest to'):
        manifest.read_checksum_manifest(str(tmp_path / 'nope.dump'))
    (tmp_path / 'junk.dump.manifest.json').write_text('not json')
    with pytest.raises(PgModuleError, match=r'cannot read manifest .*; restore it from the backup set$'):
        manifest.read_checksum_manifest(str(tmp_path / 'junk.dump'))


def test_an_unreadable_checksum_entry_is_named(tmp_path):
    with pytest.raises(PgModuleError, match='unreadable table_checksums entry "public.t"'):
        manifest.manifest_checksums('m.json', dict(table_checksums={'public.t': dict(rows='many')}))

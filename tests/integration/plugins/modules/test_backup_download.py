"""backup_download against the S3 stand-in (moto behind the sandbox's front, real HTTPS) with real
postgres_dump output, uploaded by the real backup_upload and restored by the real postgres_restore."""

import json
import os
import sys
import uuid

import pytest

from tests.conftest import COLLECTIONS, assert_one_line_error, run_module

if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


@pytest.fixture(scope='module')
def dumps(pg_server, tmp_path_factory):
    """Verified directory and custom dumps (with table checksums) of a seeded database, taken once."""
    name = 'dl_' + uuid.uuid4().hex[:8]
    pg_server.create_database(name, template='pourtrait_template')
    backup_dir = tmp_path_factory.mktemp('dumps')
    conn = dict(login_host='127.0.0.1', login_port=pg_server.port, login_user=pg_server.user,
                login_password=pg_server.password, login_db=name)
    out = {'database': name, 'conn': conn}
    for fmt in ('directory', 'custom'):
        result = run_module('postgres_dump', dict(conn, backup_dir=str(backup_dir), format=fmt, table_checksums=True,
                                                  name='pourtrait-%s' % fmt))
        assert not result.get('failed'), result
        out[fmt] = result
    yield out
    pg_server.drop_database(name)


@pytest.fixture(scope='module')
def keys():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        'public': private.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        'private': private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b'open sesame')).decode(),
    }


def upload(s3, dump, **args):
    result = run_module('backup_upload', dict(args, path=dump['path']), env=s3.env())
    assert result['changed'] and not result.get('failed'), result
    return result


def download(s3, database, dest, check=False, **args):
    return run_module('backup_download', dict(args, database=database, dest=str(dest)), check_mode=check,
                      env=s3.env())


def restore_and_compare(pg_server, dumps, path):
    """postgres_restore into a new database, then postgres_compare with the checksums the dump recorded."""
    target = 'rs_' + uuid.uuid4().hex[:8]
    conn = dict(dumps['conn'], login_db='postgres')
    try:
        restored = run_module('postgres_restore', dict(conn, path=path, target_db=target, create=True))
        assert restored['changed'] and restored['checksum_ok'] is True, restored
        compared = run_module('postgres_compare', dict(conn, target_db=target, manifest=path,
                                                       fail_on_mismatch=True))
        assert not compared.get('failed') and compared['mismatches'] == [] and compared['compared'] >= 5, compared
        return compared
    finally:
        pg_server.drop_database(target)


@pytest.mark.parametrize('fmt', ['directory', 'custom'])
def test_round_trip_dump_upload_download_restore_checksums_equal(s3, dumps, tmp_path, pg_server, fmt):
    dump = dumps[fmt]
    upload(s3, dump, multipart_threshold_mb=0.01, part_size_mb=5)
    first = download(s3, dumps['database'], tmp_path, part_size_mb=1, parallel_parts=4)
    assert first['changed'] and not first.get('failed'), first
    name = os.path.basename(dump['path'])
    assert first['point'] == name and first['path'] == str(tmp_path / name / name)
    assert first['encrypted'] is False and set(first['timings']) == {'download_s', 'verify_s'}
    assert sorted(first['downloaded']) == sorted(first['keys'])
    # the bytes fetched: every object of the point (not the stat() size AnsibleModule would put for the path)
    fetched = sum(o['stored_size'] for o in first['record']['dump']['objects'].values())
    on_disk = sum(os.path.getsize(os.path.join(d, f)) for d, _dirs, files in os.walk(str(tmp_path / name))
                  for f in files if f != 'recovery-point.json')
    assert first['size'] == fetched == on_disk and fetched > 4096, first
    assert json.loads((tmp_path / name / 'recovery-point.json').read_text()) == first['record']
    assert [p for p in os.listdir(str(tmp_path)) if p.startswith('.')] == []   # no staging left
    restore_and_compare(pg_server, dumps, first['path'])

    second = download(s3, dumps['database'], tmp_path)
    assert second['changed'] is False and second['downloaded'] == [] and second['timings'] == {}, second
    assert second['size'] == 0, second


def test_encrypted_round_trip(s3, dumps, tmp_path, pg_server, keys):
    upload(s3, dumps['directory'], encryption_public_key=keys['public'])
    assert all(k.endswith('.penc') for k in s3.objects() if '/dump/' in k and not k.endswith('.manifest.json'))
    missing = download(s3, dumps['database'], tmp_path)
    assert_one_line_error(missing, 'is encrypted', 'set private_key')
    result = download(s3, dumps['database'], tmp_path, private_key=keys['private'],
                      private_key_passphrase='open sesame')
    assert result['changed'] and result['encrypted'] and 'decrypt_s' in result['timings'], result
    assert keys['private'].splitlines()[1] not in result.stdout + result.stderr
    assert 'open sesame' not in result.stdout + result.stderr
    assert not [f for _d, _s, files in os.walk(str(tmp_path)) for f in files if f.endswith('.penc')]
    restore_and_compare(pg_server, dumps, result['path'])


def test_tampered_object_fails_and_leaves_nothing(s3, dumps, tmp_path):
    uploaded = upload(s3, dumps['custom'])
    key = [k for k in uploaded['keys'] if k.endswith('/dump/pourtrait-custom.dump')][0]
    client = s3.client()
    body = client.get_object(Bucket=s3.bucket, Key=key)['Body'].read()
    head = client.head_object(Bucket=s3.bucket, Key=key)
    client.put_object(Bucket=s3.bucket, Key=key, Body=body[:-1] + bytes([body[-1] ^ 1]), Metadata=head['Metadata'])
    result = download(s3, dumps['database'], tmp_path)
    assert_one_line_error(result, key, 'the object was altered after the upload (tampered or corrupt)',
                          'nothing was restored')
    assert os.listdir(str(tmp_path)) == []


def test_missing_point_names_the_newest(s3, dumps, tmp_path):
    upload(s3, dumps['custom'])
    upload(s3, dumps['directory'])
    result = download(s3, dumps['database'], tmp_path, point='pourtrait-yesterday.dump')
    assert_one_line_error(result, 'recovery point "pourtrait-yesterday.dump" does not exist', 'the newest are:',
                          'pourtrait-directory.dir (', 'pourtrait-custom.dump (')
    assert os.listdir(str(tmp_path)) == []
    early = download(s3, dumps['database'], tmp_path, point='2001-01-01T00:00:00Z')
    assert_one_line_error(early, 'no recovery point at or before 2001-01-01T00:00:00Z')
    nothing = download(s3, 'no_such_db', tmp_path)
    assert_one_line_error(nothing, 'no verified recovery point for this database in s3://%s/pourtrait/no_such_db/'
                          % s3.bucket)


def test_point_by_name_and_by_time(s3, dumps, tmp_path):
    upload(s3, dumps['custom'])
    upload(s3, dumps['directory'])
    by_name = download(s3, dumps['database'], tmp_path, point='pourtrait-custom.dump', check=True)
    assert by_name['point'] == 'pourtrait-custom.dump' and by_name['changed'], by_name
    latest = download(s3, dumps['database'], tmp_path, check=True)
    by_time = download(s3, dumps['database'], tmp_path, point=latest['created'], check=True)
    assert by_time['point'] == latest['point'], (latest, by_time)


def test_check_mode_names_keys_downloads_nothing(s3, dumps, tmp_path):
    upload(s3, dumps['directory'])
    gets_before = len(s3.requests('GET'))
    result = download(s3, dumps['database'], tmp_path, check=True)
    assert result['changed'] and result['downloaded'] == result['keys'] and result['timings'] == {}, result
    assert any(k.endswith('.manifest.json') for k in result['keys'])
    assert os.listdir(str(tmp_path)) == []
    gets = [r for r in s3.requests('GET')[gets_before:] if '/dump/' in r['path']]
    assert gets == [], gets


@pytest.mark.parametrize('args,fragments', [
    ({'private_key': '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n'},
     ['the decryption private key does not parse', 'private_key_passphrase']),
    ({'prefix': 'a/../b'}, ['prefix "a/../b" has the segment ".."']),
    ({'point': 'nope'}, ['recovery point "nope" does not exist', 'the newest are: pourtrait-custom.dump']),
], ids=['bad-private-key', 'dotdot', 'missing-point'])
def test_bad_input(s3, dumps, tmp_path, args, fragments):
    upload(s3, dumps['custom'])
    result = download(s3, dumps['database'], tmp_path, **args)
    assert_one_line_error(result, *fragments)
    assert os.listdir(str(tmp_path)) == []

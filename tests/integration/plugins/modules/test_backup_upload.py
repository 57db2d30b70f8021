"""backup_upload against the S3 stand-in (moto behind the sandbox's front, real HTTP and HTTPS) with real
postgres_dump output from the test PostgreSQL."""

import base64
import hashlib
import json
import os
import shutil
import sys
import uuid

import pytest

from tests.conftest import COLLECTIONS, assert_one_line_error, run_module

if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


@pytest.fixture(scope='module')
def dumps(pg_server, tmp_path_factory):
    """A verified directory dump and a verified custom dump of a seeded database, taken once for this file."""
    name = 'up_' + uuid.uuid4().hex[:8]
    pg_server.create_database(name, template='pourtrait_template')
    backup_dir = tmp_path_factory.mktemp('dumps')
    conn = dict(login_host='127.0.0.1', login_port=pg_server.port, login_user=pg_server.user,
                login_password=pg_server.password, login_db=name)
    out = {'database': name, 'dir': str(backup_dir)}
    for fmt in ('directory', 'custom'):
        result = run_module('postgres_dump', dict(conn, backup_dir=str(backup_dir), format=fmt,
                                                  name='pourtrait-%s' % fmt))
        assert not result.get('failed'), result
        out[fmt] = result
    pg_server.drop_database(name)
    return out


def sha256(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def upload(s3, path, https=True, check=False, diff=False, **args):
    return run_module('backup_upload', dict(args, path=path), check_mode=check, diff=diff, env=s3.env(https))


@pytest.mark.parametrize('https', [True, False], ids=['https', 'http'])
def test_directory_dump_uploaded_once_manifest_last_and_idempotent(s3, dumps, https):
    dump = dumps['directory']
    first = upload(s3, dump['path'], https=https, multipart_threshold_mb=0.01, part_size_mb=5)
    assert not first.get("failed") and first["changed"], first.get("msg")
    prefix = 'pourtrait/%s/pourtrait-directory.dir/' % dumps['database']
    assert first['prefix'] == prefix and first['keys'][-1] == prefix + 'recovery-point.json'
    objects = s3.objects()
    manifest = dump['manifest']
    for rel, digest in manifest['files'].items():
        obj = objects[prefix + 'dump/pourtrait-directory.dir/' + rel]
        assert obj['metadata']['sha256'] == digest
        assert obj['size'] == os.path.getsize(os.path.join(dump['path'], rel))
    mkey = prefix + 'dump/pourtrait-directory.dir.manifest.json'
    assert objects[mkey]['metadata']['sha256'] == sha256(dump['manifest_path'])
    record = json.loads(s3.client().get_object(Bucket=s3.bucket, Key=prefix + 'recovery-point.json')['Body'].read())
    assert record == first['record'] and record['dump']['sha256'] == manifest['sha256'] and record['verified']
    # the record was the last object written
    puts = [r['path'] for r in s3.requests('PUT') if r['status'] == 200 and 'uploadId' not in r['query']]
    assert puts[-1].endswith('/recovery-point.json'), puts
    assert s3.state()['multipart_uploads'] == []

    second = upload(s3, dump['path'], https=https)
    assert not second.get('failed') and second['changed'] is False and second['uploaded'] == [], second
    assert s3.state()['versions'] == len(first['keys'])


def test_single_file_multipart_checksum_sse_class_tags(s3, dumps):
    dump = dumps['custom']
    result = upload(s3, dump['path'], multipart_threshold_mb=0.001, part_size_mb=5, server_side_encryption='AES256',
                    storage_class='STANDARD_IA', tags={'app': 'pourtrait', 'kind': 'db-dump'}, prefix='offsite/prod')
    assert result['changed'] and not result.get('failed'), result
    key = 'offsite/prod/%s/pourtrait-custom.dump/dump/pourtrait-custom.dump' % dumps['database']
    obj = s3.objects()[key]
    assert obj['metadata']['sha256'] == dump['sha256'] == sha256(dump['path'])
    assert obj['encryption'] == 'AES256' and obj['storage_class'] == 'STANDARD_IA'
    assert obj['tags'] == {'app': 'pourtrait', 'kind': 'db-dump'}
    body = s3.client().get_object(Bucket=s3.bucket, Key=key)['Body'].read()
    assert hashlib.sha256(body).hexdigest() == dump['sha256']


@pytest.mark.parametrize('https', [True, False], ids=['https', 'http'])
def test_every_body_hashed_once_for_the_server_not_again_for_the_signature(s3, dumps, https):
    """Each part and object goes up with its SHA-256 in a signed x-amz-checksum-sha256 header the server checks,
    and an unsigned payload: botocore does not hash the bytes a second time for SigV4."""
    result = upload(s3, dumps['custom']['path'], https=https, multipart_threshold_mb=0.001, part_size_mb=5)
    assert result['changed'] and not result.get('failed'), result
    puts = s3.requests('PUT')
    parts = [r for r in puts if 'partNumber=' in (r['query'] or '')]
    assert parts and len(puts) > len(parts)   # the parts, the manifest and the recovery point record
    for entry in puts:
        assert entry['status'] == 200, entry
        assert 'sha256' in entry.get('checksums', []), entry
        assert entry['payload_signature'] in ('UNSIGNED-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'), entry


def test_small_file_single_put_server_checksum_matches(s3, dumps):
    dump = dumps['custom']
    result = upload(s3, dump['path'], https=False)
    assert result['changed'], result
    key = 'pourtrait/%s/pourtrait-custom.dump/dump/pourtrait-custom.dump' % dumps['database']
    raw = bytes.fromhex(dump['sha256'])
    assert s3.objects()[key]['checksum_sha256'] == base64.b64encode(raw).decode()


def test_check_mode_names_keys_and_uploads_nothing(s3, dumps):
    result = upload(s3, dumps['custom']['path'], check=True, diff=True)
    assert result['changed'] and not result.get('failed'), result
    assert result['uploaded'] == result['keys'] and result['keys'][-1].endswith('recovery-point.json')
    assert result['diff']['before'] == {'keys': []} and result['diff']['after']['keys'] == sorted(result['keys'])
    assert s3.state()['objects'] == [] and not s3.requests('PUT')


def test_rerun_after_killed_upload_aborts_orphans_and_completes(s3, dumps):
    dump = dumps['custom']
    prefix = 'pourtrait/%s/pourtrait-custom.dump/' % dumps['database']
    client = s3.client()
    orphan = client.create_multipart_upload(Bucket=s3.bucket, Key=prefix + 'dump/pourtrait-custom')
    assert s3.state()['multipart_uploads']
    result = upload(s3, dump['path'])
    assert result['changed'] and result['aborted_uploads'] == [prefix + 'dump/pourtrait-custom'], result
    assert s3.state()['multipart_uploads'] == [] and orphan['UploadId']
    assert prefix + 'recovery-point.json' in s3.objects()


def test_encrypted_upload_decrypts_with_the_private_key(s3, dumps, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import x25519
    from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import crypto
    private = x25519.X25519PrivateKey.generate()
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    dump = dumps['custom']
    result = upload(s3, dump['path'], encryption_public_key=pem)
    assert result['changed'] and not result.get('failed'), result
    key = 'pourtrait/%s/pourtrait-custom.dump/dump/pourtrait-custom.dump.penc' % dumps['database']
    body = s3.client().get_object(Bucket=s3.bucket, Key=key)['Body'].read()
    assert hashlib.sha256(body).hexdigest() != dump['sha256']
    (tmp_path / 'enc').write_bytes(body)
    assert crypto.decrypt_file(str(tmp_path / 'enc'), str(tmp_path / 'plain'), private) == dump['sha256']
    assert result['record']['encryption']['key_id'] == crypto.key_id(private.public_key())
    again = upload(s3, dump['path'], encryption_public_key=pem)
    assert again['changed'] is False, again


def test_object_lock_retain_until(s3, dumps):
    result = upload(s3, dumps['custom']['path'], object_lock_mode='GOVERNANCE', object_lock_days=3)
    assert result['changed'] and not result.get('failed'), result
    obj = s3.objects()['pourtrait/%s/pourtrait-custom.dump/dump/pourtrait-custom.dump' % dumps['database']]
    assert obj['lock_mode'] == 'GOVERNANCE' and obj['lock_until']


def test_object_lock_on_a_bucket_without_it(s3, dumps):
    s3.create_bucket('plain-bucket', versioning=True)
    result = upload(s3, dumps['custom']['path'], bucket='plain-bucket', object_lock_mode='COMPLIANCE',
                    object_lock_days=1)
    assert_one_line_error(result, 'bucket plain-bucket has no Object Lock')
    assert s3.state('plain-bucket')['objects'] == []


def test_another_dump_under_the_same_name_is_refused(s3, dumps, tmp_path):
    assert not upload(s3, dumps['custom']['path'], name='nightly').get('failed')
    result = upload(s3, dumps['directory']['path'], name='nightly', database=dumps['database'])
    assert_one_line_error(result, 'already holds another dump named nightly')


@pytest.mark.parametrize('args,env_change,fragments', [
    ({'prefix': 'backups/../other'}, {}, ['prefix "backups/../other" has the segment ".."']),
    ({'encryption_public_key': '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n'}, {},
     ['the encryption public key does not parse']),
    ({'bucket': 'no-such-bucket'}, {}, ['bucket no-such-bucket does not exist']),
    ({}, {'AWS_SECRET_ACCESS_KEY': 'wrong' * 8}, ['403 SignatureDoesNotMatch', 'AWS_SECRET_ACCESS_KEY']),
    ({}, {'AWS_ACCESS_KEY_ID': 'AKIAWRONGWRONGWRONG0'}, ['403 InvalidAccessKeyId', 'AWS_ACCESS_KEY_ID']),
    ({}, {'AWS_REGION': 'eu-west-1'}, ['is in region us-east-1, not eu-west-1', 'AWS_REGION']),
    ({}, {'POURTRAIT_BACKUP_BUCKET': ''}, ['no bucket']),
], ids=['dotdot', 'bad-public-key', 'missing-bucket', 'wrong-secret', 'wrong-key-id', 'wrong-region', 'no-bucket'])
def test_bad_input_one_line_nothing_uploaded(s3, dumps, args, env_change, fragments):
    env = s3.env()
    env.update(env_change)
    result = run_module('backup_upload', dict(args, path=dumps['custom']['path']), env=env)
    assert_one_line_error(result, *fragments)
    assert s3.state()['objects'] == [] and s3.state()['multipart_uploads'] == []


def test_endpoint_that_is_not_s3(s3, dumps, vercel):
    env = s3.env(https=False)
    env['AWS_ENDPOINT_URL_S3'] = vercel.app_url
    result = run_module('backup_upload', dict(path=dumps['custom']['path']), env=env)
    assert_one_line_error(result, 'is not an S3 endpoint', 'AWS_ENDPOINT_URL_S3')


def test_connection_refused(s3, dumps):
    from tests.sandbox.pg import free_port
    env = s3.env(https=False)
    env['AWS_ENDPOINT_URL_S3'] = 'http://127.0.0.1:%d' % free_port()
    result = run_module('backup_upload', dict(path=dumps['custom']['path'], max_attempts=2), env=env)
    assert_one_line_error(result, 'cannot reach the S3 endpoint')


def test_tampered_dump_is_not_uploaded(s3, dumps, tmp_path):
    src = dumps['custom']
    copy = str(tmp_path / 'pourtrait-custom')
    shutil.copy(src['path'], copy)
    shutil.copy(src['manifest_path'], copy + '.manifest.json')
    with open(copy, 'ab') as handle:
        handle.write(b'x')
    result = upload(s3, copy)
    assert_one_line_error(result, 'does not match its manifest')
    assert s3.state()['objects'] == []


@pytest.mark.parametrize('threshold', [0.001, 64], ids=['multipart', 'single-put'])
def test_same_size_tampered_dump_is_caught_while_uploading(s3, dumps, tmp_path, threshold):
    """A byte changed in place (same size, so only the bytes read can tell): the hash taken while the parts go
    up differs from the manifest, the multipart upload is aborted before it completes, nothing is stored."""
    src = dumps['custom']
    copy = str(tmp_path / 'pourtrait-custom')
    shutil.copy(src['path'], copy)
    shutil.copy(src['manifest_path'], copy + '.manifest.json')
    with open(copy, 'r+b') as handle:
        handle.seek(os.path.getsize(copy) // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    result = upload(s3, copy, multipart_threshold_mb=threshold, part_size_mb=5)
    assert_one_line_error(result, 'does not match its manifest')
    state = s3.state()
    assert state['objects'] == [] and state['multipart_uploads'] == []


def test_directory_dump_with_one_file_tampered_leaves_nothing_in_the_bucket(s3, dumps, tmp_path):
    """One file of a directory dump changed in place: the files that went up before it was caught are
    deleted again, every version of them, so a corrupt dump leaves no object, version or multipart upload."""
    src = dumps['directory']
    copy = str(tmp_path / 'pourtrait-directory')
    shutil.copytree(src['path'], copy)
    shutil.copy(src['manifest_path'], copy + '.manifest.json')
    last = os.path.join(copy, sorted(os.listdir(copy))[-1])   # the files go up in name order: others first
    with open(last, 'r+b') as handle:
        handle.seek(os.path.getsize(last) - 1)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    result = upload(s3, copy, multipart_threshold_mb=0.001, part_size_mb=5, parallel_files=1)
    assert_one_line_error(result, 'does not match its manifest', 'uploaded before it were deleted')
    state = s3.state()
    assert state['objects'] == [] and state['versions'] == 0 and state['multipart_uploads'] == [], state


def test_keys_never_in_the_result(s3, dumps):
    env = s3.env()
    secret, key_id = env.pop('AWS_SECRET_ACCESS_KEY'), env.pop('AWS_ACCESS_KEY_ID')
    result = run_module('backup_upload', dict(path=dumps['custom']['path'], access_key=key_id, secret_key=secret),
                        env=env)
    assert result['changed'] and not result.get('failed'), result
    assert secret not in result.stdout + result.stderr and key_id not in result.stdout + result.stderr
    bad = run_module('backup_upload', dict(path=dumps['custom']['path'], access_key=key_id, secret_key=secret[::-1]),
                     env=env)
    assert_one_line_error(bad, 'SignatureDoesNotMatch')
    assert secret[::-1] not in bad.stdout + bad.stderr


def test_kms_server_side_encryption(s3, dumps):
    result = upload(s3, dumps['custom']['path'], server_side_encryption='aws:kms', kms_key_id='alias/pourtrait-backups')
    assert result['changed'] and not result.get('failed'), result
    obj = s3.objects()['pourtrait/%s/pourtrait-custom.dump/dump/pourtrait-custom.dump' % dumps['database']]
    assert obj['encryption'] == 'aws:kms' and 'pourtrait-backups' in obj['kms_key_id']
    assert_one_line_error(upload(s3, dumps['custom']['path'], kms_key_id='alias/x'),
                          'kms_key_id needs server_side_encryption=aws:kms')


def test_downloaded_dump_folder_restores_with_postgres_restore(s3, dumps, tmp_path, pg_server):
    """The layout's promise: ``<rp>/dump/`` downloaded into a folder is what postgres_dump wrote, which
    postgres_restore reads (checksums checked) - through the client the restore-from-bucket side will use."""
    from ansible_collections.pourtrait.ops.plugins.module_utils.s3.client import S3Client
    from ansible_collections.pourtrait.ops.plugins.module_utils.s3.points import list_points
    assert upload(s3, dumps['directory']['path'])['changed']
    env = s3.env(https=True)
    params = dict(bucket=env['POURTRAIT_BACKUP_BUCKET'], endpoint_url=env['AWS_ENDPOINT_URL_S3'],
                  region=env['AWS_REGION'], access_key=env['AWS_ACCESS_KEY_ID'],
                  secret_key=env['AWS_SECRET_ACCESS_KEY'], ca_path=env['AWS_CA_BUNDLE'])
    client = S3Client(params)
    client.check_bucket()
    complete, incomplete = list_points(client, 'pourtrait', dumps['database'])
    assert [p['name'] for p in complete] == ['pourtrait-directory.dir'] and incomplete == []
    point = complete[0]
    assert point['verified'] and point['record']['dump']['sha256'] == dumps['directory']['sha256']
    folder = tmp_path / 'restore'
    for key in point['keys'][1:]:
        rel = key[len(point['prefix'] + 'dump/'):]
        os.makedirs(os.path.dirname(str(folder / rel)), exist_ok=True)
        client.download_file(key, str(folder / rel))
    target = 'dl_' + uuid.uuid4().hex[:8]
    try:
        result = run_module('postgres_restore', dict(login_host='127.0.0.1', login_port=pg_server.port,
                                                     login_user=pg_server.user, login_password=pg_server.password,
                                                     login_db='postgres', path=str(folder / 'pourtrait-directory.dir'),
                                                     target_db=target, create=True))
        assert result['changed'] and result['checksum_ok'] is True, result
    finally:
        pg_server.drop_database(target)

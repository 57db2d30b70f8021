"""Unit tests of plugins/module_utils/s3/stream.py: each file hashed as its parts go up, the object completed
only when the hash is the expected one, the multipart upload aborted on any failure. The S3 side is a
recording stand-in object (the real client against the sandbox's S3 is in the integration tests)."""

import base64
import hashlib
import os
import sys
import threading

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import stream  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.client import MB, S3Error  # noqa: E402


class RecordingS3(object):
    bucket = 'b'

    def __init__(self, fail_part=None):
        self.calls, self.parts, self.fail_part, self.lock = [], {}, fail_part, threading.Lock()

    def call(self, name, key=None, **kwargs):
        with self.lock:
            self.calls.append(name)
        if name == 'create_multipart_upload':
            assert kwargs['ChecksumAlgorithm'] == 'SHA256'
            return {'UploadId': 'u1'}
        if name == 'upload_part':
            if kwargs['PartNumber'] == self.fail_part:
                raise S3Error('S3 kept answering 500 InternalError; retry later')
            body = kwargs['Body']
            assert kwargs['ChecksumSHA256'] == base64.b64encode(hashlib.sha256(body).digest()).decode()
            with self.lock:
                self.parts[kwargs['PartNumber']] = body
            return {'ETag': '"e%d"' % kwargs['PartNumber']}
        if name == 'complete_multipart_upload':
            self.completed = kwargs['MultipartUpload']['Parts']
            return {}
        if name == 'put_object':
            self.put = kwargs
            return {}
        raise AssertionError(name)

    def abort_uploads(self, uploads):
        self.calls.append('abort')
        return [u['key'] for u in uploads]


@pytest.fixture
def big(tmp_path):
    path = str(tmp_path / 'dump')
    data = os.urandom(12 * MB + 123)
    with open(path, 'wb') as handle:
        handle.write(data)
    return path, hashlib.sha256(data).hexdigest(), data


def send(s3, path, expected, threshold=1):
    with stream.PartPool(s3, 3) as pool:
        return stream.send_file(pool, path, 'k', {'Metadata': {}}, expected, threshold, 5 * MB,
                                lambda actual, size: S3Error('checksum of dump does not match its manifest'))


def test_parts_in_order_checked_and_completed(big):
    path, sha, data = big
    s3 = RecordingS3()
    assert send(s3, path, sha) == (sha, len(data))
    assert [p['PartNumber'] for p in s3.completed] == [1, 2, 3]
    assert b''.join(s3.parts[n] for n in (1, 2, 3)) == data and 'abort' not in s3.calls


def test_hash_differs_aborts_before_completing(big):
    path, _sha, _data = big
    s3 = RecordingS3()
    with pytest.raises(S3Error, match='does not match its manifest'):
        send(s3, path, '0' * 64)
    assert 'complete_multipart_upload' not in s3.calls and s3.calls[-1] == 'abort'


def test_failed_part_aborts(big):
    path, sha, _data = big
    s3 = RecordingS3(fail_part=2)
    with pytest.raises(S3Error, match='500 InternalError'):
        send(s3, path, sha)
    assert 'complete_multipart_upload' not in s3.calls and s3.calls[-1] == 'abort'


def test_small_file_one_put_with_its_checksum(big):
    path, sha, data = big
    s3 = RecordingS3()
    assert send(s3, path, sha, threshold=64 * MB) == (sha, len(data))
    assert s3.put['ChecksumSHA256'] == base64.b64encode(bytes.fromhex(sha)).decode() and s3.put['Body'] == data
    with pytest.raises(S3Error, match='does not match'):
        send(RecordingS3(), path, '0' * 64, threshold=64 * MB)


def test_part_size_fits_ten_thousand_parts():
    assert stream.part_size_for(100 * MB, 8 * MB) == 8 * MB
    assert stream.part_size_for(100 * MB, 1) == 5 * MB
    assert stream.part_size_for(200000 * MB, 8 * MB) == 20 * MB

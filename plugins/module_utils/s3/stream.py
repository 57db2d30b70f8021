# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Uploading one file while hashing it, so the file's own SHA-256 is compared with what it must be
before the object exists (``PartPool`` and ``send_file``; used by ``upload.py``).

Each part is read once (one ``read`` into one ``bytes``); those bytes feed, in order, the file's SHA-256
(in the reading thread) and the part's own SHA-256 (in the thread that sends it), sent as
``ChecksumSHA256`` so the server checks the part; the client leaves the body unsigned (``client.py``), so
botocore does not hash it again. The parts of every
file of a run go up through one shared pool with a bound on the parts read and not yet sent (memory:
about ``(parts + 2) * part size``). ``CompleteMultipartUpload`` is sent only when every part was accepted
and the file's SHA-256 is the expected one; on any failure the multipart upload is aborted, so no object
appears.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

from ansible_collections.pourtrait.ops.plugins.module_utils.s3.client import MB, S3Error

MAX_PARTS = 10000
MIN_PART = 5 * MB


class ChecksumMismatch(S3Error):
    """The bytes read from a file are not those its manifest names; nothing was stored."""


def b64sha256(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode('ascii')


def read_full(handle, size):
    """Up to ``size`` bytes from an unbuffered file (fewer only at its end), in one bytes object."""
    data = handle.read(size)
    if data is None or len(data) >= size or not data:
        return data or b''
    chunks = [data]
    got = len(data)
    while got < size:
        more = handle.read(size - got)
        if not more:
            break
        chunks.append(more)
        got += len(more)
    return b''.join(chunks)


class PartPool(object):
    """The upload threads shared by every file of a run: ``parts`` requests in flight, at most ``parts + 2``
    parts read and not yet sent."""

    def __init__(self, s3, parts):
        self.s3 = s3
        self.executor = ThreadPoolExecutor(max_workers=max(1, int(parts)))
        self.slots = threading.BoundedSemaphore(max(1, int(parts)) + 2)

    def close(self):
        self.executor.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def submit(self, func, *args):
        self.slots.acquire()
        try:
            future = self.executor.submit(func, *args)
        except BaseException:
            self.slots.release()
            raise
        future.add_done_callback(lambda _f: self.slots.release())
        return future


def part_size_for(size, part_size):
    """``part_size`` raised so the file fits in S3's 10,000 parts, at least 5 MiB."""
    need = -(-size // MAX_PARTS)
    return max(int(part_size), MIN_PART, need)


def send_file(pool, path, key, extra, expected_sha, threshold, part_size, mismatch, stored=None):
    """Upload ``path`` to ``key`` (``extra``: the PutObject/CreateMultipartUpload arguments), hashing what is
    sent; raise ``mismatch(actual sha256, size)`` (an exception) and store nothing when the file's SHA-256 is
    not ``expected_sha``. Returns ``(sha256, size)`` of the bytes stored; ``stored`` (a list), when given,
    gets ``(key, version id or None)`` of the object once it exists."""
    size = os.path.getsize(path)
    if size < max(int(threshold), 1):
        return _put_small(pool.s3, path, key, extra, expected_sha, mismatch, stored)
    return _multipart(pool, path, key, extra, expected_sha, part_size_for(size, part_size), mismatch, stored)


def _note_stored(stored, key, answer):
    if stored is not None:
        stored.append((key, (answer or {}).get('VersionId')))


def _put_small(s3, path, key, extra, expected_sha, mismatch, stored=None):
    with open(path, 'rb', buffering=0) as handle:
        data = read_full(handle, os.fstat(handle.fileno()).st_size + 1)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha:
        raise mismatch(actual, len(data))
    kwargs = dict(extra)
    kwargs.update(Key=key, Body=data, ChecksumAlgorithm='SHA256',
                  ChecksumSHA256=base64.b64encode(bytes.fromhex(actual)).decode('ascii'))
    _note_stored(stored, key, s3.call('put_object', key, **kwargs))
    return actual, len(data)


def _multipart(pool, path, key, extra, expected_sha, part_size, mismatch, stored=None):
    s3 = pool.s3
    kwargs = dict(extra)
    kwargs.update(Key=key, ChecksumAlgorithm='SHA256')
    upload_id = s3.call('create_multipart_upload', key, **kwargs)['UploadId']
    futures, failed = [], []

    def send(number, data):
        if failed:
            return None
        checksum = b64sha256(data)   # here, beside the reader's file hash (hashlib lets go of the GIL)
        try:
            answer = s3.call('upload_part', key, Key=key, UploadId=upload_id, PartNumber=number, Body=data,
                             ChecksumAlgorithm='SHA256', ChecksumSHA256=checksum)
        except BaseException:
            failed.append(number)
            raise
        return {'PartNumber': number, 'ETag': answer['ETag'], 'ChecksumSHA256': checksum}

    digest, size = hashlib.sha256(), 0
    try:
        with open(path, 'rb', buffering=0) as handle:
            number = 1
            while not failed:
                data = read_full(handle, part_size)
                if not data:
                    break
                digest.update(data)
                size += len(data)
                futures.append(pool.submit(send, number, data))
                data = None
                number += 1
        parts = [future.result() for future in futures]
        if failed or any(p is None for p in parts):
            raise S3Error('upload of %s to s3://%s/%s failed; upload again' % (path, s3.bucket, key))
        actual = digest.hexdigest()
        if actual != expected_sha:
            raise mismatch(actual, size)
        _note_stored(stored, key, s3.call('complete_multipart_upload', key, Key=key, UploadId=upload_id,
                                          MultipartUpload={'Parts': parts}))
    except BaseException:
        failed.append(0)
        for future in futures:
            future.cancel()
        wait(futures)
        try:
            s3.abort_uploads([{'key': key, 'upload_id': upload_id}])
        except S3Error:
            pass   # the next run aborts what is left under the recovery point
        raise
    return actual, size

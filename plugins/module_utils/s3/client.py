# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The S3-compatible object storage client (boto3) of the ``s3`` family: the shared options, one-line
errors, and the calls the off-site backup modules make.

Any S3-compatible endpoint works by changing ``endpoint_url`` and the keys only (AWS S3, Cloudflare R2,
Backblaze B2, Supabase Storage's S3 endpoint). The options fall back to the names AWS tools read:
``AWS_ENDPOINT_URL_S3`` (then ``AWS_ENDPOINT_URL``), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION`` (then ``AWS_DEFAULT_REGION``), ``AWS_CA_BUNDLE``; the bucket to
``POURTRAIT_BACKUP_BUCKET``.

Retries are botocore's (``standard`` mode: 5xx, ``SlowDown``, throttling and connection errors, with
jittered backoff), ``max_attempts`` of them per call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, OpsModule, one_line

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    from boto3.s3.transfer import TransferConfig
    BOTO3_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported by S3Module.missing_library
    boto3 = None
    BOTO3_IMPORT_ERROR = traceback.format_exc()

MB = 1024 * 1024


def s3_argument_spec():
    """The options of every module of the action group ``s3`` (doc fragment ``pourtrait.ops.s3``)."""
    from ansible.module_utils.common.parameters import env_fallback
    return dict(
        bucket=dict(type='str', fallback=(env_fallback, ['POURTRAIT_BACKUP_BUCKET'])),
        endpoint_url=dict(type='str', fallback=(env_fallback, ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'])),
        region=dict(type='str', fallback=(env_fallback, ['AWS_REGION', 'AWS_DEFAULT_REGION'])),
        access_key=dict(type='str', no_log=True, fallback=(env_fallback, ['AWS_ACCESS_KEY_ID'])),
        secret_key=dict(type='str', no_log=True, fallback=(env_fallback, ['AWS_SECRET_ACCESS_KEY'])),
        session_token=dict(type='str', no_log=True, fallback=(env_fallback, ['AWS_SESSION_TOKEN'])),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path', fallback=(env_fallback, ['AWS_CA_BUNDLE'])),
        max_attempts=dict(type='int', default=8),
        timeout=dict(type='float', default=60),
        addressing_style=dict(type='str', default='auto', choices=['auto', 'path', 'virtual']),
    )


class S3Error(OpsError):
    """A failure talking to the object storage; one line."""


def _code(exc):
    error = getattr(exc, 'response', None) or {}
    return str((error.get('Error') or {}).get('Code') or ''), \
        (error.get('ResponseMetadata') or {}).get('HTTPStatusCode')


def describe_s3_error(exc, bucket=None, endpoint=None, key=None):
    """One line for a botocore/boto3 error: what failed and what to do."""
    where = endpoint or 'AWS S3'
    what = 's3://%s/%s' % (bucket, key) if key else 's3://%s' % bucket if bucket else where
    if boto3 is not None:
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            return 'no S3 credentials: set access_key/secret_key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY'
        if isinstance(exc, botocore.exceptions.SSLError):
            return ('TLS verification of %s failed: %s; set ca_path (AWS_CA_BUNDLE) to the CA that signed its '
                    'certificate' % (where, _short(exc)))
        if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                            botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError)):
            return ('cannot reach the S3 endpoint %s (%s); check endpoint_url (AWS_ENDPOINT_URL_S3) and that it '
                    'is up' % (where, _short(exc)))
        if isinstance(exc, botocore.exceptions.ParamValidationError):
            return 'invalid S3 request: %s' % _short(exc)
    code, status = _code(exc)
    known = {
        'InvalidAccessKeyId': 'the S3 access key id was rejected by %s (403 InvalidAccessKeyId); check access_key '
                              '(AWS_ACCESS_KEY_ID)' % where,
        'SignatureDoesNotMatch': 'the S3 secret key was rejected by %s (403 SignatureDoesNotMatch); check '
                                 'secret_key (AWS_SECRET_ACCESS_KEY)' % where,
        'AccessDenied': 'access to %s denied (403); the key lacks permission for it' % what,
        'NoSuchBucket': 'bucket %s does not exist at %s; create it or fix bucket (POURTRAIT_BACKUP_BUCKET)'
                        % (bucket, where),
        'AuthorizationHeaderMalformed': 'bucket %s is in another region (%s); set region (AWS_REGION) to the '
                                        "bucket's region" % (bucket, _s3_message(exc)),
        'PermanentRedirect': 'bucket %s is in another region or endpoint (301); set region (AWS_REGION) to the '
                             "bucket's region" % bucket,
        'SlowDown': 'S3 kept answering 503 SlowDown (%s); retry later' % where,
        'InternalError': 'S3 kept answering 500 InternalError (%s); retry later' % where,
    }
    if code in known:
        return known[code]
    if code in ('403', 'Forbidden'):
        return ('403 Forbidden from %s for %s: wrong credentials or no permission; check access_key/secret_key '
                '(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)' % (where, what))
    if code in ('404', 'NotFound', 'NoSuchKey'):
        return '%s not found (404)' % what
    if code in ('400', 'BadRequest') and status == 400:
        return ('400 Bad Request from %s for %s: often a region that is not the bucket\'s; check region '
                '(AWS_REGION)' % (where, what))
    if code:
        message = _s3_message(exc)
        status_text = ' (%s)' % status if status else ''
        return 'S3 error %s%s for %s at %s%s' % (code, status_text, what, where, ': ' + message if message else '')
    return 'S3 request to %s failed: %s' % (where, _short(exc))


def _s3_message(exc):
    return one_line(((getattr(exc, 'response', None) or {}).get('Error') or {}).get('Message') or '')


def _short(exc):
    return one_line(exc)[:300]


class S3Client(object):
    """One boto3 S3 client for ``bucket`` with the shared options (see :func:`s3_argument_spec`)."""

    def __init__(self, params):
        self.params = params
        self.bucket = params.get('bucket')
        self.endpoint = params.get('endpoint_url') or None
        self.region = params.get('region') or None
        verify = params.get('ca_path') or None
        if not params.get('validate_certs', True):
            verify = False
        config = botocore.config.Config(
            retries={'mode': 'standard', 'max_attempts': int(params.get('max_attempts') or 8)},
            connect_timeout=min(float(params.get('timeout') or 60), 30), read_timeout=float(params.get('timeout') or 60),
            # Every request with a body carries its SHA-256 in a signed x-amz-checksum-sha256 header that the
            # server checks, so SigV4 need not hash the body a second time (botocore would whenever the checksum
            # is given rather than computed by itself: one more SHA-256 pass over every byte uploaded).
            s3={'addressing_style': params.get('addressing_style') or 'auto', 'payload_signing_enabled': False},
            max_pool_connections=32)
        session = boto3.session.Session(aws_access_key_id=params.get('access_key') or None,
                                        aws_secret_access_key=params.get('secret_key') or None,
                                        aws_session_token=params.get('session_token') or None,
                                        region_name=self.region)
        self.client = session.client('s3', endpoint_url=self.endpoint, verify=verify, config=config)

    def error(self, exc, key=None):
        return S3Error(describe_s3_error(exc, self.bucket, self.endpoint, key))

    def call(self, name, key=None, **kwargs):
        """``client.<name>(Bucket=bucket, **kwargs)``; a botocore error becomes one-line :class:`S3Error`."""
        try:
            return getattr(self.client, name)(Bucket=self.bucket, **kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self.error(exc, key)

    # -- the bucket ----------------------------------------------------------------------------
    def check_bucket(self):
        """Raise a one-line error unless the bucket exists, the keys are accepted and it is in ``region``."""
        if not self.bucket:
            raise S3Error('no bucket: set bucket or POURTRAIT_BACKUP_BUCKET')
        try:
            answer = self.client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as exc:
            code, status = _code(exc)
            headers = ((exc.response or {}).get('ResponseMetadata') or {}).get('HTTPHeaders') or {}
            actual = headers.get('x-amz-bucket-region')
            if not any(h.startswith('x-amz') for h in headers):
                raise self._not_s3(status)
            if status == 404 or code in ('404', 'NoSuchBucket', 'NotFound'):
                raise S3Error('bucket %s does not exist at %s; create it or fix bucket (POURTRAIT_BACKUP_BUCKET)'
                              % (self.bucket, self.endpoint or 'AWS S3'))
            if status in (301, 400) and actual and actual != self.region:
                raise self._wrong_region(actual)
            if status == 403:
                self._explain_forbidden()
            raise self.error(exc)
        except botocore.exceptions.BotoCoreError as exc:
            raise self.error(exc)
        headers = (answer.get('ResponseMetadata') or {}).get('HTTPHeaders') or {}
        if not any(h.startswith('x-amz') for h in headers):
            raise self._not_s3(200)
        actual = headers.get('x-amz-bucket-region')
        if actual and self.region and self.region != 'auto' and actual != self.region:
            raise self._wrong_region(actual)
        return answer

    def _not_s3(self, status):
        return S3Error('%s is not an S3 endpoint (HEAD of the bucket answered %s without any S3 header); check '
                       'endpoint_url (AWS_ENDPOINT_URL_S3)' % (self.endpoint or 'AWS S3', status))

    def _wrong_region(self, actual):
        return S3Error('bucket %s is in region %s, not %s; set region (AWS_REGION) to %s'
                       % (self.bucket, actual, self.region or '(unset)', actual))

    def _explain_forbidden(self):
        """HEAD answers carry no error code: ask once more with a GET to tell the key id from the secret."""
        try:
            self.client.list_objects_v2(Bucket=self.bucket, MaxKeys=1)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self.error(exc)

    def object_lock_enabled(self):
        try:
            answer = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except botocore.exceptions.ClientError as exc:
            if _code(exc)[0] in ('ObjectLockConfigurationNotFoundError', 'NoSuchObjectLockConfiguration'):
                return False
            raise self.error(exc)
        return (answer.get('ObjectLockConfiguration') or {}).get('ObjectLockEnabled') == 'Enabled'

    # -- objects -------------------------------------------------------------------------------
    def list_objects(self, prefix):
        """Every object under ``prefix``: ``[{key, size, last_modified (datetime), etag}]``, key order."""
        found = []
        try:
            for page in self.client.get_paginator('list_objects_v2').paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get('Contents') or []:
                    found.append({'key': item['Key'], 'size': item['Size'], 'last_modified': item['LastModified'],
                                  'etag': item.get('ETag')})
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self.error(exc)
        return found

    def list_versions(self, prefix):
        """Every version and delete marker under ``prefix``: ``[{key, version_id}]``."""
        found = []
        try:
            for page in self.client.get_paginator('list_object_versions').paginate(Bucket=self.bucket, Prefix=prefix):
                for item in (page.get('Versions') or []) + (page.get('DeleteMarkers') or []):
                    found.append({'key': item['Key'], 'version_id': item.get('VersionId')})
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self.error(exc)
        return found

    def head(self, key):
        """The object's HEAD answer (``Metadata``, ``ContentLength``, ``ChecksumSHA256``, ...) or None."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode='ENABLED')
        except botocore.exceptions.ClientError as exc:
            if _code(exc)[1] == 404 or _code(exc)[0] in ('404', 'NoSuchKey', 'NotFound'):
                return None
            raise self.error(exc, key)
        except botocore.exceptions.BotoCoreError as exc:
            raise self.error(exc, key)

    def get_bytes(self, key):
        answer = self.call('get_object', key, Key=key)
        try:
            return answer['Body'].read()
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise self.error(exc, key)

    def put_bytes(self, key, data, extra=None):
        """PutObject with the server checking the body's SHA-256; returns the answer."""
        kwargs = dict(extra or {})
        kwargs.update(Key=key, Body=data, ChecksumAlgorithm='SHA256')
        return self.call('put_object', key, **kwargs)

    def upload_file(self, path, key, extra=None, threshold=8 * MB, part_size=8 * MB, parts=4):
        """Upload a file: one PUT below ``threshold``, else multipart with ``parts`` parts in flight, every part
        checked by the server (SHA-256). s3transfer aborts the multipart upload when it fails."""
        extra = dict(extra or {})
        extra['ChecksumAlgorithm'] = 'SHA256'
        config = TransferConfig(multipart_threshold=max(int(threshold), 5 * MB if threshold >= 5 * MB else 1),
                                multipart_chunksize=max(int(part_size), 5 * MB), max_concurrency=max(1, int(parts)),
                                use_threads=parts > 1)
        try:
            self.client.upload_file(path, self.bucket, key, ExtraArgs=extra, Config=config)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self.error(exc, key)
        except boto3.exceptions.S3UploadFailedError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)):
                raise self.error(cause, key)
            raise S3Error('upload of %s to s3://%s/%s failed: %s' % (path, self.bucket, key, _short(exc)))

    def download_file(self, key, path, part_size=8 * MB, parts=4):
        config = TransferConfig(multipart_threshold=max(int(part_size), 5 * MB), multipart_chunksize=max(int(part_size), 5 * MB),
                                max_concurrency=max(1, int(parts)))
        try:
            self.client.download_file(self.bucket, key, path, Config=config)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self.error(exc, key)

    def delete(self, items):
        """Delete ``[{key, version_id?}]`` (1000 per request); returns ``[(key, version_id, one-line error)]`` of
        those S3 refused (an Object Lock retention, for example)."""
        refused = []
        for start in range(0, len(items), 1000):
            batch = [dict([('Key', i['key'])] + ([('VersionId', i['version_id'])] if i.get('version_id') else []))
                     for i in items[start:start + 1000]]
            answer = self.call('delete_objects', Delete={'Objects': batch, 'Quiet': True})
            for err in answer.get('Errors') or []:
                refused.append((err.get('Key'), err.get('VersionId'),
                                '%s: %s' % (err.get('Code'), one_line(err.get('Message') or ''))))
        return refused

    # -- multipart uploads -----------------------------------------------------------------------
    def multipart_uploads(self, prefix):
        """Open multipart uploads under ``prefix``: ``[{key, upload_id, initiated (datetime)}]``."""
        found = []
        try:
            pages = self.client.get_paginator('list_multipart_uploads').paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                for item in page.get('Uploads') or []:
                    found.append({'key': item['Key'], 'upload_id': item['UploadId'], 'initiated': item.get('Initiated')})
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self.error(exc)
        return found

    def abort_uploads(self, uploads):
        """Abort each ``{key, upload_id}``; an upload already gone counts as aborted."""
        for upload in uploads:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload['key'], UploadId=upload['upload_id'])
            except botocore.exceptions.ClientError as exc:
                if _code(exc)[0] not in ('NoSuchUpload', '404'):
                    raise self.error(exc, upload['key'])
            except botocore.exceptions.BotoCoreError as exc:
                raise self.error(exc, upload['key'])
        return [u['key'] for u in uploads]


class S3Module(OpsModule):
    """Base of the modules of the action group ``s3`` (see OpsModule): the shared options, boto3, and
    ``self.s3`` (an :class:`S3Client` whose bucket was checked, made on first use)."""

    libraries = ((boto3, 'boto3 (pip install boto3)', BOTO3_IMPORT_ERROR),)
    _s3 = None

    @classmethod
    def shared_argument_spec(cls):
        return s3_argument_spec()

    @classmethod
    def library_errors(cls):
        return (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)

    @classmethod
    def describe_library_error(cls, exc):
        return describe_s3_error(exc)

    def preflight(self):
        if not self.params.get('bucket'):
            raise S3Error('no bucket: set bucket or POURTRAIT_BACKUP_BUCKET')

    @property
    def s3(self):
        if self._s3 is None:
            client = S3Client(self.params)
            client.check_bucket()
            self._s3 = client
        return self._s3

"""The S3-compatible object storage stand-in: moto's S3 (in this process, as a WSGI app) behind the hub.

Served by serve.py on its own ports (plain HTTP and HTTPS with the sandbox CA), so it shares the hub's
fault injector (``services: ["s3"]``), request log and admin API. What it adds in front of moto, as S3
itself behaves:

* credentials: moto checks every request's SigV4 signature against an IAM user made at start whose
  access key is ``access_key_id`` / ``secret_access_key`` (random per process): a wrong key id is 403
  ``InvalidAccessKeyId``, a wrong secret 403 ``SignatureDoesNotMatch``;
* region: a request signed for another region than ``region`` is 400 ``AuthorizationHeaderMalformed``
  naming the expected region (what S3 answers);
* injected faults in S3's XML error format: 503 ``SlowDown`` (also for '429': S3 has no 429), 500
  ``InternalError``, 502; ``reset`` drops the connection (with ``when: after`` the request was
  processed, e.g. a part stored, and only its answer is lost).

* a GET of one byte range reads only that range of the object (moto itself reads the whole object for
  each one: a cost no S3 has, which would make a download in many ranged parts look slower than it is
  and decide a comparison of clients); everything else of the answer is moto's.

At start and at every reset: the bucket ``bucket`` exists, versioning on and Object Lock enabled (no
default retention), everything in it removed.

Admin (``/_sandbox/s3/...``): ``GET /state`` -> ``{bucket, region, objects: [{key, size, version_id,
etag, metadata, storage_class, encryption, checksum_sha256, lock_mode, lock_until, tags}], versions,
multipart_uploads: [{key, upload_id}]}``; ``POST /bucket`` ``{name, versioning, object_lock}`` adds a
bucket (for a test that needs one without versioning or lock).
"""

import re
import threading

from tests.sandbox.standin import Response, Service, json_response

DEFAULT_BUCKET = 'pourtrait-backups'
DEFAULT_REGION = 'us-east-1'
ACCOUNT_ID = '123456789012'
XML = 'application/xml'


def s3_error_xml(code, message, **extra):
    """The ``<Error>`` body S3 answers with."""
    from xml.sax.saxutils import escape
    fields = ''.join('<%s>%s</%s>' % (k, escape(str(v)), k) for k, v in extra.items())
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>%s'
            '<RequestId>SANDBOXREQUEST</RequestId></Error>' % (code, escape(message), fields))


_ONE_RANGE_RE = re.compile(r'^bytes=(\d+)-(\d*)$')
_RANGED = threading.local()   # set while moto answers a GET of one byte range (this thread)


class _Window(object):
    """An object's body as moto sees it while answering a GET of one byte range: its length, and the slice it
    serves read from the object's buffer (nothing else of the object is read)."""

    def __init__(self, key):
        self.key = key

    def __len__(self):
        return self.key.size

    def __bool__(self):
        return self.key.size > 0

    def __getitem__(self, item):
        start, stop, _step = item.indices(self.key.size)
        with self.key.lock:
            self.key._value_buffer.seek(start)  # pylint: disable=protected-access
            return self.key._value_buffer.read(max(0, stop - start))  # pylint: disable=protected-access


def _read_ranges_only():
    """FakeKey.value gives a _Window during a ranged GET (moto slices it), the whole body otherwise."""
    from moto.s3.models import FakeKey
    whole = FakeKey.value
    if getattr(whole.fget, 'pourtrait_ranges', False):
        return

    def value(key):
        if getattr(_RANGED, 'on', False):
            return _Window(key)
        return whole.fget(key)
    value.pourtrait_ranges = True
    FakeKey.value = property(value, whole.fset)


def _one_range(request):
    """True for a GET of a single byte range ``bytes=a-b`` (a <= b) of an object, no part number."""
    if request.method != 'GET' or 'partNumber' in request.query:
        return False
    match = _ONE_RANGE_RE.match((request.headers.get('Range') or '').strip())
    return bool(match) and (not match.group(2) or int(match.group(1)) <= int(match.group(2)))


class S3Service(Service):
    """moto's S3 app with the sandbox's credentials, region check and fault format."""

    name = 's3'

    def __init__(self, bucket=DEFAULT_BUCKET, region=DEFAULT_REGION):
        Service.__init__(self)
        self.bucket = bucket
        self.region = region
        self.lock = threading.Lock()
        self.app = None
        self.access_key_id = self.secret_access_key = None
        self._setup()

    # -- moto --------------------------------------------------------------------------------
    def _setup(self):
        from moto import settings
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.iam.models import iam_backends
        from moto.server import create_backend_app

        assert DEFAULT_ACCOUNT_ID == ACCOUNT_ID
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # every request's signature is checked
        ActionAuthenticatorMixin.request_count = 0
        iam = iam_backends[ACCOUNT_ID]['global']
        iam.create_user(self.region, 'pourtrait-backup')
        policy = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", '
                  '"Resource": "*"}]}')
        iam.put_user_policy('pourtrait-backup', 's3-all', policy)
        key = iam.create_access_key('pourtrait-backup')
        self.access_key_id, self.secret_access_key = key.access_key_id, key.secret_access_key
        self.app = create_backend_app('s3')
        _read_ranges_only()

    def backend(self):
        from moto.s3.models import s3_backends
        return s3_backends[ACCOUNT_ID]['aws']

    def create_bucket(self, name, versioning=True, object_lock=True):
        backend = self.backend()
        backend.create_bucket(name, self.region)
        if versioning or object_lock:
            backend.put_bucket_versioning(name, 'Enabled')
        if object_lock:
            backend.get_bucket(name).object_lock_enabled = True
        return name

    def reset(self, options=None):
        with self.lock:
            self.backend().reset()
            self.create_bucket(self.bucket)

    # -- requests ------------------------------------------------------------------------------
    def fault_response(self, kind, settings):
        if kind in ('429', '503'):
            return Response(503, s3_error_xml('SlowDown', 'Please reduce your request rate.'), content_type=XML)
        if kind == '500':
            return Response(500, s3_error_xml('InternalError', 'We encountered an internal error. Please try again.'),
                            content_type=XML)
        if kind == '502':
            return Response(502, '<html><body>502 Bad Gateway</body></html>', content_type='text/html')
        return None

    def _wrong_region(self, request):
        auth = request.headers.get('Authorization') or ''
        marker = 'Credential='
        if marker not in auth:
            return None
        scope = auth.split(marker, 1)[1].split(',', 1)[0].split('/')
        if len(scope) >= 3 and scope[2] != self.region:
            return Response(400, s3_error_xml(
                'AuthorizationHeaderMalformed',
                "The authorization header is malformed; the region '%s' is wrong; expecting '%s'"
                % (scope[2], self.region), Region=self.region), headers={'x-amz-bucket-region': self.region},
                content_type=XML)
        return None

    def handle(self, request):
        wrong = self._wrong_region(request)
        if wrong is not None:
            return wrong
        from werkzeug.test import EnvironBuilder
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in ('content-length', 'transfer-encoding')]
        builder = EnvironBuilder(path=request.raw_path, method=request.method, query_string=request.raw_query,
                                 headers=headers, data=request.body)
        environ = builder.get_environ()
        environ['RAW_URI'] = environ['REQUEST_URI'] = request.raw_path + (
            '?' + request.raw_query if request.raw_query else '')
        captured = {}

        def start_response(status, response_headers, exc_info=None):
            captured['status'] = int(status.split(' ', 1)[0])
            captured['headers'] = response_headers

        _RANGED.on = _one_range(request)
        try:
            chunks = self.app(environ, start_response)
            try:
                body = b''.join(chunks)
            finally:
                close = getattr(chunks, 'close', None)
                if close:
                    close()
        finally:
            _RANGED.on = False
        content_type = None
        out = {}
        for key, value in captured['headers']:
            if key.lower() == 'content-type':
                content_type = value
            elif key.lower() not in ('server', 'date', 'connection', 'transfer-encoding'):
                out[key] = value
        response = Response(captured['status'], body, headers=out, content_type=content_type or XML)
        if not body and content_type is None:
            response.body = None
        return response

    # -- admin -------------------------------------------------------------------------------
    def state(self):
        with self.lock:
            backend = self.backend()
            out = {'bucket': self.bucket, 'region': self.region, 'buckets': {}}
            for name, bucket in backend.buckets.items():
                out['buckets'][name] = self._bucket_state(bucket)
            return out

    @staticmethod
    def _bucket_state(bucket):
        objects, versions = [], 0
        for _name, stack in bucket.keys.lists():
            versions += len(stack)
            key = stack[-1] if stack else None
            if key is None or not hasattr(key, 'size'):  # a delete marker on top: not listed
                continue
            objects.append({
                'key': key.name, 'size': key.size, 'version_id': key.version_id, 'etag': key.etag,
                'metadata': dict((k[len('x-amz-meta-'):], v) for k, v in key.metadata.items()
                                 if k.lower().startswith('x-amz-meta-')), 'storage_class': key.storage_class,
                'encryption': key.encryption, 'kms_key_id': key.kms_key_id,
                'checksum_sha256': (key.checksum_value if (key.checksum_algorithm or '').upper() == 'SHA256'
                                    else None),
                'lock_mode': key.lock_mode, 'lock_until': key.lock_until,
                'tags': dict((t['Key'], t['Value']) for t in _tags_of(key))})
        return {'objects': sorted(objects, key=lambda o: o['key']), 'versions': versions,
                'versioning': bucket.versioning_status, 'object_lock': bucket.object_lock_enabled,
                'multipart_uploads': [{'key': m.key_name, 'upload_id': m.id} for m in bucket.multiparts.values()]}

    def admin(self, request, subpath):
        sub = subpath.rstrip('/') or '/'
        if sub in ('/', '/state') and request.method == 'GET':
            return json_response(self.state())
        if sub == '/bucket' and request.method == 'POST':
            body = request.json() or {}
            with self.lock:
                self.create_bucket(body['name'], versioning=body.get('versioning', False),
                                   object_lock=body.get('object_lock', False))
            return json_response(self.state())
        return Service.admin(self, request, subpath)


def _tags_of(key):
    from moto.s3.models import s3_backends
    try:
        return s3_backends[ACCOUNT_ID]['aws'].tagger.list_tags_for_resource(key.arn)['Tags']
    except Exception:  # noqa: BLE001: a key without tags in this moto version
        return []

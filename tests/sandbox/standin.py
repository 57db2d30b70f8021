"""Shared machinery of the HTTP stand-ins (Vercel API, the app, Supabase Management API).

A *hub* owns the services, the fault injector, the request log and the admin
API; each service is served on its own port(s) by a threaded HTTP server
(plain HTTP, or HTTPS with a certificate signed by a CA generated here).

Writing a stand-in: subclass :class:`Service`, set ``name``, implement
``handle(request) -> Response`` (use :class:`Router` for the paths),
``reset(options)``, optionally ``admin(request, subpath)``, ``state()``,
``set_timings(values)`` and ``fault_response(kind, settings)`` (the body and
headers an injected 429/5xx has in that API's own error format; the default
is Vercel's); register it with ``hub.add_service()`` and serve it with
``serve(hub, service_name, host, port)``.

Admin API (every port, never faulted; documented in full in serve.py):

* ``GET  /_sandbox/health``    -> ``{"ok": true, "services": [...]}``
* ``POST /_sandbox/reset``     body ``{<service>: {options}}``: every service
  back to its default state, faults cleared, log emptied, timings default.
* ``GET  /_sandbox/state``     -> ``{<service>: service.state()}``
* ``POST /_sandbox/timings``   body ``{name: seconds}`` passed to every service.
* ``POST /_sandbox/faults``    body: see :meth:`FaultInjector.configure`;
  ``DELETE /_sandbox/faults`` or ``POST /_sandbox/faults {}`` clears;
  ``GET /_sandbox/faults`` reads the settings and how many faults were injected.
* ``GET  /_sandbox/requests``  ``?method=&path_prefix=&service=&admin=1``: the log;
  ``DELETE /_sandbox/requests`` empties it.
* ``/_sandbox/<service>/...``  the service's own admin paths.
"""

import datetime
import json
import os
import random
import re
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ADMIN_PREFIX = '/_sandbox'
FAULT_KINDS = ('429', '500', '502', '503', 'reset', 'hang', 'cut')
FAULT_WHEN = ('before', 'after')


def now_ms():
    return int(time.time() * 1000)


def error_body(code, message, **extra):
    """The ``{"error": {"code", "message", ...}}`` body the Vercel API answers with."""
    err = {'code': code, 'message': message}
    err.update(extra)
    return {'error': err}


class Request(object):
    """One parsed HTTP request."""

    def __init__(self, method, target, headers, body, service):
        parts = urlsplit(target)
        self.method = method.upper()
        self.raw_path = parts.path or '/'
        self.path = unquote(self.raw_path)
        self.raw_query = parts.query
        self.query_lists = parse_qs(parts.query, keep_blank_values=True)
        self.query = dict((k, v[-1]) for k, v in self.query_lists.items())
        self.headers = headers
        self.body = body or b''
        self.service = service
        self.client = None  # the peer's IP address (set by the HTTP handler)

    def json(self):
        """The decoded JSON body (None when empty); raises ValueError when not JSON."""
        if not self.body.strip():
            return None
        return json.loads(self.body.decode('utf-8'))

    def flag(self, name):
        return str(self.query.get(name, '')).lower() in ('1', 'true', 'yes')


class Response(object):
    """What a handler returns: status, a JSON-able body (or bytes/str/None), headers."""

    def __init__(self, status=200, body=None, headers=None, content_type='application/json; charset=utf-8',
                 delay=0.0, stream=None):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = content_type
        self.delay = delay
        # an iterable of bytes sent as chunks (Transfer-Encoding: chunked) after the headers; a None item is an
        # idle tick (the handler checks whether the client went away); the stream ends when the iterable does
        self.stream = stream

    def payload(self):
        if self.body is None:
            return b''
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode('utf-8')
        return json.dumps(self.body).encode('utf-8')


def json_response(body, status=200, **kwargs):
    return Response(status, body, **kwargs)


class HttpProblem(Exception):
    """Raise inside a handler to answer with an error response."""

    def __init__(self, status, code, message, headers=None, **extra):
        super(HttpProblem, self).__init__(message)
        self.response = Response(status, error_body(code, message, **extra), headers=headers)


_ROUTE_ORDER = [0]


def route(methods, pattern):
    """Mark a service method as the handler of ``methods`` (comma-separated) on ``pattern``; the service's
    router (:meth:`Router.of`) collects them."""
    def mark(func):
        _ROUTE_ORDER[0] += 1
        func.__dict__.setdefault('routes', []).append((_ROUTE_ORDER[0], methods, pattern))
        return func
    return mark


class Router(object):
    """Paths with ``{name}`` placeholders (one segment each) and ``{v:a|b}`` version alternatives."""

    def __init__(self):
        self.routes = []

    @classmethod
    def of(cls, service):
        """A router of the methods of ``service`` marked with :func:`route`, in the order they were marked."""
        found = []
        for name in dir(type(service)):
            for order, methods, pattern in getattr(getattr(type(service), name), 'routes', ()):
                found.append((order, methods, pattern, getattr(service, name)))
        router = cls()
        for _order, methods, pattern, handler in sorted(found, key=lambda item: item[0]):
            router.add(methods, pattern, handler)
        return router

    @staticmethod
    def _compile(pattern):
        import re
        out = ''
        for piece in re.split(r'(\{[^}]+\})', pattern):
            if piece.startswith('{') and piece.endswith('}'):
                inner = piece[1:-1]
                if ':' in inner:
                    _name, alts = inner.split(':', 1)
                    out += '(?:%s)' % '|'.join(re.escape(a) for a in alts.split('|'))
                else:
                    out += '(?P<%s>[^/]+)' % inner
            else:
                out += re.escape(piece)
        return re.compile('^' + out + '/?$')

    def add(self, methods, pattern, handler, name=None):
        for method in methods.split(','):
            self.routes.append((method.strip().upper(), self._compile(pattern), handler, name or pattern))

    def match(self, method, raw_path):
        """(handler, params) or (None, allowed-methods) when only the method is wrong.

        Matches the still-encoded path so that an encoded ``/`` stays inside its segment.
        """
        allowed = []
        for route_method, regex, handler, _name in self.routes:
            found = regex.match(raw_path)
            if not found:
                continue
            if route_method == method:
                return handler, dict((k, unquote(v)) for k, v in found.groupdict().items())
            allowed.append(route_method)
        return None, allowed


class Service(object):
    """A stand-in served by the hub. Subclasses implement handle() and reset()."""

    name = 'service'

    def __init__(self):
        self.hub = None
        self.ports = {}

    def handle(self, request):
        raise NotImplementedError

    def reset(self, options=None):
        raise NotImplementedError

    def admin(self, request, subpath):
        return Response(404, error_body('not_found', 'no admin path %s for %s' % (subpath, self.name)))

    def state(self):
        return {}

    def set_timings(self, values):
        """Apply the timing settings this service knows; return the names it took."""
        return []

    def fault_response(self, kind, settings):
        """The answer an injected fault ``kind`` gets from this service; None: the hub's default (Vercel's format)."""
        return None

    def not_found(self):
        return Response(404, error_body('not_found', 'The requested API endpoint was not found.'))


class ModelService(Service):
    """A stand-in whose state lives in ``self.model`` (with ``token``, ``lock``, ``timings`` and ``state()``);
    ``timing_names`` are the timing settings it takes."""

    timing_names = ()

    def __init__(self, model):
        Service.__init__(self)
        self.model = model

    @property
    def token(self):
        return self.model.token

    def set_timings(self, values):
        taken = [k for k in values if k in self.timing_names]
        with self.model.lock:
            for k in taken:
                self.model.timings[k] = float(values[k])
        return taken

    def state(self):
        return self.model.state()


class FaultInjector(object):
    """Decides, deterministically from a seed, which requests get a fault.

    Settings (``configure``): ``rate`` (0..1, share of matching requests that
    get a fault), ``kinds`` (drawn from '429', '500', '502', '503', 'reset',
    'hang', 'cut': the connection dropped half-way through the request
    body, an upload cut off), ``seed``, ``latency_ms`` (added to every matching request),
    ``when`` ('before': the request is not processed, so it changes nothing;
    'after': it is processed, then its response is replaced or lost),
    ``services`` (default all but admin), ``methods`` and ``paths`` (path
    prefixes) to narrow the matching requests, ``max_faults`` (stop after N),
    ``hang_s`` (how long a hang lasts before the socket is closed, default 30),
    ``retry_after`` (the 429 Retry-After header, default '1').
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self):
        with self.lock:
            self.settings = {'rate': 0.0, 'kinds': list(FAULT_KINDS), 'seed': 0, 'latency_ms': 0,
                             'when': 'before', 'services': None, 'methods': None, 'paths': None,
                             'max_faults': None, 'hang_s': 30.0, 'retry_after': '1'}
            self.rng = random.Random(0)
            self.injected = 0
            self.active = False

    def configure(self, values):
        values = dict(values or {})
        unknown = set(values) - {'rate', 'kinds', 'seed', 'latency_ms', 'when', 'services', 'methods',
                                 'paths', 'max_faults', 'hang_s', 'retry_after'}
        if unknown:
            raise HttpProblem(400, 'bad_request', 'unknown fault settings: %s' % ', '.join(sorted(unknown)))
        self.clear()
        with self.lock:
            settings = self.settings
            settings.update(values)
            kinds = [str(k) for k in settings['kinds'] or []]
            bad = [k for k in kinds if k not in FAULT_KINDS]
            if bad:
                raise HttpProblem(400, 'bad_request', 'unknown fault kinds %s; use %s' % (bad, ', '.join(FAULT_KINDS)))
            if settings['when'] not in FAULT_WHEN:
                raise HttpProblem(400, 'bad_request', "fault 'when' must be 'before' or 'after'")
            try:
                settings['rate'] = float(settings['rate'])
                settings['latency_ms'] = float(settings['latency_ms'] or 0)
                settings['hang_s'] = float(settings['hang_s'])
            except (TypeError, ValueError):
                raise HttpProblem(400, 'bad_request', 'rate, latency_ms and hang_s must be numbers')
            if not 0.0 <= settings['rate'] <= 1.0:
                raise HttpProblem(400, 'bad_request', 'rate must be between 0 and 1')
            settings['kinds'] = kinds
            self.rng = random.Random(settings['seed'])
            self.active = bool((settings['rate'] > 0 and kinds) or settings['latency_ms'])
        return self.describe()

    def describe(self):
        with self.lock:
            out = dict(self.settings)
            out['injected'] = self.injected
            return out

    def _matches(self, request):
        settings = self.settings
        if settings['services'] and request.service not in settings['services']:
            return False
        if settings['methods'] and request.method not in [m.upper() for m in settings['methods']]:
            return False
        if settings['paths'] and not any(request.path.startswith(p) for p in settings['paths']):
            return False
        return True

    def decide(self, request):
        """(latency seconds, fault kind or None, when) for one request."""
        if not self.active or request.path.startswith(ADMIN_PREFIX):
            return 0.0, None, 'before'
        with self.lock:
            settings = self.settings
            if not self._matches(request):
                return 0.0, None, 'before'
            latency = settings['latency_ms'] / 1000.0
            kind = None
            if settings['kinds'] and settings['rate'] > 0:
                draw = self.rng.random()
                pick = self.rng.choice(settings['kinds'])
                limit = settings['max_faults']
                if draw < settings['rate'] and (limit is None or self.injected < int(limit)):
                    kind = pick
                    self.injected += 1
            return latency, kind, settings['when']

    def fault_response(self, kind):
        settings = self.settings
        if kind == '429':
            reset_s = int(time.time()) + max(1, int(float(settings['retry_after'])))
            return Response(429, error_body(
                'rate_limited', 'Rate limit exceeded',
                limit={'remaining': 0, 'reset': reset_s, 'resetMs': reset_s * 1000, 'total': 100}),
                headers={'Retry-After': str(settings['retry_after']), 'X-RateLimit-Limit': '100',
                         'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': str(reset_s)})
        if kind == '500':
            return Response(500, error_body('internal_server_error', 'An unexpected internal error occurred.'))
        if kind == '502':
            return Response(502, error_body('bad_gateway', 'The gateway received an invalid response.'))
        if kind == '503':
            return Response(503, error_body('service_unavailable', 'The service is temporarily unavailable.'),
                            headers={'Retry-After': '1'})
        return None


def signing_of(headers):
    """What an AWS SigV4 request says of its body: ``payload_signature`` (``sha256`` when the signature covers
    a hash of the body, else the literal, such as ``UNSIGNED-PAYLOAD``) and ``checksums`` (the algorithms of its
    ``x-amz-checksum-*`` headers or trailers), so a test can see how many times a client hashed what it sent."""
    if headers is None:
        return {}
    out = {}
    signed = headers.get('x-amz-content-sha256')
    if signed:
        out['payload_signature'] = 'sha256' if re.match(r'^[0-9a-f]{64}$', signed) else signed
    names = [name.lower() for name in headers.keys()] + [
        name.strip().lower() for name in (headers.get('x-amz-trailer') or '').split(',')]  # sent after the body
    checksums = sorted(set(name[len('x-amz-checksum-'):] for name in names if name.startswith('x-amz-checksum-')))
    if checksums:
        out['checksums'] = checksums
    return out


class RequestLog(object):
    """Every request served: method, path, status, time, whether (and how) it was faulted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []
        self.generation = 0

    def clear(self):
        with self.lock:
            self.entries = []
            self.generation += 1

    def add(self, request, status, faulted, started):
        if getattr(request, 'generation', self.generation) != self.generation:
            return  # began before the last reset (a hang outliving its test): not this test's request
        entry = {'service': request.service, 'method': request.method, 'path': request.path,
                 'query': request.raw_query, 'status': status, 'faulted': faulted,
                 'time': started, 'duration_ms': round((time.time() - started) * 1000.0, 1),
                 'admin': request.path.startswith(ADMIN_PREFIX)}
        entry.update(signing_of(request.headers))
        with self.lock:
            entry['seq'] = len(self.entries) + 1
            self.entries.append(entry)

    def select(self, method=None, path_prefix=None, service=None, admin=False):
        with self.lock:
            entries = list(self.entries)
        return [e for e in entries
                if (admin or not e['admin'])
                and (method is None or e['method'] == method.upper())
                and (path_prefix is None or e['path'].startswith(path_prefix))
                and (service is None or e['service'] == service)]


class Hub(object):
    """The services, their faults, the request log and the admin API."""

    def __init__(self):
        self.services = {}
        self.faults = FaultInjector()
        self.log = RequestLog()
        self.stopping = threading.Event()
        self.info = {}

    def add_service(self, service):
        service.hub = self
        self.services[service.name] = service
        return service

    def reset(self, options=None):
        options = options or {}
        self.faults.clear()
        self.log.clear()
        for name, service in self.services.items():
            service.reset(options.get(name))

    # -- one request ---------------------------------------------------------------------------
    def dispatch(self, request, decision=None):
        """Answer a request: a Response, or a fault kind ('reset'/'hang'/'cut') that drops the connection.
        ``decision``: the fault injector's ``decide()`` already made for it (before its body was read)."""
        if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + '/'):
            return self._admin(request), None
        latency, kind, when = decision or self.faults.decide(request)
        if kind == 'cut':  # a request without a body to cut: the connection is dropped all the same
            return None, 'reset'
        if latency:
            self.stopping.wait(latency)
        if kind and when == 'before':
            return self._fault_response(request, kind), kind
        response = self._service_handle(request)
        if kind:  # when == 'after': the change happened, the answer is replaced or lost
            return self._fault_response(request, kind), kind
        return response, None

    def _fault_response(self, request, kind):
        """The faulted answer in the format of the service asked (None for a dropped connection)."""
        service = self.services.get(request.service)
        response = service.fault_response(kind, self.faults.settings) if service is not None else None
        return response if response is not None else self.faults.fault_response(kind)

    def _service_handle(self, request):
        service = self.services[request.service]
        try:
            return service.handle(request)
        except HttpProblem as problem:
            return problem.response

    def _admin(self, request):
        try:
            return self._admin_inner(request)
        except HttpProblem as problem:
            return problem.response
        except ValueError as exc:
            return Response(400, error_body('bad_request', 'invalid admin request: %s' % exc))

    def _admin_inner(self, request):
        sub = request.path[len(ADMIN_PREFIX):].rstrip('/') or '/'
        method = request.method
        if sub == '/health':
            return json_response({'ok': True, 'services': sorted(self.services), 'info': self.info})
        if sub == '/reset' and method == 'POST':
            self.reset(request.json() or {})
            return json_response(self.state())
        if sub == '/state' and method == 'GET':
            return json_response(self.state())
        if sub == '/timings' and method == 'POST':
            values = request.json() or {}
            taken = set()
            for service in self.services.values():
                taken.update(service.set_timings(values))
            unknown = set(values) - taken
            if unknown:
                raise HttpProblem(400, 'bad_request', 'unknown timings: %s' % ', '.join(sorted(unknown)))
            return json_response(self.state())
        if sub == '/faults':
            if method == 'GET':
                return json_response(self.faults.describe())
            if method == 'DELETE':
                self.faults.clear()
                return json_response(self.faults.describe())
            if method in ('POST', 'PUT'):
                return json_response(self.faults.configure(request.json() or {}))
        if sub == '/requests':
            if method == 'GET':
                q = request.query
                return json_response({'requests': self.log.select(
                    method=q.get('method') or None, path_prefix=q.get('path_prefix') or None,
                    service=q.get('service') or None, admin=request.flag('admin'))})
            if method == 'DELETE':
                self.log.clear()
                return json_response({'requests': []})
        parts = sub.strip('/').split('/', 1)
        if parts[0] in self.services:
            return self.services[parts[0]].admin(request, '/' + (parts[1] if len(parts) > 1 else ''))
        return Response(404, error_body('not_found', 'unknown admin path %s %s' % (method, request.path)))

    def state(self):
        out = dict((name, service.state()) for name, service in self.services.items())
        out['faults'] = self.faults.describe()
        out['info'] = self.info
        return out


def make_handler(hub, service_name):
    """A request handler class bound to one service of the hub."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'
        server_version = 'sandbox-%s' % service_name
        sys_version = ''

        def log_message(self, fmt, *args):  # quiet: the hub keeps its own log
            return

        def _serve(self):
            started = time.time()
            request = Request(self.command, self.path, self.headers, b'', service_name)
            request.client = self.client_address[0] if self.client_address else None
            request.generation = hub.log.generation
            decision = None
            if not (request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + '/')):
                decision = hub.faults.decide(request)
                length = int(self.headers.get('Content-Length') or 0)
                if decision[1] == 'cut' and length > 1:
                    self.rfile.read(length // 2)  # half of the upload arrived, then the line went dead
                    hub.log.add(request, None, 'cut', started)
                    self._drop()
                    return
            request.body = self._read_body()
            response, fault = hub.dispatch(request, decision)
            if fault in ('reset', 'hang', 'cut'):
                if fault == 'hang':
                    hub.stopping.wait(hub.faults.settings.get('hang_s', 30.0))
                hub.log.add(request, None, fault, started)
                self._drop()
                return
            if response.delay:
                hub.stopping.wait(response.delay)
            if response.stream is not None and self.command != 'HEAD':
                self._stream(response)
                hub.log.add(request, response.status, fault, started)
                return
            payload = response.payload() if self.command != 'HEAD' else b''
            self.send_response(response.status)
            if response.body is not None:
                self.send_header('Content-Type', response.content_type)
            length = str(len(payload))
            for key, value in response.headers.items():
                if key.lower() == 'content-length':  # a HEAD's answer names the size of what a GET would send
                    length = value if self.command == 'HEAD' else length
                    continue
                self.send_header(key, value)
            self.send_header('Content-Length', length)
            self.end_headers()
            if payload:
                self.wfile.write(payload)
            hub.log.add(request, response.status, fault, started)

        def _read_body(self):
            """The request body: ``Content-Length`` bytes, or the chunks of ``Transfer-Encoding: chunked``."""
            if 'chunked' in (self.headers.get('Transfer-Encoding') or '').lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b';', 1)[0].strip() or b'0', 16)
                    if not size:
                        while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                            pass  # trailers
                        return b''.join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get('Content-Length') or 0)
            return self.rfile.read(length) if length else b''

        def _stream(self, response):
            """Send the headers, then each chunk as it comes; stop when the client goes away."""
            self.send_response(response.status)
            self.send_header('Content-Type', response.content_type)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header('Transfer-Encoding', 'chunked')
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.flush()
                for chunk in response.stream:
                    if hub.stopping.is_set() or self._peer_gone():
                        return
                    if chunk:
                        self.wfile.write(b'%x\r\n%s\r\n' % (len(chunk), chunk))
                        self.wfile.flush()
                self.wfile.write(b'0\r\n\r\n')
                self.wfile.flush()
            except (OSError, ValueError):
                return
            finally:
                close = getattr(response.stream, 'close', None)
                if close is not None:
                    close()

        def _peer_gone(self):
            """True when the client closed its end (readable with nothing to read)."""
            import select
            if isinstance(self.connection, ssl.SSLSocket):
                return False  # no peeking through TLS: a write to a closed connection ends the stream instead
            try:
                readable, _w, _x = select.select([self.connection], [], [], 0)
                if not readable:
                    return False
                return self.connection.recv(1, socket.MSG_PEEK) == b''
            except (OSError, ValueError):
                return True

        def _drop(self):
            """Close the connection without an answer (a TCP reset)."""
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            except OSError:
                pass

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _serve

    return Handler


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler, ssl_context=None):
        self.ssl_context = ssl_context
        ThreadingHTTPServer.__init__(self, address, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ssl_context is not None:
            # the handshake happens in the handler thread (first read), never in the accept loop
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):  # a client that went away is not news
        return


def serve(hub, service_name, host='127.0.0.1', port=0, ssl_context=None):
    """Start serving one service in a background thread; returns the server (server_address has the port)."""
    server = SandboxHTTPServer((host, port), make_handler(hub, service_name), ssl_context=ssl_context)
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.2},
                              name='%s:%d' % (service_name, server.server_address[1]), daemon=True)
    thread.start()
    return server


def free_port(host='127.0.0.1'):
    sock = socket.socket()
    try:
        sock.bind((host, 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def generate_tls(directory, hosts=('127.0.0.1', 'localhost')):
    """Create a CA and a server certificate for ``hosts`` signed by it (cryptography package).

    Returns ``(ca_path, cert_path, key_path)``; the key is written 0600.
    """
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'pourtrait.ops sandbox CA')])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))

    key = ec.generate_private_key(ec.SECP256R1())
    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))

    ca_path = os.path.join(directory, 'ca.pem')
    cert_path = os.path.join(directory, 'server.pem')
    key_path = os.path.join(directory, 'server.key')
    with open(ca_path, 'wb') as handle:
        handle.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(cert_path, 'wb') as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return ca_path, cert_path, key_path


def server_ssl_context(cert_path, key_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context


class WebhookService(Service):
    """A Slack-style incoming-webhook receiver.

    ``POST <url>`` with a JSON body ``{"text": "...", ...}`` answers 200 ``ok``
    (text/html, as Slack does) and records the message; ``url`` is
    ``<base>/services/T0SANDBOX/B0SANDBOX/<24 letters/digits>`` (``path``, made
    at start). Errors as Slack answers them: 404 ``no_service`` (another path),
    400 ``invalid_payload`` (not a JSON object), 400 ``no_text`` (no ``text``
    nor ``blocks``), 405 for another method.

    Admin (``/_sandbox/webhook/...``): ``GET /messages`` ->
    ``{messages: [{seq, text, payload, time}]}`` in arrival order; ``DELETE
    /messages`` empties it (so does a hub reset).
    """

    name = 'webhook'

    def __init__(self, secret=None):
        Service.__init__(self)
        secret = secret or ''.join(random.SystemRandom().choice('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
                                                                '0123456789') for _i in range(24))
        self.path = '/services/T0SANDBOX/B0SANDBOX/%s' % secret
        self.lock = threading.Lock()
        self.messages = []

    def reset(self, options=None):
        with self.lock:
            self.messages = []

    def state(self):
        with self.lock:
            return {'messages': len(self.messages)}

    def fault_response(self, kind, settings):
        if kind in ('500', '502', '503'):
            return Response(int(kind), 'internal_error', content_type='text/html; charset=utf-8')
        if kind == '429':
            return Response(429, 'rate_limited', headers={'Retry-After': str(settings.get('retry_after', '1'))},
                            content_type='text/html; charset=utf-8')
        return None

    @staticmethod
    def _text(status, text):
        return Response(status, text, content_type='text/html; charset=utf-8')

    def handle(self, request):
        if request.path.rstrip('/') != self.path:
            return self._text(404, 'no_service')
        if request.method != 'POST':
            return Response(405, 'invalid_method', headers={'Allow': 'POST'}, content_type='text/html; charset=utf-8')
        try:
            payload = request.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return self._text(400, 'invalid_payload')
        text = payload.get('text')
        if not (isinstance(text, str) and text.strip()) and not payload.get('blocks'):
            return self._text(400, 'no_text')
        with self.lock:
            self.messages.append({'seq': len(self.messages) + 1, 'text': text, 'payload': payload,
                                  'time': time.time()})
        return self._text(200, 'ok')

    def admin(self, request, subpath):
        if subpath.rstrip('/') == '/messages':
            if request.method == 'GET':
                with self.lock:
                    return json_response({'messages': [dict(m) for m in self.messages]})
            if request.method == 'DELETE':
                self.reset()
                return json_response({'messages': []})
        return Service.admin(self, request, subpath)

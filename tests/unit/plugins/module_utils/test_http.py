"""Unit tests of plugins/module_utils/http.py against a tiny real HTTP server started here.

The server answers from a script (a list of steps per path) and records every
request, so each test asserts what a user would notice: how many times a
request really reached the server, how long the client waited, and the
one-line message when it gives up.
"""

import email.utils
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils import http as h  # noqa: E402


class Script(object):
    """Per-path queues of steps: (status, body, headers) or 'reset' or ('hang', seconds)."""

    def __init__(self):
        self.steps = {}
        self.log = []
        self.lock = threading.Lock()

    def add(self, method, path, *steps):
        self.steps.setdefault((method, path), []).extend(steps)

    def next(self, method, path):
        with self.lock:
            queue = self.steps.get((method, path)) or [(404, {'error': {'code': 'not_found', 'message': 'nope'}}, {})]
            return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def server():
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):
            pass

        def _any(self):
            length = int(self.headers.get('Content-Length') or 0)
            body = self.rfile.read(length) if length else b''
            path = self.path.split('?')[0]
            script.log.append((self.command, self.path, time.time(), dict(self.headers), body))
            step = script.next(self.command, path)
            if step == 'reset':
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
                self.connection.close()
                self.close_connection = True
                return
            if isinstance(step, tuple) and step[0] == 'hang':
                time.sleep(step[1])
                step = (200, {'late': True}, {})
            status, payload, headers = step
            data = json.dumps(payload).encode() if payload is not None else b''
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _any

    class Quiet(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a client that timed out and left is the point of some tests

    httpd = Quiet(('127.0.0.1', 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    script.url = 'http://127.0.0.1:%d' % httpd.server_address[1]
    try:
        yield script
    finally:
        httpd.shutdown()
        httpd.server_close()


class Sleeps(list):
    """A sleep that records the delays and waits only a token amount."""

    def __call__(self, seconds):
        self.append(seconds)


def session(server, sleeps=None, **kwargs):
    kwargs.setdefault('retries', 3)
    kwargs.setdefault('timeout', 5)
    return h.JsonSession(server.url, headers={'Authorization': 'Bearer abc'}, service='the Test API',
                         sleep=sleeps if sleeps is not None else Sleeps(), **kwargs)


# -- Retry-After and backoff ------------------------------------------------------------------
def test_parse_retry_after_seconds_and_http_date():
    assert h.parse_retry_after('7') == 7.0
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= h.parse_retry_after(date, now=now) <= 31
    assert h.parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0
    assert h.parse_retry_after('soon') is None
    assert h.parse_retry_after(None) is None


def test_backoff_is_jittered_exponential_and_capped():
    delays = [h.backoff_delay(n, base=1, cap=8) for n in range(1, 7) for _attempt in range(50)]
    assert max(delays) <= 8
    firsts = set(round(h.backoff_delay(1, base=1, cap=8), 6) for _attempt in range(20))
    assert len(firsts) > 1, 'no jitter'
    assert all(0.5 <= d <= 1 for d in (h.backoff_delay(1, base=1, cap=8) for _attempt in range(50)))
    assert all(4 <= d <= 8 for d in (h.backoff_delay(5, base=1, cap=8) for _attempt in range(50)))


def test_retry_after_is_a_floor_for_the_delay():
    assert all(10 <= h.backoff_delay(1, base=0.5, cap=30, retry_after=10) <= 11.01 for _attempt in range(50))


# -- retries against the real server ---------------------------------------------------------
def test_get_retries_5xx_then_succeeds(server):
    server.add('GET', '/v1/thing', (502, None, {}), (503, {'error': {'code': 'x'}}, {}), (200, {'ok': 1}, {}))
    sleeps = Sleeps()
    resp = session(server, sleeps).request('GET', '/v1/thing')
    assert resp.data == {'ok': 1} and resp.attempts == 3
    assert len([r for r in server.log if r[1] == '/v1/thing']) == 3
    assert len(sleeps) == 2 and sleeps[1] >= 0.5


def test_429_waits_out_retry_after_seconds(server):
    server.add('GET', '/v1/limited', (429, {'error': {'code': 'rate_limited'}}, {'Retry-After': '1'}), (200, {'ok': 2}, {}))
    sleeps = Sleeps()
    assert session(server, sleeps).get('/v1/limited') == {'ok': 2}
    assert sleeps and sleeps[0] >= 1.0


def test_429_with_http_date_is_honoured_with_the_real_clock(server):
    later = email.utils.formatdate(time.time() + 2, usegmt=True)
    server.add('GET', '/v1/date', (429, None, {'Retry-After': later}), (200, {'ok': 3}, {}))
    started = time.time()
    assert session(server, time.sleep).get('/v1/date') == {'ok': 3}
    stamps = [r[2] for r in server.log if r[1] == '/v1/date']
    assert len(stamps) == 2 and stamps[1] - stamps[0] >= 0.9  # HTTP dates have one-second resolution
    assert time.time() - started < 6


def test_rate_limit_outlasting_the_retries_is_one_line(server):
    server.add('GET', '/v1/busy', (429, {'error': {'code': 'rate_limited', 'message': 'slow down'}}, {'Retry-After': '0'}))
    with pytest.raises(h.HttpError) as info:
        session(server, retries=2).get('/v1/busy')
    msg = str(info.value)
    assert '\n' not in msg and 'HTTP 429' in msg and 'after 3 attempts' in msg and 'raise retries' in msg
    assert info.value.status == 429 and info.value.attempts == 3
    assert len([r for r in server.log if r[1] == '/v1/busy']) == 3


def test_retry_after_beyond_the_cap_fails_at_once(server):
    server.add('GET', '/v1/later', (429, None, {'Retry-After': '3600'}))
    with pytest.raises(h.HttpError):
        session(server, retry_after_cap=60).get('/v1/later')
    assert len([r for r in server.log if r[1] == '/v1/later']) == 1


def test_4xx_fails_at_once_with_the_describer_message(server):
    server.add('GET', '/v1/secret', (401, {'error': {'code': 'forbidden', 'message': 'Not authorized'}}, {}))

    def describe(status, data, method, path):
        return '%s: %s rejected on %s %s' % (status, data['error']['code'], method, path)

    with pytest.raises(h.HttpError) as info:
        session(server, describe_error=describe).get('/v1/secret')
    assert str(info.value) == '401: forbidden rejected on GET /v1/secret'
    assert len(server.log) == 1


def test_connection_reset_on_get_is_retried(server):
    server.add('GET', '/v1/flaky', 'reset', (200, {'ok': 4}, {}))
    assert session(server).get('/v1/flaky') == {'ok': 4}
    assert len([r for r in server.log if r[1] == '/v1/flaky']) == 2


def test_a_service_that_keeps_dropping_the_connection_is_not_called_unreachable(server):
    server.add('GET', '/v1/dropping', 'reset')  # every attempt: reached, then dropped
    with pytest.raises(h.HttpError) as info:
        session(server, retries=2).get('/v1/dropping')
    msg = str(info.value)
    assert '\n' not in msg and 'kept dropping the connection after 3 attempts' in msg, msg
    assert 'could not be reached' not in msg and 'run the task again' in msg
    assert len([r for r in server.log if r[1] == '/v1/dropping']) == 3


def test_read_timeout_is_retried_then_reported(server):
    server.add('GET', '/v1/slow', ('hang', 0.8))
    with pytest.raises(h.HttpError) as info:
        session(server, timeout=0.2, retries=1).get('/v1/slow')
    assert 'timed out' in str(info.value) and 'raise timeout' in str(info.value)
    assert len([r for r in server.log if r[1] == '/v1/slow']) == 2


def test_unreachable_api_names_the_option_to_fix():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    sess = h.JsonSession('http://127.0.0.1:%d' % port, retries=1, sleep=Sleeps(), service='the Vercel API',
                         url_hint='api_url (VERCEL_API_URL)')
    with pytest.raises(h.HttpError) as info:
        sess.get('/v9/projects/x')
    msg = str(info.value)
    assert '\n' not in msg and 'could not be reached' in msg and 'after 2 attempts' in msg
    assert 'api_url (VERCEL_API_URL)' in msg


# -- non-idempotent requests ------------------------------------------------------------------
def test_post_5xx_is_reconciled_not_repeated_when_the_change_happened(server):
    server.add('POST', '/v1/rollback', (500, None, {}))
    calls = []

    def reconcile():
        calls.append(1)
        return h.Response(201, {'seen': True})

    resp = session(server).request('POST', '/v1/rollback', json={}, reconcile=reconcile)
    assert resp.reconciled and resp.data == {'seen': True}
    assert len([r for r in server.log if r[0] == 'POST']) == 1 and calls == [1]


def test_post_5xx_is_sent_again_when_reconcile_says_it_did_not_happen(server):
    server.add('POST', '/v1/create', (503, None, {}), (201, {'id': 'new'}, {}))
    resp = session(server).request('POST', '/v1/create', json={'a': 1}, reconcile=lambda: None)
    assert resp.data == {'id': 'new'} and not resp.reconciled
    assert len([r for r in server.log if r[0] == 'POST']) == 2


def test_post_reset_without_reconcile_is_never_repeated(server):
    server.add('POST', '/v1/charge', 'reset', (201, {'id': 'twice'}, {}))
    with pytest.raises(h.HttpError) as info:
        session(server).request('POST', '/v1/charge', json={})
    assert 'outcome is unknown' in str(info.value) and 'check the state' in str(info.value)
    assert len([r for r in server.log if r[0] == 'POST']) == 1


def test_post_429_rereads_state_before_sending_again(server):
    server.add('POST', '/v1/promote', (429, None, {'Retry-After': '0'}), (201, {'ok': 5}, {}))
    calls = []
    resp = session(server).request('POST', '/v1/promote', json={}, reconcile=lambda: calls.append(1))
    assert resp.status == 201 and calls == [1]
    assert len([r for r in server.log if r[0] == 'POST']) == 2


def test_post_429_without_reconcile_is_retried(server):
    # a 429 means the request was refused before it did anything
    server.add('POST', '/v1/env', (429, None, {'Retry-After': '0'}), (201, {'ok': 6}, {}))
    resp = session(server).request('POST', '/v1/env', json={})
    assert resp.status == 201 and len([r for r in server.log if r[0] == 'POST']) == 2


def test_ok_statuses_are_returned_not_raised(server):
    server.add('POST', '/v1/promote2', (409, {'error': {'code': 'conflict'}}, {}))
    resp = session(server).request('POST', '/v1/promote2', json={}, ok=(201, 409))
    assert resp.status == 409


def test_headers_and_json_body_are_sent(server):
    server.add('PATCH', '/v1/env', (200, {'done': True}, {}))
    session(server).request('PATCH', '/v1/env', json={'value': 'x'}, params={'teamId': 'team_1'}, idempotent=True)
    method, path, _at, headers, body = server.log[-1]
    assert method == 'PATCH' and path == '/v1/env?teamId=team_1'
    assert headers['Authorization'] == 'Bearer abc' and json.loads(body) == {'value': 'x'}

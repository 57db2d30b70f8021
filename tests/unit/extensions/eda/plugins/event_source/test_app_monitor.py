"""extensions/eda/plugins/event_source/app_monitor.py against a small app + Vercel + Supabase on loopback."""

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.unit.extensions.eda.plugins.event_source.loader import load

monitor = load('app_monitor')
TOKEN = 'vercelTokenForTests01234'  # Vercel's shape: 24 letters and digits
SUPABASE_TOKEN = 'sbp_' + '0' * 40
REF = 'pourtraitsandboxrefa'


def candidate(uid, is_candidate, age_s=86400):
    return {'uid': uid, 'isRollbackCandidate': is_candidate, 'state': 'READY', 'target': 'production',
            'projectId': 'prj_1', 'created': int((time.time() - age_s) * 1000)}


class World(object):
    """What the fake services answer; the test changes it between polls."""

    def __init__(self):
        self.health = 'healthy'
        self.error_rate = 0.002
        self.p95 = 220
        self.live = 'dpl_old'
        self.live_created_ms = int((time.time() - 7200) * 1000)
        self.candidates = [candidate('dpl_older', True)]
        self.supabase = 'ACTIVE_HEALTHY'
        self.auth = []
        self.fail_next = {}  # path -> how many 503 answers before the real one


def serve(world):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            world.auth.append((self.path.split('?')[0], self.headers.get('Authorization')))
            path = self.path.split('?')[0]
            status, body = 404, {}
            if world.fail_next.get(path):
                world.fail_next[path] -= 1
                status, body = 503, {'error': {'code': 'internal', 'message': 'try again'}}
            elif path == '/health':
                ok = world.health == 'healthy'
                status = 200 if ok else 503
                body = {'status': world.health, 'services': {'database': 'healthy' if ok else 'unhealthy'},
                        'responseTime': 40}
            elif path == '/api/monitoring/errors':
                status, body = 200, {'errorRate': world.error_rate, 'errorCount': 5, 'totalRequests': 1000}
            elif path == '/api/monitoring/performance':
                status, body = 200, {'responseTime': {'p95': world.p95, 'p99': world.p95 * 2}}
            elif path == '/v9/projects/pourtrait':
                status, body = 200, {'id': 'prj_1', 'targets': {'production': {
                    'id': world.live, 'createdAt': world.live_created_ms}}}
            elif path == '/v6/deployments':
                live = dict(candidate(world.live, True), created=world.live_created_ms)
                status, body = 200, {'deployments': [live] + world.candidates}
            elif path == '/v1/projects/' + REF:
                status, body = 200, {'status': world.supabase}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def world():
    state = World()
    server = serve(state)
    url = 'http://127.0.0.1:%d' % server.server_address[1]
    state.conf = monitor.settings(dict(app_url=url, vercel_api_url=url, vercel_token=TOKEN, vercel_project='pourtrait',
                                       supabase_api_url=url, supabase_token=SUPABASE_TOKEN, supabase_project_ref=REF,
                                       interval=0.01, recent_window_s=600))
    yield state
    server.shutdown()
    server.server_close()


def test_events_only_on_changes_with_the_numbers_and_the_live_deployment(world):
    watcher = monitor.Monitor()
    clients = monitor.clients(world.conf)
    first = watcher.changes(monitor.observe(world.conf, *clients))
    assert first['pourtrait_monitor']['state'] == 'healthy' and first['pourtrait_monitor']['previous_state'] is None
    assert first['deployment']['id'] == 'dpl_old' and first['deployment']['recent'] is False
    assert 7100 < first['deployment']['age_s'] < 7300 and first['deployment']['rollback_candidate'] is True
    assert first['database'] == {'healthy': True, 'source': 'supabase', 'status': 'ACTIVE_HEALTHY', 'cause': False}
    assert first['pourtrait_monitor']['severity'] == 'P3'
    assert watcher.changes(monitor.observe(world.conf, *clients)) is None  # same state: no event

    # a broken release goes live
    world.live, world.live_created_ms = 'dpl_new', int((time.time() - 30) * 1000)
    world.health, world.error_rate, world.p95 = 'unhealthy', 0.42, 3000
    event = watcher.changes(monitor.observe(world.conf, *clients))
    assert event['pourtrait_monitor']['state'] == 'failing'
    assert event['pourtrait_monitor']['previous_state'] == 'healthy'
    assert event['pourtrait_monitor']['changed'] == ['deployment', 'signals', 'state']
    assert event['signals'] == {'health_failing': True, 'error_rate_high': True, 'latency_high': True}
    assert event['pourtrait_monitor']['severity'] == 'P0'
    assert event['errors']['rate'] == 0.42 and event['latency']['p95_ms'] == 3000
    assert event['health']['http_status'] == 503 and event['health']['database'] == 'unhealthy'
    assert event['deployment']['id'] == 'dpl_new' and event['deployment']['recent'] is True
    assert watcher.changes(monitor.observe(world.conf, *clients)) is None

    # the database goes down too: a change
    world.supabase = 'ACTIVE_UNHEALTHY'
    event = watcher.changes(monitor.observe(world.conf, *clients))
    assert event['pourtrait_monitor']['changed'] == ['database'] and event['database']['healthy'] is False

    # recovered
    world.health, world.error_rate, world.p95, world.supabase = 'healthy', 0.001, 200, 'ACTIVE_HEALTHY'
    event = watcher.changes(monitor.observe(world.conf, *clients))
    assert (event['pourtrait_monitor']['state'], event['pourtrait_monitor']['previous_state']) == (
        'healthy', 'failing')
    assert ('/v9/projects/pourtrait', 'Bearer %s' % TOKEN) in world.auth
    assert all(auth is None for path, auth in world.auth if path.startswith(('/health', '/api/')))
    assert TOKEN not in json.dumps(event)


def test_no_rollback_candidate_and_unreachable_app(world):
    world.candidates = [candidate('dpl_x', False)]
    event = monitor.observe(world.conf, *monitor.clients(world.conf))
    assert event['deployment']['rollback_candidate'] is False
    conf = dict(world.conf, app_url='http://127.0.0.1:9', timeout=2)
    event = monitor.observe(conf)
    assert event['pourtrait_monitor']['state'] == 'failing' and event['health']['http_status'] is None


def test_main_puts_change_events_on_the_queue(world):
    async def go():
        queue = asyncio.Queue()
        task = asyncio.create_task(monitor.main(queue, dict(world.conf, max_events=2)))
        first = await asyncio.wait_for(queue.get(), 10)
        world.error_rate = 0.2
        second = await asyncio.wait_for(queue.get(), 10)
        await asyncio.wait_for(task, 10)
        return first, second

    first, second = asyncio.run(go())
    assert first['pourtrait_monitor']['state'] == 'healthy'
    assert second['pourtrait_monitor']['state'] == 'degraded' and second['signals']['error_rate_high'] is True


def test_settings_need_an_app_url(monkeypatch):
    monkeypatch.delenv('APP_URL', raising=False)
    with pytest.raises(ValueError, match='app_url'):
        monitor.settings({})


@pytest.mark.parametrize('state, rate, expected', [
    ('failing', 0.42, 'P0'), ('failing', 0.01, 'P1'), ('degraded', 0.12, 'P1'), ('degraded', 0.06, 'P2'),
    ('slow', 0.0, 'P2'), ('healthy', None, 'P3')])
def test_severity_from_the_numbers(state, rate, expected):
    assert monitor.severity(state, rate) == expected


def test_the_collection_clients_retry_a_failing_api_and_log_one_line_when_it_stays_down(world, caplog):
    """Vercel and Supabase go through JsonSession: a 503 is retried; a lasting failure is one log line and the
    poll goes on (the database then counts as unreachable)."""
    conf = dict(world.conf, retries=2)
    vercel, supabase = monitor.clients(conf)
    vercel.http.sleep = supabase.http.sleep = lambda seconds: None
    world.fail_next = {'/v9/projects/pourtrait': 1, '/v1/projects/' + REF: 1}
    event = monitor.observe(conf, vercel, supabase)
    assert event['deployment']['id'] == 'dpl_old' and event['database']['healthy'] is True
    assert [p for p, _auth in world.auth].count('/v9/projects/pourtrait') == 2
    world.fail_next = {'/v9/projects/pourtrait': 9, '/v1/projects/' + REF: 9}
    with caplog.at_level('WARNING', logger='pourtrait.ops.app_monitor'):
        event = monitor.observe(conf, vercel, supabase)
    assert event['deployment']['id'] is None and event['deployment']['rollback_candidate'] is False
    assert event['database'] == {'healthy': False, 'source': 'supabase', 'status': 'unreachable (HTTP 503)',
                                 'cause': True}
    lines = [r.getMessage() for r in caplog.records]
    assert any('Vercel' in line and '503' in line for line in lines), lines
    assert all('\n' not in line and TOKEN not in line for line in lines)


@pytest.mark.parametrize('args, expected', [
    (dict(interval='abc'), "app_monitor: argument interval (the rulebook variable monitor_interval) is 'abc', "
                           "not a number; fix it in the rulebook variables (e.g. 30)"),
    (dict(interval='0'), 'app_monitor: argument interval (the rulebook variable monitor_interval) must be more '
                         'than 0 (got 0.0); fix it in the rulebook variables'),
    (dict(error_rate_threshold='5%'), "argument error_rate_threshold (the rulebook variable error_rate_threshold) "
                                      "is '5%', not a number"),
    (dict(error_rate_threshold=5), 'error_rate_threshold) must be more than 0 and 1 or less (got 5.0)'),
    (dict(recent_window_s='[1, 2]'), "recent_window_s (the rulebook variable recent_window) is '[1, 2]'"),
    (dict(max_events='1.5'), "argument max_events is '1.5', not a whole number"),
])
def test_arguments_that_do_not_parse_are_one_line_errors(args, expected):
    with pytest.raises(ValueError) as info:
        monitor.settings(dict(args, app_url='http://127.0.0.1:9'))
    assert expected in str(info.value) and '\n' not in str(info.value)


def test_a_malformed_token_is_an_error_at_start_not_at_each_poll(world):
    with pytest.raises(ValueError, match='app_monitor: the Vercel token is malformed'):
        monitor.clients(dict(world.conf, vercel_token='not a token'))


def _polls(monkeypatch, interval, poll_seconds, count=3):
    """Start times (monotonic) of ``count`` polls of main() when one poll takes ``poll_seconds``."""
    starts = []

    def observe(conf, vercel=None, supabase=None):
        starts.append(time.monotonic())
        time.sleep(poll_seconds)
        # every poll a change (a new live deployment), so each one is an event
        return dict(pourtrait_monitor=dict(state='healthy', severity='P3', observed_at='now'), health={},
                    errors=dict(rate=0.0), latency=dict(p95_ms=1), signals={},
                    deployment=dict(id='dpl_%d' % len(starts), age_s=1), database=dict(healthy=True))

    monkeypatch.setattr(monitor, 'observe', observe)
    monkeypatch.setattr(monitor, 'clients', lambda conf: (None, None))

    async def go():
        queue = asyncio.Queue()
        await asyncio.wait_for(monitor.main(queue, dict(app_url='http://127.0.0.1:9', interval=interval,
                                                        max_events=count)), 30)
    asyncio.run(go())
    return [later - earlier for earlier, later in zip(starts, starts[1:])]


def test_polls_start_every_interval_whatever_a_poll_takes(monkeypatch):
    # a failure is seen at most one interval after it began: the poll's own time is not added to the wait
    gaps = _polls(monkeypatch, interval=0.6, poll_seconds=0.3)
    assert all(0.55 <= gap < 0.8 for gap in gaps), gaps


def test_a_poll_slower_than_the_interval_is_followed_by_a_tenth_of_one(monkeypatch):
    gaps = _polls(monkeypatch, interval=0.5, poll_seconds=0.7)
    assert all(0.7 + 0.05 - 0.01 <= gap < 1.0 for gap in gaps), gaps

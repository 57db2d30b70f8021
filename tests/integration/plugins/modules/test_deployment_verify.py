"""deployment_verify against the app stand-in: verdicts, limits, and every measurement recorded."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import assert_one_line_error, run_module

FAST = dict(interval=0.1, count=3)


def test_healthy_release_passes(vercel):
    result = run_module('deployment_verify', dict(base_url=vercel.app_url, **FAST))
    assert result['changed'] is False and result['verdict'] == 'pass', result
    assert result['rounds'] == 3 and len(result['measurements']) == 9
    assert set(m['result'] for m in result['measurements']) == {'pass'}
    by_kind = dict((m['kind'], m) for m in result['measurements'])
    assert by_kind['error_rate']['value'] == pytest.approx(2 / 1200.0, abs=1e-3)
    assert by_kind['latency']['value'] == 220 and by_kind['latency']['threshold'] == 1000
    assert by_kind['health']['timing']['total_s'] > 0
    assert result['summary']['health'] == dict(passed=3, failed=0, inconclusive=0, errors=0, consecutive_errors=0,
                                               max_consecutive_errors=0, critical=True)


def test_broken_release_fails_at_once_on_the_critical_check(vercel):
    broken = vercel.seed_deployment(health='broken', created_offset_s=-30)
    result = run_module('deployment_verify', dict(base_url=broken['app_base_url'], interval=0.1, count=5))
    assert_one_line_error(result, 'fail', 'critical check health failed in round 1',
                          'database (unhealthy)')
    assert result['verdict'] == 'fail' and result['rounds'] == 1 and len(result['measurements']) == 1


def test_error_rate_counts_failures_up_to_the_limit(vercel):
    errors = vercel.seed_deployment(health='errors', created_offset_s=-30)
    tolerant = run_module('deployment_verify', dict(base_url=errors['app_base_url'], failure_limit=2, **FAST))
    assert tolerant['verdict'] == 'fail' and tolerant['rounds'] == 3, tolerant
    assert 'error_rate failed 3 time(s), more than failure_limit 2' in tolerant['reason']
    assert [m['result'] for m in tolerant['measurements'] if m['kind'] == 'error_rate'] == ['fail'] * 3
    lenient = run_module('deployment_verify', dict(
        base_url=errors['app_base_url'], fail_on=[], checks=[
            dict(name='errors', kind='error_rate', path='/api/monitoring/errors', threshold=0.2, min_requests=10)],
        **FAST))
    assert lenient['verdict'] == 'pass' and 'failed' not in lenient


def test_slow_release_fails_latency(vercel):
    slow = vercel.seed_deployment(health='slow', created_offset_s=-30)
    result = run_module('deployment_verify', dict(base_url=slow['app_base_url'], interval=0, count=1, checks=[
        dict(name='p95', kind='latency', path='/api/monitoring/performance', threshold=1000)]))
    assert_one_line_error(result, 'p95 failed', '2800')
    assert result['verdict'] == 'fail'


class FakeMonitoring(object):
    """A monitoring endpoint answering from a script, to reach no-data and error cases."""

    def __init__(self, answers):
        self.answers = list(answers)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                status, body = outer.answers.pop(0) if len(outer.answers) > 1 else outer.answers[0]
                data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


ERRORS_CHECK = [dict(name='errors', kind='error_rate', path='/e', threshold=0.05, min_requests=10)]


def test_no_data_is_inconclusive_never_success():
    fake = FakeMonitoring([(200, {'totalRequests': 3, 'errorCount': 0, 'errorRate': 0.0})])
    try:
        result = run_module('deployment_verify', dict(base_url=fake.url, checks=ERRORS_CHECK, **FAST))
        assert_one_line_error(result, 'inconclusive', 'inconclusive_limit 0')
        assert [m['result'] for m in result['measurements']] == ['inconclusive'] * 3
        assert 'too few requests (3 < 10)' in result['measurements'][0]['detail']
        empty = FakeMonitoring([(200, {'window': '5m'})])
        try:
            tolerated = run_module('deployment_verify', dict(base_url=empty.url, checks=ERRORS_CHECK, inconclusive_limit=5,
                                                             fail_on=['fail'], **FAST))
        finally:
            empty.close()
        assert tolerated['verdict'] == 'inconclusive' and 'never passed' in tolerated['reason'], tolerated
        assert tolerated['measurements'][0]['detail'] == 'no data'
    finally:
        fake.close()


def test_consecutive_errors_fail_but_isolated_errors_do_not():
    ok = (200, {'totalRequests': 100, 'errorRate': 0.01})
    err = (500, b'oops')
    fake = FakeMonitoring([err, err, ok, err, err, ok])
    try:
        result = run_module('deployment_verify', dict(base_url=fake.url, checks=ERRORS_CHECK, interval=0, count=6,
                                                      consecutive_error_limit=2))
        assert result['verdict'] == 'pass', result
        assert result['summary']['errors']['errors'] == 4 and result['summary']['errors']['max_consecutive_errors'] == 2
    finally:
        fake.close()
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    down = run_module('deployment_verify', dict(base_url='http://127.0.0.1:%d' % port, interval=0, count=10))
    assert_one_line_error(down, 'could not be measured 5 times in a row', 'consecutive_error_limit 4')
    assert down['rounds'] == 5 and all(m['result'] == 'error' for m in down['measurements'])


def test_initial_delay_and_bad_options(vercel):
    started = time.time()
    result = run_module('deployment_verify', dict(base_url=vercel.app_url, initial_delay=1, interval=0, count=1))
    assert result['verdict'] == 'pass' and time.time() - started >= 1
    assert result['measurements'][0]['at'] >= started + 1
    bad = run_module('deployment_verify', dict(base_url=vercel.app_url, checks=[
        dict(name='x', kind='latency', path='/api/monitoring/performance')]))
    assert_one_line_error(bad, 'check x (latency) has no threshold')


def test_path_is_the_health_endpoint_of_the_default_checks(vercel):
    result = run_module('deployment_verify', dict(count=1, interval=0, path='/health?probe=verify'),
                        env={'APP_URL': vercel.app_url})
    assert result['verdict'] == 'pass' and result['base_url'] == vercel.app_url, result
    urls = dict((m['kind'], m['url']) for m in result['measurements'])
    assert urls == {'health': vercel.app_url + '/health?probe=verify',
                    'error_rate': vercel.app_url + '/api/monitoring/errors',
                    'latency': vercel.app_url + '/api/monitoring/performance'}, urls

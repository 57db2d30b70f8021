"""app_health against the app stand-in: health rules, retries until a deadline, curl-style timing."""

import socket
import time

from tests.conftest import assert_one_line_error, run_module


def test_healthy_production_with_timing(vercel):
    result = run_module('app_health', dict(url=vercel.app_url + '/health', services=['database', 'ai']))
    assert result['changed'] is False and result['healthy'] is True, result
    assert result['status'] == 'healthy' and result['http_status'] == 200 and result['attempts'] == 1
    assert result['services'] == {'database': 'healthy', 'ai': 'healthy', 'imageProcessing': 'healthy'}
    t = result['timing']
    assert 0 <= t['dns_s'] <= t['connect_s'] <= t['first_byte_s'] <= t['total_s'] < 5
    assert t['tls_s'] == 0.0
    assert result['body']['deploymentId'] == vercel.live()['uid']


def test_broken_names_the_unhealthy_services(vercel):
    broken = vercel.seed_deployment(health='broken', created_offset_s=-30)
    result = run_module('app_health', dict(url=broken['app_base_url'] + '/health', wait_timeout=1, interval=0.4))
    assert_one_line_error(result, 'not healthy', 'database (unhealthy)', 'imageProcessing (unhealthy)',
                          'status unhealthy')
    assert result['attempts'] >= 2 and result['http_status'] == 503
    assert result['unhealthy_services'] == ['database (unhealthy)', 'imageProcessing (unhealthy)']


def test_degraded_and_missing_service(vercel):
    slow = vercel.seed_deployment(health='slow', created_offset_s=-30)
    result = run_module('app_health', dict(url=slow['app_base_url'] + '/health', wait_timeout=0))
    assert_one_line_error(result, 'status degraded', 'ai (degraded)')
    assert result['timing']['first_byte_s'] >= 0.5  # the slow profile answers after app_slow_s (0.6 s)
    missing = run_module('app_health', dict(url=vercel.app_url + '/health', services=['redis'], wait_timeout=0))
    assert_one_line_error(missing, 'redis (missing)')


def test_retries_until_healthy_within_the_deadline(vercel):
    dep = vercel.seed_deployment(health='broken', created_offset_s=-30)
    vercel.clear_requests()
    import threading

    def fix_once_seen_broken():
        # fixed only after the module has read the broken release (a loaded machine may start it late)
        vercel.wait_for(lambda v: [r for r in v.requests(service='app') if '/health' in r['path']], timeout=60)
        vercel.set_health(dep['uid'], 'healthy')

    fixer = threading.Thread(target=fix_once_seen_broken)
    fixer.start()
    try:
        result = run_module('app_health', dict(url=dep['app_base_url'] + '/health', wait_timeout=10, interval=0.3))
    finally:
        fixer.join()
    # it saw the broken release and retried until it was fixed (attempts >= 2); no lower timing
    # bound: on a loaded machine the module may start late
    assert result['healthy'] is True and result['attempts'] >= 2, result
    assert 0 < result['elapsed_s'] < 10


def test_https_timing_and_tls_errors(vercel):
    # the app is served over plain HTTP; the HTTPS API port answers /health with a JSON 404 - enough to time TLS
    result = run_module('app_health', dict(url=vercel.https_url + '/health', ca_path=vercel.ca_path, wait_timeout=0))
    assert result['failed'] and result['timing']['tls_s'] >= result['timing']['connect_s'] > 0, result
    assert result['timing']['first_byte_s'] >= result['timing']['tls_s']
    untrusted = run_module('app_health', dict(url=vercel.https_url + '/health', wait_timeout=0,
                                              ca_path='/etc/ssl/certs/ca-certificates.crt'))
    assert_one_line_error(untrusted, 'TLS handshake', 'ca_path')


def test_unreachable():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    started = time.time()
    result = run_module('app_health', dict(url='http://127.0.0.1:%d/health' % port, wait_timeout=0.5, interval=0.2))
    assert_one_line_error(result, 'Connection refused', 'check the URL')
    assert result['attempts'] >= 2 and time.time() - started < 5


def test_expect_ok_times_any_endpoint(vercel):
    """expect=ok: a non-health endpoint is timed and returned, judged by its HTTP status only."""
    wines = run_module('app_health', dict(url=vercel.app_url + '/api/wines', expect='ok', wait_timeout=0))
    assert wines['healthy'] is True and not wines.get('failed'), wines
    assert wines['http_status'] == 200 and wines['status'] is None and wines['body']['total'] == 2
    assert 0 <= wines['timing']['connect_s'] <= wines['timing']['first_byte_s'] <= wines['timing']['total_s']
    # the same endpoint judged as a health endpoint fails: that is why expect=ok exists
    judged = run_module('app_health', dict(url=vercel.app_url + '/api/wines', wait_timeout=0))
    assert_one_line_error(judged, 'status missing, expected healthy')
    slow = vercel.seed_deployment(health='slow', created_offset_s=-30)
    perf = run_module('app_health', dict(url=slow['app_base_url'] + '/api/monitoring/performance', expect='ok',
                                         wait_timeout=0))
    assert perf['healthy'] is True and perf['body']['responseTime']['p95'] == 2800, perf
    assert perf['timing']['first_byte_s'] >= 0.5
    broken = vercel.seed_deployment(health='broken', created_offset_s=-30)
    failed = run_module('app_health', dict(url=broken['app_base_url'] + '/api/wines', expect='ok', wait_timeout=0))
    assert_one_line_error(failed, 'is not healthy after 1 attempt(s)', 'HTTP 500')
    assert failed['http_status'] == 500 and failed['timing']['total_s'] is not None


def test_base_url_and_path_and_a_full_url_that_wins(vercel):
    origin = vercel.app_url
    joined = run_module('app_health', dict(base_url=origin + '/', path='health', wait_timeout=0))
    assert joined['healthy'] is True and joined['url'] == origin + '/health', joined
    default_path = run_module('app_health', dict(base_url=origin, wait_timeout=0))
    assert default_path['healthy'] is True and default_path['url'] == origin + '/health', default_path
    # url (how the module was called before base_url and path) wins over both
    wins = run_module('app_health', dict(base_url='http://127.0.0.1:1', path='/nope', url=origin + '/health',
                                         wait_timeout=0))
    assert wins['healthy'] is True and wins['url'] == origin + '/health', wins
    # a full URL as the path is requested as it is
    full = run_module('app_health', dict(base_url='http://127.0.0.1:1', path=origin + '/health', wait_timeout=0))
    assert full['healthy'] is True and full['url'] == origin + '/health', full


def test_base_url_falls_back_to_app_url_and_is_required(vercel):
    from_env = run_module('app_health', dict(path='/health', wait_timeout=0), env={'APP_URL': vercel.app_url})
    assert from_env['healthy'] is True and from_env['url'] == vercel.app_url + '/health', from_env
    nothing = run_module('app_health', dict(wait_timeout=0), env={'APP_URL': ''})
    assert_one_line_error(nothing, 'no app URL', 'base_url', 'group/pourtrait.ops.app', 'APP_URL')
    verify = run_module('deployment_verify', dict(count=1, interval=0), env={'APP_URL': ''})
    assert_one_line_error(verify, 'no app URL', 'base_url')


def test_smoke_request_with_method_body_and_statuses(vercel):
    chat = dict(base_url=vercel.app_url, path='/api/ai/chat', method='POST', body={'message': 'health check: reply OK'},
                expect='ok', wait_timeout=0)
    ok = run_module('app_health', dict(chat, status_code=[200]))
    assert ok['healthy'] is True and ok['http_status'] == 200, ok
    wrong = run_module('app_health', dict(chat, status_code=[201, 202]))
    assert_one_line_error(wrong, 'HTTP 200, expected 201 or 202')
    posts = [r for r in vercel.requests(service='app') if r['path'].startswith('/api/ai/chat')]
    assert [r['method'] for r in posts] == ['POST', 'POST'], posts

"""supabase_project_info against the Supabase Management API stand-in (real HTTP, module in a
subprocess): status, per-service health, waiting inside one call, and the shared error cases
(bad token, unknown project, unreachable API, TLS with the sandbox CA)."""

import threading
import time

import pytest

from tests.conftest import assert_one_line_error, run_module

UNKNOWN_REF = 'zzzzzzzzzzzzzzzzzzzz'


def info(supabase, env=None, **args):
    return run_module('supabase_project_info', args, env=dict(supabase.env, **(env or {})))


def later(seconds, func, *args):
    timer = threading.Timer(seconds, func, args)
    timer.start()
    return timer


def test_healthy_project_and_services(supabase):
    result = info(supabase)
    assert not result.get('failed') and result['changed'] is False, result
    assert result['status'] == 'ACTIVE_HEALTHY' and result['healthy'] is True
    assert result['project']['ref'] == supabase.project_ref
    assert result['project']['database']['host']
    assert [s['name'] for s in result['services']] == ['auth', 'db', 'pooler', 'realtime', 'rest', 'storage']
    assert all(s['healthy'] and s['status'] == 'ACTIVE_HEALTHY' for s in result['services'])
    assert result['unhealthy_services'] == [] and result['waited_s'] == 0.0
    health = supabase.requests(path_prefix='/v1/projects/%s/health' % supabase.project_ref)
    assert len(health) == 1 and 'services=db' in health[0]['query']


def test_unhealthy_service_is_reported_with_its_error(supabase):
    supabase.set_service_health('storage', 'UNHEALTHY', error='connect ECONNREFUSED')
    result = info(supabase, services=['db', 'storage'])
    assert not result.get('failed'), result
    assert result['healthy'] is False and result['status'] == 'ACTIVE_HEALTHY'
    assert result['unhealthy_services'] == ['storage']
    storage = [s for s in result['services'] if s['name'] == 'storage'][0]
    assert storage['status'] == 'UNHEALTHY' and storage['error'] == 'connect ECONNREFUSED'
    assert 'storage' in result['msg']


def test_wait_polls_until_healthy_inside_one_call(supabase):
    supabase.set_status('COMING_UP')
    supabase.set_service_health('db', 'COMING_UP')
    timers = [later(0.8, supabase.set_status, 'ACTIVE_HEALTHY'),
              later(1.2, supabase.set_service_health, 'db', 'ACTIVE_HEALTHY')]
    try:
        result = info(supabase, wait=True, wait_timeout=20, poll_interval=0.1)
    finally:
        for timer in timers:
            timer.join()
    assert not result.get('failed'), result
    assert result['healthy'] is True and result['status'] == 'ACTIVE_HEALTHY'
    assert 0 < result['waited_s'] < 10
    # it saw the project coming up and polled (no timing bound: a loaded machine starts the module late)
    assert len(supabase.requests(method='GET', path_prefix='/v1/projects/%s' % supabase.project_ref)) > 3


def test_wait_times_out_with_one_line(supabase):
    supabase.set_status('COMING_UP')
    started = time.time()
    result = info(supabase, wait=True, wait_timeout=1, poll_interval=0.2)
    assert_one_line_error(result, 'still COMING_UP after 1s', 'wait_timeout')
    assert time.time() - started < 10


def test_wait_gives_up_at_once_on_a_paused_project(supabase):
    supabase.set_status('INACTIVE')
    started = time.time()
    result = info(supabase, wait=True, wait_timeout=60, poll_interval=0.2)
    assert_one_line_error(result, 'is INACTIVE', 'waiting will not make it healthy')
    assert time.time() - started < 10


def test_https_with_the_sandbox_ca(supabase):
    result = info(supabase, env={'SUPABASE_API_URL': supabase.https_url})
    assert not result.get('failed') and result['healthy'] is True, result
    refused = info(supabase, env={'SUPABASE_API_URL': supabase.https_url, 'SUPABASE_CA_PATH': ''}, retries=0)
    assert_one_line_error(refused, 'TLS verification', 'ca_path (SUPABASE_CA_PATH)')


def test_bad_token_is_rejected_in_one_line(supabase):
    result = info(supabase, env={'SUPABASE_ACCESS_TOKEN': 'sbp_' + 'f' * 40})
    assert_one_line_error(result, '401: the Supabase access token was rejected; check SUPABASE_ACCESS_TOKEN')
    assert 'f' * 40 not in result['msg']


def test_malformed_token_is_refused_before_any_call_without_echoing_it(supabase):
    token = 'sbp_not-a-real-token-value'
    result = info(supabase, env={'SUPABASE_ACCESS_TOKEN': token})
    assert_one_line_error(result, 'malformed', 'SUPABASE_ACCESS_TOKEN')
    assert token not in result.stdout + result.stderr
    assert supabase.requests() == []


@pytest.mark.parametrize('ref, fragments', [
    (UNKNOWN_REF, ['404: Supabase project %s not found' % UNKNOWN_REF, 'SUPABASE_PROJECT_REF']),
    ('Not-A-Ref', ['is not a Supabase project ref', '20 lowercase letters']),
])
def test_unknown_or_malformed_project_ref(supabase, ref, fragments):
    result = info(supabase, project_ref=ref)
    assert_one_line_error(result, *fragments)


def test_unreachable_api(supabase):
    result = info(supabase, env={'SUPABASE_API_URL': 'http://127.0.0.1:9'}, retries=1)
    assert_one_line_error(result, 'could not be reached after 2 attempts', 'api_url (SUPABASE_API_URL)')


def test_rate_limit_outlasting_retries(supabase):
    supabase.set_rate_limit(limit=1, window_s=60)
    first = info(supabase, services=['db'])
    assert not first.get('failed'), first
    second = info(supabase, services=['db'], retries=0)
    assert_one_line_error(second, '429: Supabase rate limit hit on GET /v1/projects/%s' % supabase.project_ref)

"""Unit tests of plugins/module_utils/supabase.py: token and ref shapes, times, error messages,
backup summaries, the rate-limit and restore behaviour of the client against a tiny real HTTP
server (the scripted one of test_http.py)."""

import importlib
import sys
import time

import pytest
import yaml

from tests.conftest import COLLECTIONS, ensure_collection_link
from tests.unit.plugins.module_utils.test_http import Sleeps, server  # noqa: F401 pylint: disable=unused-import

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils import supabase as s  # noqa: E402

TOKEN = 'sbp_' + '0123456789abcdef' * 2 + '01234567'
REF = 'abcdefghijklmnopqrst'


# -- shapes ------------------------------------------------------------------------------------
def test_token_shape_is_checked_without_echoing_it():
    s.check_token(TOKEN)
    for bad in ('sbp_' + 'g' * 40, 'sbp_' + 'A' * 40, TOKEN + '\n', 'secret-token-value', TOKEN[:-1]):
        with pytest.raises(s.SupabaseError) as info:
            s.check_token(bad)
        msg = str(info.value)
        assert bad.strip() not in msg and '\n' not in msg
        assert 'malformed' in msg and 'SUPABASE_ACCESS_TOKEN' in msg and 'sbp_ followed by 40 hex' in msg
    with pytest.raises(s.SupabaseError) as info:
        s.check_token(None)
    assert 'no Supabase access token' in str(info.value) and 'SUPABASE_ACCESS_TOKEN' in str(info.value)


def test_client_refuses_a_malformed_token_before_any_call():
    with pytest.raises(s.SupabaseError):
        s.SupabaseClient('sbp_short', api_url='http://127.0.0.1:9')


def test_project_ref_shape():
    s.check_ref(REF)
    for bad in ('ABCDEFGHIJKLMNOPQRST', 'abc', 'abcdefghijklmnopqrs1', REF + 'a'):
        with pytest.raises(s.SupabaseError) as info:
            s.check_ref(bad)
        assert '20 lowercase letters' in str(info.value)
    with pytest.raises(s.SupabaseError) as info:
        s.check_ref('')
    assert 'SUPABASE_PROJECT_REF' in str(info.value)


def test_ipv4_addresses_are_checked():
    assert s.check_ipv4(' 203.0.113.10 ') == '203.0.113.10'
    for bad in ('203.0.113.300', '2001:db8::1', 'example.com'):
        with pytest.raises(s.SupabaseError) as info:
            s.check_ipv4(bad)
        assert 'not an IPv4 address' in str(info.value)


# -- times -----------------------------------------------------------------------------------
def test_parse_time_accepts_iso_and_unix():
    assert s.parse_time('2026-01-31T14:00:00Z') == 1769868000
    assert s.parse_time('2026-01-31T15:00:00+01:00') == 1769868000
    assert s.parse_time('2026-01-31 14:00:00') == 1769868000
    assert s.parse_time('1769868000') == 1769868000
    assert s.parse_time(1769868000000) == 1769868000
    with pytest.raises(s.SupabaseError) as info:
        s.parse_time('yesterday')
    assert 'ISO 8601' in str(info.value) and 'unix seconds' in str(info.value)


def test_api_times_with_any_fraction():
    assert s.parse_api_time('2026-01-31T14:00:00.5Z') == 1769868000.5
    assert s.parse_api_time('2026-01-31T14:00:00Z') == 1769868000
    assert s.parse_api_time('garbage') is None


def test_rate_limit_reset_means_milliseconds_or_an_epoch():
    now = 1769868000.0
    assert s.rate_limit_wait('1500', now=now) == 1.5
    assert s.rate_limit_wait(str(int(now) + 7), now=now) == 7
    assert s.rate_limit_wait(str(int(now * 1000) + 2500), now=now) == 2.5
    assert s.rate_limit_wait('nonsense') is None


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize('status,body,fragments', [
    (401, {'message': 'Unauthorized'}, ['401: the Supabase access token was rejected; check SUPABASE_ACCESS_TOKEN']),
    (403, {'message': 'Forbidden'}, ['403', 'access to the project']),
    (404, {'message': 'Project not found'}, ['404', 'SUPABASE_PROJECT_REF', 'Project not found']),
    (429, {'message': 'ThrottlerException: Too Many Requests'}, ['429', 'rate limit', 'raise retries']),
    (503, None, ['503', 'status.supabase.com']),
    (400, {'message': 'bad\nthing'}, ['400', 'bad thing']),
])
def test_error_messages_say_what_failed_and_what_to_do(status, body, fragments):
    msg = s.describe_supabase_error(status, body, 'GET', '/v1/projects/%s?x=1' % REF)
    assert '\n' not in msg
    for fragment in fragments:
        assert fragment in msg, msg


# -- backups -----------------------------------------------------------------------------------
def test_backup_summary_orders_and_finds_the_newest_completed():
    now = 1769868000.0
    data = {'region': 'eu', 'pitr_enabled': True, 'walg_enabled': True,
            'backups': [{'id': 1, 'status': 'COMPLETED', 'is_physical_backup': True, 'inserted_at': '2026-01-30T14:00:00.000Z'},
                        {'id': 2, 'status': 'FAILED', 'is_physical_backup': True, 'inserted_at': '2026-01-31T12:00:00.000Z'},
                        {'id': 3, 'status': 'COMPLETED', 'is_physical_backup': True, 'inserted_at': '2026-01-31T02:00:00Z'}],
            'physical_backup_data': {'earliest_physical_backup_date_unix': now - 86400,
                                     'latest_physical_backup_date_unix': now}}
    info = s.summarize_backups(data, now=now)
    assert [b['id'] for b in info['backups']] == [2, 3, 1]
    assert info['latest_completed']['id'] == 3 and info['latest_completed_age_hours'] == 12.0
    assert info['completed_count'] == 2 and info['count'] == 3
    assert info['recoverable_window'] == {'earliest_unix': int(now - 86400), 'latest_unix': int(now),
                                          'earliest': '2026-01-30T14:00:00Z', 'latest': '2026-01-31T14:00:00Z',
                                          'hours': 24.0}
    empty = s.summarize_backups({'pitr_enabled': False, 'backups': [], 'physical_backup_data': {}}, now=now)
    assert empty['latest_completed'] is None and empty['recoverable_window'] is None and not empty['pitr_enabled']


# -- the client over HTTP ------------------------------------------------------------------------
def client(server, sleeps=None, **kwargs):  # noqa: F811
    kwargs.setdefault('retries', 3)
    kwargs.setdefault('timeout', 5)
    return s.SupabaseClient(TOKEN, api_url=server.url, sleep=sleeps if sleeps is not None else Sleeps(), **kwargs)


def test_x_ratelimit_reset_is_honoured_when_there_is_no_retry_after(server):  # noqa: F811
    path = '/v1/projects/%s' % REF
    server.add('GET', path, (429, {'message': 'ThrottlerException: Too Many Requests'}, {'X-RateLimit-Reset': '2000'}),
               (200, {'ref': REF, 'status': 'ACTIVE_HEALTHY'}, {}))
    sleeps = Sleeps()
    assert client(server, sleeps).project(REF)['status'] == 'ACTIVE_HEALTHY'
    assert len(sleeps) == 1 and sleeps[0] >= 2.0
    sent = [r for r in server.log if r[1] == path]
    assert len(sent) == 2 and sent[0][3]['Authorization'] == 'Bearer ' + TOKEN


def test_rate_limit_outlasting_retries_is_one_line(server):  # noqa: F811
    path = '/v1/projects/%s/database/backups' % REF
    server.add('GET', path, (429, {'message': 'ThrottlerException: Too Many Requests'}, {'Retry-After': '0'}))
    with pytest.raises(s.SupabaseError) as info:
        client(server, retries=2).backups(REF)
    msg = str(info.value)
    assert msg.startswith('429: Supabase rate limit hit on GET %s' % path) and 'after 3 attempts' in msg
    assert '\n' not in msg and TOKEN not in msg


def test_unknown_project_and_rejected_token(server):  # noqa: F811
    server.add('GET', '/v1/projects/%s' % REF, (404, {'message': 'Project not found'}, {}))
    with pytest.raises(s.SupabaseError) as info:
        client(server).project(REF)
    assert str(info.value).startswith('404: Supabase project %s not found' % REF)
    server.add('GET', '/v1/projects/%s/health' % REF, (401, {'message': 'Unauthorized'}, {}))
    with pytest.raises(s.SupabaseError) as info:
        client(server).health(REF)
    assert str(info.value).startswith('401: the Supabase access token was rejected; check SUPABASE_ACCESS_TOKEN')
    assert len([r for r in server.log if r[1].startswith('/v1/projects/%s/health' % REF)]) == 1  # no retries


def test_unreachable_api_is_one_line():
    c = s.SupabaseClient(TOKEN, api_url='http://127.0.0.1:9', retries=1, sleep=Sleeps())
    with pytest.raises(s.SupabaseError) as info:
        c.project(REF)
    msg = str(info.value)
    assert 'could not be reached after 2 attempts' in msg and 'SUPABASE_API_URL' in msg and '\n' not in msg


def test_lost_restore_answer_is_settled_by_the_project_status_not_a_second_post(server):  # noqa: F811
    restore = '/v1/projects/%s/database/backups/restore-pitr' % REF
    server.add('POST', restore, 'reset', (201, None, {}))
    server.add('GET', '/v1/projects/%s' % REF, (200, {'ref': REF, 'status': 'RESTORING'}, {}))
    resp = client(server).restore_pitr(REF, 1769868000)
    assert resp.reconciled is True
    posts = [r for r in server.log if r[0] == 'POST']
    assert len(posts) == 1 and posts[0][4] == b'{"recovery_time_target_unix": 1769868000}'


def test_restore_rejected_before_processing_is_sent_again(server):  # noqa: F811
    restore = '/v1/projects/%s/database/backups/restore' % REF
    server.add('POST', restore, (503, {'message': 'Service Unavailable'}, {'Retry-After': '0'}), (201, None, {}))
    server.add('GET', '/v1/projects/%s' % REF, (200, {'ref': REF, 'status': 'ACTIVE_HEALTHY'}, {}))
    sleeps = Sleeps()
    resp = client(server, sleeps).restore_physical(REF, 7)
    assert resp.status == 201 and not resp.reconciled
    assert len([r for r in server.log if r[0] == 'POST']) == 2
    # it looked at the status for the grace period before sending again
    assert len([r for r in server.log if r[0] == 'GET']) >= 2


def test_wait_healthy_fails_at_once_on_a_dead_state_and_after_the_timeout(server):  # noqa: F811
    server.add('GET', '/v1/projects/%s' % REF, (200, {'ref': REF, 'status': 'RESTORE_FAILED'}, {}))
    with pytest.raises(s.SupabaseError) as info:
        client(server).wait_healthy(REF, 60, 0.01, check_services=False, what='the restore')
    assert 'the restore is RESTORE_FAILED' in str(info.value)
    server.steps.clear()
    server.add('GET', '/v1/projects/%s' % REF, (200, {'ref': REF, 'status': 'COMING_UP'}, {}))
    started = time.time()
    with pytest.raises(s.SupabaseError) as info:
        client(server, sleeps=time.sleep).wait_healthy(REF, 0.3, 0.05, check_services=False)
    assert 'still COMING_UP after 0.3s' in str(info.value) and time.time() - started < 3


# -- the doc fragment documents exactly the argument spec ---------------------------------------------
def test_doc_fragment_matches_the_argument_spec():
    module = importlib.import_module('ansible_collections.pourtrait.ops.plugins.doc_fragments.supabase')
    doc = yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)
    shared = importlib.import_module('ansible_collections.pourtrait.ops.plugins.doc_fragments.http_client')
    doc['options'].update(yaml.safe_load(shared.ModuleDocFragment.DOCUMENTATION)['options'])
    spec = s.supabase_argument_spec()
    assert sorted(doc['options']) == sorted(spec)
    for name, option in spec.items():
        documented = doc['options'][name]
        assert documented.get('type', 'str') == option.get('type', 'str'), name
        assert documented.get('default') == option.get('default'), name
        assert sorted(documented.get('aliases') or []) == sorted(option.get('aliases') or []), name
    assert spec['access_token']['no_log'] is True
    assert all(isinstance(d, str) for opt in doc['options'].values() for d in opt['description'])

"""The Supabase Management API stand-in behaves like the real API where our modules depend on it."""

import datetime
import re
import ssl
import time
import urllib.error
import urllib.request

import pytest
import requests

from tests.sandbox.supabase_api import BACKUPS, BANS, HEALTH, PHYSICAL, PITR, PROJECT, QUERY, SECRETS, SERVICES


def ok(result, status=200):
    code, body, _headers = result
    assert code == status, (code, body)
    return body


def error(result, status, *fragments):
    """The answer is ``status`` with a ``{"message": ...}`` body containing each fragment; the message."""
    code, body, _headers = result
    assert code == status, (code, body)
    assert isinstance(body, dict) and set(body) == {'message'} and body['message'], body
    for fragment in fragments:
        assert fragment in body['message'], (fragment, body['message'])
    return body['message']


def project_status(sb):
    return ok(sb.api('GET', PROJECT))['status']


def health(sb, *names):
    return ok(sb.api('GET', HEALTH, params={'services': list(names or SERVICES)}))


# -- default state, auth, errors -----------------------------------------------------------------
def test_default_state(supabase):
    assert re.match(r'^sbp_[0-9a-f]{40}$', supabase.token)
    assert re.match(r'^[a-z]{20}$', supabase.project_ref)
    assert supabase.env == {'SUPABASE_API_URL': supabase.api_url, 'SUPABASE_API_URL_HTTPS': supabase.https_url,
                            'SUPABASE_CA_PATH': supabase.ca_path, 'SUPABASE_ACCESS_TOKEN': supabase.token,
                            'SUPABASE_PROJECT_REF': supabase.project_ref}
    proj = ok(supabase.api('GET', PROJECT))
    assert proj == supabase.project()
    assert proj['ref'] == proj['id'] == supabase.project_ref and proj['status'] == 'ACTIVE_HEALTHY'
    assert proj['database']['host'] == 'db.%s.supabase.co' % supabase.project_ref
    answer = health(supabase)
    assert [s['name'] for s in answer] == list(SERVICES)
    assert all(s['status'] == 'ACTIVE_HEALTHY' and s['healthy'] is True and 'error' not in s for s in answer)
    backups = ok(supabase.api('GET', BACKUPS))
    assert backups['pitr_enabled'] is True and backups['walg_enabled'] is True
    assert len(backups['backups']) == 7 and all(b['status'] == 'COMPLETED' and b['is_physical_backup']
                                                for b in backups['backups'])
    newest = max(datetime.datetime.fromisoformat(b['inserted_at'].replace('Z', '+00:00')).timestamp()
                 for b in backups['backups'])
    assert 0 < time.time() - newest < 24 * 3600
    window = backups['physical_backup_data']
    now = time.time()
    assert abs(window['earliest_physical_backup_date_unix'] - (now - 7 * 86400)) < 60
    assert abs(window['latest_physical_backup_date_unix'] - now) < 60
    assert len(ok(supabase.api('POST', BANS + '/retrieve'), 201)['banned_ipv4_addresses']) == 2
    assert supabase.bans() == ok(supabase.api('POST', BANS + '/retrieve'), 201)['banned_ipv4_addresses']
    assert supabase.restores() == []
    assert sorted(supabase.secrets()) == ['SUPABASE_ANON_KEY', 'SUPABASE_DB_URL', 'SUPABASE_SERVICE_ROLE_KEY',
                                          'SUPABASE_URL']


def test_auth_unknown_ref_and_unknown_paths(supabase):
    for token in ('', 'sbp_' + 'a' * 40, 'not-a-pat', supabase.token.upper()):
        assert error(supabase.api('GET', PROJECT, token=token), 401) == 'Unauthorized'
    code, _body, _hdrs = supabase.api('GET', PROJECT, headers={'Authorization': 'Basic ' + supabase.token})
    assert code == 401
    other = 'abcdefghijklmnopqrst' if supabase.project_ref != 'abcdefghijklmnopqrst' else 'bcdefghijklmnopqrstu'
    for method, path in (('GET', '/v1/projects/%s' % other), ('GET', '/v1/projects/%s/database/backups' % other),
                         ('POST', '/v1/projects/%s/database/query' % other), ('GET', '/v1/projects/nope')):
        assert error(supabase.api(method, path, {'query': 'select 1'} if method == 'POST' else None),
                     404) == 'Project not found'
    assert error(supabase.api('GET', PROJECT + '/functions'), 404) == 'Cannot GET /v1/projects/%s/functions' \
        % supabase.project_ref
    error(supabase.api('PUT', SECRETS, []), 404, 'Cannot PUT')
    # nothing of the above reached the project
    assert supabase.restores() == [] and len(supabase.secrets()) == 4


def test_status_set_by_admin_and_reset_restores_the_defaults(supabase):
    for status in ('ACTIVE_UNHEALTHY', 'INACTIVE', 'UPGRADING', 'PAUSING', 'RESTARTING', 'COMING_UP'):
        supabase.set_status(status)
        assert project_status(supabase) == status == supabase.project()['status']
    with pytest.raises(AssertionError):
        supabase.set_status('SLEEPY')
    supabase.set_service_health('db', 'UNHEALTHY', error='connection refused')
    supabase.set_bans(['192.0.2.1'])
    supabase.set_backups(pitr_enabled=False)
    supabase.admin('POST', '/reset', {})
    assert project_status(supabase) == 'ACTIVE_HEALTHY'
    assert health(supabase, 'db')[0]['status'] == 'ACTIVE_HEALTHY'
    assert len(supabase.bans()) == 2 and supabase.backups()['pitr_enabled'] is True
    assert supabase.project()['ref'] == supabase.project_ref  # the same ref after every reset


# -- health --------------------------------------------------------------------------------------
def test_health_answers_the_services_asked_in_order(supabase):
    answer = health(supabase, 'rest', 'db', 'auth', 'db')
    assert [s['name'] for s in answer] == ['rest', 'db', 'auth']
    assert answer[0]['info'] == {'db_schema': 'public,graphql_public'}
    assert answer[2]['info']['name'] == 'GoTrue'
    supabase.set_service_health('db', 'UNHEALTHY', error='password authentication failed')
    supabase.set_service_health('pooler', 'COMING_UP')
    supabase.set_service_health('storage', 'UNHEALTHY')
    got = dict((s['name'], s) for s in health(supabase))
    assert got['db'] == {'name': 'db', 'healthy': False, 'status': 'UNHEALTHY',
                         'error': 'password authentication failed'}
    assert got['pooler']['status'] == 'COMING_UP' and got['pooler']['healthy'] is False
    assert got['storage']['status'] == 'UNHEALTHY' and got['storage']['error']
    assert got['auth']['status'] == 'ACTIVE_HEALTHY'
    ok(supabase.api('GET', HEALTH, params={'services': ['db'], 'timeout_ms': 2000}))


def test_health_rejects_missing_or_unknown_services(supabase):
    error(supabase.api('GET', HEALTH), 400, 'services', 'auth, db, db_postgres_user')
    error(supabase.api('GET', HEALTH, params={'services': ''}), 400, 'services')
    error(supabase.api('GET', HEALTH, params={'services': ['db', 'edge_functions']}), 400, "'edge_functions'")
    error(supabase.api('GET', HEALTH, params={'services': 'db,auth'}), 400, "'db,auth'")
    error(supabase.api('GET', HEALTH, params={'services': 'db', 'timeout_ms': 20000}), 400, 'timeout_ms')


# -- restores ------------------------------------------------------------------------------------
def test_pitr_restore_goes_through_restoring_and_back(supabase):
    supabase.set_timings(restoring_s=1.5, coming_up_s=0.3)
    target = int(time.time()) - 3600
    code, body, _hdrs = supabase.api('POST', PITR, {'recovery_time_target_unix': target})
    assert code == 201 and body is None
    assert project_status(supabase) == 'RESTORING'
    assert all(s['status'] == 'COMING_UP' for s in health(supabase))
    restore = supabase.restores()
    assert [(r['kind'], r['recovery_time_target_unix'], r['status']) for r in restore] == [('pitr', target,
                                                                                            'RESTORING')]
    assert abs(restore[0]['requested_at'] - time.time()) < 5
    # a second restore while this one runs is refused
    error(supabase.api('POST', PITR, {'recovery_time_target_unix': target}), 400, 'RESTORING')
    seen = set()

    def settled(sb):
        status = project_status(sb)
        seen.add(status)
        return status == 'ACTIVE_HEALTHY'
    supabase.wait_for(settled, timeout=5)
    assert {'RESTORING', 'ACTIVE_HEALTHY'} <= seen
    done = supabase.restores()[0]
    assert done['status'] == 'COMPLETED' and done['completed_at'] >= done['requested_at'] + 1.75
    assert len(supabase.restores()) == 1
    assert all(s['status'] == 'ACTIVE_HEALTHY' for s in health(supabase))


def test_default_restore_timing_is_fast(supabase):
    ok(supabase.api('POST', PITR, {'recovery_time_target_unix': int(time.time()) - 60}), 201)
    started = time.time()
    supabase.wait_for(lambda sb: project_status(sb) == 'ACTIVE_HEALTHY', timeout=3)
    assert time.time() - started < 1.5


def test_pitr_refusals_change_nothing(supabase):
    now = int(time.time())
    for body in ({}, {'recovery_time_target_unix': 'yesterday'}, {'recovery_time_target_unix': -5},
                 {'recovery_time_target_unix': True}):
        error(supabase.api('POST', PITR, body), 400, 'recovery_time_target_unix')
    error(supabase.api('POST', PITR, {'recovery_time_target_unix': now - 8 * 86400}), 400, 'outside the recovery window')
    error(supabase.api('POST', PITR, {'recovery_time_target_unix': now + 3600}), 400, 'outside the recovery window')
    supabase.set_backups(pitr_enabled=True, earliest_unix=now - 7200, latest_unix=now - 3600)
    assert supabase.backups()['physical_backup_data'] == {'earliest_physical_backup_date_unix': now - 7200,
                                                          'latest_physical_backup_date_unix': now - 3600}
    error(supabase.api('POST', PITR, {'recovery_time_target_unix': now - 60}), 400, str(now - 3600))
    supabase.set_backups(pitr_enabled=False)
    assert ok(supabase.api('GET', BACKUPS))['physical_backup_data'] == {}
    error(supabase.api('POST', PITR, {'recovery_time_target_unix': now - 60}), 400,
          'Point-in-time recovery is not enabled', '/database/backups/restore')
    supabase.set_backups()
    supabase.set_status('INACTIVE')
    error(supabase.api('POST', PITR, {'recovery_time_target_unix': now - 60}), 400, 'INACTIVE')
    assert supabase.restores() == [] and supabase.project()['status'] == 'INACTIVE'


def test_physical_restore_and_custom_backups(supabase):
    now = int(time.time())
    listed = supabase.set_backups(pitr_enabled=False, walg_enabled=True, backups=[
        {'id': 11, 'inserted_at': now - 3 * 86400},
        {'id': 12, 'inserted_at': '2026-01-02T03:04:05Z', 'status': 'FAILED'},
        {'id': 13, 'inserted_at': now - 3600, 'is_physical_backup': False}])
    assert listed == ok(supabase.api('GET', BACKUPS))
    assert [b['id'] for b in listed['backups']] == [13, 11, 12]  # newest first
    assert listed['backups'][2]['inserted_at'] == '2026-01-02T03:04:05.000Z'
    error(supabase.api('POST', PHYSICAL, {'id': 99}), 404, 'Backup 99 not found')
    error(supabase.api('POST', PHYSICAL, {'id': 12}), 400, 'FAILED')
    error(supabase.api('POST', PHYSICAL, {'id': '11'}), 400, 'id must be an integer')
    error(supabase.api('POST', PHYSICAL, {}), 400, 'id must be an integer')
    assert supabase.restores() == []
    supabase.set_timings(restoring_s=1)
    code, body, _hdrs = supabase.api('POST', PHYSICAL, {'id': 11})
    assert code == 201 and body is None
    assert project_status(supabase) == 'RESTORING'
    [record] = supabase.restores()
    assert record['kind'] == 'physical' and record['id'] == 11 and record['status'] == 'RESTORING'
    supabase.wait_for(lambda sb: project_status(sb) == 'ACTIVE_HEALTHY', timeout=5)
    assert supabase.restores()[0]['status'] == 'COMPLETED'
    supabase.set_backups(backups=[])
    assert ok(supabase.api('GET', BACKUPS))['backups'] == []


def test_a_restore_can_be_made_to_fail(supabase):
    supabase.fail_next_restore()
    ok(supabase.api('POST', PITR, {'recovery_time_target_unix': int(time.time()) - 60}), 201)
    supabase.wait_for(lambda sb: project_status(sb) == 'RESTORE_FAILED', timeout=5)
    assert supabase.restores()[0]['status'] == 'FAILED'
    error(supabase.api('POST', PITR, {'recovery_time_target_unix': int(time.time()) - 60}), 400, 'RESTORE_FAILED')


def test_setting_the_status_ends_a_restore_in_progress(supabase):
    supabase.set_timings(restoring_s=30)
    ok(supabase.api('POST', PHYSICAL, {'id': supabase.backups()['backups'][0]['id']}), 201)
    assert project_status(supabase) == 'RESTORING'
    supabase.set_status('RESTORE_FAILED')
    assert project_status(supabase) == 'RESTORE_FAILED' and supabase.restores()[0]['status'] == 'FAILED'


# -- secrets -------------------------------------------------------------------------------------
def test_secrets_are_listed_as_digests_and_changed_in_bulk(supabase):
    code, body, _hdrs = supabase.api('POST', SECRETS, [{'name': 'OPENAI_API_KEY', 'value': 'sk-one'},
                                                       {'name': 'RESEND_API_KEY', 'value': 're_two'}])
    assert code == 201 and body is None
    assert supabase.secrets()['OPENAI_API_KEY'] == 'sk-one'
    listed = dict((s['name'], s) for s in ok(supabase.api('GET', SECRETS)))
    assert listed['OPENAI_API_KEY']['value'] == supabase.digest('sk-one') != 'sk-one'
    assert listed['SUPABASE_URL']['value'] == supabase.digest(supabase.secrets()['SUPABASE_URL'])
    assert set(listed['RESEND_API_KEY']) == {'name', 'value', 'updated_at'}
    ok(supabase.api('POST', SECRETS, [{'name': 'OPENAI_API_KEY', 'value': 'sk-rotated'}]), 201)
    assert supabase.secrets()['OPENAI_API_KEY'] == 'sk-rotated'
    code, body, _hdrs = supabase.api('DELETE', SECRETS, ['RESEND_API_KEY', 'NEVER_SET'])
    assert code == 200 and body is None
    assert 'RESEND_API_KEY' not in supabase.secrets() and 'OPENAI_API_KEY' in supabase.secrets()


def test_reserved_or_malformed_secrets_are_refused_whole(supabase):
    before = supabase.secrets()
    error(supabase.api('POST', SECRETS, [{'name': 'FINE', 'value': 'x'}, {'name': 'SUPABASE_URL', 'value': 'y'}]),
          400, 'SUPABASE_')
    error(supabase.api('POST', SECRETS, [{'name': 'FINE'}]), 400)
    error(supabase.api('POST', SECRETS, {'name': 'FINE', 'value': 'x'}), 400, 'array')
    error(supabase.api('POST', SECRETS, [{'name': 'X' * 257, 'value': 'x'}]), 400, '256')
    error(supabase.api('DELETE', SECRETS, ['SUPABASE_DB_URL']), 400, 'SUPABASE_')
    error(supabase.api('DELETE', SECRETS, {'names': ['FINE']}), 400)
    assert supabase.secrets() == before


# -- network bans --------------------------------------------------------------------------------
def test_network_bans(supabase):
    supabase.set_bans(['203.0.113.9', '198.51.100.1', '192.0.2.55'])
    assert ok(supabase.api('POST', BANS + '/retrieve'), 201) == {
        'banned_ipv4_addresses': ['203.0.113.9', '198.51.100.1', '192.0.2.55']}
    code, body, _hdrs = supabase.api('DELETE', BANS, {'ipv4_addresses': ['203.0.113.9', '10.9.9.9']})
    assert code == 200 and body is None
    assert supabase.bans() == ['198.51.100.1', '192.0.2.55']
    error(supabase.api('DELETE', BANS, {'ipv4_addresses': ['not-an-ip']}), 400, "'not-an-ip'")
    error(supabase.api('DELETE', BANS, {}), 400, 'ipv4_addresses')
    assert supabase.bans() == ['198.51.100.1', '192.0.2.55']
    supabase.set_bans(['127.0.0.1', '192.0.2.55'])
    ok(supabase.api('DELETE', BANS, {'ipv4_addresses': [], 'requester_ip': True}))
    assert supabase.bans() == ['192.0.2.55']


# -- SQL -----------------------------------------------------------------------------------------
def test_query_runs_on_the_sandbox_postgresql(supabase):
    rows = supabase.query("select count(*) as wines, 'x'::text as t, 1.5::numeric as n, null as z from wines")
    assert rows == [{'wines': rows[0]['wines'], 't': 'x', 'n': 1.5, 'z': None}] and rows[0]['wines'] > 0
    assert supabase.query('select 1 as a; select 2 as b') == [{'b': 2}]
    assert supabase.query('create temp table t1 (a int)') == []
    name = 'sb_standin_%d' % int(time.time() * 1000)
    try:
        assert supabase.query('create table %s (a int primary key)' % name) == []
        assert supabase.query('insert into %s values (1), (2) returning a' % name) == [{'a': 1}, {'a': 2}]
        # one request is one implicit transaction: a failing statement undoes the others
        error(supabase.api('POST', QUERY, {'query': 'insert into %s values (3); select 1/0' % name}), 400,
              'Failed to run sql query: ERROR:  22012: division by zero')
        assert supabase.query('select a from %s order by a' % name, read_only=True) == [{'a': 1}, {'a': 2}]
        error(supabase.api('POST', QUERY, {'query': 'delete from %s' % name, 'read_only': True}), 400,
              '25006', 'read-only transaction')
        assert len(supabase.query('select * from %s' % name)) == 2
        rows = ok(supabase.api('POST', QUERY, {'query': 'select a from %s where a = $1' % name, 'parameters': [2]}),
                  201)
        assert rows == [{'a': 2}]
    finally:
        supabase.query('drop table if exists %s' % name)


def test_query_errors(supabase):
    message = error(supabase.api('POST', QUERY, {'query': 'select * from no_such_table'}), 400,
                    'Failed to run sql query: ERROR:  42P01: relation "no_such_table" does not exist')
    assert 'LINE 1' in message
    error(supabase.api('POST', QUERY, {'query': 'selec 1'}), 400, '42601', 'syntax error')
    error(supabase.api('POST', QUERY, {'query': ''}), 400, 'query')
    error(supabase.api('POST', QUERY, {}), 400, 'query')
    error(supabase.api('POST', QUERY, {'query': 'select 1', 'read_only': 'yes'}), 400, 'read_only')


def test_query_can_be_pointed_at_a_test_database(supabase, db):
    db.query('create table only_here (a int)')
    supabase.set_database(db.url)
    assert supabase.query('select count(*) as n from only_here') == [{'n': 0}]
    supabase.set_database(None)
    error(supabase.api('POST', QUERY, {'query': 'select count(*) from only_here'}), 400, '42P01')
    supabase.set_database(db.url)
    supabase.admin('POST', '/reset', {})
    assert supabase.state()['database_url'].endswith('/supabase_sandbox')


# -- rate limit, faults, log, TLS ----------------------------------------------------------------
def test_rate_limit_is_per_endpoint_with_headers(supabase):
    code, _body, headers = supabase.api('GET', PROJECT)
    assert code == 200 and headers['X-RateLimit-Limit'] == '120' and headers['X-RateLimit-Remaining'] == '119'
    assert 0 < int(headers['X-RateLimit-Reset']) <= 60000
    supabase.set_rate_limit(limit=3, window_s=1.5)
    remaining = [supabase.api('GET', PROJECT)[2]['X-RateLimit-Remaining'] for _i in range(3)]
    assert remaining == ['2', '1', '0']
    code, body, headers = supabase.api('GET', PROJECT)
    assert code == 429 and body == {'message': 'ThrottlerException: Too Many Requests'}
    assert headers['X-RateLimit-Limit'] == '3' and headers['X-RateLimit-Remaining'] == '0'
    assert 0 < int(headers['X-RateLimit-Reset']) <= 1500 and headers['Retry-After'] in ('1', '2')
    assert ok(supabase.api('GET', BACKUPS))  # another endpoint has its own budget
    for _i in range(3):
        ok(supabase.api('POST', SECRETS, [{'name': 'COUNT', 'value': str(_i)}]), 201)
    error(supabase.api('POST', SECRETS, [{'name': 'COUNT', 'value': 'limited'}]), 429)
    assert supabase.secrets()['COUNT'] == '2'  # a throttled call changes nothing
    time.sleep(1.6)
    ok(supabase.api('GET', PROJECT))


def test_injected_faults_speak_supabase_and_spare_other_services(supabase, vercel):
    supabase.set_faults(rate=1.0, kinds=['429'], retry_after='3')
    code, body, headers = supabase.api('GET', PROJECT)
    assert code == 429 and set(body) == {'message'}
    assert headers['Retry-After'] == '3' and headers['X-RateLimit-Remaining'] == '0'
    assert headers['X-RateLimit-Limit'] == '120' and headers['X-RateLimit-Reset'] == '3000'
    assert vercel.api('GET', '/v2/user', team=False)[0] == 200
    supabase.set_faults(rate=1.0, kinds=['500'], when='after', methods=['POST'])
    error(supabase.api('POST', SECRETS, [{'name': 'AFTER', 'value': 'v'}]), 500)
    assert supabase.secrets()['AFTER'] == 'v'  # the change happened, its answer was lost
    supabase.set_faults(rate=1.0, kinds=['503'], when='before', methods=['POST'])
    error(supabase.api('POST', SECRETS, [{'name': 'BEFORE', 'value': 'v'}]), 503)
    assert 'BEFORE' not in supabase.secrets()
    supabase.set_faults(rate=1.0, kinds=['reset'])
    with pytest.raises(requests.ConnectionError):
        requests.get(supabase.api_url + '/v1/projects/' + supabase.project_ref,
                     headers={'Authorization': 'Bearer ' + supabase.token}, timeout=5)
    supabase.clear_faults()
    log = supabase.requests()
    assert [(e['method'], e['status'], e['faulted']) for e in log] == [
        ('GET', 429, '429'), ('POST', 500, '500'), ('POST', 503, '503'), ('GET', None, 'reset')]
    assert all(e['service'] == 'supabase' for e in log)
    assert len(supabase.requests(method='POST', path_prefix='/v1/projects/')) == 2


def test_faults_are_deterministic_for_a_seed(supabase):
    def run():
        supabase.set_faults(rate=0.5, kinds=['500', '502', '503'], seed=3)
        codes = [supabase.api('GET', PROJECT)[0] for _i in range(10)]
        supabase.project()  # admin: never faulted
        return codes
    first, second = run(), run()
    assert first == second and 200 in first and set(first) - {200}


def test_https_with_the_shared_ca(supabase, vercel):
    assert supabase.ca_path == vercel.ca_path
    assert ok(supabase.api('GET', PROJECT, https=True))['ref'] == supabase.project_ref
    resp = requests.get(supabase.https_url + '/v1/projects/' + supabase.project_ref,
                        headers={'Authorization': 'Bearer ' + supabase.token}, verify=supabase.ca_path, timeout=5)
    assert resp.status_code == 200
    with pytest.raises(urllib.error.URLError) as info:
        urllib.request.urlopen(supabase.https_url + '/v1/projects/x', context=ssl.create_default_context(), timeout=5)
    assert 'CERTIFICATE_VERIFY_FAILED' in str(info.value)

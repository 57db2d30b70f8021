"""Contract tests of the Supabase stand-in's security endpoints (tests/sandbox/supabase_security.py): the
database password, API keys and logs.all, each answer validated against Supabase's OpenAPI spec with the
checks of test_supabase_contract.py (errors are ``{"message"}`` with a listed or generic status)."""

import datetime
import time

import psycopg2
import pytest

from tests.contract.test_supabase_contract import SPEC_PATH, call, check
from tests.contract.test_vercel_contract import load_spec
from tests.db_roles import scratch_login_role
from tests.fixtures_standins import SUPABASE_DATABASE
from tests.sandbox.supabase_security import API_KEY, API_KEYS, LEGACY, LOGS, PASSWORD


@pytest.fixture(scope='module')
def spec():
    return load_spec(SPEC_PATH)


def iso(unix):
    return datetime.datetime.fromtimestamp(unix, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def test_database_password_really_changes_the_role(spec, supabase, pg_server):
    with scratch_login_role(pg_server, SUPABASE_DATABASE) as (role, old, url):
        supabase.set_database(url)
        kept = psycopg2.connect(url)
        try:
            check(spec, call(supabase, 'PATCH', PASSWORD, {'password': 'abc'}), PASSWORD, 'PATCH', 400)
            check(spec, call(supabase, 'PATCH', PASSWORD, {}), PASSWORD, 'PATCH', 400)
            body = check(spec, call(supabase, 'PATCH', PASSWORD, {'password': 'N3w-pass_word'}), PASSWORD, 'PATCH',
                         200)
            assert body['message']
            kwargs = dict(host='127.0.0.1', port=pg_server.port, user=role, dbname=SUPABASE_DATABASE)
            psycopg2.connect(password='N3w-pass_word', **kwargs).close()
            with pytest.raises(psycopg2.OperationalError, match='password authentication failed'):
                psycopg2.connect(password=old, **kwargs)
            with kept.cursor() as cur:  # a session already connected stays connected
                cur.execute('select 1')
                assert cur.fetchone() == (1,)
            # the stand-in's own SQL endpoint follows the new password
            assert supabase.query('select current_user as who') == [{'who': role}]
            assert supabase.admin('GET', '/supabase/database_password')['changes'][0]['role'] == role
            stats = pg_server.execute('select count(*) from extensions.pg_stat_statements where query like %s',
                                      dbname=SUPABASE_DATABASE, params=('%N3w-pass%',))
            assert stats[0][0] == 0  # only a SCRAM verifier went to the server
        finally:
            kept.close()
            supabase.set_database(None)
    supabase.set_database('postgresql://nobody:x@127.0.0.1:1/none')
    check(spec, call(supabase, 'PATCH', PASSWORD, {'password': 'whatever-long'}), PASSWORD, 'PATCH', 500)


def test_api_keys(spec, supabase):
    keys = check(spec, call(supabase, 'GET', API_KEYS), API_KEYS, 'GET', 200)
    assert [(k['name'], k['type']) for k in keys] == [('anon', 'legacy'), ('service_role', 'legacy'),
                                                      ('default', 'publishable'), ('default', 'secret')]
    secret = keys[3]
    assert '\u2022' in secret['api_key'] and secret['api_key'].startswith(secret['prefix'])
    revealed = check(spec, call(supabase, 'GET', API_KEYS, params={'reveal': 'true'}), API_KEYS, 'GET', 200)
    assert revealed[3]['api_key'].startswith('sb_secret_') and '\u2022' not in revealed[3]['api_key']
    made = check(spec, call(supabase, 'POST', API_KEYS, {'type': 'secret', 'name': 'app_server', 'description': 'x'},
                            params={'reveal': 'true'}), API_KEYS, 'POST', 201)
    assert made['api_key'].startswith('sb_secret_')
    check(spec, call(supabase, 'POST', API_KEYS, {'type': 'secret', 'name': 'app_server'}), API_KEYS, 'POST', 400)
    check(spec, call(supabase, 'POST', API_KEYS, {'type': 'legacy', 'name': 'abcd'}), API_KEYS, 'POST', 400)
    check(spec, call(supabase, 'POST', API_KEYS, {'type': 'secret', 'name': 'Bad-Name'}), API_KEYS, 'POST', 400)
    one = API_KEY.replace('{id}', made['id'])
    check(spec, call(supabase, 'GET', one), API_KEY, 'GET', 200)
    gone = check(spec, call(supabase, 'DELETE', one, params={'was_compromised': 'true', 'reason': 'leaked'}),
                 API_KEY, 'DELETE', 200)
    assert gone['id'] == made['id'] and '\u2022' in gone['api_key']
    assert supabase.admin('GET', '/supabase/api_keys')['deleted'][-1]['reason'] == 'leaked'
    check(spec, call(supabase, 'DELETE', one), API_KEY, 'DELETE', 404)
    check(spec, call(supabase, 'GET', one), API_KEY, 'GET', 404)
    check(spec, call(supabase, 'DELETE', API_KEY.replace('{id}', 'not-a-uuid')), API_KEY, 'DELETE', 400)
    check(spec, call(supabase, 'DELETE', API_KEY.replace('{id}', 'service_role')), API_KEY, 'DELETE', 400)


def test_legacy_switch(spec, supabase):
    assert check(spec, call(supabase, 'GET', LEGACY), LEGACY, 'GET', 200) == {'enabled': True}
    assert check(spec, call(supabase, 'PUT', LEGACY, params={'enabled': 'false'}), LEGACY, 'PUT', 200) == {
        'enabled': False}
    assert check(spec, call(supabase, 'GET', LEGACY), LEGACY, 'GET', 200) == {'enabled': False}
    check(spec, call(supabase, 'PUT', LEGACY), LEGACY, 'PUT', 400)
    check(spec, call(supabase, 'PUT', LEGACY, params={'enabled': 'maybe'}), LEGACY, 'PUT', 400)


def test_logs_window_and_sql(spec, supabase):
    now = time.time()
    window = {'iso_timestamp_start': iso(now - 3 * 3600), 'iso_timestamp_end': iso(now)}
    sql = 'select id, timestamp, event_message, metadata from edge_logs order by timestamp desc'
    body = check(spec, call(supabase, 'GET', LOGS, params=dict(window, sql=sql)), LOGS, 'GET', 200)
    assert 'error' not in body and len(body['result']) == 9
    assert all(now - 3 * 3600 <= r['timestamp'] / 1e6 <= now for r in body['result'])
    assert body['result'][0]['metadata']['request']['method'] in ('GET', 'POST')
    counted = check(spec, call(supabase, 'GET', LOGS, params=dict(window, sql=(
        "select json_extract(metadata, '$.response.status_code') as status, count(*) as n from edge_logs "
        "group by status order by status"))), LOGS, 'GET', 200)
    assert [r['status'] for r in counted['result']] == [200, 400]
    bad = check(spec, call(supabase, 'GET', LOGS, params=dict(window, sql='select nope from nowhere')), LOGS, 'GET',
                200)
    assert 'result' not in bad and bad['error']['status'] == 'INVALID_ARGUMENT'
    check(spec, call(supabase, 'GET', LOGS, params=dict(window, sql='delete from edge_logs')), LOGS, 'GET', 200)
    too_long = {'iso_timestamp_start': iso(now - 25 * 3600), 'iso_timestamp_end': iso(now), 'sql': sql}
    assert '24 hours' in check(spec, call(supabase, 'GET', LOGS, params=too_long), LOGS, 'GET', 400)['message']
    backwards = {'iso_timestamp_start': iso(now), 'iso_timestamp_end': iso(now - 60), 'sql': sql}
    check(spec, call(supabase, 'GET', LOGS, params=backwards), LOGS, 'GET', 400)
    check(spec, call(supabase, 'GET', LOGS, params={'iso_timestamp_start': 'yesterday', 'sql': sql}), LOGS, 'GET', 400)
    # without timestamps: the last minute
    recent = check(spec, call(supabase, 'GET', LOGS, params={'sql': sql}), LOGS, 'GET', 200)['result']
    assert len(recent) <= 1 and all(r['timestamp'] / 1e6 >= now - 61 for r in recent)
    supabase.admin('POST', '/supabase/logs', [{'source': 'auth_logs', 'timestamp': now - 5, 'event_message': 'hi'}])
    body = check(spec, call(supabase, 'GET', LOGS, params={'sql': 'select event_message from auth_logs'}), LOGS,
                 'GET', 200)
    assert body['result'] == [{'event_message': 'hi'}]

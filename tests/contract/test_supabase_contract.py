"""Contract tests: every answer the Supabase Management API stand-in gives, for each operation our modules
use, validated against that operation's response schema in Supabase's own OpenAPI spec
(../shared/specs/supabase-openapi.json), with the helpers of the Vercel contract test.

Beyond schema validity, each success body may only use field names the spec declares for it.

What the spec cannot check is asserted from FACTS.md instead:
* error answers carry no schema in the spec: they must be ``{"message": "..."}`` with a status the spec
  lists for the operation, or one every call can get (401, 404, 429, 5xx), or 400: the spec leaves out
  the validation errors the real API answers (missing ``services``, PITR outside its window, a
  ``SUPABASE_`` secret name, an SQL error);
* 429 carries ``X-RateLimit-Limit/Remaining/Reset``;
* responses the spec documents without content (the restores, secret changes, ban removal) have no body;
  ``POST .../database/query`` (documented without content) answers rows.
"""

import os
import time

import pytest

from tests.contract.test_vercel_contract import load_spec, response_schema, validate
from tests.sandbox.supabase_api import BACKUPS, BANS, BANS_RETRIEVE, HEALTH, PHYSICAL, PITR, PROJECT, QUERY, SECRETS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPECS = os.path.join(ROOT, '..', 'shared', 'specs')
SPEC_PATH = os.path.join(SPECS, 'supabase-openapi.json')
GENERIC_STATUSES = {400, 401, 404, 429, 500, 502, 503}

ERROR_SCHEMA = {'type': 'object', 'required': ['message'], 'additionalProperties': False,
                'properties': {'message': {'type': 'string', 'minLength': 1}}}
ROWS_SCHEMA = {'type': 'array', 'items': {'type': 'object'}}


@pytest.fixture(scope='module')
def spec():
    return load_spec(SPEC_PATH)


def check(spec, result, path, method, status):
    """The answer has the expected status and matches the documented response of that status."""
    code, body, headers = result
    assert code == status, (method, path, code, body)
    where = '%s %s %s' % (method, path, status)
    if status >= 400:
        documented = spec['paths'][path][method.lower()]['responses']
        assert str(status) in documented or status in GENERIC_STATUSES, \
            '%s %s answered %s, which the spec does not list' % (method, path, status)
        validate(spec, body, ERROR_SCHEMA, where)
        if status == 429:
            for name in ('X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'):
                assert headers.get(name, '').isdigit(), (name, dict(headers))
        return body
    schema = response_schema(spec, path, method, status)
    if path == QUERY:  # documented without content; FACTS.md: 201 with rows
        assert schema is None, 'the spec now documents the query answer: validate against it'
        schema = ROWS_SCHEMA
    if schema is None:
        assert body in (None, ''), (where, body)
        return body
    validate(spec, body, schema, where)
    return body


def call(sb, method, path, body=None, **kwargs):
    return sb.api(method, path, body, **kwargs)


def wait_active(sb):
    sb.wait_for(lambda s: s.project()['status'] == 'ACTIVE_HEALTHY', timeout=5)


def test_project_in_every_state(spec, supabase):
    check(spec, call(supabase, 'GET', PROJECT), PROJECT, 'GET', 200)
    for status in ('ACTIVE_UNHEALTHY', 'COMING_UP', 'INACTIVE', 'UPGRADING', 'PAUSING', 'RESTARTING',
                   'RESTORE_FAILED', 'ACTIVE_HEALTHY'):
        supabase.set_status(status)
        assert check(spec, call(supabase, 'GET', PROJECT), PROJECT, 'GET', 200)['status'] == status
    supabase.set_timings(restoring_s=5)
    ok_body = {'recovery_time_target_unix': int(time.time()) - 60}
    check(spec, call(supabase, 'POST', PITR, ok_body), PITR, 'POST', 201)
    assert check(spec, call(supabase, 'GET', PROJECT), PROJECT, 'GET', 200)['status'] == 'RESTORING'
    check(spec, call(supabase, 'GET', PROJECT, token='sbp_' + '0' * 40), PROJECT, 'GET', 401)
    check(spec, call(supabase, 'GET', '/v1/projects/zzzzzzzzzzzzzzzzzzzz'), PROJECT, 'GET', 404)


def test_health(spec, supabase):
    everything = ['auth', 'db', 'db_postgres_user', 'pooler', 'realtime', 'rest', 'storage', 'pg_bouncer']
    check(spec, call(supabase, 'GET', HEALTH, params={'services': everything}), HEALTH, 'GET', 200)
    supabase.set_service_health('db', 'UNHEALTHY', error='connection refused')
    supabase.set_service_health('auth', 'UNHEALTHY')
    supabase.set_service_health('realtime', 'COMING_UP')
    body = check(spec, call(supabase, 'GET', HEALTH, params={'services': everything, 'timeout_ms': 500}), HEALTH,
                 'GET', 200)
    assert [s['status'] for s in body[:2]] == ['UNHEALTHY', 'UNHEALTHY']
    check(spec, call(supabase, 'GET', HEALTH), HEALTH, 'GET', 400)
    check(spec, call(supabase, 'GET', HEALTH, params={'services': 'functions'}), HEALTH, 'GET', 400)
    supabase.set_timings(restoring_s=5)
    call(supabase, 'POST', PITR, {'recovery_time_target_unix': int(time.time()) - 60})
    body = check(spec, call(supabase, 'GET', HEALTH, params={'services': everything}), HEALTH, 'GET', 200)
    assert {s['status'] for s in body} == {'COMING_UP'}


def test_backups_and_restores(spec, supabase):
    check(spec, call(supabase, 'GET', BACKUPS), BACKUPS, 'GET', 200)
    now = int(time.time())
    supabase.set_backups(pitr_enabled=False, walg_enabled=False, backups=[
        {'id': 1, 'inserted_at': now - 86400, 'status': 'FAILED'}, {'id': 2, 'inserted_at': now - 3600}])
    check(spec, call(supabase, 'GET', BACKUPS), BACKUPS, 'GET', 200)
    check(spec, call(supabase, 'POST', PITR, {'recovery_time_target_unix': now - 60}), PITR, 'POST', 400)
    check(spec, call(supabase, 'POST', PHYSICAL, {'id': 1}), PHYSICAL, 'POST', 400)
    check(spec, call(supabase, 'POST', PHYSICAL, {'id': 3}), PHYSICAL, 'POST', 404)
    check(spec, call(supabase, 'POST', PHYSICAL, {'id': 2}), PHYSICAL, 'POST', 201)
    wait_active(supabase)
    supabase.set_backups(backups=[])
    check(spec, call(supabase, 'GET', BACKUPS), BACKUPS, 'GET', 200)
    check(spec, call(supabase, 'POST', PITR, {'recovery_time_target_unix': now - 30 * 86400}), PITR, 'POST', 400)
    check(spec, call(supabase, 'POST', PITR, {}), PITR, 'POST', 400)
    check(spec, call(supabase, 'POST', PITR, {'recovery_time_target_unix': now - 60}), PITR, 'POST', 201)
    check(spec, call(supabase, 'POST', PITR, {'recovery_time_target_unix': now - 60}, token=''), PITR, 'POST', 401)


def test_secrets(spec, supabase):
    check(spec, call(supabase, 'GET', SECRETS), SECRETS, 'GET', 200)
    check(spec, call(supabase, 'POST', SECRETS, [{'name': 'A_KEY', 'value': 'a'}]), SECRETS, 'POST', 201)
    check(spec, call(supabase, 'POST', SECRETS, [{'name': 'SUPABASE_X', 'value': 'a'}]), SECRETS, 'POST', 400)
    body = check(spec, call(supabase, 'GET', SECRETS), SECRETS, 'GET', 200)
    assert 'A_KEY' in [s['name'] for s in body]
    check(spec, call(supabase, 'DELETE', SECRETS, ['A_KEY']), SECRETS, 'DELETE', 200)
    check(spec, call(supabase, 'DELETE', SECRETS, [1]), SECRETS, 'DELETE', 400)


def test_network_bans(spec, supabase):
    body = check(spec, call(supabase, 'POST', BANS_RETRIEVE), BANS_RETRIEVE, 'POST', 201)
    check(spec, call(supabase, 'DELETE', BANS, {'ipv4_addresses': body['banned_ipv4_addresses'][:1]}), BANS,
          'DELETE', 200)
    check(spec, call(supabase, 'DELETE', BANS, {'ipv4_addresses': ['999.1.1.1']}), BANS, 'DELETE', 400)
    supabase.set_bans([])
    assert check(spec, call(supabase, 'POST', BANS_RETRIEVE), BANS_RETRIEVE, 'POST', 201) == {
        'banned_ipv4_addresses': []}


def test_query(spec, supabase):
    body = check(spec, call(supabase, 'POST', QUERY, {'query': 'select 1 as one'}), QUERY, 'POST', 201)
    assert body == [{'one': 1}]
    body = check(spec, call(supabase, 'POST', QUERY, {'query': 'select 2 as two', 'read_only': True}), QUERY,
                 'POST', 201)
    assert body == [{'two': 2}]
    check(spec, call(supabase, 'POST', QUERY, {'query': 'select nothing_here'}), QUERY, 'POST', 400)


def test_rate_limited_and_server_errors_have_the_documented_bodies(spec, supabase):
    supabase.set_rate_limit(limit=1)
    check(spec, call(supabase, 'GET', PROJECT), PROJECT, 'GET', 200)
    check(spec, call(supabase, 'GET', PROJECT), PROJECT, 'GET', 429)
    supabase.set_faults(rate=1.0, kinds=['429'], retry_after='2')
    result = call(supabase, 'GET', BACKUPS)
    check(spec, result, BACKUPS, 'GET', 429)
    assert result[2]['Retry-After'] == '2'
    for kind in ('500', '502', '503'):
        supabase.set_faults(rate=1.0, kinds=[kind])
        check(spec, call(supabase, 'GET', BACKUPS), BACKUPS, 'GET', int(kind))

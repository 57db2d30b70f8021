"""The Supabase Auth (GoTrue) admin API stand-in: keys, users, bans, recovery links, MFA factors, the audit
trail it writes, all checked in the sandbox database's auth schema."""

import datetime

from tests.sandbox.supabase_auth import parse_go_duration

EMAIL = 'user12@example.com'


def test_every_call_needs_a_project_key_and_admin_calls_the_service_role(supabase_auth):
    status, body, _h = supabase_auth.api('GET', '/admin/users', key='')
    assert (status, body['message']) == (401, 'No API key found in request')
    status, body, _h = supabase_auth.api('GET', '/admin/users', key='nope')
    assert (status, body['message']) == (401, 'Invalid API key')
    status, body, headers = supabase_auth.api('GET', '/admin/users', bearer='')
    status2, body2, _h = supabase_auth.api('GET', '/admin/users', key=supabase_auth.anon_key, bearer='')
    assert (status, body['error_code']) == (401, 'no_authorization') == (status2, body2['error_code'])
    assert headers['x-sb-error-code'] == 'no_authorization'
    status, body, _h = supabase_auth.api('GET', '/admin/users', key=supabase_auth.anon_key)
    assert body == {'code': 403, 'error_code': 'not_admin', 'msg': 'User not allowed'}
    status, body, _h = supabase_auth.api('GET', '/admin/users', bearer=supabase_auth.anon_key[:-4] + 'AAAA')
    assert (status, body['error_code']) == (403, 'bad_jwt')
    status, body, _h = supabase_auth.api('GET', '/health', key=supabase_auth.anon_key, bearer='', https=True)
    assert status == 200 and body['name'] == 'GoTrue'


def test_users_are_listed_newest_first_in_pages_with_total_and_links(supabase_auth):
    status, body, headers = supabase_auth.api('GET', '/admin/users', params={'page': 2, 'per_page': 20})
    assert status == 200 and body['aud'] == 'authenticated'
    assert len(body['users']) == 20 and headers['X-Total-Count'] == '50'
    assert 'page=3' in headers['Link'] and 'rel="next"' in headers['Link'] and 'rel="last"' in headers['Link']
    created = [u['created_at'] for u in body['users']]
    assert created == sorted(created, reverse=True)
    status, body, _h = supabase_auth.api('GET', '/admin/users', params={'filter': 'user3@'})
    assert [u['email'] for u in body['users']] == ['user3@example.com']
    assert sorted(f['factor_type'] for f in body['users'][0]['factors']) == ['phone', 'totp']
    status, body, _h = supabase_auth.api('GET', '/admin/users', params={'page': 'x'})
    assert (status, body['error_code']) == (400, 'validation_failed')


def test_a_user_is_read_by_id_and_unknown_or_malformed_ids_are_404(supabase_auth):
    uid = supabase_auth.user_id(EMAIL)
    status, body, _h = supabase_auth.api('GET', '/admin/users/%s' % uid)
    assert status == 200 and body['id'] == uid and body['email'] == EMAIL and 'banned_until' not in body
    assert body['app_metadata'] == {'provider': 'email', 'providers': ['email']}
    status, body, _h = supabase_auth.api('GET', '/admin/users/00000000-0000-4000-8000-000000000000')
    assert body == {'code': 404, 'error_code': 'user_not_found', 'msg': 'User not found'}
    status, body, _h = supabase_auth.api('GET', '/admin/users/bob')
    assert body == {'code': 404, 'error_code': 'validation_failed', 'msg': 'user_id must be an UUID'}


def test_a_ban_sets_banned_until_and_none_lifts_it_each_audited(supabase_auth):
    uid = supabase_auth.user_id(EMAIL)
    status, body, _h = supabase_auth.api('PUT', '/admin/users/%s' % uid, {'ban_duration': '24h'})
    assert status == 200 and body['banned_until']
    until = supabase_auth.banned_until(EMAIL)
    left = until - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(hours=23, minutes=59) < left <= datetime.timedelta(hours=24)
    status, body, _h = supabase_auth.api('PUT', '/admin/users/%s' % uid, {'ban_duration': 'none'})
    assert status == 200 and 'banned_until' not in body and supabase_auth.banned_until(EMAIL) is None
    audit = supabase_auth.audit('user_modified')
    assert len(audit) == 2 and audit[0][1] == 'service_role' and audit[0][2]['user_email'] == EMAIL
    status, body, _h = supabase_auth.api('PUT', '/admin/users/%s' % uid, {'ban_duration': '7d'})
    assert body == {'code': 400, 'error_code': 'validation_failed',
                    'msg': 'invalid format for ban duration: time: unknown unit "d" in duration "7d"'}


def test_go_durations_parse_as_go_does():
    assert parse_go_duration('1h30m') == 5400 and parse_go_duration('-1.5h') == -5400
    assert parse_go_duration('0') == 0 and parse_go_duration('90s') == 90
    for bad in ('', '7', 'h', '1x', '1h 2m'):
        try:
            parse_go_duration(bad)
        except ValueError as exc:
            assert str(exc).startswith('time: ')
        else:
            raise AssertionError(bad)


def test_a_recovery_link_is_generated_recorded_and_audited_for_the_user(supabase_auth):
    status, body, _h = supabase_auth.api('POST', '/admin/generate_link', {
        'type': 'recovery', 'email': EMAIL, 'redirect_to': 'https://app.example/reset'})
    assert status == 200 and body['email'] == EMAIL and body['verification_type'] == 'recovery'
    assert body['action_link'].startswith(supabase_auth.url + '/auth/v1/verify?token=' + body['hashed_token'])
    assert 'redirect_to=https%3A%2F%2Fapp.example%2Freset' in body['action_link']
    assert len(body['email_otp']) == 6 and body['recovery_sent_at']
    assert supabase_auth.db.scalar('SELECT recovery_token FROM auth.users WHERE email = %s', (EMAIL,)) == \
        body['hashed_token']
    assert [a[1] for a in supabase_auth.audit('user_recovery_requested')] == [EMAIL]
    status, body, _h = supabase_auth.api('POST', '/admin/generate_link',
                                         {'type': 'recovery', 'email': 'no@example.com'})
    assert body == {'code': 404, 'error_code': 'user_not_found', 'msg': 'User with this email not found'}


def test_factors_are_listed_and_deleted_with_sessions_back_to_aal1(supabase_auth):
    email = 'user3@example.com'
    uid = supabase_auth.user_id(email)
    status, factors, _h = supabase_auth.api('GET', '/admin/users/%s/factors' % uid)
    assert status == 200 and len(factors) == 2
    totp = [f for f in factors if f['factor_type'] == 'totp'][0]
    assert totp['status'] == 'verified' and totp['friendly_name'] == 'Authenticator'
    totp = totp['id']
    supabase_auth.db.query("UPDATE auth.sessions SET aal = 'aal2', factor_id = %s WHERE user_id = %s", (totp, uid))
    status, body, _h = supabase_auth.api('DELETE', '/admin/users/%s/factors/%s' % (uid, totp))
    assert status == 200 and body['id'] == totp
    assert supabase_auth.factors(email) == 1
    assert supabase_auth.db.scalar("SELECT count(*) FROM auth.sessions WHERE user_id = %s AND aal = 'aal2'",
                                   (uid,)) == 0
    audit = supabase_auth.audit('factor_deleted')
    assert audit[0][1] == email and audit[0][2]['factor_id'] == totp and audit[0][3] == '127.0.0.1'
    status, body, _h = supabase_auth.api('DELETE', '/admin/users/%s/factors/%s' % (uid, totp))
    assert body == {'code': 404, 'error_code': 'mfa_factor_not_found', 'msg': 'Factor not found'}


def test_deleting_the_sessions_in_sql_revokes_every_refresh_token(supabase_auth):
    assert supabase_auth.sessions(EMAIL) == 1 and supabase_auth.refresh_tokens(EMAIL) == 2
    supabase_auth.db.query('DELETE FROM auth.sessions WHERE user_id = %s', (supabase_auth.user_id(EMAIL),))
    assert supabase_auth.refresh_tokens(EMAIL) == 0


def test_deleting_a_user_removes_it_and_its_sessions(supabase_auth):
    uid = supabase_auth.user_id(EMAIL)
    status, body, _h = supabase_auth.api('DELETE', '/admin/users/%s' % uid, {'should_soft_delete': False})
    assert (status, body) == (200, {})
    assert supabase_auth.db.scalar('SELECT count(*) FROM auth.users WHERE id = %s', (uid,)) == 0
    assert supabase_auth.db.scalar('SELECT count(*) FROM auth.sessions WHERE user_id = %s', (uid,)) == 0
    assert [a[2]['user_email'] for a in supabase_auth.audit('user_deleted')] == [EMAIL]


def test_audit_writing_can_be_turned_off(supabase_auth):
    supabase_auth.admin('POST', '/supabase_auth/audit', {'enabled': False})
    uid = supabase_auth.user_id(EMAIL)
    supabase_auth.api('PUT', '/admin/users/%s' % uid, {'ban_duration': '1h'})
    assert supabase_auth.audit() == [] and supabase_auth.banned_until(EMAIL) is not None


def test_sandbox_env_gives_what_an_app_is_configured_with(supabase_auth, standins):
    from tests.fixtures_standins import http_json
    from tests.sandbox.sandboxctl import _standins_env
    env = _standins_env(standins.info)
    assert env['SUPABASE_URL'] == supabase_auth.url and env['SUPABASE_URL_HTTPS'] == supabase_auth.https_url
    key = env['SUPABASE_SERVICE_ROLE_KEY']
    status, body, _h = http_json('GET', env['SUPABASE_URL'] + '/auth/v1/admin/users?per_page=1',
                                 headers={'apikey': key, 'Authorization': 'Bearer ' + key})
    assert status == 200 and len(body['users']) == 1
    status, _body, _h = http_json('GET', env['SUPABASE_URL'] + '/auth/v1/admin/users',
                                  headers={'apikey': env['SUPABASE_ANON_KEY']})
    assert status == 401
    health = standins.admin('GET', '/health')
    assert 'supabase_auth' in health['services'] and key not in str(health['info'])

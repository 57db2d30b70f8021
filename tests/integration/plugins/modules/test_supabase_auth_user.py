"""supabase_auth_user against the Auth admin API stand-in and the project's real PostgreSQL database: bans,
sign-out everywhere, MFA removal, recovery links; the state asserted in SQL."""

import datetime

from tests.conftest import assert_one_line_error, fresh_database, run_module

EMAIL = 'user12@example.com'      # one session, two refresh tokens (one revoked)
MFA_EMAIL = 'user3@example.com'   # two MFA factors, two sessions


def auth_user(sandbox, check_mode=False, diff=False, **args):
    return run_module('supabase_auth_user', sandbox.module_args(**args), check_mode=check_mode, diff=diff)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def test_ban_is_set_in_the_database_once_and_a_longer_ban_stays(supabase_auth):
    result = auth_user(supabase_auth, users=[EMAIL], banned=True, ban_duration='24h', diff=True)
    assert result['changed'] and not result.get('failed'), result
    until = supabase_auth.banned_until(EMAIL)
    assert datetime.timedelta(hours=23, minutes=58) < until - now() <= datetime.timedelta(hours=24)
    assert result['users'][0]['banned_until_before'] is None and result['users'][0]['banned_until']
    assert result['diff']['before'][EMAIL]['banned_until'] is None
    assert result['diff']['after'][EMAIL]['banned_until'] == result['users'][0]['banned_until']
    assert [a[0] for a in supabase_auth.audit()] == ['user_modified']
    again = auth_user(supabase_auth, users=[EMAIL], banned=True, ban_duration='24h')
    assert not again['changed'] and again['msg'] == 'nothing to change for 1 user(s)', again
    shorter = auth_user(supabase_auth, users=[supabase_auth.user_id(EMAIL)], banned=True, ban_duration='30m')
    assert not shorter['changed'] and supabase_auth.banned_until(EMAIL) == until
    longer = auth_user(supabase_auth, users=[EMAIL], banned=True, ban_duration='7d')
    assert longer['changed'] and supabase_auth.banned_until(EMAIL) - now() > datetime.timedelta(days=6, hours=23)


def test_unban_clears_banned_until_and_is_no_change_when_not_banned(supabase_auth):
    auth_user(supabase_auth, users=[EMAIL], banned=True)  # about 100 years
    assert supabase_auth.banned_until(EMAIL).year >= now().year + 99
    result = auth_user(supabase_auth, users=[EMAIL], banned=False)
    assert result['changed'] and supabase_auth.banned_until(EMAIL) is None, result
    assert not auth_user(supabase_auth, users=[EMAIL], banned=False)['changed']


def test_sign_out_deletes_sessions_and_refresh_tokens_and_says_until_when_access_tokens_live(supabase_auth):
    assert supabase_auth.sessions(MFA_EMAIL) == 2 and supabase_auth.refresh_tokens(MFA_EMAIL) == 4
    result = auth_user(supabase_auth, users=[MFA_EMAIL, EMAIL], sign_out=True, jwt_expiry=1800)
    assert result['changed'], result
    assert [u['sessions_revoked'] for u in result['users']] == [2, 1]
    assert [u['refresh_tokens_revoked'] for u in result['users']] == [2, 1]  # the ones not revoked yet
    for email in (MFA_EMAIL, EMAIL):
        assert supabase_auth.sessions(email) == 0 and supabase_auth.refresh_tokens(email) == 0
    valid = datetime.datetime.fromisoformat(result['access_tokens_valid_until'].replace('Z', '+00:00'))
    assert datetime.timedelta(minutes=29) < valid - now() <= datetime.timedelta(minutes=30)
    assert 'access tokens already issued stay valid until' in result['msg']
    assert sorted(a[1] for a in supabase_auth.audit('logout')) == [EMAIL, MFA_EMAIL]
    assert supabase_auth.sessions('user13@example.com') == 1  # nobody else
    again = auth_user(supabase_auth, users=[MFA_EMAIL, EMAIL], sign_out=True)
    assert not again['changed'] and 'access_tokens_valid_until' not in again


def test_remove_mfa_deletes_every_factor_once(supabase_auth):
    result = auth_user(supabase_auth, users=[MFA_EMAIL], remove_mfa=True)
    assert result['changed'] and supabase_auth.factors(MFA_EMAIL) == 0, result
    assert sorted(f['factor_type'] for f in result['users'][0]['factors_removed']) == ['phone', 'totp']
    assert len(supabase_auth.audit('factor_deleted')) == 2
    assert not auth_user(supabase_auth, users=[MFA_EMAIL], remove_mfa=True)['changed']


def test_password_reset_generates_a_link_it_does_not_return_by_default(supabase_auth):
    result = auth_user(supabase_auth, users=[EMAIL], password_reset=True, redirect_to='https://app.example/reset')
    assert result['changed'] and result['users'][0]['recovery_requested'], result
    token = supabase_auth.db.scalar('SELECT recovery_token FROM auth.users WHERE email = %s', (EMAIL,))
    assert token and token not in result.stdout and 'action_link' not in result.stdout
    assert 'recovery_links' not in result
    assert [a[0] for a in supabase_auth.audit()] == ['user_recovery_requested']
    again = auth_user(supabase_auth, users=[EMAIL], password_reset=True)
    assert not again['changed']  # requested within recovery_min_interval: the link given stays valid
    fresh = auth_user(supabase_auth, users=[EMAIL], password_reset=True, recovery_min_interval=0)
    assert fresh['changed']


def test_the_recovery_link_is_returned_only_on_a_no_log_task(supabase_auth):
    refused = auth_user(supabase_auth, users=[EMAIL], password_reset=True, return_recovery_link=True)
    assert_one_line_error(refused, 'return_recovery_link returns credentials: add no_log: true to the task')
    assert supabase_auth.audit() == []
    result = auth_user(supabase_auth, users=[EMAIL], password_reset=True, return_recovery_link=True,
                       _ansible_no_log=True)
    link = result['recovery_links'][EMAIL]
    token = supabase_auth.db.scalar('SELECT recovery_token FROM auth.users WHERE email = %s', (EMAIL,))
    assert link.startswith(supabase_auth.url + '/auth/v1/verify?token=' + token)


def test_check_mode_names_every_change_and_changes_nothing(supabase_auth):
    before = supabase_auth.db.query('SELECT (SELECT count(*) FROM auth.sessions), (SELECT count(*) FROM '
                                    'auth.mfa_factors), (SELECT count(*) FROM auth.audit_log_entries)')
    result = auth_user(supabase_auth, check_mode=True, users=[MFA_EMAIL], banned=True, ban_duration='1h',
                       sign_out=True, remove_mfa=True, password_reset=True)
    assert result['changed'], result
    assert result['msg'].startswith('check mode, would do - %s: ban until ' % MFA_EMAIL)
    assert 'revoke 2 session(s)' in result['msg'] and 'remove 2 MFA factor(s)' in result['msg']
    assert 'generate a recovery link' in result['msg']
    assert supabase_auth.banned_until(MFA_EMAIL) is None
    assert supabase_auth.db.query('SELECT (SELECT count(*) FROM auth.sessions), (SELECT count(*) FROM '
                                  'auth.mfa_factors), (SELECT count(*) FROM auth.audit_log_entries)') == before
    assert supabase_auth.db.scalar('SELECT recovery_sent_at FROM auth.users WHERE email = %s', (MFA_EMAIL,)) is None


def test_an_unknown_user_fails_in_one_line_and_nothing_changes(supabase_auth):
    result = auth_user(supabase_auth, users=[EMAIL, 'ghost@example.com'], banned=True, sign_out=True)
    assert_one_line_error(result, 'no such user in the project at %s: ghost@example.com' % supabase_auth.url,
                          'nothing was changed')
    assert supabase_auth.banned_until(EMAIL) is None and supabase_auth.sessions(EMAIL) == 1
    result = auth_user(supabase_auth, users=['00000000-0000-4000-8000-000000000000'], banned=True)
    assert_one_line_error(result, 'no such user', '00000000-0000-4000-8000-000000000000')


def test_bad_options_fail_before_any_call(supabase_auth):
    cases = [
        (dict(users=[EMAIL], banned=True, ban_duration='soon'), "ban_duration='soon' is not a duration"),
        (dict(users=['bob'], banned=True), "users: 'bob' is neither a user id (UUID) nor an e-mail address"),
        (dict(users=[EMAIL], ban_duration='1h'), 'ban_duration is set but banned is not true'),
        (dict(users=[EMAIL], banned=True, service_role_key=supabase_auth.anon_key),
         'holds the anon key; the Auth admin API needs the service_role key'),
        (dict(users=[EMAIL], banned=True, service_role_key='not a key'), 'the Supabase service_role key is malformed'),
    ]
    for args, fragment in cases:
        assert_one_line_error(auth_user(supabase_auth, **args), fragment)
    no_db = run_module('supabase_auth_user', dict(users=[EMAIL], sign_out=True, supabase_url=supabase_auth.url,
                                                  service_role_key=supabase_auth.service_role_key))
    assert_one_line_error(no_db, 'sign_out needs the project database')
    assert supabase_auth.audit() == []


def test_a_database_of_another_project_is_refused_before_any_change(supabase_auth, pg_server):
    keys = dict(users=[EMAIL], banned=True, sign_out=True, supabase_url=supabase_auth.url,
                service_role_key=supabase_auth.service_role_key)
    with fresh_database(pg_server) as other:
        other.query('DELETE FROM auth.users WHERE email = %s', (EMAIL,))  # another project: not this user
        result = run_module('supabase_auth_user', dict(other.conn_args(), **keys))
    assert_one_line_error(result, 'database_url (DATABASE_URL) points at another project than supabase_url')
    result = run_module('supabase_auth_user', dict(supabase_auth.db.conn_args(), login_db='postgres', **keys))
    assert_one_line_error(result, "the database has no auth.sessions table; point database_url (DATABASE_URL) at")
    assert supabase_auth.banned_until(EMAIL) is None and supabase_auth.sessions(EMAIL) == 1


def test_a_key_of_another_project_is_rejected_in_one_line(supabase_auth):
    head, body, _sig = supabase_auth.service_role_key.split('.')
    forged = '%s.%s.%s' % (head, body, 'A' * 43)
    result = auth_user(supabase_auth, users=[EMAIL], banned=True, service_role_key=forged)
    assert_one_line_error(result, '401: the Supabase project rejected the API key (Supabase Auth: Invalid API key)',
                          'is the service_role or a secret key of the project at SUPABASE_URL')
    assert 'warnings' not in result, result
    assert supabase_auth.banned_until(EMAIL) is None


def test_environment_fallbacks_and_https(supabase_auth):
    env = dict(supabase_auth.env, SUPABASE_URL=supabase_auth.https_url)
    result = run_module('supabase_auth_user', dict(users=[EMAIL], banned=True, sign_out=True), env=env)
    assert result['changed'] and supabase_auth.sessions(EMAIL) == 0, result
    assert supabase_auth.service_role_key not in result.stdout + result.stderr

"""Supabase's own Python client (``supabase_auth``, the auth part of ``supabase`` on PyPI) works against the
sandbox unchanged: configured only with ``SUPABASE_URL`` and ``SUPABASE_SERVICE_ROLE_KEY`` as ``.sandbox/env``
gives them (the HTTPS URL trusting the sandbox CA), it lists users, bans one, generates a recovery link and
lists/deletes MFA factors; each effect is checked in SQL on the auth schema."""

import datetime
import ssl

import httpx
import pytest
from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError

from tests.sandbox.sandboxctl import _standins_env

EMAIL = 'user12@example.com'
MFA_EMAIL = 'user3@example.com'


def client(url, key, ca_path=None):
    """What ``supabase.create_client(url, key).auth`` builds: the auth API under ``/auth/v1``, the key as
    ``apikey`` and Bearer, no session kept."""
    verify = ssl.create_default_context(cafile=ca_path) if ca_path else True
    return SyncGoTrueClient(url=url + '/auth/v1', headers={'apikey': key, 'Authorization': 'Bearer %s' % key},
                            auto_refresh_token=False, persist_session=False, http_client=httpx.Client(verify=verify))


@pytest.fixture(params=['https', 'http'])
def admin(request, standins, supabase_auth):
    env = _standins_env(standins.info)
    if request.param == 'https':
        url = env['SUPABASE_URL_HTTPS']
        assert url.startswith('https://')
        return client(url, env['SUPABASE_SERVICE_ROLE_KEY'], ca_path=env['SUPABASE_CA_PATH']).admin
    return client(env['SUPABASE_URL'], env['SUPABASE_SERVICE_ROLE_KEY']).admin


def test_list_users_pages_as_the_client_reads_them(admin, supabase_auth):
    users = admin.list_users(page=1, per_page=20)
    total = supabase_auth.db.scalar("SELECT count(*) FROM auth.users WHERE aud = 'authenticated'")
    assert len(users) == 20 and total > 20
    assert all(u.aud == 'authenticated' and u.id and u.created_at for u in users)
    assert len(admin.list_users()) == min(total, 50)  # GoTrue's default page size
    every = admin.list_users(page=1, per_page=1000)
    assert sorted(u.email for u in every) == sorted(supabase_auth.db.query(
        "SELECT email FROM auth.users WHERE aud = 'authenticated'")[i][0] for i in range(total))
    mfa = [u for u in every if u.email == MFA_EMAIL][0]
    assert sorted(f.factor_type for f in mfa.factors) == ['phone', 'totp']


def test_ban_for_24h_then_lift_it(admin, supabase_auth):
    uid = supabase_auth.user_id(EMAIL)
    answer = admin.update_user_by_id(uid, {'ban_duration': '24h'})
    assert answer.user.id == uid and answer.user.banned_until is not None
    left = supabase_auth.banned_until(EMAIL) - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(hours=23, minutes=59) < left <= datetime.timedelta(hours=24)
    assert admin.get_user_by_id(uid).user.banned_until is not None
    admin.update_user_by_id(uid, {'ban_duration': 'none'})
    assert supabase_auth.banned_until(EMAIL) is None
    with pytest.raises(AuthApiError) as caught:
        admin.update_user_by_id(uid, {'ban_duration': '7d'})
    # the client asks for API version 2024-01-01 and reads the error code from that shape
    assert caught.value.status == 400 and caught.value.code == 'validation_failed'
    assert caught.value.message == 'invalid format for ban duration: time: unknown unit "d" in duration "7d"'


def test_generate_a_recovery_link(admin, supabase_auth):
    answer = admin.generate_link({'type': 'recovery', 'email': EMAIL,
                                  'options': {'redirect_to': 'https://app.example.com/reset'}})
    props = answer.properties
    assert answer.user.email == EMAIL and props.verification_type == 'recovery'
    assert props.action_link.startswith(supabase_auth.url + '/auth/v1/verify?token=')
    assert props.redirect_to == 'https://app.example.com/reset' and len(props.email_otp) == 6
    token, sent = supabase_auth.db.query('SELECT recovery_token, recovery_sent_at FROM auth.users WHERE email = %s',
                                         (EMAIL,))[0]
    assert token == props.hashed_token and sent is not None
    with pytest.raises(AuthApiError) as caught:
        admin.generate_link({'type': 'recovery', 'email': 'nobody@example.com'})
    assert (caught.value.status, caught.value.code) == (404, 'user_not_found')


def test_list_and_delete_mfa_factors(admin, supabase_auth):
    uid = supabase_auth.user_id(MFA_EMAIL)
    listed = admin.mfa.list_factors({'user_id': uid})  # GoTrue answers an array
    assert sorted(f.factor_type for f in listed) == ['phone', 'totp']
    assert supabase_auth.factors(MFA_EMAIL) == 2
    for factor in listed:
        deleted = admin.mfa.delete_factor({'user_id': uid, 'id': factor.id})
        assert deleted.id == factor.id
    assert supabase_auth.factors(MFA_EMAIL) == 0
    assert admin.mfa.list_factors({'user_id': uid}) == []
    assert len(supabase_auth.audit('factor_deleted')) == 2


def test_a_new_secret_key_works_with_the_client_and_a_deleted_one_does_not(supabase_auth):
    supabase = supabase_auth.supabase
    status, key, _h = supabase.api('POST', '/v1/projects/{ref}/api-keys', {'type': 'secret', 'name': 'py_client'},
                                   params={'reveal': 'true'})
    assert status == 201
    admin = client(supabase_auth.url, key['api_key']).admin
    assert len(admin.list_users(per_page=3)) == 3
    status, _body, _h = supabase.api('DELETE', '/v1/projects/{ref}/api-keys/%s' % key['id'],
                                     params={'was_compromised': 'true'})
    assert status == 200
    with pytest.raises(AuthApiError) as caught:
        admin.list_users(per_page=3)
    assert caught.value.status == 401 and caught.value.message == 'Invalid API key'

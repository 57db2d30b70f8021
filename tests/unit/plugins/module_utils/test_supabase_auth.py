"""Durations, key and URL checks and error lines of module_utils/supabase_auth.py; the burst finder of
module_utils/auth_audit.py."""

import base64
import datetime
import json
import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils import auth_audit  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.supabase_auth import (  # noqa: E402
    AuthError, auth_base_url, check_key, describe_auth_error, go_duration, parse_duration,
)


@pytest.mark.parametrize('text,seconds', [('30m', 1800), ('24h', 86400), ('7d', 604800), ('2w', 1209600),
                                          ('1h30m', 5400), ('90', 90), (' 1D ', 86400), ('1.5h', 5400)])
def test_durations(text, seconds):
    assert parse_duration(text, 'ban_duration') == seconds


@pytest.mark.parametrize('text', ['', 'soon', '0', '-1h', '1x', 'h', '1h and 2m', None])
def test_bad_durations_name_the_option(text):
    with pytest.raises(AuthError) as err:
        parse_duration(text, 'ban_duration')
    assert str(err.value).startswith('ban_duration=') and 'such as 30m, 24h, 7d or 1h30m' in str(err.value)


def test_none_is_a_duration_only_where_allowed():
    assert parse_duration('none', 'x', allow_none=True) == 0
    with pytest.raises(AuthError):
        parse_duration('none', 'x')


def test_go_durations_have_no_days():
    assert go_duration(7 * 86400) == '168h0m0s' and go_duration(5400) == '1h30m0s' and go_duration(61) == '0h1m1s'


def jwt(role):
    claims = base64.urlsafe_b64encode(json.dumps({'role': role}).encode()).rstrip(b'=').decode()
    return 'eyJhbGciOiJIUzI1NiJ9.%s.c2ln' % claims


def test_keys():
    check_key(jwt('service_role'))
    check_key('sb_secret_abcdefgh12345678')
    for key, fragment in ((None, 'no Supabase service_role key'), ('', 'no Supabase service_role key'),
                          (jwt('anon'), 'holds the anon key'), ('sb_publishable_x', 'holds a publishable key'),
                          ('abc def', 'is malformed (7 characters')):
        with pytest.raises(AuthError) as err:
            check_key(key)
        assert fragment in str(err.value) and (not key or key not in str(err.value))


def test_base_urls():
    assert auth_base_url('https://abc.supabase.co/auth/v1/') == 'https://abc.supabase.co'
    assert auth_base_url(' http://127.0.0.1:5000 ') == 'http://127.0.0.1:5000'
    for url, fragment in ((None, 'no Supabase project URL'), ('abc.supabase.co', 'is not an http(s) URL')):
        with pytest.raises(AuthError) as err:
            auth_base_url(url)
        assert fragment in str(err.value)


def test_error_lines():
    assert describe_auth_error(403, {'code': 403, 'error_code': 'not_admin', 'msg': 'User not allowed'}, 'GET',
                               '/admin/users').startswith('403: the key is not an admin key (Supabase Auth: User not')
    assert 'Invalid API key' in describe_auth_error(401, {'message': 'Invalid API key'}, 'GET', '/admin/users')
    assert describe_auth_error(404, {'msg': 'User not found'}, 'GET', '/admin/users/x?y=1') == \
        '404: not found (GET /admin/users/x) (Supabase Auth: User not found); check the user id or e-mail and ' \
        'supabase_url'
    assert describe_auth_error(500, None, 'PUT', '/admin/users/x').startswith('500: Supabase Auth failed on PUT')


def test_login_bursts_are_windows_of_many_accounts():
    start = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.timezone.utc)
    logins = [(start + datetime.timedelta(seconds=40 * i), 'id%d' % i, 'u%d' % i) for i in range(6)]
    logins += [(start + datetime.timedelta(hours=2, minutes=i * 15), 'x%d' % i, 'x%d' % i) for i in range(6)]
    bursts = auth_audit.login_bursts(logins, 5)
    assert len(bursts) == 1 and bursts[0]['actors'] == 6 and bursts[0]['first'] == '2026-12-03T12:00:00Z'
    assert auth_audit.login_bursts(logins, 7) == []


def test_windows():
    now = 1_800_000_000
    assert auth_audit.parse_point('24h', 'since', now) == now - 86400
    assert auth_audit.parse_point('2026-12-03', 'since', now) == 1796256000
    with pytest.raises(OpsError):
        auth_audit.check_window(now, now - 1, 86400, '1d')

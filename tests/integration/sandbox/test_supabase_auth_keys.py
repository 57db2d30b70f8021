"""The Auth stand-in's gateway honours the project's API keys as the Management API stand-in holds them: a
secret key created there works in ``apikey:`` (with or without the Bearer), a deleted one is refused, and the
legacy JWTs are refused while the legacy keys are off."""

KEYS = '/v1/projects/{ref}/api-keys'
INVALID = {'message': 'Invalid API key', 'hint': 'Double check your Supabase `anon` or `service_role` API key.'}


def _create(supabase, kind, name):
    status, key, _h = supabase.api('POST', KEYS, {'type': kind, 'name': name}, params={'reveal': 'true'})
    assert status == 201, key
    return key


def test_a_secret_key_works_alone_or_as_bearer_until_it_is_deleted(supabase_auth):
    supabase = supabase_auth.supabase
    key = _create(supabase, 'secret', 'ops_server')
    value = key['api_key']
    assert value.startswith('sb_secret_')
    for bearer in ('', value):
        status, body, _h = supabase_auth.api('GET', '/admin/users', params={'per_page': 1}, key=value, bearer=bearer)
        assert status == 200 and len(body['users']) == 1, body
    status, body, _h = supabase_auth.api('GET', '/admin/users', key=value, bearer='', https=True)
    assert status == 200
    # the key only in Authorization is no API key at all
    status, body, _h = supabase_auth.api('GET', '/admin/users', key='', bearer=value)
    assert (status, body['message']) == (401, 'No API key found in request')
    # a Bearer that is another token is verified as a JWT
    status, body, _h = supabase_auth.api('GET', '/admin/users', key=value, bearer=supabase_auth.anon_key)
    assert (status, body['error_code']) == (403, 'not_admin')

    status, _body, _h = supabase.api('DELETE', KEYS + '/' + key['id'],
                                     params={'was_compromised': 'true', 'reason': 'leak'})
    assert status == 200
    for bearer in ('', value):
        status, body, _h = supabase_auth.api('GET', '/admin/users', key=value, bearer=bearer)
        assert (status, body) == (401, INVALID)
    # a made-up key of the right shape is as invalid
    status, body, _h = supabase_auth.api('GET', '/admin/users', key='sb_secret_' + 'x' * 40, bearer='')
    assert (status, body) == (401, INVALID)


def test_a_publishable_key_passes_the_gateway_but_is_no_admin(supabase_auth):
    supabase = supabase_auth.supabase
    status, keys, _h = supabase.api('GET', KEYS, params={'reveal': 'true'})
    publishable = [k['api_key'] for k in keys if k['type'] == 'publishable'][0]
    status, body, _h = supabase_auth.api('GET', '/health', key=publishable, bearer='')
    assert status == 200 and body['name'] == 'GoTrue'
    status, body, _h = supabase_auth.api('GET', '/admin/users', key=publishable, bearer='')
    assert body == {'code': 403, 'error_code': 'not_admin', 'msg': 'User not allowed'}


def test_the_listed_legacy_keys_are_the_jwts_the_auth_api_takes(supabase_auth):
    status, keys, _h = supabase_auth.supabase.api('GET', KEYS)
    legacy = dict((k['id'], k['api_key']) for k in keys if k['type'] == 'legacy')
    assert legacy == {'anon': supabase_auth.anon_key, 'service_role': supabase_auth.service_role_key}


def test_legacy_keys_are_refused_while_switched_off_and_a_secret_key_still_works(supabase_auth):
    supabase = supabase_auth.supabase
    secret = _create(supabase, 'secret', 'after_legacy')['api_key']
    status, body, _h = supabase.api('PUT', KEYS + '/legacy', params={'enabled': 'false'})
    assert (status, body) == (200, {'enabled': False})
    for key in (supabase_auth.service_role_key, supabase_auth.anon_key):
        status, body, _h = supabase_auth.api('GET', '/admin/users', key=key)
        assert status == 401 and body['message'] == 'Legacy API keys are disabled', body
    status, body, _h = supabase_auth.api('GET', '/health', key=supabase_auth.anon_key, bearer='')
    assert status == 401
    status, body, _h = supabase_auth.api('GET', '/admin/users', key=secret, bearer='')
    assert status == 200
    status, body, _h = supabase.api('PUT', KEYS + '/legacy', params={'enabled': 'true'})
    assert (status, body) == (200, {'enabled': True})
    status, body, _h = supabase_auth.api('GET', '/admin/users', params={'per_page': 1})
    assert status == 200 and len(body['users']) == 1


def test_errors_take_the_2024_01_01_shape_when_the_caller_asks_for_it(supabase_auth):
    """GoTrue's HandleResponseError: ``X-Supabase-Api-Version: 2024-01-01`` (sent by Supabase's clients) gets
    ``{code: <error_code>, message}`` and the version echoed; without it (or with an older or bad date) the
    initial ``{code: <status>, error_code, msg}``."""
    path = '/admin/users/00000000-0000-4000-8000-000000000000'
    status, body, headers = supabase_auth.api('GET', path, headers={'X-Supabase-Api-Version': '2024-01-01'})
    assert (status, body) == (404, {'code': 'user_not_found', 'message': 'User not found'})
    assert headers['X-Supabase-Api-Version'] == '2024-01-01' and headers['x-sb-error-code'] == 'user_not_found'
    for version in (None, '2023-12-31', 'latest'):
        status, body, headers = supabase_auth.api('GET', path, headers={'X-Supabase-Api-Version': version}
                                                  if version else None)
        assert (status, body) == (404, {'code': 404, 'error_code': 'user_not_found', 'msg': 'User not found'})
        assert headers.get('X-Supabase-Api-Version') is None
    # the gateway's own answers keep their shape
    status, body, _h = supabase_auth.api('GET', path, key='nope', headers={'X-Supabase-Api-Version': '2024-01-01'})
    assert (status, body) == (401, INVALID)

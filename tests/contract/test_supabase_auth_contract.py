"""Contract tests of the Supabase Auth (GoTrue) admin API stand-in.

The Auth API is not in the Management API's OpenAPI spec; its shapes are GoTrue's own (supabase/auth):
the JSON tags of ``models.User``, ``models.Factor``, ``api.AdminListUsersResponse``,
``api.GenerateLinkResponse`` and ``apierrors.HTTPError`` (fields with ``omitempty`` may be absent; the
rest are always present), written below as JSON schemas that allow no other field. The API gateway's own
errors are ``{"message", "hint"?}``. Dates are RFC 3339.
"""

import pytest

DATE = {'type': 'string', 'format': 'date-time'}
NULLABLE_DATE = {'type': 'string', 'format': 'date-time', 'nullable': True}
FACTOR = {'type': 'object', 'additionalProperties': False,
          'required': ['id', 'created_at', 'updated_at', 'status', 'factor_type', 'phone', 'last_challenged_at'],
          'properties': {'id': {'type': 'string', 'format': 'uuid'}, 'created_at': DATE, 'updated_at': DATE,
                         'status': {'type': 'string', 'enum': ['unverified', 'verified']},
                         'friendly_name': {'type': 'string'},
                         'factor_type': {'type': 'string', 'enum': ['totp', 'webauthn', 'phone']},
                         'phone': {'type': 'string'}, 'last_challenged_at': NULLABLE_DATE,
                         'web_authn_aaguid': {'type': 'string'}, 'last_webauthn_challenge_data': {'type': 'object'}}}
USER_PROPERTIES = {
    'id': {'type': 'string', 'format': 'uuid'}, 'aud': {'type': 'string'}, 'role': {'type': 'string'},
    'email': {'type': 'string'}, 'phone': {'type': 'string'}, 'email_confirmed_at': DATE, 'invited_at': DATE,
    'phone_confirmed_at': DATE, 'confirmation_sent_at': DATE, 'confirmed_at': DATE, 'recovery_sent_at': DATE,
    'new_email': {'type': 'string'}, 'email_change_sent_at': DATE, 'new_phone': {'type': 'string'},
    'phone_change_sent_at': DATE, 'reauthentication_sent_at': DATE, 'last_sign_in_at': DATE,
    'app_metadata': {'type': 'object'}, 'user_metadata': {'type': 'object'},
    'factors': {'type': 'array', 'items': FACTOR}, 'identities': {'type': 'array', 'items': {'type': 'object'}},
    'created_at': DATE, 'updated_at': DATE, 'banned_until': DATE, 'deleted_at': DATE,
    'is_anonymous': {'type': 'boolean'}}
USER_REQUIRED = ['id', 'aud', 'role', 'email', 'phone', 'app_metadata', 'user_metadata', 'identities', 'created_at',
                 'updated_at', 'is_anonymous']
USER = {'type': 'object', 'additionalProperties': False, 'required': USER_REQUIRED, 'properties': USER_PROPERTIES}
USERS = {'type': 'object', 'additionalProperties': False, 'required': ['users', 'aud'],
         'properties': {'users': {'type': 'array', 'items': USER}, 'aud': {'type': 'string'},
                        'pagination': {'type': 'object'}}}
LINK = {'type': 'object', 'additionalProperties': False,
        'required': USER_REQUIRED + ['action_link', 'email_otp', 'hashed_token', 'verification_type', 'redirect_to'],
        'properties': dict(USER_PROPERTIES, action_link={'type': 'string'}, email_otp={'type': 'string'},
                           hashed_token={'type': 'string'}, verification_type={'type': 'string'},
                           redirect_to={'type': 'string'})}
GOTRUE_ERROR = {'type': 'object', 'additionalProperties': False, 'required': ['code', 'msg'],
                'properties': {'code': {'type': 'integer'}, 'error_code': {'type': 'string'},
                               'msg': {'type': 'string', 'minLength': 1}, 'error_id': {'type': 'string'}}}
GATEWAY_ERROR = {'type': 'object', 'additionalProperties': False, 'required': ['message'],
                 'properties': {'message': {'type': 'string'}, 'hint': {'type': 'string'}}}


def check(body, schema, where):
    from openapi_schema_validator import OAS30Validator, oas30_format_checker
    errors = ['%s at %s: %s' % (where, '/'.join(str(p) for p in e.absolute_path), e.message[:200])
              for e in OAS30Validator(schema, format_checker=oas30_format_checker).iter_errors(body)]
    assert not errors, '\n'.join(errors[:10])


@pytest.fixture
def auth(supabase_auth):
    return supabase_auth


def test_successful_answers_have_gotrue_shapes(auth):
    status, body, headers = auth.api('GET', '/admin/users', params={'page': 1, 'per_page': 10})
    assert status == 200 and int(headers['X-Total-Count']) == 50
    check(body, USERS, 'GET /admin/users')
    uid = auth.user_id('user3@example.com')
    status, body, _h = auth.api('GET', '/admin/users/%s' % uid)
    check(body, USER, 'GET /admin/users/{id}')
    assert body['factors']
    status, body, _h = auth.api('PUT', '/admin/users/%s' % uid, {'ban_duration': '1h'})
    check(body, USER, 'PUT /admin/users/{id}')
    assert 'banned_until' in body
    status, factors, _h = auth.api('GET', '/admin/users/%s/factors' % uid)
    check(factors, {'type': 'array', 'items': FACTOR}, 'GET /admin/users/{id}/factors')
    status, body, _h = auth.api('DELETE', '/admin/users/%s/factors/%s' % (uid, factors[0]['id']))
    check(body, FACTOR, 'DELETE /admin/users/{id}/factors/{factor_id}')
    status, body, _h = auth.api('POST', '/admin/generate_link', {'type': 'recovery', 'email': 'user3@example.com'})
    check(body, LINK, 'POST /admin/generate_link')
    status, body, _h = auth.api('DELETE', '/admin/users/%s' % uid, {'should_soft_delete': False})
    assert (status, body) == (200, {})


@pytest.mark.parametrize('method,path,body,status,code', [
    ('GET', '/admin/users/00000000-0000-4000-8000-000000000000', None, 404, 'user_not_found'),
    ('GET', '/admin/users/not-a-uuid', None, 404, 'validation_failed'),
    ('PUT', '/admin/users/@UID', {'ban_duration': '3 days'}, 400, 'validation_failed'),
    ('DELETE', '/admin/users/@UID/factors/00000000-0000-4000-8000-000000000000', None, 404, 'mfa_factor_not_found'),
    ('POST', '/admin/generate_link', {'type': 'recovery', 'email': 'nobody@example.com'}, 404, 'user_not_found'),
    ('POST', '/admin/generate_link', {'type': 'recovery', 'email': 'not-an-email'}, 400, 'validation_failed'),
    ('POST', '/admin/generate_link', {'type': 'bogus', 'email': 'user1@example.com'}, 400, 'validation_failed'),
])
def test_gotrue_errors_are_code_error_code_msg_with_the_header(auth, method, path, body, status, code):
    path = path.replace('@UID', auth.user_id('user1@example.com'))
    got, answer, headers = auth.api(method, path, body)
    assert (got, answer['error_code'], answer['code']) == (status, code, status)
    assert headers['x-sb-error-code'] == code
    check(answer, GOTRUE_ERROR, '%s %s' % (method, path))


def test_gateway_errors_are_message_and_hint(auth):
    for key in ('', 'wrong'):
        status, body, _h = auth.api('GET', '/admin/users', key=key, bearer='')
        assert status == 401
        check(body, GATEWAY_ERROR, 'gateway')
    status, body, _h = auth.api('GET', '/admin/users', key=auth.anon_key)
    assert status == 403
    check(body, GOTRUE_ERROR, 'not_admin')


def test_the_base_url_is_what_an_app_is_configured_with(auth):
    # supabase-js / supabase-py: createClient(SUPABASE_URL, key) -> `${SUPABASE_URL}/auth/v1/admin/...`
    assert auth.url.startswith('http://127.0.0.1:') and '/auth' not in auth.url
    status, body, _h = auth.api('GET', '/health', bearer='')
    assert status == 200 and set(body) == {'version', 'name', 'description'}

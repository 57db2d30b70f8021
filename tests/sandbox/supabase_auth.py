"""The Supabase Auth (GoTrue) admin API stand-in: what a project serves at ``https://<ref>.supabase.co/auth/v1``.

Served by serve.py on its own ports (HTTP and HTTPS), so that the base URL (``SUPABASE_URL`` in
``.sandbox/env``) is what an app is configured with, and Supabase's client libraries find ``/auth/v1``
beneath it unchanged. State lives in the sandbox database's ``auth`` schema (tests/sandbox/seed.sql and
seed_auth.sql: GoTrue's tables and column names), the same database the Management API stand-in's
``/database/query`` runs on (``PUT /_sandbox/supabase/database`` moves both): what a call did is visible
in SQL, and what SQL did is visible through the API.

Keys: the project's ``anon`` and ``service_role`` keys are HS256 JWTs (``{iss: supabase, ref, role, iat,
exp}``) signed with the project's JWT secret (``SANDBOX_SUPABASE_JWT_SECRET``, random when unset). Every
call needs a project key in ``apikey:`` (the API gateway answers 401 ``{"message": "No API key found in
request"}`` / ``{"message": "Invalid API key", "hint": ...}``); admin calls also need ``Authorization:
Bearer <service_role key>`` (GoTrue: 401 ``no_authorization`` without one, 403 ``bad_jwt`` for a token that
does not verify, 403 ``not_admin`` for another role). GoTrue's errors are ``{"code", "error_code", "msg"}``
with the ``x-sb-error-code`` header; a caller sending ``X-Supabase-Api-Version: 2024-01-01`` (or later), as
Supabase's client libraries do, gets ``{"code": <error_code>, "message"}`` and the version echoed.
The new keys work too: a secret key (``sb_secret_...``) created through the Management API stand-in, in
``apikey:`` alone (or also as the Bearer token), is a service_role caller; a deleted key gets 401, and so do
the legacy JWTs while the legacy keys are off (supabase_auth_keys.py).

=======================================================  ===================================================
call (under /auth/v1)                                    answer
=======================================================  ===================================================
GET    /health                                           ``{version, name, description}`` (apikey only)
GET    /admin/users?page=1&per_page=50&filter=           ``{users: [user], aud}``, newest first, users of the
                                                         ``authenticated`` audience; ``X-Total-Count`` and
                                                         ``Link`` (``rel="next"``, ``rel="last"``)
GET    /admin/users/{id}                                 the user: ``{id, aud, role, email, phone,
                                                         email_confirmed_at, confirmed_at, recovery_sent_at,
                                                         last_sign_in_at, app_metadata, user_metadata,
                                                         identities, factors (when any), created_at,
                                                         updated_at, banned_until (when set), is_anonymous}``
PUT    /admin/users/{id}                                 ``{ban_duration: "24h"|"1h30m"|"none", app_metadata,
                                                         user_metadata}``: Go duration syntax (ns us ms s m h;
                                                         no days); ``banned_until`` = now + duration, ``none``
                                                         clears it; audit ``user_modified`` (actor service_role)
DELETE /admin/users/{id}                                 ``{should_soft_delete}`` -> ``{}``; audit
                                                         ``user_deleted``
POST   /admin/generate_link                              ``{type: recovery|magiclink, email, redirect_to}`` ->
                                                         the user plus ``action_link, email_otp, hashed_token,
                                                         verification_type, redirect_to``; sets
                                                         ``recovery_token``/``recovery_sent_at``; audit
                                                         ``user_recovery_requested`` (actor the user)
GET    /admin/users/{id}/factors                         ``[{id, friendly_name, factor_type, status,
                                                         created_at, updated_at, phone, last_challenged_at}]``
DELETE /admin/users/{id}/factors/{factor_id}             the deleted factor; its sessions back to aal1; audit
                                                         ``factor_deleted`` (actor the user, with the caller's
                                                         address)
=======================================================  ===================================================

Errors: an id that is not a UUID 404 ``validation_failed`` ("user_id must be an UUID"), an unknown user 404
``user_not_found``, an unknown factor 404 ``mfa_factor_not_found``, a bad ban duration 400
``validation_failed`` ("invalid format for ban duration: time: ..."), an unknown e-mail for a recovery link
404 ``user_not_found`` ("User with this email not found"), a database that cannot be used 500
``unexpected_failure``.

No admin endpoint signs a user out by id (GoTrue's own logout needs the user's JWT): deleting the user's
``auth.sessions`` rows in SQL does it, and their ``auth.refresh_tokens`` go with them (ON DELETE CASCADE).

Admin (``/_sandbox/supabase_auth/...``): ``GET /state`` -> ``{ref, database_url, jwt_secret}``; ``POST
/audit`` ``{enabled: false}`` stops writing audit entries (GoTrue's ``GOTRUE_AUDIT_LOG_DISABLE_POSTGRES``).
"""

import base64
import datetime
import hashlib
import hmac
import json
import random
import re
import time
import uuid
from urllib.parse import quote, urlencode

from tests.sandbox.standin import Response, Router, Service, json_response, route
from tests.sandbox.supabase_auth_keys import GatewayKeys

PREFIX = '/auth/v1'
NIL_UUID = '00000000-0000-0000-0000-000000000000'
ADMIN_ROLES = ('service_role', 'supabase_admin')
GOTRUE_VERSION = 'v2.177.0'
API_VERSION_HEADER = 'X-Supabase-Api-Version'
API_VERSION_2024 = '2024-01-01'
SITE_URL = 'http://localhost:3000'
AUD = 'authenticated'
UUID_RE = re.compile(r'^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$')
EMAIL_RE = re.compile(r'^[^@\s]+@[^@\s]+\.[^@\s]+$')
USER_COLUMNS = ('id', 'aud', 'role', 'email', 'phone', 'email_confirmed_at', 'phone_confirmed_at', 'confirmed_at',
                'confirmation_sent_at', 'recovery_sent_at', 'invited_at', 'last_sign_in_at', 'raw_app_meta_data',
                'raw_user_meta_data', 'created_at', 'updated_at', 'banned_until', 'deleted_at', 'is_anonymous')
FACTOR_COLUMNS = ('id', 'friendly_name', 'factor_type', 'status', 'created_at', 'updated_at', 'phone',
                  'last_challenged_at')
# Go's time.ParseDuration units, in seconds
GO_UNITS = {'ns': 1e-9, 'us': 1e-6, '\u00b5s': 1e-6, '\u03bcs': 1e-6, 'ms': 1e-3, 's': 1.0, 'm': 60.0, 'h': 3600.0}


class GoTrueError(Exception):
    """An error answer in GoTrue's shape (or the gateway's ``{"message"}`` with ``gateway=True``)."""

    def __init__(self, status, error_code, msg, gateway=False, **extra):
        super(GoTrueError, self).__init__(msg)
        if gateway:
            body = dict({'message': msg}, **extra)
            headers = {}
        else:
            body = {'code': status, 'error_code': error_code, 'msg': msg}
            headers = {'x-sb-error-code': error_code}
        self.status, self.error_code, self.msg, self.gateway = status, error_code, msg, gateway
        self.response = Response(status, body, headers=headers)

    def answer(self, request):
        """The response for ``request``: GoTrue answers ``{code: error_code, message}`` and echoes the version
        when the caller asks for API version 2024-01-01 or later (``X-Supabase-Api-Version``, which Supabase's
        client libraries send), else ``{code: status, error_code, msg}``."""
        if self.gateway or api_version(request) < API_VERSION_2024:
            return self.response
        code = self.error_code or ('unexpected_failure' if self.status == 500 else 'unknown')
        return Response(self.status, {'code': code, 'message': self.msg},
                        headers={'x-sb-error-code': code, API_VERSION_HEADER: API_VERSION_2024})


def api_version(request):
    """The API version a caller asked for (``YYYY-MM-DD``), '' when none or not a date (GoTrue's initial)."""
    raw = (request.headers.get(API_VERSION_HEADER) or '').strip()
    try:
        datetime.datetime.strptime(raw, '%Y-%m-%d')
    except ValueError:
        return ''
    return raw


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def _unb64(text):
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


def make_jwt(secret, claims):
    head = _b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}, separators=(',', ':')).encode())
    body = _b64(json.dumps(claims, separators=(',', ':')).encode())
    sig = hmac.new(secret.encode(), ('%s.%s' % (head, body)).encode(), hashlib.sha256).digest()
    return '%s.%s.%s' % (head, body, _b64(sig))


def verify_jwt(secret, token):
    """The claims of an HS256 token signed with ``secret`` and not expired; ValueError with GoTrue's reason."""
    parts = (token or '').split('.')
    if len(parts) != 3:
        raise ValueError('token is malformed: token contains an invalid number of segments')
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        sig = _unb64(parts[2])
    except (ValueError, TypeError):
        raise ValueError('token is malformed: could not JSON decode header')
    if header.get('alg') != 'HS256':
        raise ValueError('token is unverifiable: error while executing keyfunc: unexpected signing method')
    want = hmac.new(secret.encode(), ('%s.%s' % (parts[0], parts[1])).encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(sig, want):
        raise ValueError('token signature is invalid: signature is invalid')
    if isinstance(claims.get('exp'), (int, float)) and claims['exp'] < time.time():
        raise ValueError('token has invalid claims: token is expired')
    return claims


def parse_go_duration(text):
    """Seconds of a Go duration (``1h30m``, ``24h``, ``-1.5h``); ValueError with Go's message."""
    orig = text
    if text in ('0', '+0', '-0'):
        return 0.0
    sign = 1.0
    if text and text[0] in '+-':
        sign, text = (-1.0 if text[0] == '-' else 1.0), text[1:]
    if not text:
        raise ValueError('time: invalid duration "%s"' % orig)
    total = 0.0
    for match in re.finditer(r'(\d+\.?\d*|\.\d+)([^\d.]*)', text):
        number, unit = match.group(1), match.group(2)
        if not unit:
            raise ValueError('time: missing unit in duration "%s"' % orig)
        if unit not in GO_UNITS:
            raise ValueError('time: unknown unit "%s" in duration "%s"' % (unit, orig))
        total += float(number) * GO_UNITS[unit]
    if re.sub(r'(\d+\.?\d*|\.\d+)([^\d.]*)', '', text):
        raise ValueError('time: invalid duration "%s"' % orig)
    return sign * total


def go_time(value):
    """A timestamp as Go's JSON shows it (RFC 3339, UTC); None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    return str(value)


def _user_view(row, factors):
    user = {'id': str(row['id']), 'aud': row['aud'] or '', 'role': row['role'] or '', 'email': row['email'] or '',
            'phone': row['phone'] or '', 'app_metadata': row['raw_app_meta_data'] or {},
            'user_metadata': row['raw_user_meta_data'] or {}, 'identities': [],
            'created_at': go_time(row['created_at']), 'updated_at': go_time(row['updated_at']),
            'is_anonymous': bool(row['is_anonymous'])}
    for key in ('email_confirmed_at', 'phone_confirmed_at', 'confirmed_at', 'confirmation_sent_at',
                'recovery_sent_at', 'invited_at', 'last_sign_in_at', 'banned_until', 'deleted_at'):
        if row[key] is not None:  # omitempty
            user[key] = go_time(row[key])
    if factors:
        user['factors'] = factors
    return user


def _factor_view(row):
    view = {'id': str(row['id']), 'created_at': go_time(row['created_at']), 'updated_at': go_time(row['updated_at']),
            'status': row['status'], 'factor_type': row['factor_type'], 'phone': row['phone'] or '',
            'last_challenged_at': go_time(row['last_challenged_at'])}
    if row['friendly_name']:
        view['friendly_name'] = row['friendly_name']
    return view


class AuthService(GatewayKeys, Service):
    """The Auth admin API of the one project of ``supabase`` (a SupabaseService: its ref and database)."""

    name = 'supabase_auth'

    def __init__(self, supabase, jwt_secret=None):
        Service.__init__(self)
        self.supabase = supabase
        self.jwt_secret = jwt_secret or ''.join(random.SystemRandom().choice(
            'abcdefghijklmnopqrstuvwxyz0123456789') for _i in range(40))
        now = int(time.time())
        claims = {'iss': 'supabase', 'ref': supabase.ref, 'iat': now - 3600, 'exp': now + 10 * 365 * 86400}
        self.anon_key = make_jwt(self.jwt_secret, dict(claims, role='anon'))
        self.service_role_key = make_jwt(self.jwt_secret, dict(claims, role='service_role'))
        self.base_url = None  # SUPABASE_URL (serve.py sets it): where action links point
        self.audit_enabled = True
        self.router = Router.of(self)
        self.share_legacy_keys()

    # -- Service interface ---------------------------------------------------------------------
    def reset(self, options=None):
        self.audit_enabled = True

    def state(self):
        return {'ref': self.supabase.ref, 'database_url': self.database_url, 'audit_enabled': self.audit_enabled}

    @property
    def database_url(self):
        with self.supabase.model.lock:
            return self.supabase.model.database_url

    def fault_response(self, kind, settings):
        if kind == '429':
            return GoTrueError(429, 'over_request_rate_limit', 'Request rate limit reached').response
        if kind in ('500', '502', '503'):
            status = int(kind)
            if status == 500:
                return GoTrueError(500, 'unexpected_failure', 'Unexpected failure, please check server logs for '
                                   'more information').response
            return Response(status, {'message': 'An invalid response was received from the upstream server'})
        return None

    def admin(self, request, subpath):
        if subpath == '/state' and request.method == 'GET':
            return json_response(dict(self.state(), jwt_secret=self.jwt_secret))
        if subpath == '/audit' and request.method in ('POST', 'PUT'):
            self.audit_enabled = bool((request.json() or {}).get('enabled', True))
            return json_response(self.state())
        return Service.admin(self, request, subpath)

    def handle(self, request):
        handler, params = self.router.match(request.method, request.raw_path)
        try:
            key_role = self._gateway(request)
            if handler is None:
                if not request.path.startswith(PREFIX + '/'):
                    raise GoTrueError(404, 'not_found', 'no Route matched with those values', gateway=True)
                raise GoTrueError(404, 'not_found', 'Not Found')
            if handler.__name__ != 'health':
                self._require_admin(request, key_role)
            return handler(request, **params)
        except GoTrueError as exc:
            return exc.answer(request)

    # -- authentication (the gateway's keys and the admin check: supabase_auth_keys.py) ---------------
    error = GoTrueError
    admin_roles = ADMIN_ROLES

    def verify(self, token):
        return verify_jwt(self.jwt_secret, token)

    # -- the database ----------------------------------------------------------------------------
    def _connect(self):
        import psycopg2
        import psycopg2.extras
        url = self.database_url
        if not url:
            raise GoTrueError(500, 'unexpected_failure', 'Database error: the sandbox has no database')
        try:
            conn = psycopg2.connect(url, connect_timeout=5, application_name='sandbox-supabase-auth')
        except psycopg2.Error:
            raise GoTrueError(500, 'unexpected_failure', 'Database error: cannot connect')
        conn.cursor_factory = psycopg2.extras.RealDictCursor
        return conn

    def _in_transaction(self, work):
        """Run ``work(cursor)`` in one transaction; its result."""
        import psycopg2
        conn = self._connect()
        try:
            with conn:
                with conn.cursor() as cur:
                    return work(cur)
        except psycopg2.Error as exc:
            raise GoTrueError(500, 'unexpected_failure', 'Database error: %s'
                              % (str(exc).strip().splitlines() or ['unknown'])[0])
        finally:
            conn.close()

    @staticmethod
    def _select_user(cur, where, params):
        cur.execute('SELECT %s FROM auth.users WHERE %s' % (', '.join(USER_COLUMNS), where), params)
        return cur.fetchall()

    @staticmethod
    def _factors(cur, user_id):
        cur.execute('SELECT %s FROM auth.mfa_factors WHERE user_id = %%s ORDER BY created_at, id'
                    % ', '.join(FACTOR_COLUMNS), (user_id,))
        return [_factor_view(row) for row in cur.fetchall()]

    def _load_user(self, cur, user_id, lock=False):
        if not UUID_RE.match(user_id or ''):
            raise GoTrueError(404, 'validation_failed', 'user_id must be an UUID')
        rows = self._select_user(cur, 'id = %s' + (' FOR UPDATE' if lock else ''), (user_id,))
        if not rows:
            raise GoTrueError(404, 'user_not_found', 'User not found')
        return rows[0]

    def _audit(self, cur, actor, action, log_type, traits=None, ip=''):
        """One auth.audit_log_entries row as GoTrue writes it (``actor`` a user row, or None: the admin)."""
        if not self.audit_enabled:
            return
        if actor is None:
            payload = {'actor_id': NIL_UUID, 'actor_via_sso': False, 'actor_username': 'service_role'}
        else:
            payload = {'actor_id': str(actor['id']), 'actor_via_sso': False,
                       'actor_username': actor['phone'] or actor['email'] or ''}
            name = (actor['raw_user_meta_data'] or {}).get('full_name')
            if name:
                payload['actor_name'] = name
        payload.update(action=action, log_type=log_type)
        if traits is not None:
            payload['traits'] = traits
        cur.execute('INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at, ip_address) '
                    'VALUES (%s, %s, %s, now(), %s)', (NIL_UUID, str(uuid.uuid4()), json.dumps(payload), ip or ''))

    # -- endpoints -------------------------------------------------------------------------------
    @route('GET', PREFIX + '/health')
    def health(self, request):
        return json_response({'version': GOTRUE_VERSION, 'name': 'GoTrue',
                              'description': 'GoTrue is a user registration and authentication API'})

    @route('GET', PREFIX + '/admin/users')
    def list_users(self, request):
        numbers = []
        for name, default in (('page', 1), ('per_page', 50)):
            raw = request.query.get(name, '')
            if raw and not raw.isdigit():
                raise GoTrueError(400, 'validation_failed', 'Bad Pagination Parameters: strconv.ParseUint: parsing '
                                  '"%s": invalid syntax' % raw)
            numbers.append(int(raw) if raw else default)
        page, per_page = max(numbers[0], 1), numbers[1]
        text = request.query.get('filter', '')
        where = 'instance_id = %s AND aud = %s'
        params = [NIL_UUID, AUD]
        if text:
            where += " AND (email ILIKE %s OR raw_user_meta_data->>'full_name' ILIKE %s)"
            params += ['%' + text + '%'] * 2

        def work(cur):
            cur.execute('SELECT count(*) AS n FROM auth.users WHERE ' + where, params)
            count = cur.fetchone()['n']
            rows = self._select_user(cur, where + ' ORDER BY created_at DESC, id LIMIT %s OFFSET %s',
                                     params + [per_page, (page - 1) * per_page])
            return count, [_user_view(row, self._factors(cur, row['id'])) for row in rows]
        count, users = self._in_transaction(work)
        pages = (count + per_page - 1) // per_page if per_page else 0
        query = dict(request.query)
        links = []
        if pages > page:
            links.append('<%s?%s>; rel="next"' % (request.path, urlencode(dict(query, page=str(page + 1)))))
        links.append('<%s?%s>; rel="last"' % (request.path, urlencode(dict(query, page=str(pages)))))
        return json_response({'users': users, 'aud': AUD},
                             headers={'X-Total-Count': str(count), 'Link': ', '.join(links)})

    @route('GET', PREFIX + '/admin/users/{user_id}')
    def get_user(self, request, user_id):
        def work(cur):
            row = self._load_user(cur, user_id)
            return _user_view(row, self._factors(cur, row['id']))
        return json_response(self._in_transaction(work))

    @route('PUT', PREFIX + '/admin/users/{user_id}')
    def update_user(self, request, user_id):
        body = self._body(request)
        ban = body.get('ban_duration') or ''
        seconds = None
        if not isinstance(ban, str):
            raise GoTrueError(400, 'bad_json', 'Could not parse request body as JSON: json: cannot unmarshal '
                              'number into Go struct field AdminUserParams.ban_duration of type string')
        if ban:
            try:
                seconds = 0.0 if ban == 'none' else parse_go_duration(ban)
            except ValueError as exc:
                raise GoTrueError(400, 'validation_failed', 'invalid format for ban duration: %s' % exc)

        def work(cur):
            row = self._load_user(cur, user_id, lock=True)
            if isinstance(body.get('app_metadata'), dict):
                cur.execute('UPDATE auth.users SET raw_app_meta_data = coalesce(raw_app_meta_data, %s) || %s '
                            'WHERE id = %s', ('{}', json.dumps(body['app_metadata']), row['id']))
            if isinstance(body.get('user_metadata'), dict):
                cur.execute('UPDATE auth.users SET raw_user_meta_data = coalesce(raw_user_meta_data, %s) || %s '
                            'WHERE id = %s', ('{}', json.dumps(body['user_metadata']), row['id']))
            if seconds is not None:
                cur.execute("UPDATE auth.users SET banned_until = CASE WHEN %s = 0 THEN NULL "
                            "ELSE now() + %s * interval '1 second' END WHERE id = %s", (seconds, seconds, row['id']))
            cur.execute('UPDATE auth.users SET updated_at = now() WHERE id = %s', (row['id'],))
            self._audit(cur, None, 'user_modified', 'user',
                        {'user_id': str(row['id']), 'user_email': row['email'] or '', 'user_phone': row['phone'] or ''})
            row = self._load_user(cur, user_id)
            return _user_view(row, self._factors(cur, row['id']))
        return json_response(self._in_transaction(work))

    @route('DELETE', PREFIX + '/admin/users/{user_id}')
    def delete_user(self, request, user_id):
        body = self._body(request)

        def work(cur):
            row = self._load_user(cur, user_id, lock=True)
            self._audit(cur, None, 'user_deleted', 'team',
                        {'user_id': str(row['id']), 'user_email': row['email'] or '', 'user_phone': row['phone'] or ''})
            if body.get('should_soft_delete'):
                if row['deleted_at'] is None:
                    cur.execute('UPDATE auth.users SET deleted_at = now() WHERE id = %s', (row['id'],))
                    cur.execute('DELETE FROM auth.mfa_factors WHERE user_id = %s', (row['id'],))
                    cur.execute('DELETE FROM auth.sessions WHERE user_id = %s', (row['id'],))
            else:
                cur.execute('DELETE FROM auth.users WHERE id = %s', (row['id'],))
        self._in_transaction(work)
        return json_response({})

    @route('POST', PREFIX + '/admin/generate_link')
    def generate_link(self, request):
        body = self._body(request)
        kind, email = body.get('type') or '', (body.get('email') or '').strip().lower()
        if not email:
            raise GoTrueError(400, 'validation_failed', 'An email address is required')
        if len(email) > 255 or not EMAIL_RE.match(email):
            raise GoTrueError(400, 'validation_failed', 'Unable to validate email address: invalid format')
        if kind not in ('recovery', 'magiclink'):
            raise GoTrueError(400, 'validation_failed', 'Invalid email action link type requested: %s' % kind)
        redirect = body.get('redirect_to') or request.query.get('redirect_to') or SITE_URL
        otp = ''.join(random.SystemRandom().choice('0123456789') for _i in range(6))
        hashed = hashlib.sha224((email + otp).encode()).hexdigest()

        def work(cur):
            rows = self._select_user(cur, 'lower(email) = %s AND aud = %s AND instance_id = %s FOR UPDATE',
                                     (email, AUD, NIL_UUID))
            if not rows:
                raise GoTrueError(404, 'user_not_found', 'User with this email not found')
            row = rows[0]
            self._audit(cur, row, 'user_recovery_requested', 'user')
            cur.execute('UPDATE auth.users SET recovery_token = %s, recovery_sent_at = now() WHERE id = %s',
                        (hashed, row['id']))
            row = self._select_user(cur, 'id = %s', (row['id'],))[0]
            return _user_view(row, self._factors(cur, row['id']))
        user = self._in_transaction(work)
        base = self.base_url or 'http://%s' % (request.headers.get('Host') or '127.0.0.1')
        link = '%s%s/verify?token=%s&type=%s&redirect_to=%s' % (base, PREFIX, hashed, kind, quote(redirect, safe=''))
        user.update(action_link=link, email_otp=otp, hashed_token=hashed, verification_type=kind,
                    redirect_to=redirect)
        return json_response(user)

    @route('GET', PREFIX + '/admin/users/{user_id}/factors')
    def list_factors(self, request, user_id):
        def work(cur):
            row = self._load_user(cur, user_id)
            return self._factors(cur, row['id'])
        return json_response(self._in_transaction(work))

    @route('DELETE', PREFIX + '/admin/users/{user_id}/factors/{factor_id}')
    def delete_factor(self, request, user_id, factor_id):
        def work(cur):
            row = self._load_user(cur, user_id)
            if not UUID_RE.match(factor_id or ''):
                raise GoTrueError(404, 'validation_failed', 'factor_id must be an UUID')
            cur.execute('SELECT %s FROM auth.mfa_factors WHERE id = %%s AND user_id = %%s FOR UPDATE'
                        % ', '.join(FACTOR_COLUMNS), (factor_id, row['id']))
            factor = cur.fetchone()
            if factor is None:
                raise GoTrueError(404, 'mfa_factor_not_found', 'Factor not found')
            self._audit(cur, row, 'factor_deleted', 'factor', {'user_id': str(row['id']), 'factor_id': factor_id},
                        ip=request.client or '')
            cur.execute('DELETE FROM auth.mfa_factors WHERE id = %s', (factor_id,))
            cur.execute("UPDATE auth.sessions SET aal = 'aal1', factor_id = NULL, updated_at = now() "
                        "WHERE factor_id = %s", (factor_id,))
            return _factor_view(factor)
        return json_response(self._in_transaction(work))

    @staticmethod
    def _body(request):
        try:
            body = request.json()
        except ValueError:
            raise GoTrueError(400, 'bad_json', 'Could not parse request body as JSON: invalid character')
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise GoTrueError(400, 'bad_json', 'Could not parse request body as JSON: json: cannot unmarshal array '
                              'into Go value of type map[string]interface {}')
        return body

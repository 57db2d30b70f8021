"""The security part of the Supabase Management API stand-in: the database password, API keys (new model)
and the logs endpoint. :class:`SecurityRoutes` is a mixin of ``SupabaseService`` (supabase_api.py); its
state lives in :class:`SecurityState` (``model.security``, made again on every reset).

==========================================================  ==================================================
call                                                        answer
==========================================================  ==================================================
PATCH  /v1/projects/{ref}/database/password                 ``{password}`` (at least 4 characters) -> 200
                                                            ``{message}``; the role of the stand-in's database
                                                            URL (``postgres`` in the sandbox) really gets the
                                                            new password (``ALTER ROLE CURRENT_USER PASSWORD``
                                                            with a SCRAM-SHA-256 verifier computed here, so the
                                                            plain value never reaches the server's logs nor
                                                            ``pg_stat_statements``). The sandbox server asks TCP
                                                            clients for a password (scram-sha-256 in pg_hba), so
                                                            the old one stops working for new connections;
                                                            sessions already connected stay connected. The
                                                            stand-in's own URL (``/database/query``) follows.
                                                            A database that cannot be changed: 500 ``{"message":
                                                            "Failed to update database password"}``
GET    /v1/projects/{ref}/api-keys?reveal=                  200 ``[{id, name, type, api_key, prefix,
                                                            description, hash, inserted_at, updated_at}]``:
                                                            the legacy ``anon`` / ``service_role`` JWTs (ids
                                                            ``anon`` / ``service_role``), then the publishable
                                                            and secret keys; a secret key's ``api_key`` is
                                                            masked (``sb_secret_AbCd````•••``) unless
                                                            ``reveal=true``
GET    /v1/projects/{ref}/api-keys/{id}?reveal=             200 one key; 404 ``{"message": "API key not found"}``
POST   /v1/projects/{ref}/api-keys?reveal=                  ``{type: publishable|secret, name, description?}``
                                                            -> 201 the key (masked unless reveal); a name not
                                                            matching ``^[a-z_][a-z0-9_]+$`` (4..64 characters),
                                                            another type, or a name that type already has:
                                                            400
DELETE /v1/projects/{ref}/api-keys/{id}?was_compromised=    200 the deleted key (masked); an id that is not a
       &reason=                                             UUID: 400 ``Validation failed (uuid is expected)``;
                                                            a legacy key: 400 (turn the pair off instead);
                                                            unknown: 404
GET    /v1/projects/{ref}/api-keys/legacy                   200 ``{enabled}``
PUT    /v1/projects/{ref}/api-keys/legacy?enabled=          200 ``{enabled}``; ``enabled`` missing or not
                                                            true/false: 400
GET    /v1/projects/{ref}/analytics/endpoints/logs.all      200 ``{result: [rows]}``; see below
       ?sql=&iso_timestamp_start=&iso_timestamp_end=
==========================================================  ==================================================

Logs, and what is NOT like Supabase: the real endpoint runs BigQuery-dialect SQL over the project's log
sources. The stand-in runs the query with SQLite (Python's ``sqlite3``) over an in-memory database holding
one table per source (``edge_logs``, ``postgres_logs``, ``auth_logs``, ``function_edge_logs``,
``function_logs``), each with the columns ``id`` (text), ``timestamp`` (microseconds since the epoch, as
the real rows carry it), ``event_message`` (text) and ``metadata`` (JSON text: read fields with
``json_extract(metadata, '$.request.path')``; BigQuery's ``cross join unnest(metadata)`` is not
supported). Only rows inside the window are in the tables, as on Supabase. Plain ``select ... from <source>
where ... order by ... limit`` queries work the same way on both. A ``metadata`` column in the result is
given back as JSON. A statement other than ``select``/``with``, or SQL that SQLite refuses, answers 200
``{error: {code: 400, errors: [{domain, location, locationType, message, reason}], message,
status: "INVALID_ARGUMENT"}}`` (the error shape the spec documents; the real API has been seen answering
``result: null`` and ``error: null`` too, which the spec does not allow, so the stand-in leaves them out). Window: without timestamps the last
minute; only a start: until now; only an end: the minute before it; a start after the end, a window over
24 hours, or a time that does not parse: 400 ``{"message": ...}``.

Seeded rows (every reset): over the last 72 hours, an ``edge_logs`` request every 20 minutes (``GET
/rest/v1/wines`` 200 from 198.51.100.10; every 6th ``POST /auth/v1/token`` 400 from 203.0.113.7), a
``postgres_logs`` line every hour, an ``auth_logs`` login every 2 hours. The password and key changes made
through the API add ``postgres_logs`` / ``auth_logs`` rows too.

Admin paths (under ``/_sandbox/supabase``):

* ``GET  /api_keys``  every key with its plain value, plus ``deleted`` (``[{id, name, type,
  was_compromised, reason, deleted_at}]``) and ``legacy_enabled``
* ``POST /logs``      ``[{source, timestamp (unix seconds or ISO), event_message, metadata?, id?}]`` adds
  rows; ``GET /logs`` every row; ``DELETE /logs`` removes every row
* ``GET  /database_password``  ``{changes: [{role, at}]}`` (never the value)
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import random
import re
import sqlite3
import string
import time
import uuid
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from tests.sandbox.standin import HttpProblem, Response, json_response, route

PASSWORD = '/v1/projects/{ref}/database/password'
API_KEYS = '/v1/projects/{ref}/api-keys'
API_KEY = '/v1/projects/{ref}/api-keys/{id}'
LEGACY = '/v1/projects/{ref}/api-keys/legacy'
LOGS = '/v1/projects/{ref}/analytics/endpoints/logs.all'

LOG_SOURCES = ('edge_logs', 'postgres_logs', 'auth_logs', 'function_edge_logs', 'function_logs')
KEY_NAME_RE = re.compile(r'^[a-z_][a-z0-9_]+$')
UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', re.I)
MAX_WINDOW_S = 24 * 3600
MASK = '\u2022' * 32
KEY_ALPHABET = string.ascii_letters + string.digits + '_-'
PASSWORD_MIN = 4


def _message(status, text):
    problem = HttpProblem(status, 'error', text)
    problem.response = Response(status, {'message': text})
    return problem


def _iso(unix):
    return datetime.datetime.fromtimestamp(unix, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def _parse_iso(value, name):
    try:
        parsed = datetime.datetime.fromisoformat(value.strip().replace('Z', '+00:00'))
    except (ValueError, AttributeError):
        raise _message(400, '%s must be an ISO 8601 date-time, not %r' % (name, value[:40]))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def _bool_query(request, name, required=False, default=False):
    raw = request.query.get(name)
    if raw is None:
        if required:
            raise _message(400, 'Validation failed (boolean string is expected): %s is required' % name)
        return default
    if raw.lower() not in ('true', 'false'):
        raise _message(400, 'Validation failed (boolean string is expected): %s' % name)
    return raw.lower() == 'true'


def scram_verifier(password, salt=None, iterations=4096):
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677 as libpq computes it)."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac('sha256', password.encode('utf-8'), salt, iterations)
    client_key = hmac.new(salted, b'Client Key', hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b'Server Key', hashlib.sha256).digest()

    def b64(raw):
        return base64.b64encode(raw).decode('ascii')
    return 'SCRAM-SHA-256$%d:%s$%s:%s' % (iterations, b64(salt), b64(stored_key), b64(server_key))


def url_with_password(url, password):
    """``url`` with its password replaced."""
    parts = urlsplit(url)
    user = parts.username or ''
    host = parts.hostname or ''
    if ':' in host:
        host = '[%s]' % host
    netloc = '%s:%s@%s' % (quote(unquote(user), safe=''), quote(password, safe=''), host)
    if parts.port:
        netloc += ':%d' % parts.port
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class SecurityState(object):
    """API keys, the legacy switch, log rows and password changes of the one project."""

    def __init__(self, model):
        self.model = model
        rng = random.Random('supabase-security-%s' % model.seed)
        now = time.time()
        created = now - 400 * 86400
        secrets = model.secrets
        legacy = getattr(model, 'legacy_api_keys', None) or {}  # the Auth stand-in's JWTs (supabase_auth_keys.py)
        self.keys = [self._key('legacy', 'anon', legacy.get('anon') or secrets['SUPABASE_ANON_KEY']['value'], created,
                               key_id='anon'),
                     self._key('legacy', 'service_role', legacy.get('service_role')
                               or secrets['SUPABASE_SERVICE_ROLE_KEY']['value'], created, key_id='service_role'),
                     self._key('publishable', 'default', self._new_value('publishable', rng), created - 1,
                               key_id=str(uuid.UUID(int=rng.getrandbits(128), version=4))),
                     self._key('secret', 'default', self._new_value('secret', rng), created - 1,
                               key_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))]
        self.legacy_enabled = True
        self.deleted = []
        self.password_changes = []
        self.logs = self._seed_logs(now)

    # -- keys ----------------------------------------------------------------------------------
    @staticmethod
    def _new_value(kind, rng=None):
        rng = rng or random.SystemRandom()
        return 'sb_%s_%s' % (kind, ''.join(rng.choice(KEY_ALPHABET) for _i in range(40)))

    @staticmethod
    def _key(kind, name, value, at, key_id=None, description=None):
        prefix = value[:len('sb_%s_' % kind) + 4] if kind != 'legacy' else None
        digest = base64.urlsafe_b64encode(hashlib.sha256(value.encode('utf-8')).digest()).decode('ascii').rstrip('=')
        return {'id': key_id or str(uuid.uuid4()), 'name': name, 'type': kind, 'api_key': value, 'prefix': prefix,
                'description': description, 'hash': digest if kind != 'legacy' else None,
                'inserted_at': _iso(at), 'updated_at': _iso(at)}

    @staticmethod
    def view(key, reveal):
        out = dict(key)
        if key['type'] == 'secret' and not reveal:
            out['api_key'] = key['prefix'] + MASK
        return out

    def find(self, key_id):
        for key in self.keys:
            if key['id'] == key_id:
                return key
        return None

    # -- logs ----------------------------------------------------------------------------------
    def add_log(self, source, unix, message, metadata=None, row_id=None):
        self.logs.append({'source': source, 'id': row_id or str(uuid.uuid4()), 'timestamp': int(unix * 1000000),
                          'event_message': message, 'metadata': metadata or {}})

    def _seed_logs(self, now):
        self.logs = []
        rng = random.Random('supabase-logs-%s' % self.model.seed)
        for i in range(72 * 3):
            at = now - i * 1200 - 30
            if i % 6 == 0:
                meta = {'request': {'method': 'POST', 'path': '/auth/v1/token', 'headers': {'x_real_ip': '203.0.113.7'}},
                        'response': {'status_code': 400}}
                text = 'POST | 400 | 203.0.113.7 | /auth/v1/token?grant_type=password'
            else:
                meta = {'request': {'method': 'GET', 'path': '/rest/v1/wines', 'headers': {'x_real_ip': '198.51.100.10'}},
                        'response': {'status_code': 200}}
                text = 'GET | 200 | 198.51.100.10 | /rest/v1/wines?select=*'
            self.add_log('edge_logs', at, text, meta, row_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        for i in range(72):
            self.add_log('postgres_logs', now - i * 3600 - 90, 'connection authorized: user=authenticator database=postgres',
                         {'parsed': {'error_severity': 'LOG', 'user_name': 'authenticator'}},
                         row_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        for i in range(36):
            self.add_log('auth_logs', now - i * 7200 - 150,
                         json.dumps({'action': 'login', 'level': 'info', 'msg': 'Login', 'remote_addr': '198.51.100.10'}),
                         {'level': 'info', 'path': '/token'}, row_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        return self.logs

    def query_logs(self, sql, start, end):
        """{result, error} of ``sql`` over the rows in [start, end] (unix seconds)."""
        statement = sql.strip().rstrip(';').strip()
        if not re.match(r'(?is)^(select|with)\b', statement) or ';' in statement:
            return _sql_error('only one SELECT statement is allowed')
        db = sqlite3.connect(':memory:')
        try:
            for source in LOG_SOURCES:
                db.execute('CREATE TABLE %s (id TEXT, timestamp INTEGER, event_message TEXT, metadata TEXT)' % source)
            low, high = int(start * 1000000), int(end * 1000000)
            for row in self.logs:
                if low <= row['timestamp'] <= high:
                    db.execute('INSERT INTO %s VALUES (?, ?, ?, ?)' % row['source'],
                               (row['id'], row['timestamp'], row['event_message'], json.dumps(row['metadata'])))
            try:
                cursor = db.execute(statement)
            except sqlite3.Error as exc:
                return _sql_error(str(exc))
            names = [col[0] for col in cursor.description or ()]
            rows = []
            for values in cursor.fetchall():
                row = dict(zip(names, values))
                if isinstance(row.get('metadata'), str):
                    try:
                        row['metadata'] = json.loads(row['metadata'])
                    except ValueError:
                        pass
                rows.append(row)
            return {'result': rows}
        finally:
            db.close()

    def view_state(self):
        return {'keys': [dict(k) for k in self.keys], 'legacy_enabled': self.legacy_enabled,
                'deleted': [dict(d) for d in self.deleted], 'password_changes': [dict(c) for c in self.password_changes],
                'log_rows': len(self.logs)}


def _sql_error(text):
    return {'error': {'code': 400, 'message': text, 'status': 'INVALID_ARGUMENT',
                      'errors': [{'domain': 'global', 'location': 'q', 'locationType': 'parameter',
                                  'message': text, 'reason': 'invalidQuery'}]}}


def change_password(database_url, password):
    """ALTER ROLE CURRENT_USER with a SCRAM verifier of ``password``; the role's name. Raises HttpProblem 500."""
    try:
        import psycopg2
    except ImportError:
        raise _message(500, 'Failed to update database password')
    if not database_url:
        raise _message(500, 'Failed to update database password')
    try:
        conn = psycopg2.connect(database_url, connect_timeout=5, application_name='sandbox-supabase-api')
    except psycopg2.Error:
        raise _message(500, 'Failed to update database password')
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute('SELECT current_user')
            role = cur.fetchone()[0]
            cur.execute('ALTER ROLE CURRENT_USER PASSWORD %s', (scram_verifier(password),))
        return role
    except psycopg2.Error:
        raise _message(500, 'Failed to update database password')
    finally:
        conn.close()


class SecurityRoutes(object):
    """Routes of the security endpoints; mixed into SupabaseService (``self.model`` is the SupabaseModel)."""

    @property
    def security(self):
        return self.model.security

    # -- the database password -----------------------------------------------------------------
    @route('PATCH', PASSWORD)
    def update_password(self, request, ref):
        body = _json(request)
        password = body.get('password') if isinstance(body, dict) else None
        if not isinstance(password, str):
            raise _message(400, 'password must be a string')
        if len(password) < PASSWORD_MIN:
            raise _message(400, 'password must be longer than or equal to %d characters' % PASSWORD_MIN)
        model = self.model
        role = change_password(model.database_url, password)
        old = model.database_url
        model.database_url = url_with_password(old, password)
        default = model.default_database_url
        if default and _same_role(default, old):
            model.default_database_url = url_with_password(default, password)
        now = time.time()
        self.security.password_changes.append({'role': role, 'at': _iso(now)})
        self.security.add_log('postgres_logs', now, 'ALTER ROLE: password of role "%s" changed' % role,
                              {'parsed': {'error_severity': 'LOG', 'command_tag': 'ALTER ROLE'}})
        return json_response({'message': 'Database password updated'})

    # -- API keys ------------------------------------------------------------------------------
    @route('GET', API_KEYS)
    def list_api_keys(self, request, ref):
        reveal = _bool_query(request, 'reveal')
        return json_response([self.security.view(k, reveal) for k in self.security.keys])

    @route('POST', API_KEYS)
    def create_api_key(self, request, ref):
        reveal = _bool_query(request, 'reveal')
        body = _json(request)
        if not isinstance(body, dict):
            raise _message(400, 'the body must be an object {type, name, description}')
        kind, name = body.get('type'), body.get('name')
        if kind not in ('publishable', 'secret'):
            raise _message(400, 'type must be one of the following values: publishable, secret')
        if not isinstance(name, str) or not 4 <= len(name) <= 64 or not KEY_NAME_RE.match(name):
            raise _message(400, 'name must match /^[a-z_][a-z0-9_]+$/ and be 4 to 64 characters long')
        description = body.get('description')
        if description is not None and not isinstance(description, str):
            raise _message(400, 'description must be a string')
        state = self.security
        if any(k['name'] == name and k['type'] == kind for k in state.keys):
            raise _message(400, 'A %s API key with the name %s already exists' % (kind, name))
        key = state._key(kind, name, state._new_value(kind), time.time(), description=description)
        state.keys.append(key)
        state.add_log('auth_logs', time.time(), json.dumps({'action': 'api_key_created', 'name': name, 'type': kind}))
        return json_response(state.view(key, reveal), status=201)

    @route('GET', LEGACY)
    def get_legacy(self, request, ref):
        return json_response({'enabled': self.security.legacy_enabled})

    @route('PUT', LEGACY)
    def put_legacy(self, request, ref):
        enabled = _bool_query(request, 'enabled', required=True)
        self.security.legacy_enabled = enabled
        return json_response({'enabled': enabled})

    @route('GET', API_KEY)
    def get_api_key(self, request, ref, id):  # noqa: A002 (the path's name)
        reveal = _bool_query(request, 'reveal')
        key = self.security.find(id)
        if key is None:
            raise _message(404, 'API key not found')
        return json_response(self.security.view(key, reveal))

    @route('DELETE', API_KEY)
    def delete_api_key(self, request, ref, id):  # noqa: A002
        reveal = _bool_query(request, 'reveal')
        compromised = _bool_query(request, 'was_compromised')
        reason = request.query.get('reason')
        state = self.security
        key = state.find(id)
        if key is not None and key['type'] == 'legacy':
            raise _message(400, 'Legacy API keys cannot be deleted; disable them with PUT /v1/projects/%s/api-keys/'
                                'legacy?enabled=false' % ref)
        if not UUID_RE.match(id):
            raise _message(400, 'Validation failed (uuid is expected)')
        if key is None:
            raise _message(404, 'API key not found')
        state.keys.remove(key)
        state.deleted.append({'id': key['id'], 'name': key['name'], 'type': key['type'],
                              'was_compromised': compromised, 'reason': reason, 'deleted_at': _iso(time.time())})
        state.add_log('auth_logs', time.time(), json.dumps({'action': 'api_key_deleted', 'name': key['name'],
                                                            'was_compromised': compromised, 'reason': reason}))
        return json_response(state.view(key, reveal))

    # -- logs ----------------------------------------------------------------------------------
    @route('GET', LOGS)
    def query_logs(self, request, ref):
        start_raw, end_raw = request.query.get('iso_timestamp_start'), request.query.get('iso_timestamp_end')
        now = time.time()
        end = _parse_iso(end_raw, 'iso_timestamp_end') if end_raw else now
        start = _parse_iso(start_raw, 'iso_timestamp_start') if start_raw else end - 60
        if start > end:
            raise _message(400, 'iso_timestamp_start must be before iso_timestamp_end')
        if end - start > MAX_WINDOW_S:
            raise _message(400, 'The time range between iso_timestamp_start and iso_timestamp_end must be 24 hours '
                                'or less')
        sql = request.query.get('sql') or ''
        if not sql.strip():
            return json_response({'result': []})
        return json_response(self.security.query_logs(sql, start, end))

    # -- admin ---------------------------------------------------------------------------------
    def security_admin(self, request, subpath, body):
        """The answer to a security admin path, or None when ``subpath`` is not one of them."""
        state = self.security
        method = request.method
        if subpath == '/api_keys' and method == 'GET':
            return json_response(state.view_state())
        if subpath == '/database_password' and method == 'GET':
            return json_response({'changes': [dict(c) for c in state.password_changes]})
        if subpath == '/logs' and method == 'GET':
            return json_response([dict(r) for r in state.logs])
        if subpath == '/logs' and method == 'DELETE':
            state.logs = []
            return json_response([])
        if subpath == '/logs' and method in ('POST', 'PUT'):
            if not isinstance(body, list):
                raise _message(400, 'POST /logs takes [{source, timestamp, event_message, metadata?, id?}]')
            for item in body:
                if not isinstance(item, dict) or item.get('source') not in LOG_SOURCES:
                    raise _message(400, 'each row needs a source among %s' % ', '.join(LOG_SOURCES))
                stamp = item.get('timestamp', time.time())
                unix = stamp if isinstance(stamp, (int, float)) else _parse_iso(str(stamp), 'timestamp')
                state.add_log(item['source'], unix, str(item.get('event_message') or ''), item.get('metadata'),
                              row_id=item.get('id'))
            return json_response({'rows': len(state.logs)})
        return None


def _same_role(url_a, url_b):
    a, b = urlsplit(url_a), urlsplit(url_b)
    return (a.hostname, a.port, a.username) == (b.hostname, b.port, b.username)


def _json(request):
    try:
        return request.json()
    except ValueError:
        raise _message(400, 'Unexpected token in JSON body: the body must be JSON')

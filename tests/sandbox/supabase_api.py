"""The Supabase Management API stand-in: one organization, one project, served by serve.py.

What it speaks (real paths, field names, status codes; errors are ``{"message": "..."}``;
``Authorization: Bearer <PAT>`` on every call, the token being ``sbp_`` + 40 hex digits; a
project ref is 20 lowercase letters):

==========================================================  ==================================================
call                                                        answer
==========================================================  ==================================================
GET    /v1/projects/{ref}                                   200 ``{id, ref, organization_id, organization_slug,
                                                            name, region, created_at, status, database {host,
                                                            version, postgres_engine, release_channel}}``
GET    /v1/projects/{ref}/health?services=db&services=auth  200 ``[{name, healthy, status, info?, error?}]`` in
                                                            the order asked; ``timeout_ms`` 0..10000; missing or
                                                            unknown services: 400
GET    /v1/projects/{ref}/database/backups                  200 ``{region, walg_enabled, pitr_enabled, backups:
                                                            [{id, is_physical_backup, status, inserted_at}],
                                                            physical_backup_data {earliest_physical_backup_
                                                            date_unix, latest_physical_backup_date_unix}}``
                                                            (``physical_backup_data`` is ``{}`` without PITR)
POST   /v1/projects/{ref}/database/backups/restore-pitr     ``{recovery_time_target_unix}`` -> 201 (no body);
                                                            400 PITR off / outside the window / not active
POST   /v1/projects/{ref}/database/backups/restore          ``{id}`` -> 201; 404 unknown backup; 400 not
                                                            COMPLETED / project not active
GET    /v1/projects/{ref}/secrets                           200 ``[{name, value, updated_at}]``: value is the
                                                            SHA-256 hex digest of the secret
POST   /v1/projects/{ref}/secrets                           ``[{name, value}]`` -> 201; a name starting with
                                                            ``SUPABASE_`` -> 400 and nothing is stored
DELETE /v1/projects/{ref}/secrets                           ``["NAME", ...]`` -> 200 (unknown names ignored)
POST   /v1/projects/{ref}/network-bans/retrieve             201 ``{banned_ipv4_addresses: [...]}``
DELETE /v1/projects/{ref}/network-bans                      ``{ipv4_addresses, requester_ip?, identifier?}``
                                                            -> 200 (addresses not banned are ignored)
POST   /v1/projects/{ref}/database/query                    ``{query, parameters?, read_only?}`` -> 201 with the
                                                            rows of the last statement (``[{column: value}]``)
==========================================================  ==================================================

The database password, the API keys (new model) and ``analytics/endpoints/logs.all`` are served by the
``SecurityRoutes`` mixin: see supabase_security.py.

Errors: 401 ``{"message": "Unauthorized"}`` for a missing or wrong token; 404 ``{"message":
"Project not found"}`` for any other ref; an unknown path or method answers 404 ``Cannot <METHOD>
<path>`` (as the real API's framework does); bad bodies 400.

Rate limit: 120 requests per minute per endpoint (method + path pattern) and token, fixed
one-minute windows; every authenticated answer carries ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (milliseconds until the window resets); past
the limit the answer is 429 ``{"message": "ThrottlerException: Too Many Requests"}`` with those
headers plus ``Retry-After`` (seconds) and nothing is done. An injected ``429`` fault has the same
shape.

The SQL endpoint runs the query on the sandbox PostgreSQL (``database_url``, given to serve.py):
as one simple-protocol query (several statements form one implicit transaction, exactly as on
Supabase), in a read-only session when ``read_only`` is true, with ``parameters`` (``$1``...) bound
through a prepared statement. SQL errors answer 400 ``{"message": "Failed to run sql query: ERROR:
<SQLSTATE>: <message>..."}``; a database that cannot be reached answers 500.

Time passes: a restore turns the project ``RESTORING`` for ``restoring_s`` (every service reports
``COMING_UP``), then ``COMING_UP`` for ``coming_up_s``, then ``ACTIVE_HEALTHY`` (or
``RESTORE_FAILED`` when the admin asked for the next restore to fail). State advances lazily on
every request.

Admin paths (under ``/_sandbox/supabase``; see serve.py for the hub-level ones):

* ``GET   /state``              the whole model: ``project`` (as the API shows it), ``services``,
  ``backups`` (settings), ``bans``, ``secrets`` (plain values), ``restores``, ``timings``,
  ``rate_limit``, ``database_url``, ``token``
* ``GET   /project``            what ``GET /v1/projects/{ref}`` answers (not logged, not counted)
* ``PATCH /project``            ``{status}``: one of the API's statuses. Ends a restore in progress
  (its record becomes FAILED for RESTORE_FAILED, else COMPLETED)
* ``PATCH /services/{name}``    ``{status: ACTIVE_HEALTHY|COMING_UP|UNHEALTHY, error: str|null}``
* ``PUT   /backups``            ``{pitr_enabled: true, walg_enabled: true, backups: null|[...],
  earliest_unix: null, latest_unix: null, region: null}``: replaces the backup settings. ``backups``
  null: the default seven daily backups; items ``{id?, status: COMPLETED, is_physical_backup: true,
  inserted_at: ISO string or unix seconds}``. ``earliest_unix`` null: now - 7 days;
  ``latest_unix`` null: always "now". Answers the API view.
* ``GET   /backups``            the API view
* ``PUT   /bans``               ``["1.2.3.4", ...]`` or ``{banned_ipv4_addresses: [...]}``; ``GET /bans``
* ``GET   /secrets``            ``{name: plain value}``; ``POST /secrets`` ``{name: value}`` seeds
  (no name check)
* ``GET   /restores``           ``[{kind: pitr|physical, recovery_time_target_unix | id (+ backup
  inserted_at), requested_at, status: RESTORING|COMPLETED|FAILED, completed_at}]``
* ``POST  /next_restore``       ``{fail: true}``: the next restore ends in RESTORE_FAILED
* ``PUT   /database``           ``{url}`` (null: the one serve.py was started with); ``GET /database``
* ``PUT   /rate_limit``         ``{limit: 120, window_s: 60}``
* timings (``POST /_sandbox/timings``): ``restoring_s`` (default 0.3), ``coming_up_s`` (0.1)
* reset (``POST /_sandbox/reset``): no options; the default state is one project (ACTIVE_HEALTHY,
  every service healthy), PITR on with a window over the last 7 days, 7 daily physical backups
  COMPLETED (the newest 3 h old), two banned IPs, the four reserved ``SUPABASE_*`` secrets.
"""

import datetime
import decimal
import hashlib
import ipaddress
import json
import math
import random
import re
import string
import threading
import time
import uuid

from tests.sandbox.standin import HttpProblem, ModelService, Response, Router, json_response, route
from tests.sandbox.supabase_security import SecurityRoutes, SecurityState

TOKEN_RE = re.compile(r'^sbp_[0-9a-f]{40}$')
REF_RE = re.compile(r'^[a-z]{20}$')
PROJECT_STATUSES = ('INACTIVE', 'ACTIVE_HEALTHY', 'ACTIVE_UNHEALTHY', 'COMING_UP', 'UNKNOWN', 'GOING_DOWN',
                    'INIT_FAILED', 'REMOVED', 'RESTORING', 'UPGRADING', 'PAUSING', 'RESTORE_FAILED', 'RESTARTING',
                    'PAUSE_FAILED', 'RESIZING')
ACTIVE_STATUSES = ('ACTIVE_HEALTHY', 'ACTIVE_UNHEALTHY')
SERVICES = ('auth', 'db', 'db_postgres_user', 'pooler', 'realtime', 'rest', 'storage', 'pg_bouncer')
SERVICE_STATUSES = ('COMING_UP', 'ACTIVE_HEALTHY', 'UNHEALTHY')
BACKUP_STATUSES = ('COMPLETED', 'FAILED', 'PENDING', 'REMOVED', 'ARCHIVED', 'CANCELLED')
# The Management API paths the stand-in serves (the tests name them the same way).
PROJECT = '/v1/projects/{ref}'
HEALTH = '/v1/projects/{ref}/health'
BACKUPS = '/v1/projects/{ref}/database/backups'
PITR = '/v1/projects/{ref}/database/backups/restore-pitr'
PHYSICAL = '/v1/projects/{ref}/database/backups/restore'
SECRETS = '/v1/projects/{ref}/secrets'
BANS_RETRIEVE = '/v1/projects/{ref}/network-bans/retrieve'
BANS = '/v1/projects/{ref}/network-bans'
QUERY = '/v1/projects/{ref}/database/query'

DEFAULT_TIMINGS = {'restoring_s': 0.3, 'coming_up_s': 0.1}
DEFAULT_RATE_LIMIT = {'limit': 120, 'window_s': 60.0}
DEFAULT_BANS = ('203.0.113.7', '198.51.100.23')
REGION = 'us-east-1'
PG_VERSION = '15.8.1.085'
SECRET_NAME_MAX = 256
SECRET_VALUE_MAX = 24576
QUERY_TIMEOUT_MS = 120000
DAY = 86400


def message(status, text, headers=None):
    """An HttpProblem whose answer is Supabase's ``{"message": ...}``."""
    problem = HttpProblem(status, 'error', text)
    problem.response = Response(status, {'message': text}, headers=headers)
    return problem


def _bad(text):
    return message(400, text)


def iso(unix):
    return datetime.datetime.fromtimestamp(unix, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def parse_time(value, what):
    """Unix seconds from an int/float or an ISO 8601 string."""
    if isinstance(value, bool):
        raise _bad('%s must be unix seconds or an ISO 8601 time' % what)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace('Z', '+00:00'))
        except ValueError:
            raise _bad('%s must be unix seconds or an ISO 8601 time, not %r' % (what, value))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.timezone.utc)
        return parsed.timestamp()
    raise _bad('%s must be unix seconds or an ISO 8601 time' % what)


def is_ipv4(value):
    try:
        ipaddress.IPv4Address(value)
        return True
    except (ipaddress.AddressValueError, ValueError):
        return False


def jsonable(value):
    """A database value as the SQL endpoint's JSON shows it."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return '\\x' + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return dict((str(k), jsonable(v)) for k, v in value.items())
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def run_sql(database_url, query, parameters=None, read_only=False, timeout_ms=QUERY_TIMEOUT_MS):
    """Run ``query`` on the database; the rows of its last statement as a list of dicts.

    Raises ``HttpProblem`` (400 for an SQL error, 500 when the database cannot be used).
    """
    try:
        import psycopg2
    except ImportError:
        raise message(500, 'Failed to run sql query: the sandbox has no psycopg2')
    if not database_url:
        raise message(500, 'Failed to run sql query: the sandbox has no database (start serve.py with '
                           '--database-url or SANDBOX_DATABASE_URL)')
    try:
        conn = psycopg2.connect(database_url, connect_timeout=5, application_name='sandbox-supabase-api',
                                options='-c statement_timeout=%d' % int(timeout_ms))
    except psycopg2.Error as exc:
        raise message(500, 'Failed to run sql query: %s' % (str(exc).strip().splitlines() or ['connection failed'])[0])
    try:
        conn.set_session(readonly=bool(read_only), autocommit=True)
        with conn.cursor() as cur:
            if parameters:
                # bind $1, $2, ... as Supabase does (extended protocol): a prepared statement
                cur.execute('PREPARE sandbox_query AS ' + query.strip().rstrip(';'))
                cur.execute('EXECUTE sandbox_query (%s)' % ', '.join(['%s'] * len(parameters)),
                            [json.dumps(p) if isinstance(p, (dict, list)) else p for p in parameters])
            else:
                cur.execute(query)
            if cur.description is None:
                return []
            names = [col.name for col in cur.description]
            return [dict(zip(names, [jsonable(v) for v in row])) for row in cur.fetchall()]
    except psycopg2.Error as exc:
        if exc.pgcode:
            text = (exc.pgerror or str(exc)).strip()
            for prefix in ('ERROR:', 'FATAL:'):
                if text.startswith(prefix):
                    text = text[len(prefix):].strip()
            raise _bad('Failed to run sql query: ERROR:  %s: %s\n' % (exc.pgcode, text))
        raise message(500, 'Failed to run sql query: %s' % (str(exc).strip().splitlines() or ['unknown error'])[0])
    finally:
        conn.close()


class SupabaseModel(object):
    """The organization's project, its services, backups, restores, secrets and bans."""

    def __init__(self, token, timings=None, seed=None, database_url=None):
        self.lock = threading.RLock()
        self.token = token
        self.default_timings = dict(DEFAULT_TIMINGS, **(timings or {}))
        self.timings = dict(self.default_timings)
        self.seed = random.SystemRandom().randrange(1 << 30) if seed is None else seed
        self.default_database_url = database_url
        self.reset()

    # -- seeding -----------------------------------------------------------------------------
    def reset(self, options=None):
        if options:
            raise _bad('the supabase stand-in takes no reset options (got %s)' % ', '.join(sorted(options)))
        with self.lock:
            rng = random.Random('supabase-%s' % self.seed)  # the same ref after every reset
            now = time.time()
            self.ref = ''.join(rng.choice(string.ascii_lowercase) for _i in range(20))
            self.org_slug = ''.join(rng.choice(string.ascii_lowercase) for _i in range(20))
            self.project = {'id': self.ref, 'ref': self.ref, 'organization_id': self.org_slug,
                            'organization_slug': self.org_slug, 'name': 'pourtrait', 'region': REGION,
                            'created_at': iso(now - 400 * DAY)}
            self.status = 'ACTIVE_HEALTHY'
            self.services = dict((name, {'status': 'ACTIVE_HEALTHY', 'error': None}) for name in SERVICES)
            self.backup_id_base = rng.randrange(100000, 900000)
            self.set_backups({})
            self.bans = list(DEFAULT_BANS)
            self.secrets = {}
            jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.'
            for name, value in (('SUPABASE_URL', 'https://%s.supabase.co' % self.ref),
                                ('SUPABASE_ANON_KEY', jwt + ''.join(rng.choice(string.ascii_letters) for _i in range(60))),
                                ('SUPABASE_SERVICE_ROLE_KEY',
                                 jwt + ''.join(rng.choice(string.ascii_letters) for _i in range(60))),
                                ('SUPABASE_DB_URL', 'postgresql://postgres:sandbox@db.%s.supabase.co:5432/postgres'
                                 % self.ref)):
                self.secrets[name] = {'value': value, 'updated_at': iso(now - 400 * DAY)}
            self.restores = []
            self.operation = None
            self.next_restore_fails = False
            self.database_url = self.default_database_url
            self.rate_limit = dict(DEFAULT_RATE_LIMIT)
            self.rate_windows = {}
            self.timings = dict(self.default_timings)
            self.security = SecurityState(self)  # API keys, legacy switch, log rows (supabase_security.py)

    def set_backups(self, spec):
        spec = dict(spec or {})
        unknown = set(spec) - {'pitr_enabled', 'walg_enabled', 'backups', 'earliest_unix', 'latest_unix', 'region'}
        if unknown:
            raise _bad('unknown backup settings: %s' % ', '.join(sorted(unknown)))
        now = time.time()
        items = spec.get('backups')
        if items is None:
            # seven daily physical backups, the newest 3 hours old
            items = [{'id': self.backup_id_base + 6 - i, 'inserted_at': now - 3 * 3600 - i * DAY} for i in range(7)]
        if not isinstance(items, list):
            raise _bad('backups must be a list')
        backups = []
        used = set()
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise _bad('each backup must be an object')
            extra = set(item) - {'id', 'status', 'is_physical_backup', 'inserted_at'}
            if extra:
                raise _bad('unknown backup fields: %s' % ', '.join(sorted(extra)))
            status = item.get('status', 'COMPLETED')
            if status not in BACKUP_STATUSES:
                raise _bad('backup status must be one of %s' % ', '.join(BACKUP_STATUSES))
            backup_id = item.get('id')
            if backup_id is None:
                backup_id = self.backup_id_base + 100 + i
            if isinstance(backup_id, bool) or not isinstance(backup_id, int) or backup_id in used:
                raise _bad('backup ids must be distinct integers')
            used.add(backup_id)
            inserted = parse_time(item.get('inserted_at', now - 3 * 3600 - i * DAY), 'inserted_at')
            backups.append({'id': backup_id, 'is_physical_backup': bool(item.get('is_physical_backup', True)),
                            'status': status, 'inserted_at': inserted})
        earliest = spec.get('earliest_unix')
        latest = spec.get('latest_unix')
        for value, what in ((earliest, 'earliest_unix'), (latest, 'latest_unix')):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise _bad('%s must be unix seconds or null' % what)
        with self.lock:
            self.backup_settings = {
                'region': spec.get('region') or REGION,
                'pitr_enabled': bool(spec.get('pitr_enabled', True)),
                'walg_enabled': bool(spec.get('walg_enabled', True)),
                'backups': sorted(backups, key=lambda b: b['inserted_at'], reverse=True),
                'earliest_unix': int(earliest) if earliest is not None else int(now - 7 * DAY),
                'latest_unix': int(latest) if latest is not None else None}
        return self.backups_view()

    # -- time ----------------------------------------------------------------------------------
    def advance(self):
        op = self.operation
        if op is None:
            return
        duration = self.timings['restoring_s'] + self.timings['coming_up_s']
        if time.time() - op['started'] < duration:
            return
        self.finish_operation('RESTORE_FAILED' if op['fail'] else 'ACTIVE_HEALTHY', op['started'] + duration)

    def finish_operation(self, status, at):
        op, self.operation = self.operation, None
        self.status = status
        op['record']['status'] = 'FAILED' if status == 'RESTORE_FAILED' else 'COMPLETED'
        op['record']['completed_at'] = at

    def current_status(self):
        op = self.operation
        if op is None:
            return self.status
        if time.time() - op['started'] < self.timings['restoring_s']:
            return 'RESTORING'
        return 'COMING_UP'

    # -- views ---------------------------------------------------------------------------------
    def project_view(self):
        view = dict(self.project)
        view['status'] = self.current_status()
        view['database'] = {'host': 'db.%s.supabase.co' % self.ref, 'version': PG_VERSION,
                            'postgres_engine': '15', 'release_channel': 'ga'}
        return view

    def service_view(self, name):
        if self.operation is not None:
            status, error = 'COMING_UP', None
        else:
            status, error = self.services[name]['status'], self.services[name]['error']
        view = {'name': name, 'healthy': status == 'ACTIVE_HEALTHY', 'status': status}
        if status == 'ACTIVE_HEALTHY':
            if name == 'auth':
                view['info'] = {'name': 'GoTrue', 'version': 'v2.177.0',
                                'description': 'GoTrue is a user registration and authentication API'}
            elif name == 'realtime':
                view['info'] = {'healthy': True, 'db_connected': True, 'replication_connected': True,
                                'connected_cluster': 1}
            elif name == 'rest':
                view['info'] = {'db_schema': 'public,graphql_public'}
        elif error:
            view['error'] = error
        elif status == 'UNHEALTHY':
            view['error'] = 'service %s is not responding' % name
        return view

    def window(self):
        settings = self.backup_settings
        latest = settings['latest_unix']
        return settings['earliest_unix'], int(time.time()) if latest is None else latest

    def backups_view(self):
        settings = self.backup_settings
        view = {'region': settings['region'], 'walg_enabled': settings['walg_enabled'],
                'pitr_enabled': settings['pitr_enabled'],
                'backups': [{'id': b['id'], 'is_physical_backup': b['is_physical_backup'], 'status': b['status'],
                             'inserted_at': iso(b['inserted_at'])} for b in settings['backups']],
                'physical_backup_data': {}}
        if settings['pitr_enabled']:
            earliest, latest = self.window()
            view['physical_backup_data'] = {'earliest_physical_backup_date_unix': earliest,
                                            'latest_physical_backup_date_unix': latest}
        return view

    def secrets_view(self):
        return [{'name': name, 'value': hashlib.sha256(item['value'].encode('utf-8')).hexdigest(),
                 'updated_at': item['updated_at']} for name, item in sorted(self.secrets.items())]

    def state(self):
        with self.lock:
            self.advance()
            return {'token': self.token, 'ref': self.ref, 'project': self.project_view(),
                    'services': dict((n, dict(v)) for n, v in self.services.items()),
                    'backups': dict(self.backup_settings, backups=[dict(b) for b in self.backup_settings['backups']]),
                    'bans': list(self.bans),
                    'secrets': dict((n, item['value']) for n, item in sorted(self.secrets.items())),
                    'restores': [dict(r) for r in self.restores], 'timings': dict(self.timings),
                    'rate_limit': dict(self.rate_limit), 'next_restore_fails': self.next_restore_fails,
                    'database_url': self.database_url, 'security': self.security.view_state()}

    # -- changes -------------------------------------------------------------------------------
    def start_restore(self, record):
        status = self.current_status()
        if status not in ACTIVE_STATUSES:
            raise _bad('Project %s cannot be restored while its status is %s; wait until it is ACTIVE_HEALTHY'
                       % (self.ref, status))
        record.update({'requested_at': time.time(), 'status': 'RESTORING', 'completed_at': None})
        self.restores.append(record)
        self.operation = {'record': record, 'started': time.time(), 'fail': self.next_restore_fails}
        self.next_restore_fails = False

    def check_rate(self, key):
        """(allowed, headers) for one more request on an endpoint."""
        now = time.time()
        limit, window_s = int(self.rate_limit['limit']), float(self.rate_limit['window_s'])
        start, count = self.rate_windows.get(key, (now, 0))
        if now >= start + window_s:
            start, count = now, 0
        count += 1
        self.rate_windows[key] = (start, count)
        reset_ms = max(0, int(math.ceil((start + window_s - now) * 1000)))
        headers = {'X-RateLimit-Limit': str(limit), 'X-RateLimit-Remaining': str(max(0, limit - count)),
                   'X-RateLimit-Reset': str(reset_ms)}
        if count > limit:
            headers['Retry-After'] = str(max(1, int(math.ceil(reset_ms / 1000.0))))
            return False, headers
        return True, headers


def _body(request):
    try:
        return request.json()
    except ValueError:
        raise _bad('Unexpected token in JSON body: the body must be JSON')


class SupabaseService(SecurityRoutes, ModelService):
    """The HTTP face of :class:`SupabaseModel`."""

    name = 'supabase'
    timing_names = tuple(DEFAULT_TIMINGS)

    def __init__(self, token, timings=None, seed=None, database_url=None):
        ModelService.__init__(self, SupabaseModel(token, timings, seed=seed, database_url=database_url))
        self.router = Router.of(self)

    @property
    def ref(self):
        return self.model.ref

    # -- Service interface ---------------------------------------------------------------------
    def reset(self, options=None):
        self.model.reset(options)

    def fault_response(self, kind, settings):
        if kind == '429':
            retry_after = str(settings.get('retry_after', '1'))
            reset_ms = max(1, int(float(retry_after))) * 1000
            return Response(429, {'message': 'ThrottlerException: Too Many Requests'},
                            headers={'Retry-After': retry_after,
                                     'X-RateLimit-Limit': str(int(self.model.rate_limit['limit'])),
                                     'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': str(reset_ms)})
        if kind == '500':
            return Response(500, {'message': 'Internal server error'})
        if kind == '502':
            return Response(502, {'message': 'Bad Gateway'})
        if kind == '503':
            return Response(503, {'message': 'Service Unavailable'}, headers={'Retry-After': '1'})
        return None

    def handle(self, request):
        handler, params = self.router.match(request.method, request.raw_path)
        if handler is None:
            return Response(404, {'message': 'Cannot %s %s' % (request.method, request.path)})
        self._authenticate(request)
        model = self.model
        with model.lock:
            allowed, headers = model.check_rate((model.token, request.method, handler.__name__))
        if not allowed:
            return Response(429, {'message': 'ThrottlerException: Too Many Requests'}, headers=headers)
        is_query = handler == self.run_query  # SQL runs outside the lock: a slow query blocks nothing else
        try:
            with model.lock:
                model.advance()
                if params.get('ref') != model.ref:
                    raise message(404, 'Project not found')
                if not is_query:
                    response = handler(request, **params)
            if is_query:
                response = handler(request, **params)
        except HttpProblem as problem:
            response = problem.response
        response.headers.update(headers)
        return response

    def _authenticate(self, request):
        header = request.headers.get('Authorization') or ''
        scheme, _sep, token = header.partition(' ')
        token = token.strip()
        if scheme.lower() != 'bearer' or not TOKEN_RE.match(token) or token != self.model.token:
            raise message(401, 'Unauthorized')

    # -- endpoints -----------------------------------------------------------------------------
    @route('GET', PROJECT)
    def get_project(self, request, ref):
        return json_response(self.model.project_view())

    @route('GET', HEALTH)
    def get_health(self, request, ref):
        names = request.query_lists.get('services') or []
        choices = ', '.join(SERVICES)
        if not [n for n in names if n != '']:
            raise _bad('services should not be empty; each value in services must be one of the following values: '
                       '%s' % choices)
        bad = [n for n in names if n not in SERVICES]
        if bad:
            raise _bad('each value in services must be one of the following values: %s (got %s)'
                       % (choices, ', '.join(repr(b) for b in bad)))
        if 'timeout_ms' in request.query:
            raw = request.query['timeout_ms']
            if not re.match(r'^\d+$', raw) or int(raw) > 10000:
                raise _bad('timeout_ms must be an integer between 0 and 10000')
        seen = []
        for name in names:
            if name not in seen:
                seen.append(name)
        return json_response([self.model.service_view(n) for n in seen])

    @route('GET', BACKUPS)
    def list_backups(self, request, ref):
        return json_response(self.model.backups_view())

    @route('POST', PITR)
    def restore_pitr(self, request, ref):
        body = _body(request)
        target = body.get('recovery_time_target_unix') if isinstance(body, dict) else None
        if isinstance(target, bool) or not isinstance(target, int) or target < 0:
            raise _bad('recovery_time_target_unix must be a non-negative integer (unix seconds)')
        model = self.model
        if not model.backup_settings['pitr_enabled']:
            raise _bad('Point-in-time recovery is not enabled for project %s: enable the PITR add-on, or restore '
                       'a daily backup with POST /v1/projects/%s/database/backups/restore' % (model.ref, model.ref))
        earliest, latest = model.window()
        if not earliest <= target <= latest:
            raise _bad('recovery_time_target_unix %d (%s) is outside the recovery window of project %s: choose a '
                       'time between %d (%s) and %d (%s)' % (target, iso(target), model.ref, earliest, iso(earliest),
                                                             latest, iso(latest)))
        model.start_restore({'kind': 'pitr', 'recovery_time_target_unix': target})
        return Response(201, None)

    @route('POST', PHYSICAL)
    def restore_physical(self, request, ref):
        body = _body(request)
        backup_id = body.get('id') if isinstance(body, dict) else None
        if isinstance(backup_id, bool) or not isinstance(backup_id, int):
            raise _bad('id must be an integer (a backup id from GET /v1/projects/%s/database/backups)' % ref)
        model = self.model
        found = [b for b in model.backup_settings['backups'] if b['id'] == backup_id]
        if not found:
            raise message(404, 'Backup %d not found for project %s' % (backup_id, model.ref))
        backup = found[0]
        if backup['status'] != 'COMPLETED':
            raise _bad('Backup %d cannot be restored: its status is %s, only COMPLETED backups can be restored'
                       % (backup_id, backup['status']))
        model.start_restore({'kind': 'physical', 'id': backup_id, 'inserted_at': iso(backup['inserted_at'])})
        return Response(201, None)

    @route('GET', SECRETS)
    def list_secrets(self, request, ref):
        return json_response(self.model.secrets_view())

    @route('POST', SECRETS)
    def create_secrets(self, request, ref):
        body = _body(request)
        if not isinstance(body, list):
            raise _bad('the body must be an array of {name, value} objects')
        for item in body:
            if not isinstance(item, dict) or not isinstance(item.get('name'), str) or \
                    not isinstance(item.get('value'), str):
                raise _bad('each secret must be an object with string name and value')
            name = item['name']
            if not name:
                raise _bad('Secret name must not be empty.')
            if name.startswith('SUPABASE_'):
                raise _bad('Secret name must not start with the SUPABASE_ prefix: %s' % name)
            if len(name) > SECRET_NAME_MAX:
                raise _bad('Secret name must be shorter than or equal to %d characters: %s...'
                           % (SECRET_NAME_MAX, name[:40]))
            if len(item['value']) > SECRET_VALUE_MAX:
                raise _bad('Secret value of %s must be shorter than or equal to %d characters'
                           % (name, SECRET_VALUE_MAX))
        stamp = iso(time.time())
        for item in body:
            self.model.secrets[item['name']] = {'value': item['value'], 'updated_at': stamp}
        return Response(201, None)

    @route('DELETE', SECRETS)
    def delete_secrets(self, request, ref):
        body = _body(request)
        if not isinstance(body, list) or not all(isinstance(n, str) for n in body):
            raise _bad('the body must be an array of secret names')
        reserved = [n for n in body if n.startswith('SUPABASE_')]
        if reserved:
            raise _bad('Secret name must not start with the SUPABASE_ prefix: %s' % ', '.join(reserved))
        for name in body:
            self.model.secrets.pop(name, None)
        return Response(200, None)

    @route('POST', BANS_RETRIEVE)
    def list_bans(self, request, ref):
        return json_response({'banned_ipv4_addresses': list(self.model.bans)}, status=201)

    @route('DELETE', BANS)
    def delete_bans(self, request, ref):
        body = _body(request)
        if not isinstance(body, dict) or not isinstance(body.get('ipv4_addresses'), list):
            raise _bad('ipv4_addresses must be an array of IPv4 addresses')
        addresses = body['ipv4_addresses']
        bad = [a for a in addresses if not isinstance(a, str) or not is_ipv4(a)]
        if bad:
            raise _bad('each value in ipv4_addresses must be an IPv4 address (got %s)'
                       % ', '.join(repr(b) for b in bad))
        if 'requester_ip' in body and not isinstance(body['requester_ip'], bool):
            raise _bad('requester_ip must be a boolean value')
        remove = set(addresses)
        if body.get('requester_ip') and request.client:
            remove.add(request.client)
        self.model.bans = [b for b in self.model.bans if b not in remove]
        return Response(200, None)

    @route('POST', QUERY)
    def run_query(self, request, ref):
        body = _body(request)
        if not isinstance(body, dict) or not isinstance(body.get('query'), str) or not body['query'].strip():
            raise _bad('query should not be empty')
        parameters = body.get('parameters')
        if parameters is not None and not isinstance(parameters, list):
            raise _bad('parameters must be an array')
        read_only = body.get('read_only', False)
        if not isinstance(read_only, bool):
            raise _bad('read_only must be a boolean value')
        with self.model.lock:
            url = self.model.database_url
        return json_response(run_sql(url, body['query'], parameters, read_only), status=201)

    # -- admin ---------------------------------------------------------------------------------
    def admin(self, request, subpath):
        model = self.model
        method = request.method
        body = _body(request) if request.body.strip() else None
        with model.lock:
            model.advance()
            handled = self.security_admin(request, subpath, body)
            if handled is not None:
                return handled
            if subpath == '/state' and method == 'GET':
                return json_response(model.state())
            if subpath == '/project' and method == 'GET':
                return json_response(model.project_view())
            if subpath == '/project' and method == 'PATCH':
                body = body or {}
                unknown = set(body) - {'status'}
                if unknown or body.get('status') not in PROJECT_STATUSES:
                    raise _bad('PATCH /project takes {status}: one of %s' % ', '.join(PROJECT_STATUSES))
                if model.operation is not None:
                    model.finish_operation(body['status'], time.time())
                model.status = body['status']
                return json_response(model.project_view())
            found = re.match(r'^/services/([^/]+)$', subpath)
            if found and method in ('PATCH', 'PUT'):
                name, body = found.group(1), body or {}
                if name not in SERVICES:
                    raise message(404, 'no service %s; services: %s' % (name, ', '.join(SERVICES)))
                if set(body) - {'status', 'error'} or body.get('status') not in SERVICE_STATUSES:
                    raise _bad('PATCH /services/<name> takes {status: %s, error}' % '|'.join(SERVICE_STATUSES))
                if body.get('error') is not None and not isinstance(body['error'], str):
                    raise _bad('error must be a string or null')
                model.services[name] = {'status': body['status'], 'error': body.get('error')}
                return json_response(model.service_view(name))
            if subpath == '/backups' and method in ('PUT', 'POST'):
                return json_response(model.set_backups(body or {}))
            if subpath == '/backups' and method == 'GET':
                return json_response(model.backups_view())
            if subpath == '/bans' and method in ('PUT', 'POST'):
                bans = body.get('banned_ipv4_addresses') if isinstance(body, dict) else body
                if not isinstance(bans, list) or not all(isinstance(b, str) and is_ipv4(b) for b in bans):
                    raise _bad('bans must be a list of IPv4 addresses')
                model.bans = list(bans)
                return json_response(list(model.bans))
            if subpath == '/bans' and method == 'GET':
                return json_response(list(model.bans))
            if subpath == '/secrets' and method == 'GET':
                return json_response(dict((n, item['value']) for n, item in sorted(model.secrets.items())))
            if subpath == '/secrets' and method == 'POST':
                if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
                    raise _bad('POST /secrets takes {name: value}')
                for name, value in body.items():
                    model.secrets[name] = {'value': value, 'updated_at': iso(time.time())}
                return json_response(dict((n, item['value']) for n, item in sorted(model.secrets.items())))
            if subpath == '/restores' and method == 'GET':
                return json_response([dict(r) for r in model.restores])
            if subpath == '/next_restore' and method == 'POST':
                model.next_restore_fails = bool((body or {}).get('fail', True))
                return json_response({'next_restore_fails': model.next_restore_fails})
            if subpath == '/database' and method == 'GET':
                return json_response({'url': model.database_url})
            if subpath == '/database' and method in ('PUT', 'POST'):
                url = (body or {}).get('url')
                if url is not None and not isinstance(url, str):
                    raise _bad('url must be a PostgreSQL URL or null')
                model.database_url = url or model.default_database_url
                return json_response({'url': model.database_url})
            if subpath == '/rate_limit' and method in ('PUT', 'POST'):
                body = body or {}
                try:
                    limit = int(body.get('limit', DEFAULT_RATE_LIMIT['limit']))
                    window_s = float(body.get('window_s', DEFAULT_RATE_LIMIT['window_s']))
                except (TypeError, ValueError):
                    raise _bad('limit and window_s must be numbers')
                if limit < 1 or window_s <= 0:
                    raise _bad('limit must be >= 1 and window_s > 0')
                model.rate_limit = {'limit': limit, 'window_s': window_s}
                model.rate_windows = {}
                return json_response(dict(model.rate_limit))
        return message(404, 'no admin path %s %s for supabase' % (method, subpath)).response

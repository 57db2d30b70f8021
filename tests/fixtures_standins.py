"""Pytest fixtures for the HTTP stand-ins (tests/sandbox/serve.py).

* ``standins`` (session): one serve.py process on free loopback ports, started
  once, stopped at the end. Attributes: ``info`` (the ready file: api_url,
  https_url, ca_path, app_url, admin_url, token, team_id, ..., supabase_api_url,
  supabase_https_url, supabase_token, supabase_project_ref), ``proc``,
  ``database_url`` (the session PostgreSQL database the Supabase stand-in's
  ``/database/query`` runs on: ``supabase_sandbox``, cloned once from the seeded
  template of ``pg_server``), ``admin(method, path, body=None)``.
* ``vercel`` (function): resets the stand-ins to the default state (one team,
  project ``pourtrait`` on the pro plan, team-owned, three READY production
  deployments, the newest live and healthy, all rollback candidates; faults
  off; log empty; fast timings) and returns a :class:`VercelSandbox`.
* ``supabase`` (function): resets the stand-ins likewise (one project,
  ACTIVE_HEALTHY, every service healthy, PITR over the last 7 days, 7 daily
  backups, two banned IPs; the SQL endpoint on ``standins.database_url``) and
  returns a :class:`SupabaseSandbox`.
"""

import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.waiting import poll

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVE = os.path.join(ROOT, 'tests', 'sandbox', 'serve.py')
DEFAULT_FAULT_KINDS = ('429', '500', '502', '503', 'reset', 'hang')
SUPABASE_DATABASE = 'supabase_sandbox'
TEMPLATE_DB = 'pourtrait_template'  # the seeded template tests/conftest.py makes


def http_json(method, url, body=None, headers=None, timeout=30, context=None):
    """(status, decoded JSON or text or None, headers) of one plain urllib call; never raises on HTTP errors."""
    data = json.dumps(body).encode('utf-8') if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header('Content-Type', 'application/json')
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout, context=context)
        status, raw, hdrs = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        status, raw, hdrs = exc.code, exc.read(), exc.headers
    text = raw.decode('utf-8') if raw else ''
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        payload = text
    return status, payload, hdrs


class StandinsProcess(object):
    """The running serve.py."""

    def __init__(self, proc, info, state_dir, database_url=None):
        self.proc = proc
        self.info = info
        self.state_dir = state_dir
        self.database_url = database_url

    def admin(self, method, path, body=None):
        status, payload, _headers = http_json(method, self.info['admin_url'] + path, body)
        if status >= 400:
            raise AssertionError('sandbox admin %s %s -> %s %s' % (method, path, status, payload))
        return payload

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_standins(timeout=20.0, extra_args=(), database_url=None):
    """Start serve.py on free ports and wait for its ready file.

    ``database_url``: where the Supabase stand-in runs SQL (handed over in the environment, not argv).
    """
    state_dir = tempfile.mkdtemp(prefix='pourtrait-standins-')
    ready = os.path.join(state_dir, 'ready.json')
    log = open(os.path.join(state_dir, 'serve.log'), 'wb')
    env = dict(os.environ)
    env.pop('SANDBOX_DATABASE_URL', None)
    if database_url:
        env['SANDBOX_DATABASE_URL'] = database_url
    proc = subprocess.Popen([sys.executable, SERVE, '--state-dir', state_dir, '--ready-file', ready] + list(extra_args),
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    log.close()
    deadline = time.time() + timeout
    while not os.path.exists(ready):
        if proc.poll() is not None or time.time() > deadline:
            if proc.poll() is None:
                proc.kill()
            with open(os.path.join(state_dir, 'serve.log')) as handle:
                raise RuntimeError('serve.py did not start: %s' % handle.read()[-2000:])
        time.sleep(0.05)
    with open(ready) as handle:
        info = json.load(handle)
    return StandinsProcess(proc, info, state_dir, database_url)


class _SandboxView(object):
    """What both stand-in views share: the hub's admin API, timings, faults and waiting. A subclass names the
    keys of its API in the hub's info (``info_keys``: api url, https url, token) and its ``service``."""

    service = None
    info_keys = ()

    def __init__(self, standins):
        info = standins.info
        self._standins = standins
        self.api_url, self.https_url, self.token = (info[key] for key in self.info_keys)
        self.ca_path = info['ca_path']
        self.admin_url = info['admin_url']

    def admin(self, method, path, body=None):
        return self._standins.admin(method, path, body)

    def set_timings(self, **timings):
        """Timings of the stand-ins (Vercel: ``queued_s``, ``building_s``, ...; Supabase: ``restoring_s``
        (default 0.3), ``coming_up_s`` (0.1)); any hub timing is accepted."""
        return self.admin('POST', '/timings', timings)

    def set_faults(self, rate=0.3, kinds=DEFAULT_FAULT_KINDS, seed=1, latency_ms=0, when='before', **extra):
        """Faults on this stand-in's API (``services=['app']`` or ``['vercel', 'app']`` for the app). Extra
        settings: ``methods``, ``paths`` (prefixes), ``max_faults``, ``hang_s``, ``retry_after``."""
        body = {'rate': rate, 'kinds': list(kinds), 'seed': seed, 'latency_ms': latency_ms, 'when': when,
                'services': [self.service]}
        body.update(extra)
        return self.admin('POST', '/faults', body)

    def clear_faults(self):
        return self.admin('DELETE', '/faults')

    def faults(self):
        return self.admin('GET', '/faults')

    def _call(self, method, path, body, params, token, https, headers):
        """(status, JSON body or None, headers) of one call with the bearer ``token`` (None: the sandbox's; '': no
        Authorization header); list values of ``params`` repeat the parameter."""
        url = (self.https_url if https else self.api_url) + path
        if params:
            url += ('&' if '?' in path else '?') + urllib.parse.urlencode(params, doseq=True)
        hdrs = {'Authorization': 'Bearer %s' % (self.token if token is None else token)}
        if token == '':
            hdrs = {}
        hdrs.update(headers or {})
        context = None
        if https:
            context = ssl.create_default_context(cafile=self.ca_path)
        return http_json(method, url, body, headers=hdrs, context=context)

    def wait_for(self, predicate, timeout=10.0, interval=0.05):
        """Poll ``predicate(self)`` until it returns something truthy; that value, or AssertionError."""
        return poll(lambda: predicate(self), timeout, interval)


class VercelSandbox(_SandboxView):
    """The Vercel and app stand-ins as one test sees them (state reset for it)."""

    service = 'vercel'
    info_keys = ('api_url', 'https_url', 'token')

    def __init__(self, standins, state):
        _SandboxView.__init__(self, standins)
        info = standins.info
        self.app_url = info['app_url']
        self.webhook_url = info.get('webhook_url')
        self._load_ids(state['vercel'])

    def _load_ids(self, vstate):
        self.team_id = vstate['team']['id']
        self.team_slug = vstate['team']['slug']
        self.project_id = vstate['project']['id']
        self.project_name = vstate['project']['name']
        self.user_id = vstate['user']['id']
        self.team_owned = vstate['team_owned']

    @property
    def env(self):
        """The variables .sandbox/env gives the modules, for this stand-in."""
        return {'VERCEL_API_URL': self.api_url, 'VERCEL_API_URL_HTTPS': self.https_url, 'VERCEL_CA_PATH': self.ca_path,
                'VERCEL_TOKEN': self.token, 'VERCEL_PROJECT': self.project_name,
                'VERCEL_TEAM_ID': self.team_id if self.team_owned else '', 'APP_URL': self.app_url,
                'SANDBOX_ADMIN_URL': self.admin_url}

    # -- admin ---------------------------------------------------------------------------------
    def reset(self, owner='team', plan='pro', deployments=3):
        state = self.admin('POST', '/reset', {'vercel': {'owner': owner, 'plan': plan, 'deployments': deployments}})
        self._load_ids(state['vercel'])
        return state

    def state(self):
        return self.admin('GET', '/vercel/state')

    def seed_deployment(self, target='production', state='READY', health='healthy', created_offset_s=-3600,
                        sha=None, live=False, fail=False, env=None):
        """``env``: the deployment's env snapshot (key -> value); None: the project's variables now."""
        body = {'target': target, 'state': state, 'health': health, 'created_offset_s': created_offset_s,
                'live': live, 'fail': fail}
        if sha:
            body['sha'] = sha
        if env is not None:
            body['env'] = dict(env)
        return self.admin('POST', '/vercel/deployments', body)

    def set_health(self, uid, health):
        return self.admin('PATCH', '/vercel/deployments/%s' % uid, {'health': health})

    def set_plan(self, plan):
        return self.admin('PATCH', '/vercel/project', {'plan': plan})

    def next_build(self, fail=False, health='healthy', count=1):
        return self.admin('POST', '/vercel/next_builds', {'fail': fail, 'health': health, 'count': count})

    def next_job(self, fail=True, count=1):
        return self.admin('POST', '/vercel/next_jobs', {'fail': fail, 'count': count})

    def requests(self, method=None, path_prefix=None, service=None):
        query = dict((k, v) for k, v in (('method', method), ('path_prefix', path_prefix), ('service', service)) if v)
        return self.admin('GET', '/requests' + ('?' + urllib.parse.urlencode(query) if query else ''))['requests']

    def clear_requests(self):
        return self.admin('DELETE', '/requests')

    def project(self):
        """The project JSON exactly as GET /v9/projects/{id} returns it (read through admin: not logged)."""
        return self.state()['project']

    def deployments(self):
        """Every deployment, newest first: list items plus app_base_url, health, live, sha."""
        return self.state()['deployments']

    def live(self):
        """The deployment production points at (admin view)."""
        for dep in self.deployments():
            if dep['live']:
                return dep
        return None

    def env_vars(self):
        """Every env var with its plain value (decrypted, as GET /v1/projects/{id}/env/{envId} shows it)."""
        return self.state()['env']

    def env_value(self, key, target='production'):
        """The plain value of ``key`` for ``target`` (None when no variable covers it)."""
        for env in self.env_vars():
            if env['key'] == key and target in env['target'] and not env.get('gitBranch'):
                return env['value']
        return None

    def webhook_messages(self):
        """The messages the webhook receiver got since the reset: ``[{seq, text, payload, time}]``."""
        return self.admin('GET', '/webhook/messages')['messages']

    # -- the real API, as a client would call it -----------------------------------------------
    def api(self, method, path, body=None, params=None, token=None, team=True, https=False, headers=None):
        """(status, JSON body or None, headers) of one call to the stand-in's public API."""
        params = dict(params or {})
        if team and self.team_owned and 'teamId' not in params and 'slug' not in params:
            params['teamId'] = self.team_id
        return self._call(method, path, body, params, token, https, headers)

    def app(self, path='/health', base=None):
        """(status, JSON body, headers) of a GET on the app (production unless ``base`` is given)."""
        return http_json('GET', (base or self.app_url) + path)

    def app_from(self, source, path='/health'):
        """(status, x-vercel-mitigated header) of a GET on production from the client address ``source`` (another
        loopback address such as 127.0.0.2): how the Vercel Firewall stand-in sees a hostile client."""
        import http.client
        url = urllib.parse.urlsplit(self.app_url)
        client = http.client.HTTPConnection(url.hostname, url.port, timeout=10, source_address=(source, 0))
        try:
            client.request('GET', path)
            resp = client.getresponse()
            resp.read()
            return resp.status, resp.getheader('x-vercel-mitigated')
        finally:
            client.close()

    def firewall(self):
        """The firewall stand-in: ``{config, attack: {..., active}, events, actions}``."""
        return self.admin('GET', '/vercel/firewall')

    def add_runtime_logs(self, deployment, lines):
        """Add runtime log lines (``{level, message, requestPath, responseStatusCode, offset_s, ...}``)."""
        return self.admin('POST', '/vercel/runtime_logs', {'deployment': deployment, 'lines': lines})['lines']


class SupabaseSandbox(_SandboxView):
    """The Supabase Management API stand-in as one test sees it (state reset for it)."""

    service = 'supabase'
    info_keys = ('supabase_api_url', 'supabase_https_url', 'supabase_token')

    def __init__(self, standins, state):
        _SandboxView.__init__(self, standins)
        self.project_ref = state['supabase']['ref']
        self.database_url = state['supabase']['database_url']

    @property
    def env(self):
        """The SUPABASE_* variables .sandbox/env gives the modules, for this stand-in."""
        return {'SUPABASE_API_URL': self.api_url, 'SUPABASE_API_URL_HTTPS': self.https_url,
                'SUPABASE_CA_PATH': self.ca_path, 'SUPABASE_ACCESS_TOKEN': self.token,
                'SUPABASE_PROJECT_REF': self.project_ref}

    # -- admin ---------------------------------------------------------------------------------
    def state(self):
        """The whole model (secrets in plain, backup settings, restores, timings, rate limit)."""
        return self.admin('GET', '/supabase/state')

    def project(self):
        """The project JSON exactly as GET /v1/projects/{ref} returns it (read through admin: not logged)."""
        return self.admin('GET', '/supabase/project')

    def set_status(self, status):
        """The project's status (ACTIVE_HEALTHY, ACTIVE_UNHEALTHY, COMING_UP, INACTIVE, RESTORING, ...)."""
        return self.admin('PATCH', '/supabase/project', {'status': status})

    def set_service_health(self, name, status, error=None):
        """One service's answer on /health: status ACTIVE_HEALTHY, COMING_UP or UNHEALTHY, optional error."""
        return self.admin('PATCH', '/supabase/services/%s' % name, {'status': status, 'error': error})

    def set_backups(self, pitr_enabled=True, walg_enabled=True, backups=None, earliest_unix=None, latest_unix=None):
        """Replace the backup settings; returns GET .../database/backups as the API answers it.

        ``backups`` None: the default seven daily backups (newest 3 h old); else items ``{id?, status
        (COMPLETED), is_physical_backup (true), inserted_at (ISO string or unix seconds)}``.
        ``earliest_unix`` None: now - 7 days; ``latest_unix`` None: always "now".
        """
        return self.admin('PUT', '/supabase/backups', {'pitr_enabled': pitr_enabled, 'walg_enabled': walg_enabled,
                                                       'backups': backups, 'earliest_unix': earliest_unix,
                                                       'latest_unix': latest_unix})

    def backups(self):
        """GET .../database/backups as the API answers it (through admin: not logged)."""
        return self.admin('GET', '/supabase/backups')

    def set_bans(self, addresses):
        return self.admin('PUT', '/supabase/bans', list(addresses))

    def bans(self):
        return self.admin('GET', '/supabase/bans')

    def secrets(self):
        """Every secret: name -> plain value."""
        return self.admin('GET', '/supabase/secrets')

    def seed_secrets(self, values):
        """Add or replace secrets (name -> plain value) without the API's checks."""
        return self.admin('POST', '/supabase/secrets', dict(values))

    def restores(self):
        """Restore requests made through the API, oldest first: ``{kind: pitr|physical,
        recovery_time_target_unix | id and inserted_at, requested_at, status: RESTORING|COMPLETED|FAILED,
        completed_at}``."""
        return self.admin('GET', '/supabase/restores')

    def fail_next_restore(self, fail=True):
        """The next restore ends with the project RESTORE_FAILED (instead of ACTIVE_HEALTHY)."""
        return self.admin('POST', '/supabase/next_restore', {'fail': fail})

    def set_rate_limit(self, limit=120, window_s=60):
        return self.admin('PUT', '/supabase/rate_limit', {'limit': limit, 'window_s': window_s})

    def set_database(self, url=None):
        """Run /database/query on another database (e.g. a test's ``db.url``); None: the session default."""
        self.database_url = self.admin('PUT', '/supabase/database', {'url': url})['url']
        return self.database_url

    def requests(self, method=None, path_prefix=None):
        """The Supabase API requests served since the reset: ``[{seq, method, path, query, status, faulted,
        time, duration_ms, ...}]``."""
        query = dict((k, v) for k, v in (('method', method), ('path_prefix', path_prefix)) if v)
        query['service'] = 'supabase'
        return self.admin('GET', '/requests?' + urllib.parse.urlencode(query))['requests']

    # -- the real API, as a client would call it -----------------------------------------------
    def api(self, method, path, body=None, params=None, token=None, https=False, headers=None):
        """(status, JSON body or None, headers) of one call; ``{ref}`` in ``path`` is the project ref.
        ``params`` may hold lists (``{'services': ['db', 'auth']}`` repeats the parameter)."""
        return self._call(method, path.replace('{ref}', self.project_ref), body, params, token, https, headers)

    def query(self, sql, read_only=False):
        """The rows POST /v1/projects/{ref}/database/query answers (asserting 201)."""
        status, body, _headers = self.api('POST', '/v1/projects/{ref}/database/query',
                                          {'query': sql, 'read_only': read_only})
        assert status == 201, (status, body)
        return body

    @staticmethod
    def digest(value):
        """What GET .../secrets shows for a plain value."""
        return hashlib.sha256(value.encode('utf-8')).hexdigest()


@pytest.fixture(scope='session')
def standins(pg_server):
    # the Supabase stand-in's SQL endpoint runs on a database of the session's server, cloned from the
    # seeded template once (never on the template itself, which later clones would inherit)
    pg_server.drop_database(SUPABASE_DATABASE)
    pg_server.create_database(SUPABASE_DATABASE, template=TEMPLATE_DB)
    proc = start_standins(database_url=pg_server.url(SUPABASE_DATABASE))
    try:
        yield proc
    finally:
        proc.stop()
        shutil.rmtree(proc.state_dir, ignore_errors=True)


@pytest.fixture
def vercel(standins):
    state = standins.admin('POST', '/reset', {})
    return VercelSandbox(standins, state)


@pytest.fixture
def supabase(standins):
    state = standins.admin('POST', '/reset', {})
    return SupabaseSandbox(standins, state)


class S3Sandbox(_SandboxView):
    """The S3 stand-in (moto behind the hub) as one test sees it: the bucket emptied, faults off."""

    service = 's3'
    info_keys = ('s3_url', 's3_https_url', 's3_secret_access_key')

    def __init__(self, standins, state):
        _SandboxView.__init__(self, standins)
        info = standins.info
        self.bucket, self.region = info['s3_bucket'], info['s3_region']
        self.access_key_id, self.secret_access_key = info['s3_access_key_id'], info['s3_secret_access_key']

    def env(self, https=True):
        """The AWS_* variables .sandbox/env gives the modules (HTTPS endpoint with the sandbox CA, or plain HTTP)."""
        env = {'AWS_ENDPOINT_URL_S3': self.https_url if https else self.api_url, 'AWS_ACCESS_KEY_ID': self.access_key_id,
               'AWS_SECRET_ACCESS_KEY': self.secret_access_key, 'AWS_REGION': self.region,
               'POURTRAIT_BACKUP_BUCKET': self.bucket}
        if https:
            env['AWS_CA_BUNDLE'] = self.ca_path
        return env

    def state(self, bucket=None):
        """``{objects: [{key, size, metadata, checksum_sha256, encryption, storage_class, lock_mode, lock_until,
        tags, ...}], versions, multipart_uploads: [{key, upload_id}], versioning, object_lock}`` of a bucket."""
        return self.admin('GET', '/s3/state')['buckets'][bucket or self.bucket]

    def objects(self, bucket=None):
        return dict((o['key'], o) for o in self.state(bucket)['objects'])

    def create_bucket(self, name, versioning=False, object_lock=False):
        return self.admin('POST', '/s3/bucket', {'name': name, 'versioning': versioning, 'object_lock': object_lock})

    def client(self, https=False):
        """A boto3 client on the stand-in (the test's own reads and writes)."""
        import boto3
        return boto3.client('s3', endpoint_url=self.https_url if https else self.api_url, region_name=self.region,
                            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key,
                            verify=self.ca_path if https else None)

    def requests(self, method=None):
        query = {'service': 's3'}
        if method:
            query['method'] = method
        return self.admin('GET', '/requests?' + urllib.parse.urlencode(query))['requests']


@pytest.fixture
def s3(standins):
    state = standins.admin('POST', '/reset', {})
    return S3Sandbox(standins, state)

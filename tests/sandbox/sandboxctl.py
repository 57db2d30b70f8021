"""Start and stop the sandbox in the background: ``python tests/sandbox/sandboxctl.py up|down|status``.

``up`` starts every stand-in (PostgreSQL, and serve.py: the Vercel API over
HTTP and HTTPS, the app, and the Supabase Management API over HTTP and HTTPS
whose SQL endpoint runs on the sandbox PostgreSQL, as one detached process
whose pid is recorded),
then writes ``.sandbox/env`` (shell-sourceable KEY=value lines, read by
``inventory/local``) and ``.sandbox/state.json`` (what ``down`` needs to stop
them). Running ``up`` twice keeps the running sandbox (and starts whatever
part of it is not running); after a database password rotation through the
Supabase stand-in (``PATCH .../database/password``) it writes the new password
into ``.sandbox/env``.

Variables for the HTTP stand-ins: ``VERCEL_API_URL``, ``VERCEL_API_URL_HTTPS``,
``VERCEL_CA_PATH`` (the CA that signed the HTTPS certificate), ``VERCEL_TOKEN``,
``VERCEL_PROJECT`` (name), ``VERCEL_PROJECT_ID``, ``VERCEL_TEAM_ID``,
``APP_URL`` (production of the app) and ``SANDBOX_ADMIN_URL`` (see serve.py);
``SUPABASE_API_URL``, ``SUPABASE_API_URL_HTTPS``, ``SUPABASE_CA_PATH`` (the same CA
file as ``VERCEL_CA_PATH``), ``SUPABASE_ACCESS_TOKEN`` and ``SUPABASE_PROJECT_REF``; what an app itself
is configured with: ``SUPABASE_URL`` (the project's API base, ``/auth/v1`` beneath it; ``SUPABASE_URL_HTTPS``
over TLS), ``SUPABASE_ANON_KEY`` and ``SUPABASE_SERVICE_ROLE_KEY``; for the S3 stand-in the names AWS tools read:
``AWS_ENDPOINT_URL_S3`` (HTTPS), ``AWS_CA_BUNDLE`` (the same CA), ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, plus ``AWS_ENDPOINT_URL_S3_HTTP`` (plain HTTP) and
``POURTRAIT_BACKUP_BUCKET`` (versioning and Object Lock on).

``POURTRAIT_SANDBOX_PG`` (``make sandbox-up PG=17``) chooses the PostgreSQL major of the sandbox's
database: 15 (Debian's, the default) or 17 (what new Supabase projects run). ``up`` with another major
than the running sandbox's starts it afresh with that one; without the variable it keeps the running one.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from tests.sandbox.pg import PG_MAJOR, PG_VERSIONS, HarnessError, PgServer  # noqa: E402

# POURTRAIT_SANDBOX_DIR runs a second, independent sandbox (make test runs the
# molecule scenarios on two at once); inventory/local reads the same variable.
SANDBOX_DIR = os.path.join(ROOT, os.environ.get('POURTRAIT_SANDBOX_DIR') or '.sandbox')
ENV_FILE = os.path.join(SANDBOX_DIR, 'env')
STATE_FILE = os.path.join(SANDBOX_DIR, 'state.json')
STANDINS_DIR = os.path.join(SANDBOX_DIR, 'standins')
SERVE = os.path.join(HERE, 'serve.py')
# a little slower than the tests' defaults, so that a demo shows the polling
STANDIN_TIMINGS = ['--queued-s', '0.5', '--building-s', '1.5', '--job-pending-s', '0.3', '--job-running-s', '0.7',
                   '--restoring-s', '2', '--coming-up-s', '1']


def _load_state():
    if not os.path.exists(STATE_FILE):
        return None
    with open(STATE_FILE) as handle:
        return json.load(handle)


def _write_env(env):
    os.makedirs(SANDBOX_DIR, exist_ok=True)
    tmp = ENV_FILE + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        handle.write('# pourtrait.ops sandbox: source with  set -a; . .sandbox/env; set +a\n')
        for key in sorted(env):
            handle.write('%s=%s\n' % (key, env[key]))
    os.replace(tmp, ENV_FILE)


def _pg_alive(state):
    """Through the server's socket (trust), so a password changed through the Supabase stand-in does not make a
    running server look dead."""
    import psycopg2
    try:
        psycopg2.connect(host=state['pg']['base_dir'], port=state['pg']['port'], user=state['pg']['user'],
                         dbname='postgres', connect_timeout=3).close()
        return True
    except psycopg2.Error:
        return False


def _sync_password(state):
    """True when the database password was changed through the Supabase stand-in (PATCH .../database/password):
    the state then holds the new one (what the stand-in's own database URL carries)."""
    from urllib.parse import unquote, urlsplit
    try:
        with urllib.request.urlopen(state['standins']['admin_url'] + '/supabase/database', timeout=3) as resp:
            url = json.load(resp).get('url') or ''
    except (urllib.error.URLError, OSError, ValueError):
        return False
    parts = urlsplit(url)
    password = unquote(parts.password or '')
    if parts.username != state['pg']['user'] or parts.port != state['pg']['port'] or not password \
            or password == state['pg']['password']:
        return False
    state['pg']['password'] = password
    return True


def _standins_alive(state):
    standins = (state or {}).get('standins')
    if not standins:
        return False
    try:
        os.kill(standins['pid'], 0)
    except OSError:
        return False
    try:
        with urllib.request.urlopen(standins['admin_url'] + '/health', timeout=3) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _start_standins(database_url=None, timeout=30.0):
    """serve.py as a detached process; returns its ready info (pid, urls, token, ids).

    ``database_url`` (where the Supabase stand-in's /database/query runs) goes through the
    environment, never argv.
    """
    os.makedirs(STANDINS_DIR, exist_ok=True)
    ready = os.path.join(STANDINS_DIR, 'ready.json')
    if os.path.exists(ready):
        os.unlink(ready)
    log = open(os.path.join(STANDINS_DIR, 'serve.log'), 'ab')
    env = dict(os.environ)
    env.pop('SANDBOX_DATABASE_URL', None)
    if database_url:
        env['SANDBOX_DATABASE_URL'] = database_url
    proc = subprocess.Popen([sys.executable, SERVE, '--state-dir', STANDINS_DIR, '--ready-file', ready]
                            + STANDIN_TIMINGS, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            cwd=ROOT, start_new_session=True, env=env)
    log.close()
    deadline = time.time() + timeout
    while True:
        if os.path.exists(ready):
            with open(ready) as handle:
                info = json.load(handle)
            if _standins_alive({'standins': info}):
                return info
        if proc.poll() is not None or time.time() > deadline:
            if proc.poll() is None:
                proc.kill()
            raise HarnessError('the HTTP stand-ins did not start; see %s'
                               % os.path.relpath(os.path.join(STANDINS_DIR, 'serve.log'), ROOT))
        time.sleep(0.1)


def _stop_standins(standins):
    pid = standins.get('pid')
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _standins_env(info):
    return {'VERCEL_API_URL': info['api_url'], 'VERCEL_API_URL_HTTPS': info['https_url'],
            'VERCEL_CA_PATH': info['ca_path'], 'VERCEL_TOKEN': info['token'],
            'VERCEL_PROJECT': info['project_name'], 'VERCEL_PROJECT_ID': info['project_id'],
            'VERCEL_TEAM_ID': info['team_id'], 'APP_URL': info['app_url'], 'SANDBOX_ADMIN_URL': info['admin_url'],
            'SUPABASE_API_URL': info['supabase_api_url'], 'SUPABASE_API_URL_HTTPS': info['supabase_https_url'],
            'SUPABASE_CA_PATH': info['ca_path'], 'SUPABASE_ACCESS_TOKEN': info['supabase_token'],
            'SUPABASE_PROJECT_REF': info['supabase_project_ref'], 'SLACK_WEBHOOK_URL': info['webhook_url'],
            'SUPABASE_URL': info['supabase_url'], 'SUPABASE_URL_HTTPS': info['supabase_url_https'],
            'SUPABASE_ANON_KEY': info['supabase_anon_key'],
            'SUPABASE_SERVICE_ROLE_KEY': info['supabase_service_role_key'],
            'AWS_ENDPOINT_URL_S3': info['s3_https_url'], 'AWS_ENDPOINT_URL_S3_HTTP': info['s3_url'],
            'AWS_CA_BUNDLE': info['ca_path'], 'AWS_ACCESS_KEY_ID': info['s3_access_key_id'],
            'AWS_SECRET_ACCESS_KEY': info['s3_secret_access_key'], 'AWS_REGION': info['s3_region'],
            'POURTRAIT_BACKUP_BUCKET': info['s3_bucket']}


def _save_state(state):
    os.makedirs(SANDBOX_DIR, exist_ok=True)
    with open(STATE_FILE, 'w') as handle:
        json.dump(state, handle)
    os.chmod(STATE_FILE, 0o600)


def _pg_from_state(pg):
    server = PgServer(base_dir=pg['base_dir'], port=pg['port'], password=pg['password'],
                      version=pg.get('version', PG_MAJOR))
    server.bindir = pg['bindir']
    return server


def requested_major():
    """The PostgreSQL major POURTRAIT_SANDBOX_PG asks for, or None when it is not set; a one-line error for a
    major the sandbox has no server for."""
    major = (os.environ.get('POURTRAIT_SANDBOX_PG') or '').strip()
    if not major:
        return None
    if major not in PG_VERSIONS:
        raise HarnessError('POURTRAIT_SANDBOX_PG=%s: the sandbox runs PostgreSQL %s; set one of those (make '
                           'sandbox-up PG=17)' % (major, ' or '.join(PG_VERSIONS)))
    return major


def up():
    major = requested_major()
    state = _load_state()
    if state and major and state['pg'].get('version', PG_MAJOR) != major:
        print('sandbox: PostgreSQL %s was running; starting afresh with PostgreSQL %s'
              % (state['pg'].get('version', PG_MAJOR), major))
        down(quiet=True)
        state = None
    if state and _pg_alive(state):
        # a sandbox started before the Supabase stand-in existed is restarted too
        wanted = ('supabase_api_url', 'webhook_url', 'supabase_url', 's3_url')
        if _standins_alive(state) and all(k in state['standins'] for k in wanted):
            if _sync_password(state):
                _save_state(state)
                env = _pg_from_state(state['pg']).env()
                env.update(_standins_env(state['standins']))
                _write_env(env)
                print('sandbox already running; the database password was changed through the Supabase API: '
                      'environment in %s updated' % os.path.relpath(ENV_FILE, ROOT))
                return 0
            print('sandbox already running (PostgreSQL %s); environment in %s'
                  % (state['pg'].get('version', PG_MAJOR), os.path.relpath(ENV_FILE, ROOT)))
            return 0
        _stop_standins(state.get('standins') or {})
        state['standins'] = _start_standins(_pg_from_state(state['pg']).url())
        _save_state(state)
        env = _pg_from_state(state['pg']).env()
        env.update(_standins_env(state['standins']))
        _write_env(env)
        print('sandbox: HTTP stand-ins restarted; environment in %s' % os.path.relpath(ENV_FILE, ROOT))
        return 0
    if state:
        down(quiet=True)
    os.makedirs(SANDBOX_DIR, exist_ok=True)
    server = PgServer(version=major or PG_MAJOR).start()
    server.seed()
    state = {'pg': {'base_dir': server.base_dir, 'bindir': server.bindir, 'port': server.port,
                    'user': server.user, 'password': server.password, 'version': server.version}}
    _save_state(state)
    try:
        state['standins'] = _start_standins(server.url())
    except HarnessError:
        down(quiet=True)
        raise
    _save_state(state)
    env = server.env()
    env.update(_standins_env(state['standins']))
    _write_env(env)
    info = state['standins']
    print('sandbox up: PostgreSQL %s on 127.0.0.1:%d (data in %s)' % (server.version, server.port, server.base_dir))
    print('            Vercel API %s (HTTPS %s), app %s' % (info['api_url'], info['https_url'], info['app_url']))
    print('            Supabase API %s (HTTPS %s), project %s'
          % (info['supabase_api_url'], info['supabase_https_url'], info['supabase_project_ref']))
    print('            Supabase project API (SUPABASE_URL, /auth/v1) %s (HTTPS %s)'
          % (info['supabase_url'], info['supabase_url_https']))
    print('            S3 %s (HTTP %s), bucket %s' % (info['s3_https_url'], info['s3_url'], info['s3_bucket']))
    print('environment: %s  (set -a; . .sandbox/env; set +a)' % os.path.relpath(ENV_FILE, ROOT))
    return 0


def down(quiet=False):
    state = _load_state()
    if not state:
        if not quiet:
            print('sandbox not running')
        return 0
    if state.get('standins'):
        _stop_standins(state['standins'])
    pg = state.get('pg')
    if pg:
        _pg_from_state(pg).stop(remove=True)
    for path in (STATE_FILE, ENV_FILE):
        if os.path.exists(path):
            os.unlink(path)
    shutil.rmtree(STANDINS_DIR, ignore_errors=True)
    if not quiet:
        print('sandbox stopped')
    return 0


def status():
    state = _load_state()
    if state and _pg_alive(state):
        pg = state['pg']
        print('sandbox running: PostgreSQL %s on 127.0.0.1:%d' % (pg.get('version', PG_MAJOR), pg['port']))
        if _standins_alive(state):
            print('                 HTTP stand-ins (pid %d): Vercel API %s, app %s'
                  % (state['standins']['pid'], state['standins']['api_url'], state['standins']['app_url']))
            return 0
        print('                 HTTP stand-ins not running (make sandbox-up starts them)')
        return 1
    print('sandbox not running')
    return 1


def main(argv):
    commands = {'up': up, 'down': down, 'status': status}
    if len(argv) != 2 or argv[1] not in commands:
        print('usage: sandboxctl.py up|down|status', file=sys.stderr)
        return 2
    try:
        return commands[argv[1]]()
    except HarnessError as exc:
        print('sandbox: %s' % exc, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))

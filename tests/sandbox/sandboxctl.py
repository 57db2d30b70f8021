"""Start and stop the sandbox in the background: ``python tests/sandbox/sandboxctl.py up|down|status``.

``up`` starts every stand-in, then writes ``.sandbox/env`` (shell-sourceable
KEY=value lines, read by ``inventory/local``) and ``.sandbox/state.json``
(what ``down`` needs to stop them). Running ``up`` twice keeps the running
sandbox.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from tests.sandbox.pg import HarnessError, PgServer  # noqa: E402

SANDBOX_DIR = os.path.join(ROOT, '.sandbox')
ENV_FILE = os.path.join(SANDBOX_DIR, 'env')
STATE_FILE = os.path.join(SANDBOX_DIR, 'state.json')


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
    import psycopg2
    try:
        psycopg2.connect(host='127.0.0.1', port=state['pg']['port'], user=state['pg']['user'],
                         password=state['pg']['password'], dbname='postgres', connect_timeout=3).close()
        return True
    except psycopg2.Error:
        return False


def up():
    state = _load_state()
    if state and _pg_alive(state):
        print('sandbox already running; environment in %s' % os.path.relpath(ENV_FILE, ROOT))
        return 0
    if state:
        down(quiet=True)
    os.makedirs(SANDBOX_DIR, exist_ok=True)
    server = PgServer().start()
    server.seed()
    state = {'pg': {'base_dir': server.base_dir, 'bindir': server.bindir, 'port': server.port,
                    'user': server.user, 'password': server.password}}
    with open(STATE_FILE, 'w') as handle:
        json.dump(state, handle)
    os.chmod(STATE_FILE, 0o600)
    env = server.env()
    _write_env(env)
    print('sandbox up: PostgreSQL 15 on 127.0.0.1:%d (data in %s)' % (server.port, server.base_dir))
    print('environment: %s  (set -a; . .sandbox/env; set +a)' % os.path.relpath(ENV_FILE, ROOT))
    return 0


def down(quiet=False):
    state = _load_state()
    if not state:
        if not quiet:
            print('sandbox not running')
        return 0
    pg = state.get('pg')
    if pg:
        server = PgServer(base_dir=pg['base_dir'], port=pg['port'], password=pg['password'])
        server.bindir = pg['bindir']
        server.stop(remove=True)
    for path in (STATE_FILE, ENV_FILE):
        if os.path.exists(path):
            os.unlink(path)
    if not quiet:
        print('sandbox stopped')
    return 0


def status():
    state = _load_state()
    if state and _pg_alive(state):
        print('sandbox running: PostgreSQL on 127.0.0.1:%d' % state['pg']['port'])
        return 0
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

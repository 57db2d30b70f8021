"""sandboxctl with POURTRAIT_SANDBOX_PG (``make sandbox-up PG=17``): the sandbox's database runs the major asked for,
keeps running when nothing is asked, starts afresh at another major, refuses one it has no server for."""

import os
import subprocess
import sys

import psycopg2

from tests.sandbox.sandboxctl import HERE

CTL = os.path.join(HERE, 'sandboxctl.py')


def ctl(command, sandbox_dir, major=None):
    env = dict(os.environ, POURTRAIT_SANDBOX_DIR=str(sandbox_dir))
    env.pop('POURTRAIT_SANDBOX_PG', None)
    if major is not None:
        env['POURTRAIT_SANDBOX_PG'] = major
    return subprocess.run([sys.executable, CTL, command], env=env, capture_output=True, text=True, timeout=180,
                          check=False)


def sandbox_env(sandbox_dir):
    with open(os.path.join(str(sandbox_dir), 'env')) as handle:
        return dict(line.rstrip('\n').split('=', 1) for line in handle if '=' in line and not line.startswith('#'))


def server(sandbox_dir):
    """(major, port, data directory) of the sandbox's running database, asked through .sandbox/env."""
    env = sandbox_env(sandbox_dir)
    conn = psycopg2.connect(host=env['PGHOST'], port=env['PGPORT'], user=env['PGUSER'], password=env['PGPASSWORD'],
                            dbname=env['PGDATABASE'], connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version_num')::int / 10000, current_setting('data_directory')")
            major, data_dir = cur.fetchone()
    finally:
        conn.close()
    return str(major), env['PGPORT'], data_dir


def test_sandbox_runs_the_postgresql_major_asked_for(tmp_path):
    sandbox_dir = tmp_path / 'sandbox'
    try:
        up = ctl('up', sandbox_dir, major='17')
        assert up.returncode == 0, up.stdout + up.stderr
        assert 'sandbox up: PostgreSQL 17 on 127.0.0.1:' in up.stdout
        major, port, data_dir_17 = server(sandbox_dir)
        assert major == '17'
        assert 'sandbox running: PostgreSQL 17 on' in ctl('status', sandbox_dir).stdout

        again = ctl('up', sandbox_dir)  # nothing asked: the running sandbox stays as it is
        assert again.returncode == 0, again.stdout + again.stderr
        assert 'sandbox already running (PostgreSQL 17)' in again.stdout
        assert server(sandbox_dir)[:2] == ('17', port)

        bad = ctl('up', sandbox_dir, major='16')
        assert bad.returncode == 1
        assert bad.stderr.strip() == ('sandbox: POURTRAIT_SANDBOX_PG=16: the sandbox runs PostgreSQL 15 or 17; set '
                                      'one of those (make sandbox-up PG=17)')
        assert 'Traceback' not in bad.stderr
        assert server(sandbox_dir)[:2] == ('17', port)  # changed nothing

        other = ctl('up', sandbox_dir, major='15')
        assert other.returncode == 0, other.stdout + other.stderr
        assert 'PostgreSQL 17 was running; starting afresh with PostgreSQL 15' in other.stdout
        assert 'sandbox up: PostgreSQL 15 on 127.0.0.1:' in other.stdout
        major, _port, data_dir_15 = server(sandbox_dir)
        assert major == '15'
        assert not os.path.exists(data_dir_17)  # the 17 server was stopped and its data removed
    finally:
        down = ctl('down', sandbox_dir)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not os.path.exists(data_dir_15)
    assert not os.path.exists(os.path.join(str(sandbox_dir), 'env'))
    assert not os.path.exists(os.path.join(str(sandbox_dir), 'state.json'))

"""Shared fixtures: a real PostgreSQL 15 server, fresh databases, and a way to
run a module exactly as Ansible does (a separate Python process reading its
arguments from a JSON file and printing its JSON result)."""

import json
import os
import subprocess
import sys
import tempfile
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.sandbox.pg import PgServer  # noqa: E402

# Playbook runs in tests write their run reports (runbook_report callback) to a
# throwaway directory, not into the checkout's reports/.
os.environ.setdefault('POURTRAIT_REPORTS_DIR', tempfile.mkdtemp(prefix='pourtrait-test-reports-'))

COLLECTIONS = os.path.join(ROOT, '.collections')
MODULES = os.path.join(ROOT, 'plugins', 'modules')
TEMPLATE_DB = 'pourtrait_template'
_LIBPQ_VARS = ('PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE', 'DATABASE_URL',
               'PGSSLMODE', 'PGPASSFILE', 'PGSERVICE')


def ensure_collection_link():
    """FQCN imports (ansible_collections.pourtrait.ops...) resolve to this checkout."""
    link = os.path.join(COLLECTIONS, 'ansible_collections', 'pourtrait', 'ops')
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(ROOT, link)
        except FileExistsError:  # another test worker made it meanwhile
            pass


def clean_env(extra=None):
    """The test process environment without any libpq settings of the developer's shell."""
    env = {k: v for k, v in os.environ.items() if k not in _LIBPQ_VARS}
    env['PYTHONPATH'] = COLLECTIONS
    env.update(extra or {})
    return env


class ModuleResult(dict):
    """The module's JSON result, plus how the process ended."""

    rc = 0
    stdout = ''
    stderr = ''


def run_module(name, args, check_mode=False, diff=False, env=None, timeout=600):
    """Run plugins/modules/<name>.py in a subprocess, as Ansible would."""
    ensure_collection_link()
    payload = dict(args)
    payload['_ansible_check_mode'] = check_mode
    payload['_ansible_diff'] = diff
    payload.setdefault('_ansible_tmpdir', tempfile.gettempdir())
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': payload}, handle)
        args_path = handle.name
    try:
        proc = subprocess.run([sys.executable, os.path.join(MODULES, name + '.py'), args_path],
                              capture_output=True, text=True, env=clean_env(env), timeout=timeout, check=False)
    finally:
        os.unlink(args_path)
    try:
        result = ModuleResult(json.loads(proc.stdout))
    except ValueError:
        raise AssertionError('module %s printed no JSON (rc %s):\nstdout: %s\nstderr: %s'
                             % (name, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    result.rc, result.stdout, result.stderr = proc.returncode, proc.stdout, proc.stderr
    return result


def assert_one_line_error(result, *fragments):
    """A failure with a single-line message containing each fragment, no traceback."""
    assert result.get('failed'), result
    msg = result['msg']
    assert '\n' not in msg, msg
    assert 'Traceback' not in result.stdout + result.stderr, result.stdout + result.stderr
    assert 'exception' not in result or 'psycopg2' in msg, result
    for fragment in fragments:
        assert fragment in msg, 'expected %r in %r' % (fragment, msg)


class Database(object):
    """A fresh database cloned from the seeded template."""

    def __init__(self, server, name):
        self.server = server
        self.name = name

    @property
    def env(self):
        return self.server.env(self.name)

    @property
    def url(self):
        return self.server.url(self.name)

    def conn_args(self):
        """Module connection options pointing at this database."""
        return dict(login_host='127.0.0.1', login_port=self.server.port, login_user=self.server.user,
                    login_password=self.server.password, login_db=self.name)

    def connect(self, autocommit=True):
        return self.server.connect(self.name, autocommit=autocommit)

    def query(self, statement, params=None):
        return self.server.execute(statement, dbname=self.name, params=params)

    def scalar(self, statement, params=None):
        rows = self.query(statement, params)
        return rows[0][0] if rows else None


@pytest.fixture(scope='session')
def pg_server():
    server = PgServer().start()
    try:
        server.create_database(TEMPLATE_DB)
        server.seed(TEMPLATE_DB)
        yield server
    finally:
        server.stop()


@pytest.fixture
def db(pg_server):
    name = 't_' + uuid.uuid4().hex[:12]
    pg_server.create_database(name, template=TEMPLATE_DB)
    database = Database(pg_server, name)
    try:
        yield database
    finally:
        pg_server.drop_database(name)


pytest_plugins = ['tests.fixtures_standins']

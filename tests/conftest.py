"""Shared fixtures: a real PostgreSQL server (15, and 17 for the modules marked
``pg_matrix``), fresh databases, and a way to run a module exactly as Ansible
does (a separate Python process reading its arguments from a JSON file and
printing its JSON result).

Server versions: ``pg_server`` / ``db`` are PostgreSQL 15 unless the test is
parametrized over ``pg_version``; a module with ``pytestmark = pytest.mark.pg_matrix``
(or one in PG_MATRIX_MODULES) runs each of its tests against every version in PG_VERSIONS (ids ``pg15``,
``pg17``). POURTRAIT_PG_VERSIONS=15 runs the matrix on 15 only. ``pg_server_17``
is the 17 server for a test that needs it whatever the matrix."""

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.helpers import COLLECTIONS, LIBPQ_VARS as _LIBPQ_VARS, ensure_collection_link  # noqa: E402,F401
from tests.sandbox.pg import PG_MAJOR, PG_VERSIONS, PgServer  # noqa: E402

MODULES = os.path.join(ROOT, 'plugins', 'modules')
TEMPLATE_DB = 'pourtrait_template'


# --- one temporary directory per test session ------------------------------------------------------
# Everything a test session writes to "the temporary directory" - tempfile.* in the tests, in pytest (its
# basetemp, so every tmp_path) and in every process they start (TMPDIR: ansible-playbook, modules, serve.py, the
# PostgreSQL harness) - goes into one directory made when the session starts (the xdist controller makes it,
# its workers inherit it) and removed when it ends. The run reports of playbook runs go to its reports/.
# The session fails when a test left anything else in it (pytest_sessionfinish below), and warns about new
# entries of ours straight in the system's temporary directory. POURTRAIT_KEEP_TEST_TMP=1 keeps the directory
# (the tmp_path of a failed test) and says where it is.

SESSION_TMP_VAR = 'POURTRAIT_TEST_TMPDIR'
OUR_TMP_PREFIXES = ('pourtrait-', 'rot-reports-')
_SYSTEM_TMP = os.environ.get('POURTRAIT_TEST_SYSTEM_TMPDIR') or tempfile.gettempdir()
_OWNER = 'PYTEST_XDIST_WORKER' not in os.environ
if _OWNER or not os.path.isdir(os.environ.get(SESSION_TMP_VAR, '')):
    os.environ[SESSION_TMP_VAR] = tempfile.mkdtemp(prefix='pourtrait-tests-', dir=_SYSTEM_TMP)
    os.chmod(os.environ[SESSION_TMP_VAR], 0o711)  # the PostgreSQL harness runs the server as postgres below it
    _OWNER = True
    if not os.environ.get('POURTRAIT_KEEP_TEST_TMP'):
        # also when this module is imported outside a pytest session (bench/ uses its helpers); in a session,
        # pytest_sessionfinish below has checked and removed it by then
        atexit.register(shutil.rmtree, os.environ[SESSION_TMP_VAR], True)
SESSION_TMP = os.environ[SESSION_TMP_VAR]
os.environ['POURTRAIT_TEST_SYSTEM_TMPDIR'] = _SYSTEM_TMP
os.environ['TMPDIR'] = SESSION_TMP
tempfile.tempdir = SESSION_TMP
# Playbook runs in tests write their run reports (runbook_report callback) here, not into the checkout's reports/.
os.environ.setdefault('POURTRAIT_REPORTS_DIR', os.path.join(SESSION_TMP, 'reports'))
# What the session may leave in SESSION_TMP until it ends: pytest's basetemp and the reports.
_SESSION_ENTRIES = ('pytest-of-', 'reports')
_system_tmp_before = None


def _our_system_tmp_entries():
    try:
        return set(name for name in os.listdir(_SYSTEM_TMP) if name.startswith(OUR_TMP_PREFIXES))
    except OSError:
        return set()


def pytest_sessionstart(session):
    global _system_tmp_before
    if _OWNER:
        _system_tmp_before = _our_system_tmp_entries()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """Remove the session's temporary directory; fail the session when a test left something in it."""
    if not _OWNER or not os.path.isdir(SESSION_TMP):
        return
    left = sorted(name for name in os.listdir(SESSION_TMP) if not name.startswith(_SESSION_ENTRIES))
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    if os.environ.get('POURTRAIT_KEEP_TEST_TMP'):  # to look at the tmp_path of a failed test
        if reporter is not None:
            reporter.write_line('\nPOURTRAIT_KEEP_TEST_TMP: kept %s (remove it when done)' % SESSION_TMP)
    else:
        shutil.rmtree(SESSION_TMP, ignore_errors=True)
        if os.path.isdir(SESSION_TMP):  # files of another user (the PostgreSQL server's): try once more
            subprocess.run(['rm', '-rf', SESSION_TMP], check=False)
    new = sorted((_our_system_tmp_entries() - (_system_tmp_before or set())) - {os.path.basename(SESSION_TMP)})
    if reporter is not None and (left or new):
        reporter.write('\n')
    if new and reporter is not None:
        # a warning only: other sessions on this machine (other checkouts, make sandbox-up) make such entries too
        reporter.write_line('WARNING: new entries in %s since this session started (ours or another '
                            "session's): %s" % (_SYSTEM_TMP, ', '.join(new)), yellow=True)
    if left:
        if reporter is not None:
            reporter.write_line('ERROR: tests left these in the temporary directory (%s), each must clean up: %s'
                                % (SESSION_TMP, ', '.join(left)), red=True)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
    with tempfile.NamedTemporaryFile('w', prefix='module-args-', suffix='.json', delete=False) as handle:
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


def matrix_versions():
    """The server versions of the ``pg_matrix`` tests: PG_VERSIONS, or POURTRAIT_PG_VERSIONS (e.g. "15")."""
    wanted = os.environ.get('POURTRAIT_PG_VERSIONS', '').replace(',', ' ').split()
    return [v for v in PG_VERSIONS if not wanted or v in wanted]


def pytest_configure(config):
    config.addinivalue_line('markers', 'pg_matrix: run the test against every PostgreSQL version in PG_VERSIONS')


# The test modules run against every server version (where the server's version matters: dumps and restores,
# migrations, the catalog views of diagnostics, maintenance and sessions); the rest run on PG_MAJOR only.
PG_MATRIX_MODULES = (
    'tests/integration/plugins/modules/test_postgres_dump.py',
    'tests/integration/plugins/modules/test_postgres_restore.py',
    'tests/integration/plugins/modules/test_supabase_db_dump.py',
    'tests/integration/plugins/modules/test_supabase_migration.py',
    'tests/integration/plugins/modules/test_postgres_diagnostics.py',
    'tests/integration/plugins/modules/test_postgres_maintenance.py',
    'tests/integration/plugins/modules/test_postgres_terminate.py',
)


def _in_matrix(metafunc):
    path = os.path.relpath(str(metafunc.definition.path), ROOT)
    return path in PG_MATRIX_MODULES or metafunc.definition.get_closest_marker('pg_matrix') is not None


def pytest_generate_tests(metafunc):
    if 'pg_version' in metafunc.fixturenames and _in_matrix(metafunc):
        versions = matrix_versions()
        metafunc.parametrize('pg_version', versions, indirect=True, scope='session',
                             ids=['pg%s' % v for v in versions])


def _start_server(version):
    server = PgServer(version=version).start()
    try:
        server.create_database(TEMPLATE_DB)
        server.seed(TEMPLATE_DB)
    except BaseException:
        server.stop()
        raise
    return server


def _server_fixture(version):
    """The session fixture ``pg_server_<version>``: that server, started once, stopped at the end."""
    @pytest.fixture(scope='session', name='pg_server_%s' % version)
    def server_fixture():
        server = _start_server(version)
        try:
            yield server
        finally:
            server.stop()
    return server_fixture


pg_server_15 = _server_fixture('15')
pg_server_17 = _server_fixture('17')


@pytest.fixture(scope='session')
def pg_version(request):
    """The major version of ``pg_server``: PG_MAJOR unless parametrized (``pg_matrix``)."""
    return str(getattr(request, 'param', PG_MAJOR))


@pytest.fixture(scope='session')
def pg_server(request, pg_version):
    """The PostgreSQL server of this test's ``pg_version`` (each version's server starts once per session)."""
    return request.getfixturevalue('pg_server_%s' % pg_version)


@contextlib.contextmanager
def fresh_database(server, prefix='t_'):
    """A database of ``server`` cloned from the seeded template, dropped afterwards."""
    name = prefix + uuid.uuid4().hex[:12]
    server.create_database(name, template=TEMPLATE_DB)
    try:
        yield Database(server, name)
    finally:
        server.drop_database(name)


@pytest.fixture
def db(pg_server):
    with fresh_database(pg_server) as database:
        yield database


pytest_plugins = ['tests.fixtures_standins', 'tests.fixtures_auth']

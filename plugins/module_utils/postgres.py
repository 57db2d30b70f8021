# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL plumbing shared by every ``postgres_*`` module.

One connection spec (documented once in ``doc_fragments/postgres.py``), one
place that turns libpq errors into one-line messages, identifier helpers that
never put user input into SQL text, and a small base class so each module is
mostly a declaration: its options, a plan, and what running the plan does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import traceback

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, OpsModule, one_line

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    import psycopg2.extensions
    import psycopg2.extras
    from psycopg2 import sql
except ImportError:  # pragma: no cover - reported by the module at run time
    psycopg2 = None
    sql = None
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

# Roles Supabase manages itself: never terminated, never touched by default.
SUPABASE_MANAGED_ROLES = [
    'supabase_admin', 'supabase_auth_admin', 'supabase_storage_admin',
    'supabase_realtime_admin', 'supabase_replication_admin', 'supabase_read_only_user',
    'supabase_functions_admin', 'authenticator', 'pgbouncer', 'dashboard_user',
    'pgsodium_keyholder', 'pgsodium_keyiduser', 'pgsodium_keymaker',
]

# libpq keyword -> (module option, environment variable read by libpq)
_CONN_OPTIONS = (
    ('host', 'login_host', 'PGHOST'),
    ('port', 'login_port', 'PGPORT'),
    ('user', 'login_user', 'PGUSER'),
    ('password', 'login_password', 'PGPASSWORD'),
    ('dbname', 'login_db', 'PGDATABASE'),
    ('sslmode', 'ssl_mode', 'PGSSLMODE'),
    ('sslrootcert', 'ca_cert', 'PGSSLROOTCERT'),
)


# Other libpq keywords a DATABASE_URL may carry, and the variables that pass
# them on to client programs.
_EXTRA_LIBPQ_ENV = (
    ('sslcert', 'PGSSLCERT'), ('sslkey', 'PGSSLKEY'), ('sslcrl', 'PGSSLCRL'),
    ('options', 'PGOPTIONS'), ('target_session_attrs', 'PGTARGETSESSIONATTRS'),
    ('application_name', 'PGAPPNAME'), ('passfile', 'PGPASSFILE'),
    ('channel_binding', 'PGCHANNELBINDING'), ('gssencmode', 'PGGSSENCMODE'),
)


class PgModuleError(OpsError):
    """A failure the user can act on; the message is one line."""


def postgres_argument_spec():
    """The connection options every postgres_* module accepts."""
    return dict(
        login_host=dict(type='str', aliases=['host']),
        login_port=dict(type='int', aliases=['port']),
        login_user=dict(type='str', aliases=['user']),
        login_password=dict(type='str', no_log=True, aliases=['password']),
        login_db=dict(type='str', aliases=['db', 'database']),
        database_url=dict(type='str', no_log=True),
        ssl_mode=dict(type='str', choices=['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']),
        ca_cert=dict(type='path', aliases=['ssl_rootcert']),
        connect_timeout=dict(type='int', default=10),
    )


def connection_params(params, environ=None):
    """Resolve the libpq keywords for a connection.

    Precedence: explicit module options, then ``database_url`` (or the
    ``DATABASE_URL`` environment variable), then the ``PG*`` variables libpq
    reads itself. The result holds only keywords that were set somewhere.
    """
    environ = os.environ if environ is None else environ
    resolved = {}
    for keyword, _option, env_name in _CONN_OPTIONS:
        if environ.get(env_name):
            resolved[keyword] = environ[env_name]
    url = params.get('database_url') or environ.get('DATABASE_URL')
    if url:
        try:
            parsed = psycopg2.extensions.parse_dsn(url)
        except psycopg2.ProgrammingError:
            # The URL may hold a password: never echo it.
            raise PgModuleError('database_url (or DATABASE_URL) is not a valid PostgreSQL URL; '
                                'use postgresql://user:password@host:port/dbname')
        resolved.update(parsed)
    for keyword, option, _env_name in _CONN_OPTIONS:
        if params.get(option) not in (None, ''):
            resolved[keyword] = str(params[option])
    resolved['connect_timeout'] = str(params.get('connect_timeout') or 10)
    return resolved


def libpq_env(conn_params, base=None):
    """Environment for a libpq client program (pg_dump, pg_restore, psql).

    The password travels here, never in argv.
    """
    env = dict(os.environ if base is None else base)
    env.pop('DATABASE_URL', None)
    for keyword, _option, env_name in _CONN_OPTIONS:
        if conn_params.get(keyword):
            env[env_name] = str(conn_params[keyword])
        else:
            env.pop(env_name, None)
    for keyword, env_name in _EXTRA_LIBPQ_ENV:
        if conn_params.get(keyword):
            env[env_name] = str(conn_params[keyword])
    env['PGCONNECT_TIMEOUT'] = str(conn_params.get('connect_timeout') or 10)
    return env


def describe_target(conn_params):
    host = conn_params.get('host') or 'local socket'
    port = conn_params.get('port') or '5432'
    return '%s:%s' % (host, port)


def describe_connect_error(exc, conn_params):
    """One line saying what failed and what to do, without any secret."""
    text = one_line(getattr(exc, 'pgerror', None) or exc)
    target = describe_target(conn_params)
    user = conn_params.get('user') or os.environ.get('USER', '')
    dbname = conn_params.get('dbname') or user
    low = text.lower()
    if 'password authentication failed' in low or 'no password supplied' in low \
            or 'authentication failed' in low:
        return ('PostgreSQL at %s rejected the credentials of user "%s"; check login_password '
                '(PGPASSWORD / DATABASE_URL) and login_user' % (target, user))
    # Match the server's wording, not the words alone: role "database_admin" is a role.
    if re.search(r'\bdatabase ".*" does not exist', low):
        return ('database "%s" does not exist on %s; check login_db (PGDATABASE / DATABASE_URL)'
                % (dbname, target))
    if re.search(r'\brole ".*" does not exist', low):
        return 'role "%s" does not exist on %s; check login_user (PGUSER)' % (user, target)
    if 'timeout expired' in low:
        return ('timed out connecting to PostgreSQL at %s; check login_host/login_port and the '
                'network, or raise connect_timeout' % target)
    if 'could not translate host name' in low:
        return ('cannot resolve PostgreSQL host "%s"; check login_host (PGHOST / DATABASE_URL)'
                % conn_params.get('host'))
    if 'connection refused' in low or 'could not connect' in low or 'no such file' in low:
        return ('cannot reach PostgreSQL at %s (connection refused); check login_host/login_port '
                'and that the server is running' % target)
    return 'cannot connect to PostgreSQL at %s: %s' % (target, text)


def describe_db_error(exc):
    """``SQLSTATE message`` on one line for an error raised by a statement."""
    code = getattr(exc, 'pgcode', None)
    diag = getattr(exc, 'diag', None)
    primary = getattr(diag, 'message_primary', None) if diag is not None else None
    text = one_line(primary or getattr(exc, 'pgerror', None) or exc)
    text = re.sub(r'^ERROR:\s*', '', text)
    return '%s (SQLSTATE %s)' % (text, code) if code else text


def connect(conn_params, autocommit=False, application_name='pourtrait.ops', dbname=None):
    """Open a psycopg2 connection or raise PgModuleError with a one-line reason."""
    kwargs = dict(conn_params)
    if dbname:
        kwargs['dbname'] = dbname
    kwargs.setdefault('application_name', application_name)
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        raise PgModuleError(describe_connect_error(exc, kwargs))
    conn.autocommit = autocommit
    return conn


def set_timeouts(cursor, lock_timeout=None, statement_timeout=None, local=False):
    """Apply lock and statement timeouts to the session (or transaction)."""
    for name, value in (('lock_timeout', lock_timeout), ('statement_timeout', statement_timeout)):
        if value is None:
            continue
        try:
            cursor.execute('SELECT set_config(%s, %s, %s)', (name, str(value), local))
        except psycopg2.DataError as exc:
            raise PgModuleError('%s: %s; use a duration such as 5s, 30s or 10min'
                                % (name, describe_db_error(exc)))


def split_qualified(name):
    """'schema.table' -> ('schema', 'table'); a bare name is in 'public'.

    Follows PostgreSQL's rules: unquoted parts fold to lower case,
    double-quoted parts ("My.Schema"."t") are taken as written. The pieces
    are only ever used as parameters or ``sql.Identifier``, never spliced
    into SQL.
    """
    part = r'\s*(?:"((?:[^"]|"")+)"|([^."]+))\s*'
    match = re.match(r'^%s(?:\.%s)?$' % (part, part), name or '')
    pieces = []
    if match:
        for quoted, bare in ((match.group(1), match.group(2)), (match.group(3), match.group(4))):
            if quoted is not None:
                pieces.append(quoted.replace('""', '"'))
            elif bare is not None and bare.strip():
                pieces.append(bare.strip().lower())
            elif bare is not None:
                pieces.append('')
    if not pieces or not all(pieces):
        raise PgModuleError('"%s" is not a table name; use table or schema.table' % name)
    return tuple(['public'] + pieces) if len(pieces) == 1 else tuple(pieces)


def resolve_tables(cursor, names):
    """Check that every named table exists; return [(schema, table)].

    Names with quotes or semicolons are treated as names, so a hostile value
    simply does not exist.
    """
    found = []
    missing = []
    for name in names:
        schema, table = split_qualified(name)
        cursor.execute(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'm')",
            (schema, table))
        row = cursor.fetchone()
        if row is None:
            missing.append('%s.%s' % (schema, table))
        else:
            found.append((row[0], row[1]))
    if missing:
        raise PgModuleError('table %s does not exist in database "%s"; check the name (schema.table)'
                            % (', '.join('"%s"' % m for m in missing),
                               cursor.connection.get_dsn_parameters().get('dbname')))
    return found


def table_identifier(schema, table):
    return sql.Identifier(schema, table)


def server_version(conn):
    """(major, server_version_num) of the connected server."""
    num = conn.server_version
    return num // 10000, num


class PostgresModule(OpsModule):
    """Base for postgres_* modules (see OpsModule): the connection options, ``connect()``, and psycopg2's
    errors as one line (``describe_db_error``). A subclass sets ``name`` (the module name, used as
    application_name). Raise PgModuleError for anything the user can fix.
    """

    name = 'postgres'
    libraries = ((psycopg2, 'psycopg2 (pip install psycopg2-binary)', PSYCOPG2_IMPORT_ERROR),)
    _conn_params = None

    @classmethod
    def shared_argument_spec(cls):
        return postgres_argument_spec()

    @classmethod
    def library_errors(cls):
        return (psycopg2.Error,)

    @classmethod
    def describe_library_error(cls, exc):
        return describe_db_error(exc)

    @property
    def conn_params(self):
        if self._conn_params is None:
            self._conn_params = connection_params(self.params)
        return self._conn_params

    @property
    def application_name(self):
        return 'pourtrait.ops/%s' % self.name

    def connect(self, autocommit=False, dbname=None):
        return connect(self.conn_params, autocommit=autocommit, dbname=dbname,
                       application_name=self.application_name)

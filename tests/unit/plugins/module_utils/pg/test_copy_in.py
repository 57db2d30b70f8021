"""Unit tests of plugins/module_utils/pg/copy_in.py: when the table data is loaded by this collection, reading
pg_restore's table of contents and its script of the data entries, the data files, one-line failures."""

import gzip

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import copy_in
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError

TOC = """;
; Archive created at 2026-01-01 02:00:00 UTC
;
215; 1259 16390 TABLE public parent app
216; 1259 16396 TABLE public child app
217; 1259 16410 SEQUENCE public counter app
3390; 0 16390 TABLE DATA public parent app
3391; 0 16396 TABLE DATA public child app
3392; 0 0 TABLE DATA other legacy app
3400; 0 0 SEQUENCE SET public counter app
3401; 0 0 BLOBS - BLOBS
3242; 2606 16394 CONSTRAINT public parent parent_pkey app
"""

SCRIPT = """--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;

--
-- Data for Name: parent; Type: TABLE DATA; Schema: public; Owner: app
--

COPY public.parent (id, name) FROM stdin;
\\.


--
-- Data for Name: child; Type: TABLE DATA; Schema: public; Owner: app
--

COPY public.child (id, parent_id, note) FROM stdin;
\\.


SET default_tablespace = '';
COPY "Odd Schema"."Mixed Case" ("a b") FROM stdin;
\\.
"""


@pytest.mark.parametrize('fmt, jobs, isal, clean, expected', [
    ('directory', 2, True, False, True),
    ('directory', 1, True, False, False),   # one job: pg_restore's one transaction
    ('directory', 2, False, False, False),  # no ISA-L: pg_restore inflates
    ('directory', 2, True, True, False),    # --clean drops span the sections
    ('custom', 2, True, False, False),
    ('plain', 2, True, False, False),
])
def test_when_the_table_data_is_loaded_here(monkeypatch, fmt, jobs, isal, clean, expected):
    monkeypatch.setattr(copy_in, 'HAS_ISAL', isal)
    assert copy_in.use_copy_in(fmt, jobs, clean) is expected


def test_the_table_of_contents_splits_table_data_from_the_rest():
    entries, other = copy_in.read_toc(TOC)
    assert sorted(entries) == [3390, 3391, 3392]
    assert (entries[3390].schema, entries[3390].table, entries[3390].created) == ('public', 'parent', True)
    assert entries[3392].created is False  # data-only: the table is not created by this restore
    assert [line.split(';')[0] for line in other] == ['215', '216', '217', '3400', '3401', '3242']


def test_the_data_script_gives_the_session_settings_and_the_copy_statements():
    settings, copies = copy_in.read_data_script(SCRIPT)
    assert settings == ['SET statement_timeout = 0;', "SET client_encoding = 'UTF8';",
                        'SET standard_conforming_strings = on;',
                        "SELECT pg_catalog.set_config('search_path', '', false);",
                        'SET check_function_bodies = false;']
    assert copies == [(('public', 'parent'), 'COPY public.parent (id, name) FROM stdin'),
                      (('public', 'child'), 'COPY public.child (id, parent_id, note) FROM stdin'),
                      (('Odd Schema', 'Mixed Case'), 'COPY "Odd Schema"."Mixed Case" ("a b") FROM stdin')]


def test_data_files_plain_or_gzip_only(tmp_path):
    (tmp_path / '1.dat').write_bytes(b'1\n')
    (tmp_path / '2.dat.gz').write_bytes(gzip.compress(b'2\n'))
    (tmp_path / '3.dat.lz4').write_bytes(b'')
    assert copy_in.data_file(str(tmp_path), 1) == str(tmp_path / '1.dat')
    assert copy_in.data_file(str(tmp_path), 2) == str(tmp_path / '2.dat.gz')
    assert copy_in.data_file(str(tmp_path), 3) is None
    assert copy_in.data_file(str(tmp_path), 4) is None


def test_a_data_source_inflates_and_keeps_its_own_failure(tmp_path):
    path = tmp_path / '7.dat.gz'
    data = gzip.compress(b'1\tone\n' * 10000)
    path.write_bytes(data)
    with copy_in.DataSource(str(path)) as source:
        assert source.read(1 << 20) == b'1\tone\n' * 10000 and source.error is None
    path.write_bytes(data[:len(data) // 2])
    with copy_in.DataSource(str(path)) as source:
        with pytest.raises(EOFError):
            while source.read(1 << 20):
                pass
        assert isinstance(source.error, EOFError)


def test_failures_are_one_line():
    entry = copy_in.TableData(7, 'public', 'child', True)
    entry.path = '/b/x.dir/7.dat.gz'
    msg = copy_in.describe_failure(entry, EOFError('Compressed file ended before the end-of-stream marker'))
    assert msg == ('restore of the table data failed loading public.child from 7.dat.gz: Compressed file ended '
                   'before the end-of-stream marker; the dump looks truncated or corrupt, take a new one')
    assert copy_in.describe_failure(None, PgModuleError('cannot reach PostgreSQL')) == \
        'restore of the table data failed starting a session: cannot reach PostgreSQL'


class _Cursor(object):
    def __init__(self, conn):
        self.conn, self.rowcount = conn, -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, statement, params=None):
        if self.conn.fail_on and self.conn.fail_on in str(statement):
            raise copy_in.psycopg2.ProgrammingError('unrecognized configuration parameter')
        self.conn.executed.append(statement)

    def fetchone(self):
        return (True,)

    def copy_expert(self, statement, source, size=0):
        data = b''
        while True:
            chunk = source.read(size)
            if not chunk:
                break
            data += chunk
        self.conn.copied.append((statement, data))
        self.rowcount = data.count(b'\n')


class _Conn(object):
    def __init__(self, fail_on=None):
        self.fail_on, self.executed, self.copied, self.closed = fail_on, [], [], False

    def cursor(self):
        return _Cursor(self)

    def commit(self):
        pass

    def cancel(self):
        pass

    def close(self):
        self.closed = True


def _restore_of(tmp_path, settings, conns):
    job = copy_in.CopyInRestore({}, 'target', str(tmp_path), ['pg_restore', str(tmp_path)], {}, 2, 'test')
    for dump_id, name in ((1, 'a'), (2, 'b')):
        (tmp_path / ('%d.dat.gz' % dump_id)).write_bytes(gzip.compress(b'1\tx\n2\ty\n'))
        entry = copy_in.TableData(dump_id, 'public', name, True)
        entry.path, entry.statement = str(tmp_path / ('%d.dat.gz' % dump_id)), 'COPY public.%s (id, v) FROM stdin' % name
        job.tables.append(entry)
    job.settings = settings
    return job


def test_tables_load_frozen_and_counted(monkeypatch, tmp_path):
    conns = []
    monkeypatch.setattr(copy_in, 'connect', lambda *a, **kw: conns.append(_Conn()) or conns[-1])
    job = _restore_of(tmp_path, ["SET client_encoding = 'UTF8';"], conns)
    job.load_tables()
    copied = sorted(c for conn in conns for c in conn.copied)
    assert copied == [('COPY public.a (id, v) FROM stdin WITH (FREEZE)', b'1\tx\n2\ty\n'),
                      ('COPY public.b (id, v) FROM stdin WITH (FREEZE)', b'1\tx\n2\ty\n')]
    assert job.counts == {('public', 'a'): 2, ('public', 'b'): 2}
    assert all(conn.closed for conn in conns)


def test_a_session_that_cannot_be_prepared_fails_the_restore(monkeypatch, tmp_path):
    conns = []
    monkeypatch.setattr(copy_in, 'connect', lambda *a, **kw: conns.append(_Conn('xmloption')) or conns[-1])
    job = _restore_of(tmp_path, ['SET xmloption = content;'], conns)
    with pytest.raises(PgModuleError) as caught:
        job.load_tables()
    assert str(caught.value).startswith('restore of the table data failed starting a session: ')
    assert not any(conn.copied for conn in conns) and all(conn.closed for conn in conns)


@pytest.mark.parametrize('env, jobs, expected', [
    ({'PGOPTIONS': '-c maintenance_work_mem=256MB'}, 2,
     '-c maintenance_work_mem=256MB -c max_parallel_maintenance_workers=0'),
    ({'PGOPTIONS': '-c maintenance_work_mem=256MB'}, 1, '-c maintenance_work_mem=256MB'),
    ({}, 2, None),  # maintenance_work_mem='' (no startup options, e.g. behind a pooler): none added
])
def test_post_data_index_builds_run_without_parallel_workers(tmp_path, env, jobs, expected):
    job = copy_in.CopyInRestore({}, 'target', str(tmp_path), ['pg_restore', str(tmp_path)], env, jobs, 'test')
    assert job.post_data_env().get('PGOPTIONS') == expected
    assert job.env == env  # the other steps keep the restore's own settings

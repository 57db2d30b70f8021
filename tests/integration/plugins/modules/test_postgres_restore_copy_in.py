"""postgres_restore's own loading of a directory dump's table data (plugins/module_utils/pg/copy_in.py) against
a real PostgreSQL 15: the same tables, checksums, constraints, indexes, large objects and sequences as
pg_restore's own restore of the same dump; pg_restore alone when ISA-L is absent or with one job; a corrupt
data file fails in one line and drops the database the run created."""

import os
import shutil
import uuid

import pytest

from tests.conftest import COLLECTIONS, assert_one_line_error, run_module

SCHEMA = r"""
CREATE TABLE parent (id bigint PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE child (id serial PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parent (id),
                    note text, total numeric(12, 2) CHECK (total >= 0), doubled int GENERATED ALWAYS AS (id * 2) STORED);
CREATE INDEX child_parent_idx ON child (parent_id);
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Mixed Case" ("Weird ""col"" name" text, n int);
CREATE TABLE empty_one (id int PRIMARY KEY);
CREATE TABLE measures (at date NOT NULL, v int) PARTITION BY RANGE (at);
CREATE TABLE measures_2025 PARTITION OF measures FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE measures_2026 PARTITION OF measures FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE docs (id int PRIMARY KEY, body oid);
CREATE SEQUENCE counter START 5;
CREATE MATERIALIZED VIEW parent_names AS SELECT name FROM parent;
INSERT INTO parent SELECT g, 'parent ' || g FROM generate_series(1, 3000) g;
INSERT INTO child (parent_id, note, total)
    SELECT 1 + g % 3000, CASE WHEN g % 7 = 0 THEN NULL ELSE E'tab\there, newline\nand \\ backslash, caf\u00e9 ' || g END,
           g / 100.0
    FROM generate_series(1, 20000) g;
INSERT INTO "Odd Schema"."Mixed Case" VALUES (E'a\\.b', 1), ('\.', 2), (NULL, 3);
INSERT INTO measures SELECT date '2025-01-01' + g, g FROM generate_series(0, 600) g;
INSERT INTO docs VALUES (1, lo_from_bytea(0, 'large object one')), (2, lo_from_bytea(0, repeat('x', 100000)::bytea));
SELECT setval('counter', 42);
REFRESH MATERIALIZED VIEW parent_names;
"""


def conn_args(pg_server, dbname):
    return dict(login_host='127.0.0.1', login_port=pg_server.port, login_user=pg_server.user,
                login_password=pg_server.password, login_db=dbname)


@pytest.fixture(scope='module')
def dump(pg_server, tmp_path_factory):
    """A directory dump (ISA-L data files, table checksums) of a database with constraints, odd names,
    partitions, large objects and a sequence."""
    name = 'ci_' + uuid.uuid4().hex[:8]
    pg_server.create_database(name)
    pg_server.execute(SCHEMA, dbname=name)
    backup_dir = tmp_path_factory.mktemp('copy_in')
    result = run_module('postgres_dump', dict(conn_args(pg_server, name), backup_dir=str(backup_dir), name='ci',
                                              table_checksums=True))
    assert not result.get('failed') and result['compressor'] == 'isal', result
    yield dict(path=result['path'], source=name, dir=backup_dir)
    pg_server.drop_database(name)


@pytest.fixture
def targets(pg_server):
    names = []

    def new():
        names.append('cit_' + uuid.uuid4().hex[:10])
        return names[-1]
    yield new
    for name in names:
        pg_server.drop_database(name)


def restore(pg_server, dump, target, **options):
    return run_module('postgres_restore', dict(conn_args(pg_server, 'postgres'), path=dump['path'], target_db=target,
                                               create=True, **options))


def describe(pg_server, dbname):
    """What a restore must bring back besides the rows: constraints, indexes, large objects, the sequence."""
    def query(statement):
        return pg_server.execute(statement, dbname=dbname)
    return dict(
        constraints=query("SELECT conrelid::regclass::text, conname, contype, convalidated FROM pg_constraint "
                          "WHERE connamespace <> 'pg_catalog'::regnamespace ORDER BY 1, 2"),
        indexes=query("SELECT indexrelid::regclass::text, indisvalid FROM pg_index i JOIN pg_class c "
                      "ON c.oid = i.indrelid WHERE c.relnamespace <> 'pg_catalog'::regnamespace "
                      "AND c.relnamespace <> 'pg_toast'::regnamespace ORDER BY 1"),
        not_null=query("SELECT attrelid::regclass::text, attname FROM pg_attribute a JOIN pg_class c "
                       "ON c.oid = a.attrelid WHERE a.attnotnull AND a.attnum > 0 "
                       "AND c.relnamespace <> 'pg_catalog'::regnamespace AND c.relkind = 'r' ORDER BY 1, 2"),
        large_objects=query('SELECT length(lo_get(body)), md5(lo_get(body)) FROM docs ORDER BY id'),
        sequence=query('SELECT last_value, is_called FROM counter'),
        view=query('SELECT count(*) FROM parent_names'),
        odd=query('SELECT * FROM "Odd Schema"."Mixed Case" ORDER BY n'),
    )


def test_copy_in_restores_what_pg_restore_restores(pg_server, dump, targets):
    fast, reference = targets(), targets()
    result = restore(pg_server, dump, fast, jobs=2)
    assert not result.get('failed'), result
    assert result['data_loader'] == 'copy_in'
    assert os.path.basename(result['command'][0]) == 'pg_restore' and '--jobs=2' in result['command']
    single = restore(pg_server, dump, reference, jobs=1)
    assert not single.get('failed') and single['data_loader'] == 'pg_restore', single
    assert sorted(map(tuple, (t.items() for t in result['tables']))) == \
        sorted(map(tuple, (t.items() for t in single['tables'])))
    assert describe(pg_server, fast) == describe(pg_server, reference)
    fast_facts = describe(pg_server, fast)
    assert ('child', 'child_parent_id_fkey', 'f', True) in [tuple(r) for r in fast_facts['constraints']]
    assert ('child_parent_idx', True) in [tuple(r) for r in fast_facts['indexes']]
    assert [tuple(r) for r in fast_facts['odd']] == [('a\\.b', 1), ('\\.', 2), (None, 3)]
    assert [r[0] for r in fast_facts['large_objects']] == [16, 100000]
    assert tuple(fast_facts['sequence'][0]) == (42, True)
    # every table's checksum equals the source's at the moment of the dump, and pg_restore's restore
    for target in (fast, reference):
        compared = run_module('postgres_compare', dict(conn_args(pg_server, 'postgres'), target_db=target,
                                                       manifest=dump['path'], fail_on_mismatch=True))
        assert not compared.get('failed') and compared['equal'] is True, compared
    compared = run_module('postgres_compare', dict(conn_args(pg_server, fast), target_db=reference,
                                                   fail_on_mismatch=True))
    assert not compared.get('failed') and compared['equal'] is True, compared


def test_without_isal_pg_restore_loads_the_data(pg_server, dump, targets, tmp_path):
    blocker = tmp_path / 'no_isal'
    (blocker / 'isal').mkdir(parents=True)
    (blocker / 'isal' / '__init__.py').write_text('raise ImportError("isal hidden by the test")\n')
    target = targets()
    result = run_module('postgres_restore', dict(conn_args(pg_server, 'postgres'), path=dump['path'],
                                                 target_db=target, create=True, jobs=2),
                        env=dict(PYTHONPATH='%s:%s' % (blocker, COLLECTIONS)))
    assert not result.get('failed'), result
    assert result['data_loader'] == 'pg_restore'
    compared = run_module('postgres_compare', dict(conn_args(pg_server, 'postgres'), target_db=target,
                                                   manifest=dump['path'], fail_on_mismatch=True))
    assert not compared.get('failed') and compared['equal'] is True, compared


def test_a_corrupt_data_file_fails_in_one_line_and_drops_the_new_database(pg_server, dump, targets, tmp_path):
    copy = str(tmp_path / 'x.dir')
    shutil.copytree(dump['path'], copy)
    victim = max((n for n in os.listdir(copy) if n.endswith('.dat.gz')),
                 key=lambda n: os.path.getsize(os.path.join(copy, n)))
    with open(os.path.join(copy, victim), 'r+b') as handle:
        handle.truncate(os.path.getsize(os.path.join(copy, victim)) // 2)
    target = targets()
    result = run_module('postgres_restore', dict(conn_args(pg_server, 'postgres'), path=copy, target_db=target,
                                                 create=True, jobs=2, verify_checksum=False))
    assert_one_line_error(result, 'restore of the table data failed', victim, 'truncated or corrupt',
                          'was dropped again')
    assert pg_server.execute('SELECT count(*) FROM pg_database WHERE datname = %s', params=(target,))[0][0] == 0

"""Unit tests of plugins/module_utils/pg/checksums.py: which tables are checksummed, and the session every
reader prepares (tests/integration compares real databases)."""

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import checksums
from tests.unit.plugins.module_utils.pg.helpers import FakeConn

TABLES = [('auth', 'users'), ('public', 'notes'), ('public', 'wines')]


def test_dumped_tables_follow_pg_dumps_filters(monkeypatch):
    monkeypatch.setattr(checksums, 'checksum_tables', lambda conn: list(TABLES))
    assert checksums.dumped_tables(None) == TABLES
    assert checksums.dumped_tables(None, schemas=['public']) == TABLES[1:]
    assert checksums.dumped_tables(None, exclude_schemas=['auth'], exclude_tables=[('public', 'notes')]) == \
        [('public', 'wines')]
    # named tables win over the schema filters; unknown ones are not checksummed
    assert checksums.dumped_tables(None, tables=[('auth', 'users'), ('x', 'y')], schemas=['public']) == \
        [('auth', 'users')]


def test_every_reader_reads_with_the_same_settings_in_the_snapshot():
    conn = FakeConn()
    reader = checksums.ChecksumReader({}, 'app', lock_timeout='5s', statement_timeout='1min')
    reader.prepare(conn.cursor(), snapshot='00000003-1')
    executed = conn.executed
    assert executed[:2] == [('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY', None),
                            ('SET TRANSACTION SNAPSHOT %s', ('00000003-1',))]
    settings = [params for query, params in executed[2:]]
    assert settings[:len(checksums.CHECKSUM_SESSION_SETTINGS)] == list(checksums.CHECKSUM_SESSION_SETTINGS)
    assert settings[len(checksums.CHECKSUM_SESSION_SETTINGS):] == [('lock_timeout', '5s', True),
                                                                   ('statement_timeout', '1min', True)]


def test_no_tables_no_sessions():
    assert checksums.count_rows({}, 'app', []) == {}


def test_row_estimates_prefer_reltuples():
    conn = FakeConn(answers=[[(-1, 7)], [(12, 3)], []])
    assert checksums.row_estimates(conn, TABLES) == [
        dict(schema='auth', table='users', rows_estimate=7),
        dict(schema='public', table='notes', rows_estimate=12),
        dict(schema='public', table='wines', rows_estimate=None),
    ]

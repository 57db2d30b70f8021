"""Unit tests of plugins/module_utils/pg/diagnostics/gather.py and the version-aware statements of the parts."""

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics import activity, gather, statements

PARAMS = dict(limit=5, query_max_length=200, long_running_seconds=60, slow_query_threshold_ms=100)


def meta(version_num, **extra):
    base = dict(dbname='app', server_version='x', max_connections=100, pgss_schema='extensions',
                pgss_columns=('total_exec_time', 'mean_exec_time', 'blk_read_time'), server_version_num=version_num,
                can_list_wal=True)
    base.update(extra)
    return base


def text(subset, version_num, **extra):
    return ' '.join(str(query) for query, _args in gather.statements_of(subset, PARAMS, meta(version_num, **extra)))


def test_every_part_is_declared_once_and_all_selects_them_in_order():
    assert sorted(gather.PARTS) == sorted(gather.SUBSETS)
    assert gather.parse_gather_subset(['all']) == list(gather.SUBSETS)
    assert gather.parse_gather_subset(['db_stats', 'blocking', 'database']) == ['database', 'blocking', 'db_stats']


@pytest.mark.parametrize('subset, version_num, present, absent', [
    ('blocking', 130012, 'NULL::timestamptz AS waitstart', 'l.waitstart'),
    ('blocking', 140009, 'l.waitstart AS waitstart', 'NULL::timestamptz AS waitstart'),
    ('locks', 130012, 'coalesce(NULL::timestamptz', 'l.waitstart'),
    ('replication_slots', 160004, 'NULL::timestamptz', 's.inactive_since'),
    ('replication_slots', 170002, 's.inactive_since', 'NULL::timestamptz'),
    ('seq_scans', 150008, 'NULL::timestamptz', 'last_seq_scan'),
    ('seq_scans', 160000, 's.last_seq_scan', 'NULL::timestamptz'),
    ('db_stats', 160004, 'pg_stat_bgwriter', 'pg_stat_checkpointer'),
    ('db_stats', 170002, 'pg_stat_checkpointer', 'pg_stat_bgwriter'),
])
def test_statements_follow_the_server_version(subset, version_num, present, absent):
    sql = text(subset, version_num)
    assert present in sql and absent not in sql


def test_wal_size_only_when_the_role_may_list_the_wal():
    assert 'pg_ls_waldir' in text('db_stats', 150000)
    assert 'pg_ls_waldir' not in text('db_stats', 150000, can_list_wal=False)


def test_bloat_runs_a_table_and_an_index_statement():
    queries = gather.statements_of('bloat', PARAMS, meta(150000))
    assert len(queries) == 2 and "amname = 'btree'" in queries[1][0]


def test_one_warning_for_every_statement_part_without_the_extension():
    assert gather.statements_of('calls', PARAMS, meta(150000, pgss_schema=None, pgss_columns=None)) == []
    warning = statements.missing_warning(meta(150000, pgss_schema=None, pgss_columns=None), ['slow_queries', 'calls'])
    assert warning.startswith('pg_stat_statements is not installed in database "app", so slow_queries and calls are '
                              'empty; to enable it')


def test_traffic_profile_classifies_reads_and_writes():
    rows = [('public', 'wines', 900, 100, 100, 0, 0), ('public', 'logs', 10, 990, 990, 0, 0),
            ('public', 'carts', 500, 500, 200, 200, 100)]
    profiles = [t['profile'] for t in activity._traffic(rows, PARAMS, meta(150000))]
    assert profiles == ['read-heavy', 'write-heavy', 'balanced']

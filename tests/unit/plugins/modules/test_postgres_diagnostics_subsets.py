"""Unit tests of postgres_diagnostics's option handling and pg_stat_statements column choice (named
*_subsets so the basename does not clash with tests/integration/plugins/modules/test_postgres_diagnostics.py)."""

import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.modules import postgres_diagnostics as mod  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError  # noqa: E402

COMMON = ['userid', 'dbid', 'queryid', 'query', 'calls', 'rows', 'shared_blks_hit', 'shared_blks_read']
# The view's columns as each version of the extension defines them.
PG12_COLUMNS = COMMON + ['total_time', 'min_time', 'max_time', 'mean_time', 'stddev_time', 'blk_read_time',
                         'blk_write_time']
PG13_COLUMNS = COMMON + ['plans', 'total_plan_time', 'mean_plan_time', 'total_exec_time', 'mean_exec_time',
                         'blk_read_time', 'blk_write_time', 'wal_records']
PG17_COLUMNS = COMMON + ['toplevel', 'total_plan_time', 'total_exec_time', 'mean_exec_time',
                         'shared_blk_read_time', 'shared_blk_write_time', 'local_blk_read_time']


@pytest.mark.parametrize('columns, expected', [
    (PG12_COLUMNS, ('total_time', 'mean_time', 'blk_read_time')),
    (PG13_COLUMNS, ('total_exec_time', 'mean_exec_time', 'blk_read_time')),
    (PG17_COLUMNS, ('total_exec_time', 'mean_exec_time', 'shared_blk_read_time')),
    (COMMON + ['total_exec_time', 'mean_exec_time'], ('total_exec_time', 'mean_exec_time', None)),
    (COMMON, None),
    (None, None),
])
def test_pg_stat_statements_columns_by_version(columns, expected):
    assert mod.pgss_columns(columns) == expected


@pytest.mark.parametrize('value, expected', [
    (['all'], list(mod.SUBSETS)),
    (None, list(mod.SUBSETS)),
    (['database', 'slow_queries'], ['slow_queries', 'database']),
    (['!slow_queries'], [s for s in mod.SUBSETS if s != 'slow_queries']),
    (['all', '!slow_queries', '!database'], [s for s in mod.SUBSETS if s not in ('slow_queries', 'database')]),
    (['table_sizes', '!slow_queries'], ['table_sizes']),
    ([' connections '], ['connections']),
])
def test_gather_subset_selection(value, expected):
    assert mod.parse_gather_subset(value) == expected


@pytest.mark.parametrize('value, fragment', [
    (['slow'], 'unknown subset "slow"'),
    (['!everything'], 'unknown subset "!everything"'),
    (['ALL'], 'unknown subset "ALL"'),
    ([], 'gather_subset is empty'),
    (['!all'], 'leaves nothing to gather'),
    (['connections', '!connections'], 'leaves nothing to gather'),
])
def test_gather_subset_errors(value, fragment):
    with pytest.raises(PgModuleError) as info:
        mod.parse_gather_subset(value)
    assert fragment in str(info.value)
    assert '\n' not in str(info.value)


def test_shorten_makes_one_line_and_marks_the_cut():
    assert mod.shorten('SELECT *\n  FROM   wines', 100) == 'SELECT * FROM wines'
    assert mod.shorten('SELECT * FROM wines WHERE id = 1', 13) == 'SELECT * FROM...'
    assert mod.shorten(None, 10) is None


def test_slow_query_statement_uses_the_view_columns():
    meta = dict(pgss_schema='extensions', pgss_columns=('total_time', 'mean_time', 'blk_read_time'))
    params = dict(limit=5, query_max_length=200, long_running_seconds=60, slow_query_threshold_ms=100)
    queries = dict((name, (query, args)) for name, query, args in mod.subset_queries(['slow_queries'], params, meta))
    query, args = queries['slow_queries']
    text = repr(query)
    assert "Identifier('extensions', 'pg_stat_statements')" in text
    assert "Identifier('mean_time')" in text and "Identifier('blk_read_time')" in text
    assert 'exec_time' not in text
    assert args['threshold'] == 100 and args['limit'] == 5
    # No extension: no statement at all.
    assert mod.subset_queries(['slow_queries'], params, dict(pgss_schema=None, pgss_columns=None)) == []

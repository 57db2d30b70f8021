# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Table health: estimated bloat, cache hit ratios, and vacuum/analyze state against each table's own thresholds.

Bloat is estimated from the planner statistics, as the widely trusted ioguix queries do: the expected size of
a row (tuple header, null bitmap, the average width of each column from ``pg_stats``, alignment, the line
pointer) times ``reltuples``, packed into pages at the table's (or index's) fillfactor, against the pages it
really has (``relpages``). Nothing is read from the tables themselves, so it is cheap; it is only as good as
the last ANALYZE, and a relation whose columns have no statistics gets a ``note`` instead of a figure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics.common import (
    SIZE_CANDIDATES_EXTRA, SYSTEM_SCHEMA_FILTER, Part, isotime, qualified, ratio,
)

# Per relation of the rel CTE: its columns' average stored width, whether any is nullable, how many columns and how
# many lack statistics (pg_stats rows joined as s).
_COLUMN_STATS = """  SELECT r.oid, sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 0)) AS width,
         bool_or(coalesce(s.null_frac, 0) > 0) AS has_nulls, count(*) AS ncols,
         count(*) FILTER (WHERE s.attname IS NULL) AS without_stats
    FROM rel r
"""

# Tables: per table, the columns' average stored width (null fraction removed) and whether stats are missing.
TABLE_BLOAT_QUERY = """
WITH rel AS (
  SELECT c.oid, n.nspname, c.relname, c.reltuples, c.relpages,
         coalesce((SELECT o.option_value::int FROM pg_catalog.pg_options_to_table(c.reloptions) o
                    WHERE o.option_name = 'fillfactor'), 100) AS fillfactor
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'm') AND c.relpages > 0 AND """ + SYSTEM_SCHEMA_FILTER + """
   ORDER BY c.relpages DESC, n.nspname, c.relname
   LIMIT %(candidates)s
), cols AS (
""" + _COLUMN_STATS + """    JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_catalog.pg_stats s ON s.schemaname = r.nspname AND s.tablename = r.relname
         AND s.attname = a.attname AND NOT s.inherited
   GROUP BY r.oid
)
SELECT r.nspname, r.relname, r.relpages, r.reltuples, r.fillfactor,
       coalesce(c.width, 0), coalesce(c.has_nulls, false), coalesce(c.ncols, 0), coalesce(c.without_stats, 0),
       current_setting('block_size')::int
  FROM rel r LEFT JOIN cols c ON c.oid = r.oid
"""

# B-tree indexes: each key column's stats come from the table (plain column) or from the index (expression).
INDEX_BLOAT_QUERY = """
WITH rel AS (
  SELECT ic.oid, n.nspname, ic.relname, t.relname AS table_name, ic.reltuples, ic.relpages, i.indkey,
         i.indrelid, coalesce((SELECT o.option_value::int FROM pg_catalog.pg_options_to_table(ic.reloptions) o
                                WHERE o.option_name = 'fillfactor'), 90) AS fillfactor
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
    JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
   WHERE ic.relpages > 0 AND """ + SYSTEM_SCHEMA_FILTER + """
   ORDER BY ic.relpages DESC, n.nspname, ic.relname
   LIMIT %(candidates)s
), cols AS (
""" + _COLUMN_STATS + """    JOIN pg_catalog.pg_attribute ia ON ia.attrelid = r.oid AND ia.attnum > 0
    LEFT JOIN pg_catalog.pg_attribute ta ON ta.attrelid = r.indrelid AND ta.attnum = r.indkey[ia.attnum - 1]
         AND r.indkey[ia.attnum - 1] <> 0
    LEFT JOIN pg_catalog.pg_stats s ON s.schemaname = r.nspname AND NOT s.inherited
         AND ((ta.attname IS NOT NULL AND s.tablename = r.table_name AND s.attname = ta.attname)
           OR (ta.attname IS NULL AND s.tablename = r.relname AND s.attname = ia.attname))
   GROUP BY r.oid
)
SELECT r.nspname, r.relname, r.relpages, r.reltuples, r.fillfactor,
       coalesce(c.width, 0), coalesce(c.has_nulls, false), coalesce(c.ncols, 0), coalesce(c.without_stats, 0),
       current_setting('block_size')::int, r.table_name
  FROM rel r LEFT JOIN cols c ON c.oid = r.oid
"""

MAXALIGN = 8
PAGE_HEADER = 24
ITEM_POINTER = 4
HEAP_TUPLE_HEADER = 23
INDEX_TUPLE_HEADER = 8
BTREE_SPECIAL = 16


def _align(size):
    return -(-int(size) // MAXALIGN) * MAXALIGN


def expected_pages(kind, reltuples, width, has_nulls, ncols, fillfactor, block_size):
    """Pages the relation would need without bloat (a table: kind 'table'; a b-tree: 'index')."""
    if kind == 'table':
        header = HEAP_TUPLE_HEADER + ((ncols + 7) // 8 if has_nulls else 0)
        usable = block_size - PAGE_HEADER
        extra_pages = 0
    else:
        header = INDEX_TUPLE_HEADER + (4 if has_nulls else 0)
        usable = block_size - PAGE_HEADER - BTREE_SPECIAL
        extra_pages = 1  # the metapage
    tuple_size = _align(header) + _align(width) + ITEM_POINTER
    per_page = max(1, int(usable * fillfactor / 100.0 // tuple_size))
    return -(-int(reltuples) // per_page) + extra_pages


def estimate(kind, row):
    """The bloat of one relation from its statistics row (see TABLE_BLOAT_QUERY / INDEX_BLOAT_QUERY)."""
    schema, name, relpages, reltuples, fillfactor, width, has_nulls, ncols, without_stats, block_size = row[:10]
    item = dict(name=qualified(schema, name), kind=kind, size_bytes=relpages * block_size, pages=relpages,
                expected_pages=None, wasted_bytes=None, bloat_ratio=None, note=None)
    if kind == 'index':
        item['table'] = qualified(schema, row[10])
    if reltuples is None or reltuples < 0:
        item['note'] = 'never analyzed: run ANALYZE %s' % qualified(schema, row[10] if kind == 'index' else name)
        return item
    if without_stats:
        item['note'] = ('%d of %d columns have no statistics (run ANALYZE; columns the role cannot read have none)'
                        % (without_stats, ncols))
        return item
    expected = expected_pages(kind, reltuples, width, has_nulls, ncols, fillfactor, block_size)
    wasted = max(0, relpages - expected)
    item.update(expected_pages=expected, wasted_bytes=wasted * block_size, bloat_ratio=ratio(wasted, relpages))
    return item


def _build_bloat(params, meta):
    args = dict(candidates=max(params['limit'] * 5, params['limit'] + SIZE_CANDIDATES_EXTRA))
    return [(TABLE_BLOAT_QUERY, args), (INDEX_BLOAT_QUERY, args)], None


def _bloat(rows, params, meta):
    table_rows, index_rows = rows
    items = [estimate('table', r) for r in table_rows] + [estimate('index', r) for r in index_rows]
    items.sort(key=lambda i: (-(i['wasted_bytes'] or 0), i['note'] is not None, -i['size_bytes'], i['name']))
    return items[:params['limit']]


CACHE_HIT_QUERY = """
WITH t AS (
  SELECT s.schemaname, s.relname, coalesce(s.heap_blks_hit, 0) AS hit, coalesce(s.heap_blks_read, 0) AS read,
         coalesce(s.idx_blks_hit, 0) AS idx_hit, coalesce(s.idx_blks_read, 0) AS idx_read
    FROM pg_catalog.pg_statio_user_tables s
), totals AS (
  SELECT sum(hit)::bigint AS hit, sum(read)::bigint AS read, sum(idx_hit)::bigint AS idx_hit,
         sum(idx_read)::bigint AS idx_read FROM t
)
SELECT 'total', NULL, x.hit, x.read, x.idx_hit, x.idx_read FROM totals x
UNION ALL
(SELECT 'table', schemaname || '.' || relname, hit, read, idx_hit, idx_read FROM t
  ORDER BY read + idx_read DESC, schemaname, relname LIMIT %(limit)s)
"""


def _cache_hit(rows, params, meta):
    total = [r for r in rows if r[0] == 'total'][0]
    tables = [dict(table=r[1], table_hit_ratio=ratio(r[2], r[2] + r[3]), index_hit_ratio=ratio(r[4], r[4] + r[5]),
                   blocks_read=r[3] + r[5], blocks_hit=r[2] + r[4])
              for r in rows if r[0] == 'table' and (r[3] + r[5]) > 0]
    hit, read, idx_hit, idx_read = [int(v or 0) for v in total[2:6]]
    return dict(table_hit_ratio=ratio(hit, hit + read), index_hit_ratio=ratio(idx_hit, idx_hit + idx_read),
                table_blocks_hit=hit, table_blocks_read=read, index_blocks_hit=idx_hit, index_blocks_read=idx_read,
                tables=tables)


# The table's own autovacuum settings (reloptions) win over the server's; reltuples of -1 (never analyzed,
# 14+) counts as 0, as autovacuum does.
_SETTING = """coalesce((SELECT o.option_value FROM pg_catalog.pg_options_to_table(c.reloptions) o
                          WHERE o.option_name = '{name}'), current_setting('{name}'))"""

VACUUM_STATS_QUERY = """
WITH t AS (
  SELECT s.schemaname, s.relname, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, {inserted} AS n_ins,
         s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
         s.vacuum_count, s.autovacuum_count, greatest(c.reltuples, 0) AS reltuples,
         """ + _SETTING.format(name='autovacuum') + """::bool AND
         coalesce((SELECT o.option_value FROM pg_catalog.pg_options_to_table(c.reloptions) o
                    WHERE o.option_name = 'autovacuum_enabled'), 'on')::bool AS enabled,
         """ + _SETTING.format(name='autovacuum_vacuum_threshold') + """::float8 AS v_base,
         """ + _SETTING.format(name='autovacuum_vacuum_scale_factor') + """::float8 AS v_scale,
         """ + _SETTING.format(name='autovacuum_analyze_threshold') + """::float8 AS a_base,
         """ + _SETTING.format(name='autovacuum_analyze_scale_factor') + """::float8 AS a_scale,
         {insert_base} AS i_base, {insert_scale} AS i_scale
    FROM pg_catalog.pg_stat_user_tables s
    JOIN pg_catalog.pg_class c ON c.oid = s.relid
), d AS (
  SELECT t.*, v_base + v_scale * reltuples AS v_threshold, a_base + a_scale * reltuples AS a_threshold,
         CASE WHEN i_base >= 0 THEN i_base + i_scale * reltuples END AS i_threshold
    FROM t
)
SELECT schemaname, relname, n_live_tup, n_dead_tup, n_mod_since_analyze, n_ins,
       last_vacuum, last_autovacuum, last_analyze, last_autoanalyze, vacuum_count, autovacuum_count, enabled,
       round(v_threshold)::bigint, round(a_threshold)::bigint, round(i_threshold)::bigint,
       CASE WHEN n_dead_tup > v_threshold THEN 'dead_tuples'
            WHEN coalesce(n_ins > i_threshold, false) THEN 'inserts' END AS vacuum_due,
       n_mod_since_analyze > a_threshold AS analyze_due
  FROM d
 ORDER BY (n_dead_tup > v_threshold OR coalesce(n_ins > i_threshold, false)) DESC, n_dead_tup DESC,
          schemaname, relname
 LIMIT %(limit)s
"""


def _build_vacuum(params, meta):
    # The insert-driven autovacuum (n_ins_since_vacuum and its settings) exists since 13.
    query = VACUUM_STATS_QUERY.format(
        inserted='s.n_ins_since_vacuum',
        insert_base=_SETTING.format(name='autovacuum_vacuum_insert_threshold') + '::float8',
        insert_scale=_SETTING.format(name='autovacuum_vacuum_insert_scale_factor') + '::float8')
    return query, dict(limit=params['limit'])


def _vacuum(rows, params, meta):
    out = []
    for r in rows:
        enabled = r[12]
        out.append(dict(
            table=qualified(r[0], r[1]), live_tuples=r[2], dead_tuples=r[3], modified_since_analyze=r[4],
            inserted_since_vacuum=r[5], last_vacuum=isotime(r[6]), last_autovacuum=isotime(r[7]),
            last_analyze=isotime(r[8]), last_autoanalyze=isotime(r[9]), vacuum_count=r[10], autovacuum_count=r[11],
            autovacuum_enabled=enabled, vacuum_threshold=r[13], analyze_threshold=r[14], insert_threshold=r[15],
            autovacuum_due=r[16] is not None, autovacuum_due_by=r[16], autoanalyze_due=bool(r[17]),
            note=None if enabled or not (r[16] or r[17]) else
            'autovacuum is off for this table (or the server): run VACUUM (ANALYZE) %s' % qualified(r[0], r[1])))
    return out


PARTS = (
    Part('bloat', _build_bloat, _bloat),
    Part('cache_hit', lambda p, m: (CACHE_HIT_QUERY, dict(limit=p['limit'])), _cache_hit, empty=dict),
    Part('vacuum_stats', _build_vacuum, _vacuum),
)

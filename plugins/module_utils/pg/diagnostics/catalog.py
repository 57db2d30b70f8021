# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog parts: table sizes, index usage, unused indexes, dead tuples, connections, long-running
queries and the database size."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics.common import (
    SIZE_CANDIDATES_EXTRA, SYSTEM_SCHEMA_FILTER, Part, cut_length, isotime, qualified, shorten,
)

DATABASE_QUERY = """
SELECT size, pg_size_pretty(size) FROM (SELECT pg_database_size(current_database()) AS size OFFSET 0) d
"""

# Candidates ordered by the catalog's page counts of heap and TOAST (no file access), exact
# sizes (with indexes) only for those.
TABLE_SIZES_QUERY = """
WITH candidates AS (
  SELECT c.oid, n.nspname, c.relname
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_catalog.pg_class t ON t.oid = c.reltoastrelid
   WHERE c.relkind IN ('r', 'm') AND """ + SYSTEM_SCHEMA_FILTER + """
   ORDER BY c.relpages::bigint + coalesce(t.relpages, 0) DESC, n.nspname, c.relname
   LIMIT %(candidates)s
), sized AS (
  SELECT nspname, relname, pg_total_relation_size(oid) AS total, pg_table_size(oid) AS tbl,
         pg_indexes_size(oid) AS idx
    FROM candidates
)
SELECT nspname, relname, total, tbl, idx, pg_size_pretty(total)
  FROM sized ORDER BY total DESC, nspname, relname LIMIT %(limit)s
"""

# The scan counter straight from the statistics functions (the view computes five per index).
INDEX_USAGE_QUERY = """
WITH top AS (
  SELECT n.nspname, ic.relname AS index_name, c.relname AS table_name, i.indexrelid,
         pg_stat_get_numscans(i.indexrelid) AS scans
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
    JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'm') AND """ + SYSTEM_SCHEMA_FILTER + """
   ORDER BY scans DESC, n.nspname, ic.relname
   LIMIT %(limit)s
)
SELECT nspname, index_name, table_name, scans, pg_relation_size(indexrelid)
  FROM top ORDER BY scans DESC, nspname, index_name
"""

UNUSED_INDEXES_QUERY = """
WITH candidates AS (
  SELECT s.schemaname, s.indexrelname, s.relname, s.indexrelid
    FROM pg_catalog.pg_stat_user_indexes s
    JOIN pg_catalog.pg_index i ON i.indexrelid = s.indexrelid
    JOIN pg_catalog.pg_class ic ON ic.oid = s.indexrelid
   WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
   ORDER BY ic.relpages DESC, s.schemaname, s.indexrelname
   LIMIT %(candidates)s
), sized AS (
  SELECT schemaname, indexrelname, relname, pg_relation_size(indexrelid) AS size FROM candidates
)
SELECT schemaname, indexrelname, relname, size, pg_size_pretty(size)
  FROM sized ORDER BY size DESC, schemaname, indexrelname LIMIT %(limit)s
"""

DEAD_TUPLES_QUERY = """
SELECT s.schemaname, s.relname, s.n_live_tup, s.n_dead_tup,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze
  FROM pg_catalog.pg_stat_user_tables s
 WHERE s.n_dead_tup > 0
 ORDER BY s.n_dead_tup DESC, s.schemaname, s.relname
 LIMIT %(limit)s
"""

CONNECTIONS_QUERY = """
SELECT coalesce(a.state, 'unknown'), count(*)
  FROM pg_catalog.pg_stat_activity a
 WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
 GROUP BY 1 ORDER BY 1
"""

LONG_RUNNING_QUERY = """
SELECT pid, usename, application_name, datname, state,
       round(extract(epoch FROM age)::numeric, 1)::float8, left(query, %(cut)s)
  FROM (SELECT a.*, clock_timestamp() - CASE WHEN a.state LIKE 'idle in transaction%%'
                                             THEN a.state_change ELSE a.query_start END AS age
          FROM pg_catalog.pg_stat_activity a
         WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
           AND a.state IS NOT NULL AND a.state <> 'idle') s
 WHERE age >= make_interval(secs => %(seconds)s)
 ORDER BY age DESC, pid
 LIMIT %(limit)s
"""


def _candidates(params):
    return params['limit'] + SIZE_CANDIDATES_EXTRA


def _database(rows, params, meta):
    return dict(name=meta['dbname'], size_bytes=rows[0][0], size=rows[0][1],
                server_version=meta['server_version'], max_connections=meta['max_connections'],
                pg_stat_statements=meta['pgss_schema'])


def _table_sizes(rows, params, meta):
    return [dict(table=qualified(r[0], r[1]), total_bytes=r[2], table_bytes=r[3], index_bytes=r[4], total=r[5])
            for r in rows]


def _index_usage(rows, params, meta):
    return [dict(index=qualified(r[0], r[1]), table=qualified(r[0], r[2]), scans=r[3], size_bytes=r[4])
            for r in rows]


def _unused_indexes(rows, params, meta):
    return [dict(index=qualified(r[0], r[1]), table=qualified(r[0], r[2]), size_bytes=r[3], size=r[4])
            for r in rows]


def _dead_tuples(rows, params, meta):
    return [dict(table=qualified(r[0], r[1]), live_tuples=r[2], dead_tuples=r[3],
                 dead_ratio=round(float(r[3]) / (r[2] + r[3]), 4) if (r[2] + r[3]) else 0.0,
                 last_vacuum=isotime(r[4]), last_autovacuum=isotime(r[5]),
                 last_analyze=isotime(r[6]), last_autoanalyze=isotime(r[7]))
            for r in rows]


def _connections(rows, params, meta):
    by_state = dict((r[0], r[1]) for r in rows)
    return dict(total=sum(by_state.values()), max_connections=meta['max_connections'], by_state=by_state)


def _long_running(rows, params, meta):
    length = params['query_max_length']
    return [dict(pid=r[0], usename=r[1], application_name=r[2], database=r[3], state=r[4],
                 duration_seconds=r[5], query=shorten(r[6], length))
            for r in rows]


PARTS = (
    Part('table_sizes', lambda p, m: (TABLE_SIZES_QUERY, dict(limit=p['limit'], candidates=_candidates(p))),
         _table_sizes),
    Part('index_usage', lambda p, m: (INDEX_USAGE_QUERY, dict(limit=p['limit'])), _index_usage),
    Part('unused_indexes', lambda p, m: (UNUSED_INDEXES_QUERY, dict(limit=p['limit'], candidates=_candidates(p))),
         _unused_indexes),
    Part('dead_tuples', lambda p, m: (DEAD_TUPLES_QUERY, dict(limit=p['limit'])), _dead_tuples),
    Part('connections', lambda p, m: (CONNECTIONS_QUERY, None), _connections, empty=dict),
    Part('long_running', lambda p, m: (LONG_RUNNING_QUERY, dict(limit=p['limit'], cut=cut_length(p),
                                                                seconds=p['long_running_seconds'])),
         _long_running),
    Part('database', lambda p, m: (DATABASE_QUERY, None), _database, empty=dict),
)

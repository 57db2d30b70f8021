# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``pg_stat_statements`` parts: slow statements (by mean time) and statements by calls.

The view's column names are read from the installed extension (``pgss_columns``), not guessed from
the server version: an extension left at an old version after pg_upgrade keeps its old columns
(``total_time`` before 13, ``blk_read_time`` before 17, ``shared_blk_read_time`` from 17).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import sql
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics.common import (
    Part, cut_length, ratio, shorten,
)

ENABLE_PGSS_HINT = ('add pg_stat_statements to shared_preload_libraries (postgresql.conf; restart the server; '
                    'Supabase preloads it) and run CREATE EXTENSION pg_stat_statements WITH SCHEMA extensions')

# The parts that read pg_stat_statements (one warning covers them all when it is missing).
PGSS_PARTS = ('slow_queries', 'calls')

SLOW_QUERIES_QUERY = """
SELECT left(s.query, %(cut)s), s.calls, {total}, {mean}, s.rows, {blk_read}
  FROM {view} s
 WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
   AND {mean} >= %(threshold)s
 ORDER BY {mean} DESC, s.calls DESC
 LIMIT %(limit)s
"""

# Top statements by calls, with their share of all calls and of all execution time in this database.
CALLS_QUERY = """
WITH s AS (
  SELECT s.query, s.calls, {total} AS total, {mean} AS mean, s.rows
    FROM {view} s
   WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
), totals AS (SELECT sum(calls) AS calls, sum(total) AS total FROM s)
SELECT left(s.query, %(cut)s), s.calls, s.total, s.mean, s.rows, t.calls, t.total
  FROM s, totals t
 ORDER BY s.calls DESC, s.total DESC
 LIMIT %(limit)s
"""


def pgss_columns(columns):
    """(total, mean, blk_read) column names of the installed pg_stat_statements view, or None."""
    columns = set(columns or ())
    total = 'total_exec_time' if 'total_exec_time' in columns else 'total_time'
    mean = 'mean_exec_time' if 'mean_exec_time' in columns else 'mean_time'
    if 'shared_blk_read_time' in columns:
        blk_read = 'shared_blk_read_time'
    elif 'blk_read_time' in columns:
        blk_read = 'blk_read_time'
    else:
        blk_read = None
    if total not in columns or mean not in columns:
        return None
    return total, mean, blk_read


def _column(name):
    return sql.SQL('s.') + sql.Identifier(name)


def _format(template, meta):
    total, mean, blk_read = meta['pgss_columns']
    return sql.SQL(template).format(
        view=sql.Identifier(meta['pgss_schema'], 'pg_stat_statements'),
        total=_column(total), mean=_column(mean),
        blk_read=_column(blk_read) if blk_read else sql.SQL('NULL::float8'))


def available(meta):
    return bool(meta.get('pgss_schema') and meta.get('pgss_columns'))


def _build_slow(params, meta):
    if not available(meta):
        return None
    return _format(SLOW_QUERIES_QUERY, meta), dict(limit=params['limit'], cut=cut_length(params),
                                                   threshold=params['slow_query_threshold_ms'])


def _build_calls(params, meta):
    if not available(meta):
        return None
    return _format(CALLS_QUERY, meta), dict(limit=params['limit'], cut=cut_length(params))


def _ms(value):
    return round(value, 3) if value is not None else None


def _slow(rows, params, meta):
    length = params['query_max_length']
    return [dict(query=shorten(r[0], length), calls=r[1], total_ms=_ms(r[2]), mean_ms=_ms(r[3]),
                 rows=r[4], shared_blk_read_time_ms=_ms(r[5]))
            for r in rows]


def _calls(rows, params, meta):
    length = params['query_max_length']
    return [dict(query=shorten(r[0], length), calls=r[1], total_ms=_ms(r[2]), mean_ms=_ms(r[3]), rows=r[4],
                 calls_share=ratio(r[1], r[5]), time_share=ratio(r[2], r[6]))
            for r in rows]


def missing_warning(meta, parts):
    """The one warning for the pg_stat_statements parts that are empty, or None."""
    names = ' and '.join(parts)
    if not meta['pgss_schema']:
        return ('pg_stat_statements is not installed in database "%s", so %s %s empty; to enable it %s'
                % (meta['dbname'], names, 'are' if len(parts) > 1 else 'is', ENABLE_PGSS_HINT))
    if not meta['pgss_columns']:
        return ('pg_stat_statements in schema "%s" has no timing columns this module knows; '
                'run ALTER EXTENSION pg_stat_statements UPDATE' % meta['pgss_schema'])
    return None


def not_loaded_warning(meta, subset):
    return ('pg_stat_statements is installed in schema "%s" but not loaded, so %s is empty; to enable it %s'
            % (meta['pgss_schema'], subset, ENABLE_PGSS_HINT))


PARTS = (
    Part('slow_queries', _build_slow, _slow),
    Part('calls', _build_calls, _calls),
)

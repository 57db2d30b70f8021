#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgres_diagnostics
short_description: Read-only performance facts of a PostgreSQL (Supabase) database
version_added: 1.0.0
description:
  - Gathers what the performance-triage runbook looks at, in one connection and a few catalog queries -
    slow statements from C(pg_stat_statements), the largest tables, index usage, unused indexes,
    dead tuples per table, connections by state, long-running queries, and the database size.
  - Reads only; never changes anything, so C(changed) is always false.
  - Knows the C(pg_stat_statements) column names of every PostgreSQL version (C(total_time)/C(mean_time)
    before 13, C(total_exec_time)/C(mean_exec_time) from 13, C(shared_blk_read_time) from 17) and finds
    the view in whatever schema the extension was created in (C(extensions) on Supabase, often C(public)).
  - When C(pg_stat_statements) is not available the module warns how to enable it and still returns everything else.
  - Each query runs with a short C(lock_timeout) (3s) and a C(statement_timeout) (60s); a part that cannot
    be gathered (for example a table locked by C(VACUUM FULL)) becomes a warning, the other parts are still returned.
options:
  gather_subset:
    description:
      - Which parts to gather. V(all) gathers every part.
      - One of V(all), V(slow_queries), V(table_sizes), V(index_usage), V(unused_indexes), V(dead_tuples),
        V(connections), V(long_running), V(database).
      - Prefix a name with C(!) to leave it out, for example V(!slow_queries). A list of exclusions only
        starts from V(all).
    type: list
    elements: str
    default: [all]
  slow_query_threshold_ms:
    description:
      - Statements whose mean execution time is at least this many milliseconds are slow.
    type: float
    default: 100
  limit:
    description:
      - Maximum number of rows returned by each list (slow queries, tables, indexes, long-running queries).
    type: int
    default: 20
  long_running_seconds:
    description:
      - A non-idle session whose current query (or, when idle in a transaction, whose idle time) is at least
        this old is long-running.
    type: int
    default: 60
  query_max_length:
    description:
      - Query texts are reduced to one line and cut to this many characters (C(...) marks a cut).
    type: int
    default: 200
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.postgres]
attributes:
  check_mode:
    details: The module only reads, so check mode returns the same facts.
notes:
  - V(table_sizes) picks its candidates from the planner's page counts (C(pg_class.relpages), kept current by
    VACUUM, ANALYZE and autovacuum) and then measures the exact size of those candidates only, so it stays fast
    on databases with tens of thousands of tables. A large table that was never vacuumed or analyzed may be missed.
  - V(connections) and V(long_running) cover the whole server (they are what C(max_connections) limits) and
    leave out the module's own session and background workers.
  - A role without C(pg_read_all_stats) sees other roles' query texts as C(<insufficient privilege>).
author: Pourtrait engineering (@pourtrait)
'''

EXAMPLES = r'''
- name: Everything the triage runbook looks at
  pourtrait.ops.postgres_diagnostics:
    database_url: "{{ lookup('env', 'DATABASE_URL') }}"
  register: diag

- name: Only slow statements over 250 ms and long-running queries
  pourtrait.ops.postgres_diagnostics:
    gather_subset: [slow_queries, long_running]
    slow_query_threshold_ms: 250
    long_running_seconds: 30
    limit: 10

- name: All but the statement statistics
  pourtrait.ops.postgres_diagnostics:
    gather_subset: ['!slow_queries']

- name: Fail when the connection pool is nearly exhausted
  ansible.builtin.assert:
    that: diag.diagnostics.connections.total < diag.diagnostics.connections.max_connections * 0.8
'''

RETURN = r'''
diagnostics:
  description: The gathered facts; only the selected parts are present.
  returned: success
  type: dict
  contains:
    database:
      description: The database and server.
      returned: when V(database) is selected
      type: dict
      sample:
        name: postgres
        size_bytes: 9240611
        size: 9024 kB
        server_version: "15.8"
        max_connections: 200
        pg_stat_statements: extensions
    slow_queries:
      description:
        - Statements of this database with a mean time of at least O(slow_query_threshold_ms), slowest (mean) first.
        - Empty, with a warning, when C(pg_stat_statements) is not available.
      returned: when V(slow_queries) is selected
      type: list
      elements: dict
      sample:
        - query: SELECT * FROM wines WHERE lower(name) LIKE $1
          calls: 1520
          total_ms: 304211.5
          mean_ms: 200.139
          rows: 30400
          shared_blk_read_time_ms: 12.5
    table_sizes:
      description: The largest tables (all schemas but the system ones), largest first.
      returned: when V(table_sizes) is selected
      type: list
      elements: dict
      sample:
        - table: public.wines
          total_bytes: 434176
          table_bytes: 303104
          index_bytes: 131072
          total: 424 kB
    index_usage:
      description: Indexes by number of scans since the statistics were reset, most used first.
      returned: when V(index_usage) is selected
      type: list
      elements: dict
      sample:
        - index: public.wines_pkey
          table: public.wines
          scans: 48211
          size_bytes: 16384
    unused_indexes:
      description:
        - Indexes never scanned since the statistics were reset, largest first. Unique, primary-key and
          exclusion-constraint indexes are left out (they enforce constraints even when never scanned).
      returned: when V(unused_indexes) is selected
      type: list
      elements: dict
      sample:
        - index: public.wines_varietal_idx
          table: public.wines
          size_bytes: 16384
          size: 16 kB
    dead_tuples:
      description: Tables with dead tuples, most dead tuples first. C(dead_ratio) is dead / (live + dead).
      returned: when V(dead_tuples) is selected
      type: list
      elements: dict
      sample:
        - table: public.notifications
          live_tuples: 800
          dead_tuples: 400
          dead_ratio: 0.3333
          last_vacuum: null
          last_autovacuum: "2026-01-10T03:12:55.120000+00:00"
          last_analyze: null
          last_autoanalyze: "2026-01-10T03:12:55.410000+00:00"
    connections:
      description: Client connections to the server (all databases) by state, without the module's own.
      returned: when V(connections) is selected
      type: dict
      sample:
        total: 12
        max_connections: 60
        by_state:
          active: 2
          idle: 9
          idle in transaction: 1
    long_running:
      description: Non-idle client sessions older than O(long_running_seconds), oldest first.
      returned: when V(long_running) is selected
      type: list
      elements: dict
      sample:
        - pid: 4242
          usename: authenticator
          application_name: postgrest
          database: postgres
          state: active
          duration_seconds: 312.4
          query: UPDATE wines SET rating = $1 WHERE ...
warnings:
  description: How to enable C(pg_stat_statements) when it is missing, and parts that could not be gathered.
  returned: when there is something to warn about
  type: list
  elements: str
'''

import threading

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError, PostgresModule, describe_db_error, one_line, psycopg2, sql,
)
from ansible_collections.pourtrait.ops.plugins.module_utils._module import check_range

SUBSETS = ('slow_queries', 'table_sizes', 'index_usage', 'unused_indexes', 'dead_tuples',
           'connections', 'long_running', 'database')

# Candidate rows taken (by catalog estimate) before exact sizes are measured.
SIZE_CANDIDATES_EXTRA = 100

LOCK_TIMEOUT = '3s'
STATEMENT_TIMEOUT = '60s'

SYSTEM_SCHEMA_FILTER = ("n.nspname NOT IN ('pg_catalog', 'information_schema') "
                        "AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'")

# One round trip: session timeouts, server facts, where pg_stat_statements lives and its columns.
META_QUERY = """
SELECT current_database(),
       current_setting('server_version'),
       current_setting('max_connections')::int,
       set_config('lock_timeout', %(lock_timeout)s, false),
       set_config('statement_timeout', %(statement_timeout)s, false),
       (SELECT n.nspname FROM pg_catalog.pg_extension e
          JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_stat_statements'),
       (SELECT array_agg(a.attname::text) FROM pg_catalog.pg_extension e
          JOIN pg_catalog.pg_depend d ON d.refobjid = e.oid AND d.deptype = 'e'
               AND d.classid = 'pg_catalog.pg_class'::regclass
          JOIN pg_catalog.pg_class c ON c.oid = d.objid AND c.relname = 'pg_stat_statements'
          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE e.extname = 'pg_stat_statements')
"""

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

SLOW_QUERIES_QUERY = """
SELECT left(s.query, %(cut)s), s.calls, {total}, {mean}, s.rows, {blk_read}
  FROM {view} s
 WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
   AND {mean} >= %(threshold)s
 ORDER BY {mean} DESC, s.calls DESC
 LIMIT %(limit)s
"""

ENABLE_PGSS_HINT = ('add pg_stat_statements to shared_preload_libraries (postgresql.conf; restart the server; '
                    'Supabase preloads it) and run CREATE EXTENSION pg_stat_statements WITH SCHEMA extensions')


def parse_gather_subset(values):
    """The set of parts selected by gather_subset; PgModuleError on a bad name."""
    values = ['all'] if values is None else values
    include = set()
    exclude = set()
    for raw in values:
        item = str(raw).strip()
        negate = item.startswith('!')
        name = item[1:].strip() if negate else item
        if name != 'all' and name not in SUBSETS:
            raise PgModuleError('gather_subset: unknown subset "%s"; use all, %s (prefix a name with ! to leave it out)'
                                % (item, ', '.join(SUBSETS)))
        names = set(SUBSETS) if name == 'all' else set([name])
        (exclude if negate else include).update(names)
    if not include:
        if not values:
            raise PgModuleError('gather_subset is empty; use [all] or name the parts to gather (%s)' % ', '.join(SUBSETS))
        include = set(SUBSETS)
    selected = include - exclude
    if not selected:
        raise PgModuleError('gather_subset %s leaves nothing to gather; name at least one of %s'
                            % (', '.join(str(v) for v in values), ', '.join(SUBSETS)))
    return [name for name in SUBSETS if name in selected]


def pgss_columns(columns):
    """(total, mean, blk_read) column names of the installed pg_stat_statements view.

    Read from the view itself rather than guessed from the server version: an
    extension left at an old version after pg_upgrade keeps its old columns.
    """
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


def shorten(text, length):
    """One line, at most ``length`` characters plus ``...`` when cut."""
    if text is None:
        return None
    text = one_line(text)
    if len(text) > length:
        return text[:length].rstrip() + '...'
    return text


def isotime(value):
    return value.isoformat() if value is not None else None


def qualified(schema, name):
    return '%s.%s' % (schema, name)


def subset_queries(subsets, params, meta):
    """[(subset, query, args)] for the catalog parts; ``query`` is str or psycopg2.sql.Composed.

    Exposed so the benchmark runs exactly these statements bare.
    """
    limit = params['limit']
    candidates = limit + SIZE_CANDIDATES_EXTRA
    cut = params['query_max_length'] * 4 + 64
    queries = []
    for subset in subsets:
        if subset == 'database':
            queries.append((subset, DATABASE_QUERY, None))
        elif subset == 'table_sizes':
            queries.append((subset, TABLE_SIZES_QUERY, dict(limit=limit, candidates=candidates)))
        elif subset == 'index_usage':
            queries.append((subset, INDEX_USAGE_QUERY, dict(limit=limit)))
        elif subset == 'unused_indexes':
            queries.append((subset, UNUSED_INDEXES_QUERY, dict(limit=limit, candidates=candidates)))
        elif subset == 'dead_tuples':
            queries.append((subset, DEAD_TUPLES_QUERY, dict(limit=limit)))
        elif subset == 'connections':
            queries.append((subset, CONNECTIONS_QUERY, None))
        elif subset == 'long_running':
            queries.append((subset, LONG_RUNNING_QUERY, dict(limit=limit, cut=cut, seconds=params['long_running_seconds'])))
        elif subset == 'slow_queries' and meta.get('pgss_schema') and meta.get('pgss_columns'):
            total, mean, blk_read = meta['pgss_columns']
            query = sql.SQL(SLOW_QUERIES_QUERY).format(
                view=sql.Identifier(meta['pgss_schema'], 'pg_stat_statements'),
                total=sql.SQL('s.') + sql.Identifier(total),
                mean=sql.SQL('s.') + sql.Identifier(mean),
                blk_read=(sql.SQL('s.') + sql.Identifier(blk_read)) if blk_read else sql.SQL('NULL::float8'))
            queries.append((subset, query, dict(limit=limit, cut=cut, threshold=params['slow_query_threshold_ms'])))
    return queries


def read_meta(cursor):
    cursor.execute(META_QUERY, dict(lock_timeout=LOCK_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT))
    row = cursor.fetchone()
    return dict(dbname=row[0], server_version=row[1], max_connections=row[2], pgss_schema=row[5],
                pgss_columns=pgss_columns(row[6]) if row[5] else None)


class SideQuery(object):
    """One read-only statement on a connection of its own, in a thread (libpq releases the GIL), with the
    module's statement timeout. ``rows()`` waits for it: its rows, the psycopg2 error it raised, or None when
    the connection itself failed (the caller runs the statement on its own connection)."""

    def __init__(self, module, query):
        self.module = module
        self.query = query
        self.conn = None
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run)
        self.thread.daemon = True
        self.thread.start()

    def _run(self):
        try:
            self.conn = self.module.connect(autocommit=True)
        except Exception:  # pylint: disable=broad-except  # any failure: the main connection runs it
            return
        try:
            cursor = self.conn.cursor()
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", (STATEMENT_TIMEOUT,))
            cursor.execute(self.query)
            self.result = cursor.fetchall()
        except psycopg2.Error as exc:
            self.error = exc

    def rows(self):
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.result

    def close(self):
        self.thread.join()
        if self.conn is not None:
            self.conn.close()


class PostgresDiagnostics(PostgresModule):
    name = 'postgres_diagnostics'
    argument_spec = dict(
        gather_subset=dict(type='list', elements='str', default=['all']),
        slow_query_threshold_ms=dict(type='float', default=100),
        limit=dict(type='int', default=20),
        long_running_seconds=dict(type='int', default=60),
        query_max_length=dict(type='int', default=200),
    )

    def validate(self):
        subsets = parse_gather_subset(self.params['gather_subset'])
        checks = (
            ('slow_query_threshold_ms', 0, 'a number of milliseconds, 0 or more'),
            ('limit', 1, 'a whole number, 1 or more'),
            ('long_running_seconds', 0, 'a number of seconds, 0 or more'),
            ('query_max_length', 10, 'a number of characters, 10 or more'),
        )
        for option, minimum, what in checks:
            check_range(option, self.params[option], minimum=minimum, use=what)
        return subsets

    def run(self):
        subsets = self.validate()
        warnings = []
        # The database size stats every file of the database - the slowest part with many tables. It runs on a
        # second connection while the catalog queries run on the first; when that connection cannot be had
        # (no free slot in an incident), it runs after them on the first.
        conn = self.connect(autocommit=True)
        side = None
        try:
            if 'database' in subsets and len(subsets) > 1:
                side = SideQuery(self, DATABASE_QUERY)
            cursor = conn.cursor()
            meta = read_meta(cursor)
            facts = self.gather(cursor, subsets, meta, warnings, side=side)
        finally:
            if side is not None:
                side.close()
            conn.close()
        for warning in warnings:
            self.warn(warning)
        return dict(changed=False, diagnostics=facts)

    def gather(self, cursor, subsets, meta, warnings, side=None):
        params = self.params
        facts = {}
        if 'slow_queries' in subsets:
            facts['slow_queries'] = []
            if not meta['pgss_schema']:
                warnings.append('pg_stat_statements is not installed in database "%s", so slow_queries is empty; '
                                'to enable it %s' % (meta['dbname'], ENABLE_PGSS_HINT))
            elif not meta['pgss_columns']:
                warnings.append('pg_stat_statements in schema "%s" has no timing columns this module knows; '
                                'run ALTER EXTENSION pg_stat_statements UPDATE' % meta['pgss_schema'])
        for subset, query, args in subset_queries(subsets, params, meta):
            try:
                rows = side.rows() if side is not None and subset == 'database' else None
                if rows is None:
                    cursor.execute(query, args)
                    rows = cursor.fetchall()
            except psycopg2.Error as exc:
                facts[subset] = {} if subset in ('database', 'connections') else []
                reason = describe_db_error(exc)
                if subset == 'slow_queries' and 'shared_preload_libraries' in reason:
                    warnings.append('pg_stat_statements is installed in schema "%s" but not loaded, so slow_queries '
                                    'is empty; to enable it %s' % (meta['pgss_schema'], ENABLE_PGSS_HINT))
                else:
                    warnings.append('%s could not be gathered: %s' % (subset, reason))
                continue
            facts[subset] = self.shape(subset, rows, meta)
        return facts

    def shape(self, subset, rows, meta):
        length = self.params['query_max_length']
        if subset == 'database':
            return dict(name=meta['dbname'], size_bytes=rows[0][0], size=rows[0][1],
                        server_version=meta['server_version'], max_connections=meta['max_connections'],
                        pg_stat_statements=meta['pgss_schema'])
        if subset == 'slow_queries':
            return [dict(query=shorten(r[0], length), calls=r[1], total_ms=round(r[2], 3), mean_ms=round(r[3], 3),
                         rows=r[4], shared_blk_read_time_ms=round(r[5], 3) if r[5] is not None else None)
                    for r in rows]
        if subset == 'table_sizes':
            return [dict(table=qualified(r[0], r[1]), total_bytes=r[2], table_bytes=r[3], index_bytes=r[4], total=r[5])
                    for r in rows]
        if subset == 'index_usage':
            return [dict(index=qualified(r[0], r[1]), table=qualified(r[0], r[2]), scans=r[3], size_bytes=r[4])
                    for r in rows]
        if subset == 'unused_indexes':
            return [dict(index=qualified(r[0], r[1]), table=qualified(r[0], r[2]), size_bytes=r[3], size=r[4])
                    for r in rows]
        if subset == 'dead_tuples':
            return [dict(table=qualified(r[0], r[1]), live_tuples=r[2], dead_tuples=r[3],
                         dead_ratio=round(float(r[3]) / (r[2] + r[3]), 4) if (r[2] + r[3]) else 0.0,
                         last_vacuum=isotime(r[4]), last_autovacuum=isotime(r[5]),
                         last_analyze=isotime(r[6]), last_autoanalyze=isotime(r[7]))
                    for r in rows]
        if subset == 'connections':
            by_state = dict((r[0], r[1]) for r in rows)
            return dict(total=sum(by_state.values()), max_connections=meta['max_connections'], by_state=by_state)
        # long_running
        return [dict(pid=r[0], usename=r[1], application_name=r[2], database=r[3], state=r[4],
                     duration_seconds=r[5], query=shorten(r[6], length))
                for r in rows]


def main():
    PostgresDiagnostics.main()


if __name__ == '__main__':
    main()

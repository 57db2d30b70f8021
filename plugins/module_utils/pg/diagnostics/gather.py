# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running the diagnostics parts: choosing them (``gather_subset``), the session set-up in one round trip,
and each part's statements with the part's failure turned into a warning (``Gatherer``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError, describe_db_error, psycopg2
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics import (
    activity, catalog, health, locks, statements,
)

_ALL_PARTS = catalog.PARTS + statements.PARTS + locks.PARTS + health.PARTS + activity.PARTS
PARTS = dict((part.name, part) for part in _ALL_PARTS)

# The order parts are gathered and returned in (the first eight are those of 1.0.0).
SUBSETS = ('slow_queries', 'table_sizes', 'index_usage', 'unused_indexes', 'dead_tuples',
           'connections', 'long_running', 'database',
           'blocking', 'locks', 'bloat', 'cache_hit', 'vacuum_stats', 'role_stats', 'replication_slots',
           'seq_scans', 'traffic_profile', 'calls', 'db_stats')

LOCK_TIMEOUT = '3s'
STATEMENT_TIMEOUT = '60s'

# One round trip: session timeouts, server facts, where pg_stat_statements lives and its columns, whether the
# WAL directory may be listed.
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
         WHERE e.extname = 'pg_stat_statements'),
       pg_catalog.has_function_privilege('pg_catalog.pg_ls_waldir()', 'EXECUTE')
"""


def parse_gather_subset(values):
    """The parts selected by gather_subset, in SUBSETS order; PgModuleError on a bad name."""
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


def read_meta(cursor):
    cursor.execute(META_QUERY, dict(lock_timeout=LOCK_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT))
    row = cursor.fetchone()
    return dict(dbname=row[0], server_version=row[1], max_connections=row[2], pgss_schema=row[5],
                pgss_columns=statements.pgss_columns(row[6]) if row[5] else None,
                server_version_num=cursor.connection.server_version, can_list_wal=row[7])


def statements_of(subset, params, meta):
    """[(query, args)] of one part (none when it has nothing to run, e.g. no pg_stat_statements)."""
    built = PARTS[subset].build(params, meta)
    if built is None:
        return []
    query, args = built
    return list(query) if isinstance(query, list) else [(query, args)]


def subset_queries(subsets, params, meta):
    """[(subset, query, args)] of the parts, one entry per statement; ``query`` is str or psycopg2.sql.Composed.

    Exposed so the benchmark runs exactly these statements bare.
    """
    return [(subset, query, args) for subset in subsets for query, args in statements_of(subset, params, meta)]


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


class Gatherer(object):
    """Gathers the selected parts on one connection (the database size beside them on a second one)."""

    def __init__(self, module, subsets):
        self.module = module
        self.params = module.params
        self.subsets = subsets
        self.warnings = []

    def run(self):
        """The facts by part; warnings in ``self.warnings``."""
        # The database size stats every file of the database - the slowest part with many tables. It runs on a
        # second connection while the catalog queries run on the first; when that connection cannot be had
        # (no free slot in an incident), it runs after them on the first.
        conn = self.module.connect(autocommit=True)
        side = None
        try:
            if 'database' in self.subsets and len(self.subsets) > 1:
                side = SideQuery(self.module, catalog.DATABASE_QUERY)
            cursor = conn.cursor()
            meta = read_meta(cursor)
            return self.gather(cursor, meta, side)
        finally:
            if side is not None:
                side.close()
            conn.close()

    def gather(self, cursor, meta, side=None):
        facts = {}
        missing = [s for s in self.subsets if s in statements.PGSS_PARTS]
        if missing and not statements.available(meta):
            self.warnings.append(statements.missing_warning(meta, missing))
        for subset in self.subsets:
            part = PARTS[subset]
            queries = statements_of(subset, self.params, meta)
            if not queries:
                facts[subset] = part.empty()
                continue
            try:
                results = [self.rows(cursor, query, args, side if subset == 'database' else None)
                           for query, args in queries]
            except psycopg2.Error as exc:
                facts[subset] = part.empty()
                reason = describe_db_error(exc)
                if subset in statements.PGSS_PARTS and 'shared_preload_libraries' in reason:
                    self.warnings.append(statements.not_loaded_warning(meta, subset))
                else:
                    self.warnings.append('%s could not be gathered: %s' % (subset, reason))
                continue
            facts[subset] = part.shape(results if len(queries) > 1 else results[0], self.params, meta)
        return facts

    @staticmethod
    def rows(cursor, query, args, side):
        rows = side.rows() if side is not None else None
        if rows is None:
            cursor.execute(query, args)
            rows = cursor.fetchall()
        return rows

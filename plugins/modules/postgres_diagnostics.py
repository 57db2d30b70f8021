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
    dead tuples per table, connections by state, long-running queries, and the database size - and every
    C(supabase inspect db) report, done better - who blocks whom as a tree (every lock type), the locks of client
    sessions, estimated table and index bloat, cache hit ratios, vacuum and analyze state against each table's
    own autovacuum thresholds, connections per role against its limit, replication slots and the WAL they retain,
    sequential scans, reads against writes per table, statements by calls, and the database's statistics.
  - Knows PostgreSQL 13 to 17 - C(pg_locks.waitstart) from 14, C(pg_stat_user_tables.last_seq_scan) from 16,
    C(pg_stat_checkpointer) (split out of C(pg_stat_bgwriter)) and C(pg_replication_slots.inactive_since) from 17.
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
        V(connections), V(long_running), V(database), V(blocking), V(locks), V(bloat), V(cache_hit),
        V(vacuum_stats), V(role_stats), V(replication_slots), V(seq_scans), V(traffic_profile), V(calls),
        V(db_stats).
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
      - Maximum number of rows returned by each list (slow queries, tables, indexes, long-running queries, locks,
        bloat, roles, slots, ...). The V(blocking) tree is never cut.
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
  - V(blocking) calls C(pg_blocking_pids()) only for the sessions waiting on a lock, so it stays fast with
    hundreds of sessions; unlike C(supabase inspect db blocking) it sees relation, row, advisory and every other
    lock wait.
  - V(bloat) is the statistics-based estimate (the idea of the ioguix C(table_bloat.sql) / C(btree_bloat.sql)
    queries) - expected pages from C(reltuples) and the average column widths of C(pg_stats), against C(relpages).
    It reads no table, is only as fresh as the last ANALYZE, and looks at the largest tables and b-tree indexes
    (by C(relpages)). A relation without statistics gets a C(note) instead of a figure.
  - V(db_stats) reports the WAL size only to a role allowed C(pg_ls_waldir()) (superuser or C(pg_monitor)).
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

- name: Who blocks whom, and the bloat of the largest tables
  pourtrait.ops.postgres_diagnostics:
    gather_subset: [blocking, locks, bloat, vacuum_stats]
  register: contention

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
    blocking:
      description:
        - Who blocks whom, as trees - each root is a session that blocks others and waits for no lock (the ones
          blocking most sessions first); C(children) are the sessions waiting for it, with the lock they wait for
          in C(waiting_for). A session waiting for several blockers appears under each. Empty when no session waits.
        - A prepared transaction holding locks appears as pid 0 with state C(prepared transaction).
      returned: when V(blocking) is selected
      type: list
      elements: dict
      sample:
        - pid: 4242
          blocked_by: []
          usename: postgres
          database: postgres
          application_name: psql
          state: idle in transaction
          backend_type: client backend
          transaction_seconds: 95.2
          query: UPDATE wines SET rating = 5 WHERE id = 1
          blocked_count: 1
          children:
            - pid: 4243
              blocked_by: [4242]
              state: active
              waiting_for: {locktype: transactionid, mode: ShareLock, object: transaction 1234, seconds: 80.1}
              query: UPDATE wines SET rating = 4 WHERE id = 1
              blocked_count: 0
              children: []
    locks:
      description:
        - Locks of client sessions (not the module's own), waiting ones first, then the oldest. The lock each
          transaction holds on its own transaction id is left out. C(object) is C(schema.relation), a transaction,
          or an advisory key; C(age_seconds) is the transaction's age (granted) or the wait's (waiting).
      returned: when V(locks) is selected
      type: list
      elements: dict
      sample:
        - {pid: 4243, usename: postgres, application_name: psql, database: postgres, locktype: relation,
           mode: AccessShareLock, granted: false, object: public.wines, age_seconds: 12.5, state: active,
           query: SELECT count(*) FROM wines}
    bloat:
      description:
        - Estimated bloat of the largest tables and b-tree indexes, most wasted bytes first. C(bloat_ratio) is
          wasted / actual pages. C(wasted_bytes) and C(bloat_ratio) are null with a C(note) where statistics are
          missing (never analyzed, or columns without statistics).
      returned: when V(bloat) is selected
      type: list
      elements: dict
      sample:
        - {name: public.notifications, kind: table, size_bytes: 811008, pages: 99, expected_pages: 9,
           wasted_bytes: 737280, bloat_ratio: 0.9091, note: null}
        - {name: public.wines_pkey, kind: index, table: public.wines, size_bytes: 16384, pages: 2,
           expected_pages: 2, wasted_bytes: 0, bloat_ratio: 0.0, note: null}
    cache_hit:
      description: Buffer cache hit ratios of tables and indexes (all user tables), and the tables reading the most blocks.
      returned: when V(cache_hit) is selected
      type: dict
      sample:
        table_hit_ratio: 0.9931
        index_hit_ratio: 0.9987
        table_blocks_hit: 120034
        table_blocks_read: 830
        index_blocks_hit: 50331
        index_blocks_read: 64
        tables: [{table: public.wines, table_hit_ratio: 0.95, index_hit_ratio: 0.99, blocks_read: 212, blocks_hit: 4002}]
    vacuum_stats:
      description:
        - Per table, the last (auto)vacuum and (auto)analyze, dead rows, and whether autovacuum is due by the
          table's own thresholds (its reloptions C(autovacuum_vacuum_threshold), C(autovacuum_vacuum_scale_factor),
          C(autovacuum_analyze_*), C(autovacuum_vacuum_insert_*), else the server's settings). Due tables first;
          C(autovacuum_due_by) says which threshold is passed - C(dead_tuples) or C(inserts) (null when not due).
        - C(note) says when a due table will not be vacuumed because autovacuum is off for it.
      returned: when V(vacuum_stats) is selected
      type: list
      elements: dict
      sample:
        - {table: public.notifications, live_tuples: 800, dead_tuples: 400, modified_since_analyze: 400,
           inserted_since_vacuum: 0, last_vacuum: null, last_autovacuum: null, last_analyze: null,
           last_autoanalyze: null, vacuum_count: 0, autovacuum_count: 0, autovacuum_enabled: false,
           vacuum_threshold: 210, analyze_threshold: 110, insert_threshold: 1400, autovacuum_due: true,
           autovacuum_due_by: dead_tuples,
           autoanalyze_due: true, note: "autovacuum is off for this table (or the server): run VACUUM (ANALYZE) public.notifications"}
    role_stats:
      description: Client connections per role against the role's C(rolconnlimit) (null - no limit) and C(max_connections).
      returned: when V(role_stats) is selected
      type: dict
      sample:
        max_connections: 60
        superuser_reserved_connections: 3
        available_to_others: 57
        roles: [{role: authenticator, connections: 12, active: 1, idle_in_transaction: 0, limit: 20,
                 limit_used_ratio: 0.6, superuser: false}]
    replication_slots:
      description:
        - Replication slots, most WAL retained first. C(retained_wal_bytes) is
          C(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)); C(wal_status) C(extended) or C(unreserved)
          means the slot holds back more than C(max_wal_size), C(lost) that it is broken. C(inactive_since) from 17.
      returned: when V(replication_slots) is selected
      type: list
      elements: dict
      sample:
        - {slot_name: supabase_realtime, slot_type: logical, plugin: pgoutput, database: postgres, active: false,
           active_pid: null, temporary: false, wal_status: extended, safe_wal_size_bytes: null,
           retained_wal_bytes: 1610612736, restart_lsn: 0/5A000000, inactive_since: null}
    seq_scans:
      description: Tables by number of sequential scans, with the rows they read and their index scans.
      returned: when V(seq_scans) is selected
      type: list
      elements: dict
      sample:
        - {table: public.wines, seq_scans: 5120, seq_rows_read: 10240000, index_scans: 22, live_tuples: 2000,
           seq_scan_ratio: 0.9957, avg_rows_per_seq_scan: 2000.0, last_seq_scan: null}
    traffic_profile:
      description:
        - Reads (rows fetched by sequential and index scans) against writes (rows inserted, updated, deleted) per
          table, busiest first; C(profile) is C(read-heavy) (80% reads or more), C(write-heavy) (20% or less) or
          C(balanced).
      returned: when V(traffic_profile) is selected
      type: list
      elements: dict
      sample:
        - {table: public.wines, rows_read: 120000, rows_written: 300, inserted: 200, updated: 100, deleted: 0,
           read_share: 0.9975, profile: read-heavy}
    calls:
      description:
        - Statements of this database called most often (C(pg_stat_statements)), with their share of all calls
          and of all execution time. Empty, with a warning, when C(pg_stat_statements) is not available.
      returned: when V(calls) is selected
      type: list
      elements: dict
      sample:
        - {query: SELECT * FROM wines WHERE id = $1, calls: 98211, total_ms: 5120.2, mean_ms: 0.052, rows: 98211,
           calls_share: 0.62, time_share: 0.08}
    db_stats:
      description:
        - The database's statistics - size, backends, commits and rollbacks, cache hit ratio, temporary files,
          deadlocks, when the statistics were reset - the WAL size (null with C(wal_note) without C(pg_monitor)),
          and the checkpoints (from C(pg_stat_checkpointer) on 17, C(pg_stat_bgwriter) before).
      returned: when V(db_stats) is selected
      type: dict
      sample:
        name: postgres
        size_bytes: 9240611
        backends: 4
        commits: 120331
        rollbacks: 12
        cache_hit_ratio: 0.9991
        temp_files: 0
        temp_bytes: 0
        deadlocks: 0
        conflicts: 0
        stats_reset: null
        wal_bytes: 50331648
        max_wal_size: 1GB
        wal_note: null
        checkpoints: {timed: 120, requested: 2, buffers_written: 4410, stats_reset: "2026-01-10T03:12:55+00:00",
                      source: pg_stat_bgwriter}
warnings:
  description: How to enable C(pg_stat_statements) when it is missing, and parts that could not be gathered.
  returned: when there is something to warn about
  type: list
  elements: str
'''

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PostgresModule
from ansible_collections.pourtrait.ops.plugins.module_utils._module import check_range
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics.gather import Gatherer, parse_gather_subset
# Kept importable from the module, as before the parts moved to pg/diagnostics/ (the benchmark and tests use them).
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics.common import (  # noqa: F401 pylint: disable=unused-import
    shorten,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics.gather import (  # noqa: F401 pylint: disable=unused-import
    LOCK_TIMEOUT, META_QUERY, STATEMENT_TIMEOUT, SUBSETS, read_meta, subset_queries,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics.statements import (  # noqa: F401 pylint: disable=unused-import
    pgss_columns,
)


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
        gatherer = Gatherer(self, self.validate())
        facts = gatherer.run()
        for warning in gatherer.warnings:
            self.warn(warning)
        return dict(changed=False, diagnostics=facts)


def main():
    PostgresDiagnostics.main()


if __name__ == '__main__':
    main()

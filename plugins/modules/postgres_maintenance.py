#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgres_maintenance
short_description: ANALYZE, VACUUM and REINDEX PostgreSQL tables safely
version_added: 1.0.0
description:
  - Runs C(ANALYZE), C(VACUUM), C(VACUUM (ANALYZE)) or C(REINDEX TABLE) (C(CONCURRENTLY) by default) on the named
    tables, or on the tables that need it (O(tables=auto)) - those whose share of dead tuples is over
    O(dead_tuple_ratio), and those never analyzed.
  - Every statement runs on its own, outside a transaction block (autocommit), with O(lock_timeout) and
    O(statement_timeout), so a busy table makes the statement fail quickly instead of queueing behind (and in
    front of) the application's queries.
  - All tables are checked before anything runs; a table that does not exist fails the task and nothing is changed.
    Names are always quoted identifiers, never SQL, so a name such as C(wines; DROP TABLE wines) is simply a
    table that does not exist.
  - Reports, per table, the statement, its duration and the dead tuples before and after (read from the
    statistics once they show the statement's effect).
  - In check mode returns the plan (tables, statements and why) and runs nothing.
options:
  operation:
    description:
      - V(analyze) refreshes planner statistics (C(ANALYZE)).
      - V(vacuum) reclaims dead tuples (C(VACUUM)); V(vacuum_analyze) does both (C(VACUUM (ANALYZE))).
      - V(reindex) rebuilds the table's indexes (C(REINDEX TABLE), C(CONCURRENTLY) unless O(concurrently=false)).
    type: str
    required: true
    choices: [analyze, vacuum, vacuum_analyze, reindex]
  tables:
    description:
      - Tables to work on, as C(table) (schema C(public)) or C(schema.table); quote parts that contain dots
        (C("my.schema".orders)).
      - Or the single value V(auto) - the tables in O(schemas) whose dead tuples are at least O(min_dead_tuples)
        and over O(dead_tuple_ratio) of all tuples, plus (with O(include_never_analyzed)) those never analyzed.
        When no table qualifies nothing runs and C(changed) is false.
    type: list
    elements: str
    required: true
  full:
    description:
      - Use C(VACUUM FULL), which rewrites the table and holds an C(ACCESS EXCLUSIVE) lock (no reads, no writes)
        until it finishes. Only with O(operation=vacuum) or O(operation=vacuum_analyze).
      - C(VACUUM FULL) does not update the dead-tuple statistics; without C(ANALYZE) C(dead_tuples_after) is null.
    type: bool
    default: false
  concurrently:
    description:
      - With O(operation=reindex), rebuild indexes without blocking writes (C(REINDEX TABLE CONCURRENTLY),
        PostgreSQL 12 or later). V(false) uses plain C(REINDEX TABLE), which blocks writes to the table.
    type: bool
    default: true
  dead_tuple_ratio:
    description:
      - With O(tables=auto), a table qualifies when dead tuples / (live + dead tuples) is over this ratio (0 to 1).
    type: float
    default: 0.1
  min_dead_tuples:
    description:
      - With O(tables=auto), the ratio counts only for tables with at least this many dead tuples, so tiny
        tables are left alone.
    type: int
    default: 50
  include_never_analyzed:
    description:
      - With O(tables=auto), also pick tables that were never analyzed (manually or by autovacuum) since the
        statistics were reset.
    type: bool
    default: true
  schemas:
    description:
      - With O(tables=auto), the schemas whose tables are considered.
    type: list
    elements: str
    default: [public]
  lock_timeout:
    description:
      - How long each statement may wait for a lock before it fails (PostgreSQL duration, C(5s), C(500ms)).
    type: str
    default: 5s
  statement_timeout:
    description:
      - How long each statement may run before it is cancelled (PostgreSQL duration, C(30min), C(2h)).
    type: str
    default: 30min
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.postgres]
attributes:
  check_mode:
    details: Check mode validates the tables and timeouts and returns the plan; nothing runs.
notes:
  - A statement that fails (for example on O(lock_timeout)) does not stop the others; the task then fails naming
    the tables that failed, with every table's result in C(tables).
  - A table the login role does not own is reported with status C(skipped) (PostgreSQL only warns and does nothing).
  - Statistics of dead tuples are estimates kept by PostgreSQL (C(pg_stat_user_tables)); after C(ANALYZE) they
    come from a sample.
  - Run it through a session connection (Supabase direct connection or session pooler, port 5432), not the
    transaction pooler (6543), which drops the session's timeouts.
author: Pourtrait engineering (@pourtrait)
'''

EXAMPLES = r'''
- name: Vacuum and analyze the tables that need it
  pourtrait.ops.postgres_maintenance:
    operation: vacuum_analyze
    tables: auto
    dead_tuple_ratio: 0.2
  register: maintenance

- name: Refresh statistics of two tables after a bulk load
  pourtrait.ops.postgres_maintenance:
    operation: analyze
    tables: [wines, public.recommendations]

- name: Rebuild bloated indexes without blocking writes
  pourtrait.ops.postgres_maintenance:
    operation: reindex
    tables: [notifications]
    lock_timeout: 2s
    statement_timeout: 1h

- name: Reclaim disk space in a maintenance window (blocks the table)
  pourtrait.ops.postgres_maintenance:
    operation: vacuum
    full: true
    tables: [performance_metrics]
    statement_timeout: 2h

- name: Show what auto would do
  pourtrait.ops.postgres_maintenance:
    operation: vacuum
    tables: auto
  check_mode: true
'''

RETURN = r'''
plan:
  description: The statements to run (or, in check mode, that would run), in order, and why each table is in it.
  returned: always
  type: list
  elements: dict
  sample:
    - table: public.notifications
      sql: VACUUM (ANALYZE) "public"."notifications"
      reason: 400 dead tuples, 33.3% of 1200 (over 10.0%)
tables:
  description: What happened to each table; empty in check mode.
  returned: always
  type: list
  elements: dict
  contains:
    table:
      description: C(schema.table).
      type: str
    operation:
      description: The operation.
      type: str
    sql:
      description: The statement that ran.
      type: str
    duration:
      description: Seconds the statement took.
      type: float
    dead_tuples_before:
      description: Dead tuples according to the statistics before the statement.
      type: int
    dead_tuples_after:
      description: Dead tuples according to the statistics after the statement (null after a plain C(VACUUM FULL)).
      type: int
    status:
      description: C(ok), C(skipped) (PostgreSQL skipped the table, see C(message)) or C(failed) (see C(message)).
      type: str
    message:
      description: Why the table was skipped or failed.
      type: str
      returned: when status is not ok
  sample:
    - table: public.notifications
      operation: vacuum_analyze
      sql: VACUUM (ANALYZE) "public"."notifications"
      duration: 0.012
      dead_tuples_before: 400
      dead_tuples_after: 0
      status: ok
'''

import time

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError, PostgresModule, describe_db_error, one_line, psycopg2, resolve_tables, set_timeouts, sql,
)
from ansible_collections.pourtrait.ops.plugins.module_utils._module import check_range

VACUUM_OPERATIONS = ('vacuum', 'vacuum_analyze')
ANALYZE_OPERATIONS = ('analyze', 'vacuum_analyze')

# Seconds to wait for the statistics to show a VACUUM/ANALYZE (instant from
# PostgreSQL 15, whose statistics live in shared memory; up to ~0.5 s before).
STATS_WAIT = 3.0

STATS_QUERY = """
SELECT pg_stat_get_dead_tuples(c.oid), pg_stat_get_live_tuples(c.oid),
       pg_stat_get_vacuum_count(c.oid), pg_stat_get_analyze_count(c.oid)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relname = %s
"""

AUTO_QUERY = """
SELECT s.schemaname, s.relname, s.n_live_tup, s.n_dead_tup,
       s.last_analyze IS NULL AND s.last_autoanalyze IS NULL AS never_analyzed
  FROM pg_catalog.pg_stat_user_tables s
  JOIN pg_catalog.pg_class c ON c.oid = s.relid
 WHERE s.schemaname = ANY(%(schemas)s) AND c.relkind IN ('r', 'm')
   AND ((s.n_dead_tup >= %(min_dead)s
         AND s.n_dead_tup::float8 / greatest(s.n_live_tup + s.n_dead_tup, 1) > %(ratio)s)
        OR (%(never)s AND s.last_analyze IS NULL AND s.last_autoanalyze IS NULL))
 ORDER BY s.n_dead_tup DESC, s.schemaname, s.relname
"""


def build_statement(operation, schema, table, full=False, concurrently=True):
    """The psycopg2.sql statement for one table; the names are always identifiers."""
    target = sql.Identifier(schema, table)
    if operation == 'analyze':
        return sql.SQL('ANALYZE {}').format(target)
    if operation in VACUUM_OPERATIONS:
        options = (['FULL'] if full else []) + (['ANALYZE'] if operation == 'vacuum_analyze' else [])
        if options:
            return sql.SQL('VACUUM ({}) {}').format(sql.SQL(', '.join(options)), target)
        return sql.SQL('VACUUM {}').format(target)
    if concurrently:
        return sql.SQL('REINDEX TABLE CONCURRENTLY {}').format(target)
    return sql.SQL('REINDEX TABLE {}').format(target)


def auto_reason(live, dead, never_analyzed, ratio):
    total = live + dead
    parts = []
    if dead and total and float(dead) / total > ratio:
        parts.append('%d dead tuples, %.1f%% of %d (over %.1f%%)' % (dead, 100.0 * dead / total, total, 100.0 * ratio))
    if never_analyzed:
        parts.append('never analyzed')
    return '; '.join(parts)


class PostgresMaintenance(PostgresModule):
    name = 'postgres_maintenance'
    argument_spec = dict(
        operation=dict(type='str', required=True, choices=['analyze', 'vacuum', 'vacuum_analyze', 'reindex']),
        tables=dict(type='list', elements='str', required=True),
        full=dict(type='bool', default=False),
        concurrently=dict(type='bool', default=True),
        dead_tuple_ratio=dict(type='float', default=0.1),
        min_dead_tuples=dict(type='int', default=50),
        include_never_analyzed=dict(type='bool', default=True),
        schemas=dict(type='list', elements='str', default=['public']),
        lock_timeout=dict(type='str', default='5s'),
        statement_timeout=dict(type='str', default='30min'),
    )

    def validate(self):
        params = self.params
        if params['full'] and params['operation'] not in VACUUM_OPERATIONS:
            raise PgModuleError('full: true is VACUUM FULL and needs operation vacuum or vacuum_analyze, not %s; '
                                'drop full or change operation' % params['operation'])
        tables = [t.strip() if isinstance(t, str) else t for t in params['tables']]
        if not tables or any(not t for t in tables):
            raise PgModuleError('tables is empty or holds an empty name; list tables (schema.table) or use tables: auto')
        auto = [t for t in tables if t.lower() == 'auto']
        if auto and len(tables) > 1:
            raise PgModuleError('tables: auto picks the tables itself and cannot be mixed with table names; '
                                'use either tables: auto or a list of tables')
        check_range('dead_tuple_ratio', params['dead_tuple_ratio'], minimum=0, below=1,
                    use='a fraction from 0 to below 1, such as 0.1 for 10%')
        check_range('min_dead_tuples', params['min_dead_tuples'], minimum=0, use='0 or more')
        if auto and not params['schemas']:
            raise PgModuleError('schemas is empty; tables: auto needs at least one schema, such as [public]')
        return None if auto else tables

    def run(self):
        names = self.validate()
        params = self.params
        conn = self.connect(autocommit=True)
        try:
            cursor = conn.cursor()
            set_timeouts(cursor, params['lock_timeout'], params['statement_timeout'])
            if params['operation'] == 'reindex' and params['concurrently'] and conn.server_version < 120000:
                raise PgModuleError('REINDEX CONCURRENTLY needs PostgreSQL 12 or later (server is %s); '
                                    'set concurrently: false' % conn.server_version)
            plan = self.make_plan(cursor, names)
            rendered = [dict(table='%s.%s' % (schema, table), sql=statement.as_string(conn), reason=reason)
                        for schema, table, statement, reason in plan]
            if self.check_mode or not plan:
                return dict(changed=bool(plan), plan=rendered, tables=[])
            results = []
            lost = None
            for i, (schema, table, statement, _reason) in enumerate(plan):
                results.append(self.run_statement(conn, cursor, schema, table, statement, rendered[i]['sql']))
                if conn.closed:
                    lost = results[-1]  # the connection was cut: nothing more can run on it
                    break
        finally:
            conn.close()
        changed = any(r['status'] == 'ok' for r in results)
        failed = [r for r in results if r['status'] == 'failed']
        if lost is not None:
            untouched = [r['table'] for r in rendered[len(results):]]
            raise PgModuleError('the connection to PostgreSQL was lost during %s of %s (%s); %s: run the same task '
                                'again' % (params['operation'], lost['table'], lost.get('message') or 'closed',
                                           ('%s not touched' % ', '.join(untouched)) if untouched
                                           else 'no other table was affected'),
                                changed=changed, plan=rendered, tables=results)
        if failed:
            raise PgModuleError('%s failed on %s: %s' % (params['operation'], ', '.join(r['table'] for r in failed),
                                                         failed[0]['message']),
                                changed=changed, plan=rendered, tables=results)
        return dict(changed=changed, plan=rendered, tables=results)

    def make_plan(self, cursor, names):
        """[(schema, table, statement, reason)]; every named table is checked before anything runs."""
        params = self.params
        build = dict(full=params['full'], concurrently=params['concurrently'])
        if names is not None:
            seen = []
            for pair in resolve_tables(cursor, names):
                if pair not in seen:
                    seen.append(pair)
            return [(schema, table, build_statement(params['operation'], schema, table, **build), 'requested')
                    for schema, table in seen]
        cursor.execute(AUTO_QUERY, dict(schemas=params['schemas'], min_dead=params['min_dead_tuples'],
                                        ratio=params['dead_tuple_ratio'],
                                        never=params['include_never_analyzed']))
        plan = []
        for schema, table, live, dead, never in cursor.fetchall():
            reason = auto_reason(live, dead, never and params['include_never_analyzed'], params['dead_tuple_ratio'])
            plan.append((schema, table, build_statement(params['operation'], schema, table, **build), reason))
        return plan

    @staticmethod
    def read_stats(cursor, schema, table):
        cursor.execute('SELECT pg_stat_clear_snapshot()')
        cursor.execute(STATS_QUERY, (schema, table))
        row = cursor.fetchone()
        return row if row else (None, None, None, None)

    def run_statement(self, conn, cursor, schema, table, statement, text):
        operation = self.params['operation']
        full = self.params['full']
        before = self.read_stats(cursor, schema, table)
        result = dict(table='%s.%s' % (schema, table), operation=operation, sql=text, duration=None,
                      dead_tuples_before=before[0], dead_tuples_after=None, status='ok')
        del conn.notices[:]
        started = time.time()
        try:
            cursor.execute(statement)
        except psycopg2.Error as exc:
            result.update(duration=round(time.time() - started, 3), status='failed', message=describe_db_error(exc))
            return result
        result['duration'] = round(time.time() - started, 3)
        skipped = [one_line(n) for n in conn.notices if 'skipping' in n.lower()]
        if skipped:
            result.update(status='skipped', message=skipped[0], dead_tuples_after=before[0])
            return result
        result['dead_tuples_after'] = self.wait_for_stats(cursor, schema, table, before, operation, full)
        return result

    def wait_for_stats(self, cursor, schema, table, before, operation, full):
        """Dead tuples once the statistics show this statement (VACUUM/ANALYZE counters moved)."""
        counter = None
        if operation in ANALYZE_OPERATIONS:
            counter = 3
        elif operation == 'vacuum' and not full:
            counter = 2
        elif operation == 'vacuum':
            return None  # VACUUM FULL does not report to the statistics
        deadline = time.time() + STATS_WAIT
        while True:
            after = self.read_stats(cursor, schema, table)
            if counter is None or after[counter] is None or before[counter] is None \
                    or after[counter] > before[counter] or time.time() > deadline:
                return after[0]
            time.sleep(0.05)


def main():
    PostgresMaintenance.main()


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: postgres_retention
short_description: Delete old rows in small batches, or run a cleanup function
description:
  - Deletes the rows of O(table) whose O(timestamp_column) is older than O(older_than_days) days, optionally only
    those matching every O(match) condition, O(batch_size) rows at a time. Each batch is its own short
    transaction with O(lock_timeout) and O(statement_timeout), followed by a pause of O(pause_seconds), so
    the application keeps running and replicas keep up.
  - The cut-off time is fixed when the run starts; rows that grow old during the run wait for the next run.
  - Or calls a cleanup function that takes no arguments (O(function)), such as C(cleanup_monitoring_data()), and
    returns what it returned.
  - In check mode nothing is deleted or called; the rows that would go are counted.
version_added: 1.0.0
author: Pourtrait engineering (@pourtrait)
options:
  table:
    description:
      - Table to delete from, C(table) (in schema C(public)) or C(schema.table); double-quote a part that holds a dot.
      - Mutually exclusive with O(function); one of the two is required.
    type: str
  timestamp_column:
    description:
      - Column (C(timestamptz), C(timestamp) or C(date)) whose age decides.
    type: str
    default: created_at
  older_than_days:
    description:
      - Rows whose O(timestamp_column) is more than this many days before now are deleted. Required with O(table).
    type: int
  match:
    description:
      - Extra equality conditions, column to value, all of which must hold (C(read=true) to keep unread rows).
      - A null value means C(IS NULL). Values are sent as parameters and converted to the column's type by
        PostgreSQL; every column must exist.
    type: dict
  batch_size:
    description:
      - Rows deleted per transaction.
    type: int
    default: 5000
  pause_seconds:
    description:
      - Pause between two batches.
    type: float
    default: 0.1
  max_batches:
    description:
      - Stop after this many batches (the rest waits for the next run; RV(complete) says whether anything is left).
      - Default is no limit.
    type: int
  function:
    description:
      - Call this function (or procedure) instead of deleting rows, C(name) (in schema C(public)) or
        C(schema.name). It must be callable without arguments.
      - Mutually exclusive with O(table).
    type: str
  lock_timeout:
    description:
      - C(lock_timeout) of every transaction; a batch that waits longer for a lock fails instead of queueing the
        application behind it.
    type: str
    default: 5s
  statement_timeout:
    description:
      - C(statement_timeout) of every transaction (each batch, the count, the function call).
    type: str
    default: 5min
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.postgres]
attributes:
  check_mode:
    details: Counts the rows that would be deleted (RV(would_delete)); a function is not called, C(changed) is true.
  diff_mode:
    support: full
    details: Before and after hold the number of rows older than the cut-off that match.
'''

EXAMPLES = r'''
- name: Delete read notifications older than 90 days
  pourtrait.ops.postgres_retention:
    table: public.notifications
    timestamp_column: created_at
    older_than_days: 90
    match:
      read: true

- name: Trim performance metrics, at most 20 batches of 2000 rows per run
  pourtrait.ops.postgres_retention:
    table: performance_metrics
    timestamp_column: recorded_at
    older_than_days: 30
    batch_size: 2000
    max_batches: 20
    pause_seconds: 0.5

- name: Run the app's own cleanup function
  pourtrait.ops.postgres_retention:
    function: cleanup_monitoring_data
  register: cleanup
'''

RETURN = r'''
deleted:
  description: Rows deleted (0 in check mode).
  returned: always
  type: int
  sample: 812
batches:
  description: Batches (transactions) that deleted rows.
  returned: always
  type: int
  sample: 1
would_delete:
  description: Rows this run would delete (respecting O(max_batches)).
  returned: in check mode with O(table)
  type: int
  sample: 812
complete:
  description: True when no row older than the cut-off that matches is left (false after O(max_batches) stopped the run).
  returned: with O(table), not in check mode
  type: bool
cutoff:
  description: The cut-off time, ISO 8601; rows older than this are deleted.
  returned: with O(table)
  type: str
  sample: "2026-01-01T09:30:00.123456+00:00"
table:
  description: The table, as C(schema.table).
  returned: with O(table)
  type: str
  sample: public.notifications
function:
  description: The function, as C(schema.name).
  returned: with O(function)
  type: str
  sample: public.cleanup_monitoring_data
function_result:
  description: What the function returned, made JSON-safe (numbers stay numbers, times become ISO 8601 strings,
    a set-returning function gives a list); null in check mode or for a void function.
  returned: with O(function)
  type: raw
  sample: 640
duration:
  description: Seconds the run took.
  returned: always
  type: float
  sample: 1.42
'''

import datetime
import decimal
import time
import uuid

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError, PostgresModule, describe_db_error, psycopg2, resolve_tables, set_timeouts, split_qualified, sql,
)
from ansible_collections.pourtrait.ops.plugins.module_utils._module import check_range

TIME_TYPES = ('timestamp with time zone', 'timestamp without time zone', 'date')


def json_safe(value):
    """A database value as something JSON can carry."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return dict((str(k), json_safe(v)) for k, v in value.items())
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def match_value(column, value):
    """A match value as text PostgreSQL converts to the column's type (None stays None: IS NULL)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float, str)):
        return str(value)
    raise PgModuleError('match: the value of "%s" must be a string, number, boolean or null, not %s'
                        % (column, type(value).__name__))


class PostgresRetention(PostgresModule):
    name = 'postgres_retention'
    argument_spec = dict(
        table=dict(type='str'),
        timestamp_column=dict(type='str', default='created_at'),
        older_than_days=dict(type='int'),
        match=dict(type='dict'),
        batch_size=dict(type='int', default=5000),
        pause_seconds=dict(type='float', default=0.1),
        max_batches=dict(type='int'),
        function=dict(type='str'),
        lock_timeout=dict(type='str', default='5s'),
        statement_timeout=dict(type='str', default='5min'),
    )
    module_kwargs = dict(
        mutually_exclusive=[['table', 'function'], ['function', 'older_than_days'], ['function', 'match']],
        required_one_of=[['table', 'function']],
        required_by={'table': 'older_than_days'},
    )

    def validate(self):
        p = self.params
        check_range('older_than_days', p['older_than_days'], minimum=0)
        check_range('batch_size', p['batch_size'], minimum=1)
        check_range('pause_seconds', p['pause_seconds'], minimum=0)
        check_range('max_batches', p['max_batches'], minimum=1, hint='leave it out for no limit')
        for option in ('table', 'function'):
            if p[option] is not None and not p[option].strip():
                raise PgModuleError('%s must not be empty' % option)

    # -- helpers --------------------------------------------------------------
    def begin(self, conn):
        """Start a transaction carrying the timeouts (SET LOCAL: survives a transaction pooler)."""
        with conn.cursor() as cur:
            set_timeouts(cur, self.params['lock_timeout'], self.params['statement_timeout'], local=True)

    def fail(self, conn, exc, what, **extra):
        conn.rollback()
        code = getattr(exc, 'pgcode', None)
        if code == '55P03':
            hint = 'the table is locked by another session; retry later or raise lock_timeout (now %s)' \
                % self.params['lock_timeout']
        elif code == '57014':
            hint = 'statement_timeout (%s) expired; lower batch_size or raise statement_timeout' \
                % self.params['statement_timeout']
        else:
            hint = describe_db_error(exc)
            if code and code.startswith('22') and self.params['match']:
                hint += '; check the match values against the column types'
        raise PgModuleError('%s: %s' % (what, hint), **extra)

    # -- table mode -----------------------------------------------------------
    def columns(self, cur, schema, table, names):
        cur.execute(
            "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) "
            "FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
            "AND a.attname = ANY(%s)", (schema, table, list(names)))
        types = dict(cur.fetchall())
        missing = [n for n in names if n not in types]
        if missing:
            raise PgModuleError('column %s does not exist in table "%s.%s"; check timestamp_column and match'
                                % (', '.join('"%s"' % m for m in missing), schema, table))
        return types

    def delete_statement(self, cur, schema, table):
        """DELETE of at most %(limit)s rows matching the condition, one batch."""
        cur.execute("SELECT c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s", (schema, table))
        relkind = cur.fetchone()[0]
        target = sql.Identifier(schema, table)
        if relkind == 'm':
            raise PgModuleError('"%s.%s" is a materialized view; retention deletes from tables only' % (schema, table))
        if relkind == 'r':
            # Physical row ids: a TID scan, no index or primary key needed.
            return sql.SQL('DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t} WHERE {cond} LIMIT %(limit)s))'
                           ).format(t=target, cond=self.condition)
        # Partitioned: ctid is not unique across partitions, use the primary key.
        cur.execute("SELECT a.attname FROM pg_catalog.pg_index i "
                    "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                    "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
                    (target.as_string(cur),))
        key = [row[0] for row in cur.fetchall()]
        if not key:
            raise PgModuleError('partitioned table "%s.%s" has no primary key; add one or run retention on '
                                'each partition' % (schema, table))
        cols = sql.SQL(', ').join(sql.Identifier(k) for k in key)
        return sql.SQL('DELETE FROM {t} WHERE ({cols}) IN (SELECT {cols} FROM {t} WHERE {cond} LIMIT %(limit)s)'
                       ).format(t=target, cols=cols, cond=self.condition)

    def build_condition(self):
        p = self.params
        parts = [sql.SQL('{} < %(cutoff)s').format(sql.Identifier(p['timestamp_column']))]
        values = {}
        for index, (column, value) in enumerate(sorted((p['match'] or {}).items())):
            text = match_value(column, value)
            if text is None:
                parts.append(sql.SQL('{} IS NULL').format(sql.Identifier(column)))
            else:
                key = 'm%d' % index
                parts.append(sql.SQL('{} = %({})s').format(sql.Identifier(column), sql.SQL(key)))
                values[key] = text
        self.condition = sql.SQL(' AND ').join(parts)
        self.values = values

    def count(self, conn, target, limit=None):
        """Matching rows (at most ``limit``), in its own transaction."""
        stmt = sql.SQL('SELECT count(*) FROM {t} WHERE {cond}').format(t=target, cond=self.condition)
        args = dict(self.values)
        if limit is not None:
            stmt = sql.SQL('SELECT count(*) FROM (SELECT 1 FROM {t} WHERE {cond} LIMIT %(limit)s) s').format(
                t=target, cond=self.condition)
            args['limit'] = limit
        try:
            self.begin(conn)
            with conn.cursor() as cur:
                cur.execute(stmt, args)
                value = cur.fetchone()[0]
            conn.commit()
        except psycopg2.Error as exc:
            self.fail(conn, exc, 'counting the rows to delete from "%s"' % target.as_string(conn))
        return value

    def run_table(self, conn, result):
        p = self.params
        with conn.cursor() as cur:
            ((schema, table),) = resolve_tables(cur, [p['table']])
            names = [p['timestamp_column']] + sorted((p['match'] or {}).keys())
            types = self.columns(cur, schema, table, names)
            if types[p['timestamp_column']] not in TIME_TYPES:
                raise PgModuleError('column "%s" of "%s.%s" is %s, not a timestamp; set timestamp_column to a '
                                    'timestamptz, timestamp or date column'
                                    % (p['timestamp_column'], schema, table, types[p['timestamp_column']]))
            self.build_condition()
            delete = self.delete_statement(cur, schema, table)
            cur.execute('SELECT now() - make_interval(days => %s)', (p['older_than_days'],))
            cutoff = cur.fetchone()[0]
        conn.commit()
        self.values['cutoff'] = cutoff
        target = sql.Identifier(schema, table)
        qualified = '%s.%s' % (schema, table)
        result.update(table=qualified, cutoff=cutoff.isoformat())

        limit = p['batch_size'] * p['max_batches'] if p['max_batches'] else None
        if self.check_mode:
            would = self.count(conn, target, limit)
            result.update(would_delete=would, changed=would > 0)
            if self.diff_mode:
                before = self.count(conn, target)
                self.diff({qualified: before}, {qualified: before - would})
            result['msg'] = '%d row(s) of %s older than %s would be deleted' % (would, qualified, result['cutoff'])
            return

        before = self.count(conn, target) if self.diff_mode else None
        deleted = batches = 0
        args = dict(self.values, limit=p['batch_size'])
        while p['max_batches'] is None or batches < p['max_batches']:
            if batches:
                time.sleep(p['pause_seconds'])
            try:
                self.begin(conn)
                with conn.cursor() as cur:
                    cur.execute(delete, args)
                    rows = cur.rowcount
                conn.commit()
            except psycopg2.Error as exc:
                self.fail(conn, exc, 'deleting from "%s" (batch %d, %d row(s) already deleted)'
                          % (qualified, batches + 1, deleted), deleted=deleted, batches=batches)
            if rows <= 0:
                break
            deleted += rows
            batches += 1
            if rows < p['batch_size']:
                break
        if p['max_batches'] is not None and batches >= p['max_batches']:
            complete = self.count(conn, target, 1) == 0
        else:
            complete = True
        result.update(deleted=deleted, batches=batches, changed=deleted > 0, complete=complete)
        if before is not None:
            self.diff({qualified: before}, {qualified: before - deleted})
        result['msg'] = '%d row(s) of %s older than %s deleted in %d batch(es)' % (
            deleted, qualified, result['cutoff'], batches)

    # -- function mode --------------------------------------------------------
    def run_function(self, conn, result):
        schema, name = split_qualified(self.params['function'])
        qualified = '%s.%s' % (schema, name)
        result.update(function=qualified, function_result=None)
        with conn.cursor() as cur:
            # Callable without arguments: no parameters, or all of them have defaults.
            cur.execute(
                "SELECT p.prokind, p.proretset, p.prorettype = 'pg_catalog.void'::pg_catalog.regtype "
                "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = %s AND p.proname = %s AND p.prokind IN ('f', 'p') "
                "AND p.pronargs - p.pronargdefaults = 0 ORDER BY p.pronargs LIMIT 1", (schema, name))
            row = cur.fetchone()
        conn.commit()
        if row is None:
            raise PgModuleError('function "%s()" does not exist in database "%s" (or needs arguments); check the '
                                'name (schema.name)' % (qualified, conn.get_dsn_parameters().get('dbname')))
        prokind, retset, void = row
        target = sql.Identifier(schema, name)
        if self.check_mode:
            result.update(changed=True, msg='would call %s()' % qualified)
            self.diff({'called': False}, {'called': True})
            return
        if prokind == 'p':
            stmt = sql.SQL('CALL {}()').format(target)
        elif retset:
            stmt = sql.SQL('SELECT * FROM {}()').format(target)
        else:
            stmt = sql.SQL('SELECT {}()').format(target)
        conn.autocommit = prokind == 'p'  # a procedure may COMMIT itself: no surrounding transaction
        try:
            with conn.cursor() as cur:
                if prokind == 'p':
                    set_timeouts(cur, self.params['lock_timeout'], self.params['statement_timeout'])
                else:
                    self.begin(conn)
                cur.execute(stmt)
                rows = cur.fetchall() if cur.description else []
                columns = [c.name for c in cur.description] if cur.description else []
            if not conn.autocommit:
                conn.commit()
        except psycopg2.Error as exc:
            if conn.autocommit:
                conn.autocommit = False
            self.fail(conn, exc, 'calling %s()' % qualified)
        if retset:
            value = [json_safe(r[0]) if len(columns) == 1 else dict(zip(columns, json_safe(list(r)))) for r in rows]
        elif void or not rows:
            value = None
        else:
            value = json_safe(rows[0][0])
        result.update(changed=True, function_result=value, msg='called %s()' % qualified)
        self.diff({'called': False}, {'called': True})

    def run(self):
        self.validate()
        started = time.time()
        result = dict(changed=False, deleted=0, batches=0)
        conn = self.connect(autocommit=False)
        try:
            if self.params['function']:
                self.run_function(conn, result)
            else:
                self.run_table(conn, result)
        except PgModuleError as exc:
            exc.extra.setdefault('duration', round(time.time() - started, 3))
            raise
        finally:
            conn.close()
        result['duration'] = round(time.time() - started, 3)
        return result


def main():
    PostgresRetention.main()


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: postgres_compare
short_description: Compare the tables of two PostgreSQL databases by row count and per-table checksum
version_added: 1.0.0
description:
  - Compares every table of the login database (the source, O(login_db), O(database_url) or E(PGDATABASE)) with the
    table of the same name in O(target_db) on the same server - the check of a disaster-recovery drill after a dump
    was restored into a scratch database.
  - For each table it computes, in SQL on both sides, the exact row count and a checksum - the sum, as a 64-bit
    number, of the first 16 hex digits of the md5 of each row's text. The checksum does not depend on row order or
    on a primary key, needs no sort, and changes when any value of any row changes.
  - The source is read in one snapshot (C(REPEATABLE READ), exported to the O(jobs) parallel sessions), so its
    tables are compared as of one moment. Rows written to the source after the dump was taken differ from the
    restored copy; compare a quiet source, or leave such tables out (O(exclude_tables)).
  - Both sides are read with the same session settings (C(TimeZone=UTC), C(DateStyle=ISO), C(extra_float_digits),
    C(bytea_output)), so equal data gives equal checksums.
  - Read-only. Fails when the databases differ only with O(fail_on_mismatch=true), with a message naming the tables.
options:
  target_db:
    description:
      - The database to compare with the source, on the same server and with the same login.
    type: str
    required: true
  tables:
    description:
      - Compare only these tables, as C(table) (in C(public)) or C(schema.table). Empty means every table of the
        source and of O(target_db) outside the system schemas.
    type: list
    elements: str
    default: []
  exclude_tables:
    description:
      - Tables to leave out, as C(table) or C(schema.table).
    type: list
    elements: str
    default: []
  checksum:
    description:
      - Compute the per-table checksums. When false only the row counts are compared (cheaper, but a changed row
        goes unnoticed).
    type: bool
    default: true
  jobs:
    description:
      - Parallel sessions on each database.
    type: int
    default: 2
  fail_on_mismatch:
    description:
      - Fail when a table differs, is missing on one side or cannot be read; the message names the tables. When
        false the differences are only returned (RV(equal), RV(mismatches)).
    type: bool
    default: false
  lock_timeout:
    description:
      - C(lock_timeout) of the reading sessions; a table locked exclusively for longer makes the module fail.
    type: str
    default: 30s
  statement_timeout:
    description:
      - C(statement_timeout) of the reading sessions (one statement reads one table); C(0) means no limit.
    type: str
    default: '0'
extends_documentation_fragment:
  - pourtrait.ops.attributes
  - pourtrait.ops.postgres
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [pourtrait.ops.postgres]
notes:
  - The checksum is computed from each row's text form (C(ROW(t.*)::text)), so the two tables must have the same
    columns in the same order, which a restore of a dump guarantees.
author:
  - Pourtrait engineering (@pourtrait)
'''

EXAMPLES = r'''
- name: Compare the restored scratch database with production
  pourtrait.ops.postgres_compare:
    database_url: "{{ lookup('env', 'DATABASE_URL') }}"
    target_db: pourtrait_dr_test_20260101
    fail_on_mismatch: true
  register: compared

- name: Only the row counts of two tables
  pourtrait.ops.postgres_compare:
    login_db: postgres
    target_db: postgres_copy
    tables: [public.wines, public.user_profiles]
    checksum: false
'''

RETURN = r'''
source_db:
  description: The source database (the login database).
  returned: always
  type: str
target_db:
  description: The database compared with it.
  returned: always
  type: str
equal:
  description: True when every compared table has the same row count and checksum on both sides.
  returned: always
  type: bool
compared:
  description: Number of tables compared.
  returned: always
  type: int
rows:
  description: Rows counted in the source's compared tables.
  returned: always
  type: int
mismatches:
  description: One line per table that differs, is missing on one side or could not be read, naming the table.
  returned: always
  type: list
  elements: str
  sample: ['public.wines: checksum differs (1200 rows on both sides)', 'public.tags: missing in the target']
tables:
  description: Per table - row counts and checksums on each side and whether they match.
  returned: always
  type: list
  elements: dict
  sample: [{table: public.wines, source_rows: 1200, target_rows: 1200, source_checksum: '8812...',
            target_checksum: '8812...', equal: true}]
source_size:
  description: Size of the source database in bytes (C(pg_database_size)).
  returned: always
  type: int
target_size:
  description: Size of O(target_db) in bytes.
  returned: always
  type: int
checksum_method:
  description: How the checksums were computed; null when O(checksum=false).
  returned: always
  type: str
duration:
  description: Seconds the comparison took.
  returned: always
  type: float
'''

import threading
import time

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError,
    PostgresModule,
    connect,
    describe_db_error,
    set_timeouts,
    split_qualified,
    sql,
)

SYSTEM_SCHEMAS = ('pg_catalog', 'information_schema', 'pg_toast')
CHECKSUM_METHOD = "sum of ('x' || left(md5(ROW(t.*)::text), 16))::bit(64)::bigint over the rows"
# Same text form of every value on both sides, whatever the login role's defaults are.
SESSION_SETTINGS = (('TimeZone', 'UTC'), ('DateStyle', 'ISO, YMD'), ('IntervalStyle', 'postgres'),
                    ('extra_float_digits', '3'), ('bytea_output', 'hex'))


def checksum_query(schema, table, checksum=True):
    """(row count, checksum text or None) of one table; the table is an identifier, never SQL text."""
    if not checksum:
        return sql.SQL('SELECT count(*), NULL::text FROM {}').format(sql.Identifier(schema, table))
    return sql.SQL("SELECT count(*), coalesce(sum(('x' || left(md5(ROW(t.*)::text), 16))::bit(64)::bigint), 0)::text "
                   "FROM {} AS t").format(sql.Identifier(schema, table))


def list_tables(conn):
    """Ordinary and partitioned tables outside the system schemas, as (schema, table)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg\\_temp%%' "
            "AND n.nspname NOT LIKE 'pg\\_toast%%' ORDER BY 1, 2", (list(SYSTEM_SCHEMAS),))
        return [(r[0], r[1]) for r in cur.fetchall()]


def database_size(conn):
    with conn.cursor() as cur:
        cur.execute('SELECT pg_catalog.pg_database_size(current_database())')
        return cur.fetchone()[0]


class Reader(object):
    """Reads (count, checksum) of tables of one database on up to ``jobs`` sessions, optionally all in one
    exported snapshot. A table missing on that side reads as None."""

    def __init__(self, conn_params, dbname, application_name, checksum, lock_timeout, statement_timeout):
        self.conn_params = conn_params
        self.dbname = dbname
        self.application_name = application_name
        self.checksum = checksum
        self.lock_timeout = lock_timeout
        self.statement_timeout = statement_timeout

    def prepare(self, cur, snapshot=None):
        if snapshot:
            cur.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
            cur.execute('SET TRANSACTION SNAPSHOT %s', (snapshot,))
        for name, value in SESSION_SETTINGS:
            cur.execute('SELECT set_config(%s, %s, true)', (name, value))
        set_timeouts(cur, lock_timeout=self.lock_timeout, statement_timeout=self.statement_timeout, local=True)

    def read(self, tables, jobs, snapshot=None, present=None):
        lock = threading.Lock()
        queue = list(tables)
        out = {}
        errors = []

        def worker():
            conn = None
            try:
                conn = connect(self.conn_params, dbname=self.dbname, application_name=self.application_name)
                with conn.cursor() as cur:
                    self.prepare(cur, snapshot)
                    while True:
                        with lock:
                            if not queue or errors:
                                break
                            key = queue.pop(0)
                        if present is not None and key not in present:
                            out[key] = None
                            continue
                        cur.execute(checksum_query(key[0], key[1], self.checksum))
                        rows, digest = cur.fetchone()
                        out[key] = (rows, digest)
                conn.rollback()
            except Exception as exc:  # pylint: disable=broad-except  # re-raised in the caller
                with lock:
                    errors.append(exc)
            finally:
                if conn is not None:
                    conn.close()

        threads = [threading.Thread(target=worker) for dummy in range(max(1, min(jobs, len(queue))))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            exc = errors[0]
            if isinstance(exc, PgModuleError):
                raise exc
            raise PgModuleError('reading the tables of database "%s" failed: %s; check lock_timeout and '
                                'statement_timeout' % (self.dbname, describe_db_error(exc)))
        return out


def describe(key):
    return '%s.%s' % key


def compare(source, target, checksum):
    """(table dicts, mismatch lines) from {key: (rows, checksum) or None} of both sides."""
    tables = []
    mismatches = []
    for key in sorted(set(source) | set(target)):
        src, dst = source.get(key), target.get(key)
        item = dict(table=describe(key), source_rows=src[0] if src else None, target_rows=dst[0] if dst else None,
                    source_checksum=src[1] if src else None, target_checksum=dst[1] if dst else None)
        problem = None
        if src is None and dst is None:
            problem = 'missing on both sides'
        elif src is None:
            problem = 'missing in the source'
        elif dst is None:
            problem = 'missing in the target'
        elif src[0] != dst[0]:
            problem = '%s rows in the source, %s in the target' % (src[0], dst[0])
        elif checksum and src[1] != dst[1]:
            problem = 'checksum differs (%s rows on both sides)' % src[0]
        item['equal'] = problem is None
        if problem:
            item['problem'] = problem
            mismatches.append('%s: %s' % (item['table'], problem))
        tables.append(item)
    return tables, mismatches


class PostgresCompare(PostgresModule):
    name = 'postgres_compare'
    argument_spec = dict(
        target_db=dict(type='str', required=True),
        tables=dict(type='list', elements='str', default=[]),
        exclude_tables=dict(type='list', elements='str', default=[]),
        checksum=dict(type='bool', default=True),
        jobs=dict(type='int', default=2),
        fail_on_mismatch=dict(type='bool', default=False),
        lock_timeout=dict(type='str', default='30s'),
        statement_timeout=dict(type='str', default='0'),
    )

    def run(self):
        started = time.time()
        p = self.params
        if p['jobs'] < 1:
            raise PgModuleError('jobs must be 1 or more, got %s' % p['jobs'])
        target = p['target_db']
        wanted = [split_qualified(t) for t in p['tables']]
        excluded = set(split_qualified(t) for t in p['exclude_tables'])
        app = 'pourtrait.ops/%s' % self.name

        source_conn = self.connect()
        try:
            source_db = source_conn.get_dsn_parameters().get('dbname')
            if source_db == target:
                raise PgModuleError('target_db "%s" is the source database itself; name the other database'
                                    % target)
            try:
                target_conn = self.connect(dbname=target)
            except PgModuleError as exc:
                if 'does not exist' in str(exc):
                    raise PgModuleError('target database "%s" does not exist; check target_db' % target)
                raise
            try:
                target_tables = set(list_tables(target_conn))
                target_size = database_size(target_conn)
            finally:
                target_conn.close()
            # One snapshot for every read of the source: the coordinator keeps it open while the workers read.
            source_conn.set_session(isolation_level='REPEATABLE READ', readonly=True)
            with source_conn.cursor() as cur:
                cur.execute('SELECT pg_catalog.pg_export_snapshot()')
                snapshot = cur.fetchone()[0]
                source_size = database_size(source_conn)
                source_tables = set(list_tables(source_conn))
            if wanted:
                keys = list(dict.fromkeys(wanted))
                unknown = [k for k in keys if k not in source_tables and k not in target_tables]
                if unknown:
                    raise PgModuleError('table %s exists in neither "%s" nor "%s"; check tables (schema.table)'
                                        % (', '.join('"%s"' % describe(k) for k in unknown), source_db, target))
            else:
                keys = sorted(source_tables | target_tables)
            keys = [k for k in keys if k not in excluded]
            reader = dict(application_name=app, checksum=p['checksum'], lock_timeout=p['lock_timeout'],
                          statement_timeout=p['statement_timeout'])
            source = Reader(self.conn_params, source_db, **reader).read(
                keys, p['jobs'], snapshot=snapshot, present=source_tables)
            source_conn.rollback()
        finally:
            source_conn.close()
        target_rows = Reader(self.conn_params, target, **reader).read(keys, p['jobs'], present=target_tables)
        tables, mismatches = compare(source, target_rows, p['checksum'])
        result = dict(changed=False, source_db=source_db, target_db=target, equal=not mismatches,
                      compared=len(tables), rows=sum(t['source_rows'] or 0 for t in tables),
                      mismatches=mismatches, tables=tables, source_size=source_size, target_size=target_size,
                      checksum_method=CHECKSUM_METHOD if p['checksum'] else None,
                      duration=round(time.time() - started, 3))
        if mismatches and p['fail_on_mismatch']:
            shown = '; '.join(mismatches[:5]) + ('; ...' if len(mismatches) > 5 else '')
            result.pop('changed')
            raise PgModuleError('%d of %d table(s) differ between "%s" and "%s": %s'
                                % (len(mismatches), len(tables), source_db, target, shown), **result)
        return result


def main():
    PostgresCompare.main()


if __name__ == '__main__':
    main()

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Table checksums and row counts: the exact row count and an order-independent checksum of every
table, read on up to N sessions, optionally all in one exported snapshot.

One implementation for postgres_dump (``table_checksums``, computed in the dump's snapshot and
kept in the manifest), postgres_compare (both sides, or a database against a manifest) and the
row counts of a restore, so equal data always gives equal checksums.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError,
    connect,
    describe_db_error,
    set_timeouts,
    sql,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.programs import quote_pattern
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.workers import run_threads


SYSTEM_SCHEMAS = ('pg_catalog', 'information_schema', 'pg_toast')
COUNT_LOCK_TIMEOUT = '30s'
TABLE_CHECKSUM_METHOD = "sum of ('x' || left(md5(ROW(t.*)::text), 16))::bit(64)::bigint over the rows"


# Same text form of every value on every side, whatever the login role's defaults are.


CHECKSUM_SESSION_SETTINGS = (('TimeZone', 'UTC'), ('DateStyle', 'ISO, YMD'), ('IntervalStyle', 'postgres'),
                             ('extra_float_digits', '3'), ('bytea_output', 'hex'))


def checksum_query(schema, table, checksum=True):
    """(row count, checksum text or None) of one table; the table is an identifier, never SQL text."""
    if not checksum:
        return sql.SQL('SELECT count(*), NULL::text FROM {}').format(sql.Identifier(schema, table))
    return sql.SQL("SELECT count(*), coalesce(sum(('x' || left(md5(ROW(t.*)::text), 16))::bit(64)::bigint), 0)::text "
                   "FROM {} AS t").format(sql.Identifier(schema, table))


def checksum_tables(conn):
    """Ordinary and partitioned tables outside the system schemas, as (schema, table): the tables whose
    checksums are taken and compared, and whose rows a verify=restore counts."""
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


class ChecksumReader(object):
    """Reads (row count, checksum) of tables of one database on up to ``jobs`` sessions, optionally all
    in one exported snapshot. A table missing on that side (not in ``present``) reads as None."""

    def __init__(self, conn_params, dbname, application_name='pourtrait.ops', checksum=True,
                 lock_timeout=COUNT_LOCK_TIMEOUT, statement_timeout='0'):
        self.conn_params, self.dbname, self.application_name = conn_params, dbname, application_name
        self.checksum = checksum
        self.timeouts = dict(lock_timeout=lock_timeout, statement_timeout=statement_timeout)

    def prepare(self, cur, snapshot=None):
        if snapshot:
            cur.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
            cur.execute('SET TRANSACTION SNAPSHOT %s', (snapshot,))
        for name, value in CHECKSUM_SESSION_SETTINGS:
            cur.execute('SELECT set_config(%s, %s, true)', (name, value))
        set_timeouts(cur, local=True, **self.timeouts)

    def read(self, tables, jobs, snapshot=None, present=None, check_exists=False):
        """{(schema, table): (rows, checksum text or None) or None}. A table reads as None when it is not in
        ``present`` (a set), or, with ``check_exists``, when it does not exist in the database."""
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
                        if check_exists:
                            cur.execute('SELECT to_regclass(%s) IS NOT NULL',
                                        ('%s.%s' % (quote_pattern(key[0]), quote_pattern(key[1])),))
                            if not cur.fetchone()[0]:
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

        run_threads(worker, max(1, min(jobs, len(queue))))
        if errors:
            exc = errors[0]
            if isinstance(exc, PgModuleError):
                raise exc
            raise PgModuleError('reading the tables of database "%s" failed: %s; check lock_timeout and '
                                'statement_timeout' % (self.dbname, describe_db_error(exc)))
        return out


def dumped_tables(conn, tables=(), schemas=(), exclude_schemas=(), exclude_tables=()):
    """The tables (schema, table) whose data pg_dump dumps with these filters, as pg_dump selects them:
    ``tables`` (already resolved) win over the schema filters; ``exclude_tables`` always apply."""
    excluded = set(exclude_tables or ())
    if tables:
        known = set(checksum_tables(conn))
        chosen = [k for k in dict.fromkeys(tables) if k in known]
    else:
        chosen = checksum_tables(conn)
        if schemas:
            chosen = [k for k in chosen if k[0] in schemas]
        chosen = [k for k in chosen if k[0] not in (exclude_schemas or ())]
    return [k for k in chosen if k not in excluded]


def record_table_checksums(conn_params, conn, snapshot, tables, jobs, application_name):
    """Manifest entries {"schema.table": {schema, table, rows, checksum}} of ``tables``, read in
    ``snapshot`` (the dump's)."""
    reader = ChecksumReader(conn_params, conn.get_dsn_parameters().get('dbname'), application_name=application_name)
    found = reader.read(tables, jobs, snapshot=snapshot)
    return dict(('%s.%s' % key, dict(schema=key[0], table=key[1], rows=found[key][0], checksum=found[key][1]))
                for key in tables)


def count_rows(conn_params, dbname, tables, workers=2, snapshot=None, application_name='pourtrait.ops'):
    """Exact row counts {(schema, table): rows} on up to ``workers`` connections (ChecksumReader without
    checksums). With ``snapshot`` every connection reads the same exported snapshot. A table that does not
    exist counts as None."""
    tables = list(tables)
    if not tables:
        return {}
    reader = ChecksumReader(conn_params, dbname, application_name=application_name, checksum=False)
    read = reader.read(tables, workers, snapshot=snapshot, check_exists=True)
    return dict((key, None if value is None else value[0]) for key, value in read.items())


def row_estimates(conn, tables):
    """[{schema, table, rows_estimate}] from pg_class (reltuples, else n_live_tup)."""
    result = []
    with conn.cursor() as cur:
        for schema, table in tables:
            cur.execute(
                "SELECT c.reltuples::bigint, s.n_live_tup FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid "
                "WHERE n.nspname = %s AND c.relname = %s", (schema, table))
            row = cur.fetchone()
            estimate = None
            if row:
                estimate = row[0] if row[0] is not None and row[0] >= 0 else row[1]
            result.append(dict(schema=schema, table=table, rows_estimate=estimate))
    return result

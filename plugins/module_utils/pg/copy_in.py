# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restoring a directory dump's table data ourselves (``CopyInRestore``): pg_restore does the schema
before the data and what follows it (indexes, constraints: ``--section=post-data -j N``), while
the table data goes in with ``COPY ... FROM STDIN`` on N connections, each data file inflated
with ISA-L on its way (ISA-L and libpq release the GIL, so N threads use N cores).

The dump is read as pg_restore reads it: the ``COPY`` statement of each table and the session
settings come from pg_restore itself (its script of the data section, run over a shadow of the
dump whose data files are empty), and every data entry that is not a table's (large objects,
sequence values) is restored by pg_restore. Each table's data is one transaction; a table this
run created is truncated first in that transaction and loaded with ``COPY ... FREEZE`` (no
hint-bit writes on the first read).

``use_copy_in`` says when this path applies: a directory dump, more than one job, ISA-L present,
no ``--clean`` of objects in place, and data files that are plain or gzip.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import tempfile
import threading

try:
    from isal import igzip
    HAS_ISAL = True
except ImportError:  # optional: pg_restore loads the data by itself without it
    igzip = None
    HAS_ISAL = False

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError,
    connect,
    describe_db_error,
    one_line,
    psycopg2,
    sql,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.programs import run_program
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.stream import CHUNK, parse_copy_line
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.workers import run_threads

FREEZE = True  # load the tables this run created with COPY ... FREEZE (truncated first, same transaction)
_TOC_LINE_RE = re.compile(r'^(\d+); (\d+) (\d+) (.*)$')
_TABLE_DATA_RE = re.compile(r'^TABLE DATA (\S+) (\S+) (\S+)$')
_TABLE_RE = re.compile(r'^TABLE (\S+) (\S+) (\S+)$')
SESSION_LINE_RE = re.compile(r'^(SET [a-z_]+ = .*;|SELECT pg_catalog\.set_config\(.*\);)$')
SET_NAME_RE = re.compile(r'^SET\s+(\w+)\s*(?:=|TO)', re.IGNORECASE)


def use_copy_in(fmt, jobs, clean):
    """True when the table data can be loaded by ``CopyInRestore``: a directory dump, jobs above 1 (one
    transaction is pg_restore's), ISA-L at hand, and no --clean of objects in place (its drops span the
    sections)."""
    return fmt == 'directory' and jobs > 1 and HAS_ISAL and not clean


class TableData(object):
    """One table's data entry: its dump id, names, the data file and the COPY statement to load it."""

    def __init__(self, dump_id, schema, table, created):
        self.dump_id, self.schema, self.table, self.created = dump_id, schema, table, created
        self.path = self.statement = None
        self.size = 0


def read_toc(toc_text):
    """From ``pg_restore --list`` output: ({dump id: TableData} of the tables' data entries, [the other lines])."""
    created, entries, other = set(), {}, []
    lines = [line for line in toc_text.splitlines() if line and not line.startswith(';')]
    for line in lines:
        match = _TOC_LINE_RE.match(line)
        table = _TABLE_RE.match(match.group(4)) if match else None
        if table:
            created.add((table.group(1), table.group(2)))
    for line in lines:
        match = _TOC_LINE_RE.match(line)
        data = _TABLE_DATA_RE.match(match.group(4)) if match else None
        if data:
            key = (data.group(1), data.group(2))
            entries[int(match.group(1))] = TableData(int(match.group(1)), key[0], key[1], key in created)
        else:
            other.append(line)
    return entries, other


def read_data_script(script):
    """From pg_restore's script of the data entries (empty data): (session settings, [(schema, table),
    COPY statement]) in script order."""
    settings, copies = [], []
    for line in script.splitlines():
        if line.startswith('COPY ') and line.endswith(' FROM stdin;'):
            copies.append((parse_copy_line(line.encode('utf-8')), line[:-1]))
        elif not copies and SESSION_LINE_RE.match(line):
            settings.append(line)
    return settings, copies


def data_file(path, dump_id):
    """The data file of an entry (plain or gzip), or None when it is another kind (lz4, zstd) or missing."""
    for name in ('%d.dat' % dump_id, '%d.dat.gz' % dump_id):
        if os.path.isfile(os.path.join(path, name)):
            return os.path.join(path, name)
    return None


class CopyInRestore(object):
    """Restore a directory dump into ``dbname``: ``prepare()`` reads the plan (False: use pg_restore alone),
    ``run()`` restores. ``argv`` is the pg_restore argument list of the whole restore (the dump last)."""

    def __init__(self, conn_params, dbname, path, argv, env, jobs, application_name):
        self.conn_params, self.dbname, self.path = conn_params, dbname, path
        self.argv, self.env, self.jobs, self.application_name = argv, env, jobs, application_name
        self.tables, self.other_lines, self.settings = [], [], []
        self.errors = []
        self.counts = {}  # (schema, table): rows loaded into a table this run created (so its exact count)
        self._lock = threading.Lock()
        self._conns = []

    def _pg_restore(self, *options, **kwargs):
        return run_program(list(self.argv[:-1]) + list(options) + [kwargs.get('path', self.path)],
                           kwargs.get('env') or self.env,
                           program='pg_restore', stdout_path=kwargs.get('stdout_path'))

    def prepare(self):
        """Read the table of contents and the COPY statements; False when some table's data cannot be loaded
        here (then pg_restore restores everything)."""
        with tempfile.TemporaryDirectory(prefix='pourtrait-copy-in-') as scratch:
            listing = os.path.join(scratch, 'toc.txt')
            run_program([self.argv[0], '--list', self.path], self.env, program='pg_restore', stdout_path=listing)
            with open(listing, 'rb') as handle:
                entries, self.other_lines = read_toc(handle.read().decode('utf-8', 'replace'))
            if not entries:
                return False
            for entry in entries.values():
                entry.path = data_file(self.path, entry.dump_id)
                if entry.path is None:
                    return False
                entry.size = os.path.getsize(entry.path)
            script = self._data_script(scratch, entries)
        self.settings, copies = read_data_script(script)
        by_name = dict(((e.schema, e.table), e) for e in entries.values())
        for key, statement in copies:
            entry = by_name.pop(key, None) if key else None
            if entry is None:
                return False
            entry.statement = statement
        if by_name or len(copies) != len(entries):
            return False
        self.tables = sorted(entries.values(), key=lambda e: -e.size)
        return True

    def _data_script(self, scratch, entries):
        """pg_restore's script of the tables' data entries, read over a shadow of the dump with empty data."""
        shadow = os.path.join(scratch, 'shadow')
        os.mkdir(shadow)
        os.symlink(os.path.join(self.path, 'toc.dat'), os.path.join(shadow, 'toc.dat'))
        for dump_id in entries:
            open(os.path.join(shadow, '%d.dat' % dump_id), 'wb').close()
        use_list = os.path.join(scratch, 'data.list')
        with open(use_list, 'w') as handle:
            handle.write(''.join('%d; 0 0 TABLE DATA - - -\n' % dump_id for dump_id in entries))
        out = os.path.join(scratch, 'data.sql')
        run_program([self.argv[0], '--data-only', '--use-list=%s' % use_list, '--file=%s' % out, shadow], self.env,
                    program='pg_restore')
        with open(out, 'rb') as handle:
            return handle.read().decode('utf-8')

    def run(self):
        """Schema and the other data entries, the tables' data on ``jobs`` connections, then post-data."""
        scratch = tempfile.mkdtemp(prefix='pourtrait-copy-in-')
        try:
            rest = os.path.join(scratch, 'rest.list')
            with open(rest, 'w') as handle:
                handle.write(''.join(line + '\n' for line in self.other_lines))
            self._pg_restore('--section=pre-data', '--section=data', '--use-list=%s' % rest)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self.load_tables()
        self._pg_restore('--section=post-data', env=self.post_data_env())

    def post_data_env(self):
        """pg_restore -j N already builds N indexes at once: with session settings in use (PGOPTIONS, the
        restore's maintenance_work_mem), each build also runs without parallel workers, which would only
        oversubscribe the cores and split maintenance_work_mem between their processes (spilling sorts)."""
        if not self.env.get('PGOPTIONS') or self.jobs < 2:
            return self.env
        return dict(self.env, PGOPTIONS='%s -c max_parallel_maintenance_workers=0' % self.env['PGOPTIONS'])

    def load_tables(self):
        """COPY every table's data in, largest first, on up to ``jobs`` connections; the first failure stops
        the others and is raised in one line."""
        queue = list(self.tables)

        def worker():
            try:
                conn = connect(self.conn_params, dbname=self.dbname, application_name=self.application_name)
            except PgModuleError as exc:
                self._fail(None, exc)
                return
            entry = None
            try:
                self._apply_settings(conn)
                while True:
                    with self._lock:
                        if not queue or self.errors:
                            return
                        entry = queue.pop(0)
                    self.copy_table(conn, entry)
            except Exception as exc:  # pylint: disable=broad-except  # raised once all have stopped
                self._fail(entry, exc)
            finally:
                self._forget(conn)
                conn.close()

        run_threads(worker, max(1, min(self.jobs, len(queue))))
        if self.errors:
            raise self.errors[0]

    def _apply_settings(self, conn):
        """pg_restore's session settings; a script written without a connection may name a setting this server
        predates (pg_restore 18's transaction_timeout on 15), which pg_restore itself would leave out."""
        with conn.cursor() as cur:
            for statement in self.settings:
                name = SET_NAME_RE.match(statement)
                if name:
                    cur.execute('SELECT count(*) FROM pg_catalog.pg_settings WHERE name = %s', (name.group(1),))
                    if not cur.fetchone()[0]:
                        continue
                cur.execute(statement)
        conn.commit()
        with self._lock:
            self._conns.append(conn)

    def _forget(self, conn):
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)

    def _fail(self, entry, exc):
        """Note the first failure (one line) and cancel the COPY of the other connections."""
        with self._lock:
            if self.errors:
                return
            self.errors.append(PgModuleError(describe_failure(entry, exc)))
            others = list(self._conns)
        for conn in others:
            try:
                conn.cancel()
            except psycopg2.Error:
                pass

    def copy_table(self, conn, entry):
        """One table's data in one transaction: truncated first and frozen when this run created the table."""
        statement, fresh = entry.statement, False
        with conn.cursor() as cur:
            if FREEZE and entry.created and _is_plain_table(cur, entry):
                fresh = True
                cur.execute(sql.SQL('TRUNCATE ONLY {}.{}').format(sql.Identifier(entry.schema),
                                                                  sql.Identifier(entry.table)))
                statement += ' WITH (FREEZE)'
            with DataSource(entry.path) as source:
                try:
                    cur.copy_expert(statement, source, size=CHUNK)
                except psycopg2.Error:
                    if source.error is not None:  # the file's own failure, not the database's
                        raise source.error
                    raise
            rows = cur.rowcount
        conn.commit()
        if fresh and rows is not None and rows >= 0:
            with self._lock:
                self.counts[(entry.schema, entry.table)] = rows


def _is_plain_table(cur, entry):
    cur.execute("SELECT c.relkind = 'r' FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s", (entry.schema, entry.table))
    row = cur.fetchone()
    return bool(row and row[0])


class DataSource(object):
    """A data file (gzip inflated by ISA-L) read by ``copy_expert``; a read failure is kept in ``error``, since
    psycopg2 reports it as the COPY's failure."""

    def __init__(self, path):
        self.handle = igzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb')
        self.error = None

    def read(self, size=-1):
        try:
            return self.handle.read(size)
        except Exception as exc:  # pylint: disable=broad-except  # kept, then raised to psycopg2
            self.error = exc
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.handle.close()


def describe_failure(entry, exc):
    """One line for a failed table load: the table and file, the database's or the file's reason."""
    where = 'loading %s.%s from %s' % (entry.schema, entry.table, os.path.basename(entry.path)) if entry else \
        'starting a session'
    if isinstance(exc, PgModuleError):
        return 'restore of the table data failed %s: %s' % (where, exc)
    if isinstance(exc, psycopg2.Error):
        return 'restore of the table data failed %s: %s' % (where, describe_db_error(exc))
    return ('restore of the table data failed %s: %s; the dump looks truncated or corrupt, take a new one'
            % (where, one_line(str(exc) or type(exc).__name__)))

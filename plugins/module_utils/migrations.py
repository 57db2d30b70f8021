# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A migration engine that behaves like the Supabase CLI (``supabase db push``).

What is shared with the CLI, so a team can use both on the same database:
the files and their statements as the CLI reads them (migration_files.py);
the history table ``supabase_migrations.schema_migrations (version text
primary key, statements text[], name text)``, created (when missing) by the
CLI's own statements after ``SET lock_timeout = '4s'``; every file runs after
``RESET ALL`` in one transaction together with the insert of its history row;
the two ``migration repair`` statuses.

What this engine adds: a session advisory lock (two runs never apply a file
twice), ``SET LOCAL`` lock/statement timeouts inside each file's transaction,
whole-file retries on ``lock_not_available``, a warning when an applied file
was edited, files marked ``-- pourtrait:no-transaction``, and errors naming the
file, the statement number and the SQLSTATE.

A transactional file is sent to the server in one round trip (one simple
query holding RESET ALL, BEGIN, the SET LOCALs, the statements, the history
insert and COMMIT). When PostgreSQL reports an error it gives a position for
parse and name-resolution errors, which names the statement; for errors
without a position (a constraint violation, a lock timeout) the file is
replayed statement by statement inside a transaction that is always rolled
back, to find the statement that fails.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import time

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError,
    describe_db_error,
    one_line,
    psycopg2,
)

HISTORY_SCHEMA = 'supabase_migrations'
HISTORY_TABLE = 'schema_migrations'
HISTORY = '%s.%s' % (HISTORY_SCHEMA, HISTORY_TABLE)

# The CLI's statements to create (or upgrade) the history table, in its order.
CREATE_HISTORY = (
    "SET lock_timeout = '4s'",
    'CREATE SCHEMA IF NOT EXISTS supabase_migrations',
    'CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)',
    'ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]',
    'ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text',
)
INSERT_HISTORY = 'INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES (%s, %s, %s)'
DELETE_HISTORY = 'DELETE FROM supabase_migrations.schema_migrations WHERE version = ANY(%s) RETURNING version'

# Session advisory lock serialising runs on one database: 0x6f75727472616974 ("ourtrait" in ASCII)
# as a bigint. Another tool can take the same lock to keep out of a migration's way.
ADVISORY_LOCK_KEY = 8031451354945907060

LOCK_NOT_AVAILABLE = '55P03'
CLIENT_CHECK = '1s'
UNIQUE_VIOLATION = '23505'


# -- the database side -----------------------------------------------------------------------

class MigrationFailed(PgModuleError):
    """A migration file that failed; its result always says which file and statement, the SQLSTATE and
    whether part of it stays applied."""

    fields = ('failed_file', 'failed_statement', 'sqlstate', 'partial')


def _pgcode(exc):
    return getattr(exc, 'pgcode', None)


def _position(exc):
    diag = getattr(exc, 'diag', None)
    value = getattr(diag, 'statement_position', None) if diag is not None else None
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def _execute(cursor, statement):
    """Run one statement; one that holds only comments is an empty query to PostgreSQL, which
    psycopg2 reports as an error (the server does not): treat it as done, as the CLI does."""
    try:
        cursor.execute(statement)
    except psycopg2.ProgrammingError as exc:
        if exc.pgcode is None and 'empty query' in str(exc):
            return
        raise


def _about_history(exc):
    """Whether an error names the history table itself (a duplicate version, say)."""
    diag = getattr(exc, 'diag', None)
    return diag is not None and getattr(diag, 'schema_name', None) == HISTORY_SCHEMA \
        and getattr(diag, 'table_name', None) == HISTORY_TABLE


class Engine(object):
    """Runs on one autocommit connection; every transaction is spelled out in the SQL sent."""

    def __init__(self, conn, lock_timeout, statement_timeout, lock_retries=3, warn=None, sleep=time.sleep,
                 reconnect=None):
        self.conn = conn
        self.cursor = conn.cursor()
        self.lock_timeout = lock_timeout
        self.statement_timeout = statement_timeout
        self.lock_retries = lock_retries
        self.warn = warn or (lambda msg: None)
        self.sleep = sleep
        self.locked = False
        # A callable opening a new connection: after a lost connection, it tells whether the file got recorded.
        self.reconnect = reconnect
        self.check_client = False

    # -- settings ----------------------------------------------------------------------------
    def validate_settings(self):
        """Check both durations on the server (set for the session: they also cover the reads)."""
        for name in ('lock_timeout', 'statement_timeout'):
            value = getattr(self, name)
            try:
                self.cursor.execute('SELECT set_config(%s, %s, false)', (name, value))
            except (psycopg2.DataError, psycopg2.ProgrammingError) as exc:
                raise PgModuleError('%s: %s; use a PostgreSQL duration such as 5s, 30s, 10min or 0 (no limit)'
                                    % (name, describe_db_error(exc)))
        self.check_client = self.client_check_supported()

    def client_check_supported(self):
        """Whether the server takes client_connection_check_interval (PostgreSQL 14+ on Linux): with it a
        file whose client died (ansible-playbook killed) is cancelled within a second, and the migration lock
        freed, instead of running on to its end."""
        if self.conn.server_version < 140000:
            return False
        try:
            self.cursor.execute('SELECT set_config(%s, %s, false)', ('client_connection_check_interval', CLIENT_CHECK))
        except psycopg2.Error:
            self.rollback()
            return False
        return True

    def settings_sql(self, local):
        """``SET [LOCAL] lock_timeout = '..'; SET [LOCAL] statement_timeout = '..';`` as text."""
        scope = 'SET LOCAL' if local else 'SET'
        settings = [(name, getattr(self, name)) for name in ('lock_timeout', 'statement_timeout')]
        if self.check_client:
            settings.append(('client_connection_check_interval', CLIENT_CHECK))
        return ''.join(self.cursor.mogrify('%s %s = %%s;\n' % (scope, name), (value,)).decode('utf-8')
                       for name, value in settings)

    # -- advisory lock -----------------------------------------------------------------------
    def acquire_lock(self, wait_seconds, poll=0.2):
        deadline = time.time() + max(0, wait_seconds)
        delay = poll
        while True:
            self.cursor.execute('SELECT pg_try_advisory_lock(%s)', (ADVISORY_LOCK_KEY,))
            if self.cursor.fetchone()[0]:
                self.locked = True
                return
            if time.time() >= deadline:
                raise PgModuleError(self.lock_holder_message(wait_seconds))
            self.sleep(min(delay, max(0.01, deadline - time.time())))
            delay = min(delay * 1.5, 1.0)

    def lock_holder_message(self, wait_seconds):
        holder = ''
        try:
            self.cursor.execute(
                "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''), "
                "coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '') "
                "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
                "(SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s AND l.objsubid = 1 LIMIT 1",
                (ADVISORY_LOCK_KEY,))
            row = self.cursor.fetchone()
            if row:
                holder = ' (backend pid %s, %s%s, connected since %s UTC)' % (
                    row[0], row[1] or 'no application_name', ', user ' + row[2] if row[2] else '', row[3])
        except psycopg2.Error:
            holder = ''
        return ('another migration run holds the migration lock on database "%s"%s; gave up after %s s; let it '
                'finish and run again, or raise lock_wait_timeout'
                % (self.conn.get_dsn_parameters().get('dbname'), holder, wait_seconds))

    def release_lock(self):
        if self.locked:
            try:
                self.cursor.execute('SELECT pg_advisory_unlock(%s)', (ADVISORY_LOCK_KEY,))
            except psycopg2.Error:
                pass  # the session ends right after; the lock goes with it
            self.locked = False

    # -- history -----------------------------------------------------------------------------
    def history_columns(self):
        """Columns of the history table, or None when it does not exist."""
        # Catalog lookup by name: to_regclass() needs USAGE on the schema, this does not.
        self.cursor.execute(
            "SELECT a.attname FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
            (HISTORY_SCHEMA, HISTORY_TABLE))
        names = [row[0] for row in self.cursor.fetchall()]
        return set(names) if names else None

    def read_history(self):
        """{version: (name, statements or None)} from the history table ({} when it is missing)."""
        columns = self.history_columns()
        if columns is None:
            return {}
        name = 'name' if 'name' in columns else 'NULL::text'
        statements = 'statements' if 'statements' in columns else 'NULL::text[]'
        try:
            self.cursor.execute('SELECT version, %s, %s FROM supabase_migrations.schema_migrations'
                                % (name, statements))
        except psycopg2.Error as exc:
            raise PgModuleError('cannot read the migration history %s: %s; connect as a role that may read it '
                                '(on Supabase: postgres)' % (HISTORY, describe_db_error(exc)))
        return dict((row[0], (row[1], row[2])) for row in self.cursor.fetchall())

    def ensure_history(self):
        """Create or upgrade the history table with the CLI's statements when it is missing
        (or lacks a column); returns True when it ran them."""
        columns = self.history_columns()
        if columns is not None and {'version', 'statements', 'name'} <= columns:
            return False
        try:
            self.cursor.execute(';\n'.join(CREATE_HISTORY))
        except psycopg2.Error as exc:
            raise PgModuleError('cannot create the migration history table %s: %s; connect as a role that may '
                                'create it (on Supabase: postgres), or create it once with supabase db push'
                                % (HISTORY, describe_db_error(exc)), sqlstate=_pgcode(exc))
        return True

    def history_snapshot(self):
        """(table exists, schema exists) before ensure_history(), to undo it after a failed first file."""
        self.cursor.execute('SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s)',
                            (HISTORY_SCHEMA,))
        schema_exists = self.cursor.fetchone()[0]
        return self.history_columns() is not None, schema_exists

    def undo_history(self, snapshot):
        """Drop what ensure_history() created, when no file got applied: a failed run leaves no trace."""
        table_existed, schema_existed = snapshot
        if table_existed or not self.locked:
            # without the lock (a reconnection after a lost one) another run may be using the table
            return
        try:
            self.cursor.execute('DROP TABLE IF EXISTS supabase_migrations.schema_migrations')
            if not schema_existed:
                self.cursor.execute('DROP SCHEMA IF EXISTS supabase_migrations')
        except psycopg2.Error:  # e.g. another object in the schema: leave it, the error above is what matters
            pass

    def insert_sql(self, migration):
        return self.cursor.mogrify(INSERT_HISTORY, (migration.version, migration.name,
                                                    list(migration.statements))).decode('utf-8')

    def record_applied(self, migration):
        """``repair --status applied``: the history row, without running the file."""
        self.cursor.execute(INSERT_HISTORY, (migration.version, migration.name, list(migration.statements)))

    def delete_versions(self, versions):
        """``repair --status reverted``: delete the rows; returns the versions deleted."""
        self.cursor.execute(DELETE_HISTORY, (list(versions),))
        return sorted(row[0] for row in self.cursor.fetchall())

    # -- applying one file ---------------------------------------------------------------------
    def apply(self, migration):
        """Run one file and record it. Returns (duration, attempts); raises MigrationFailed."""
        started = time.time()
        if migration.no_transaction:
            self.apply_without_transaction(migration)
            return round(time.time() - started, 3), 1
        attempts = 0
        while True:
            attempts += 1
            stepwise = attempts > 1
            failure = self.run_stepwise(migration, commit=True) if stepwise else self.run_batch(migration)
            if failure is None:
                return round(time.time() - started, 3), attempts
            index, exc = failure
            if _pgcode(exc) == LOCK_NOT_AVAILABLE and attempts <= self.lock_retries:
                delay = min(2 ** (attempts - 1), 10)
                self.warn('%s: %s at statement %s; retrying the whole file in %d s (retry %d of %d)'
                          % (migration.filename, describe_db_error(exc), index or '?', delay, attempts,
                             self.lock_retries))
                self.sleep(delay)
                continue
            if index is None:
                index, exc = self.locate(migration, exc)
            raise self.failure(migration, index, exc, attempts)

    def run_batch(self, migration):
        """One round trip: RESET ALL, BEGIN, SET LOCAL ..., the statements, the history row, COMMIT.

        Returns None, or (1-based statement number or 'history' or None, exception)."""
        prefix = 'RESET ALL;\nBEGIN;\n' + self.settings_sql(local=True)
        parts = [prefix]
        starts = []
        offset = len(prefix)
        for statement in migration.statements:
            starts.append(offset)
            parts.append(statement)
            parts.append('\n;\n')
            offset += len(statement) + 3
        history_start = offset
        parts.append(self.insert_sql(migration))
        parts.append(';\nCOMMIT')
        try:
            self.cursor.execute(''.join(parts))
            return None
        except psycopg2.Error as exc:
            self.rollback()
            position = _position(exc)
            index = None
            if _about_history(exc):
                index = 'history'
            elif position is not None:
                where = position - 1
                if where >= history_start:
                    index = 'history'
                elif starts and where >= starts[0]:
                    index = bisect.bisect_right(starts, where)
            elif not migration.statements:
                index = 'history'
            return index, exc

    def run_stepwise(self, migration, commit):
        """One statement per round trip inside the file's transaction; commits (with the history
        row) only when ``commit``. Returns None, or (statement number or 'history', exception)."""
        try:
            self.cursor.execute('RESET ALL;\nBEGIN;\n' + self.settings_sql(local=True))
        except psycopg2.Error as exc:
            self.rollback()
            return None, exc
        for index, statement in enumerate(migration.statements, 1):
            try:
                _execute(self.cursor, statement)
            except psycopg2.Error as exc:
                self.rollback()
                return index, exc
        try:
            self.cursor.execute(self.insert_sql(migration))
            if commit:
                self.cursor.execute('COMMIT')
            else:
                self.rollback()
        except psycopg2.Error as exc:
            self.rollback()
            return 'history', exc
        return None

    def locate(self, migration, original):
        """Find the failing statement of an error without a position: replay the file one
        statement at a time in a transaction that is always rolled back."""
        if self.conn.closed:
            return None, original
        if len(migration.statements) == 1:
            return 1, original
        replay = self.run_stepwise(migration, commit=False)
        if replay is not None and _pgcode(replay[1]) == _pgcode(original):
            return replay[0], original
        return None, original

    def rollback(self):
        try:
            self.cursor.execute('ROLLBACK')
        except psycopg2.Error:
            pass

    def apply_without_transaction(self, migration):
        """``-- pourtrait:no-transaction``: each statement commits on its own, then the history row."""
        try:
            self.cursor.execute('RESET ALL;\n' + self.settings_sql(local=False))
        except psycopg2.Error as exc:
            raise self.failure(migration, None, exc, 1)
        done = 0
        for index, statement in enumerate(migration.statements, 1):
            try:
                _execute(self.cursor, statement)
            except psycopg2.Error as exc:
                raise self.failure(migration, index, exc, 1, applied_statements=done)
            done = index
        try:
            self.cursor.execute(self.insert_sql(migration))
        except psycopg2.Error as exc:
            raise self.failure(migration, 'history', exc, 1, applied_statements=done)

    def recover(self):
        """After a lost connection: a new one (holding the migration lock if it is free). False when none."""
        if self.reconnect is None:
            return False
        try:
            conn = self.reconnect()
        except PgModuleError:
            return False
        try:
            self.conn.close()
        except psycopg2.Error:
            pass
        self.conn = conn
        self.cursor = conn.cursor()
        self.locked = False
        try:
            self.cursor.execute('SELECT pg_try_advisory_lock(%s)', (ADVISORY_LOCK_KEY,))
            self.locked = bool(self.cursor.fetchone()[0])
        except psycopg2.Error:
            return False
        return True

    def recorded_after_loss(self, version):
        """Whether ``version`` is recorded, read on a new connection; None when that cannot be told."""
        if not self.recover():
            return None
        try:
            return version in self.read_history()
        except (PgModuleError, psycopg2.Error):
            return None

    def lost_outcome(self, migration, applied_statements):
        """(what became of a file whose connection was lost, whether it is recorded: True, False or None)."""
        recorded = self.recorded_after_loss(migration.version)
        rerun = 'run the same playbook again: it applies each pending file once'
        if recorded and migration.no_transaction:
            return ('yet it is recorded as applied (version %s): check the database before running again'
                    % migration.version, True)
        if recorded:
            return ('its transaction had committed: the whole file is applied and recorded (version %s); %s'
                    % (migration.version, rerun), True)
        if recorded is None:
            return ('whether it was applied is unknown (no new connection to check): check with state: list whether '
                    'version %s is recorded before running again' % migration.version, None)
        if migration.no_transaction and applied_statements:
            done = 'statement 1 stays' if applied_statements == 1 else 'statements 1-%d stay' % applied_statements
            return ('it runs without a transaction (pourtrait:no-transaction), so %s applied (and perhaps the one '
                    'that was running) and it is not recorded; check the database, finish or undo it by hand, then '
                    'run again' % done, False)
        return ('nothing from this file was applied (its transaction was rolled back; version %s is not recorded); '
                'find what ended the session (pg_terminate_backend, a server restart, a network or pooler timeout), '
                'then %s' % (migration.version, rerun), False)

    def failure(self, migration, index, exc, attempts, applied_statements=0):
        """The one-line error for a file that failed, with the result keys that go with it."""
        code = _pgcode(exc)
        reason = describe_db_error(exc)
        partial = migration.no_transaction and applied_statements > 0
        recorded = None
        if self.conn.closed or (code is None and isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError))):
            reason = 'the connection to PostgreSQL was lost (%s)' % one_line(exc)
            outcome, recorded = self.lost_outcome(migration, applied_statements)
        elif index == 'history' and migration.no_transaction:
            outcome = ('all its statements were applied (it runs without a transaction) but it is not recorded; '
                       'check the database, then record it with state: repair, repair_status: applied')
        elif partial:
            done = 'statement 1 stays' if applied_statements == 1 else 'statements 1-%d stay' % applied_statements
            outcome = ('it runs without a transaction (pourtrait:no-transaction), so %s applied and it is not '
                       'recorded; fix the cause (a failed CREATE INDEX CONCURRENTLY leaves an INVALID index to drop), '
                       'then restore or finish by hand and run again' % done)
        else:
            outcome = 'nothing from this file was applied'
            if attempts > 1:
                outcome += ' (tried %d times)' % attempts
        if index == 'history':
            if code == UNIQUE_VIOLATION:
                reason += '; another tool (supabase db push?) recorded version %s meanwhile' % migration.version
            message = '%s failed while recording it in %s: %s; %s' % (migration.filename, HISTORY, reason, outcome)
        elif index is None:
            message = '%s failed: %s; %s' % (migration.filename, reason, outcome)
        else:
            message = '%s statement %d failed: %s; %s' % (migration.filename, index, reason, outcome)
        return MigrationFailed(message, failed_file=migration.filename,
                               failed_statement=index if isinstance(index, int) else None,
                               sqlstate=code, partial=partial and recorded is not True, recorded=recorded)

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: supabase_migration
short_description: Apply, list and repair Supabase migrations like C(supabase db push), safely
version_added: 1.0.0
description:
  - Applies the files C(<migrations_dir>/<digits>_<name>.sql) that the database has not recorded yet, exactly as
    C(supabase db push) does, so a team can mix this module with the Supabase CLI on one database.
  - Same history table - C(supabase_migrations.schema_migrations (version text primary key, statements text[],
    name text)), created when missing with the CLI's statements (C(SET lock_timeout = '4s'),
    C(CREATE SCHEMA IF NOT EXISTS supabase_migrations), ...). Each applied file gets the row the CLI writes -
    its version, its name, and its statements as the CLI stores them.
  - Same splitting - statements end at C(;) outside quotes, dollar quotes, comments, parentheses and
    C(BEGIN ATOMIC ... END); each is stored without its trailing C(;) and surrounding white space, comments kept.
  - Same order and rules - files in file-name order; names that do not match C(<digits>_<name>.sql) are
    skipped with a warning; every file runs after C(RESET ALL) in one transaction together with the insert of
    its history row, so a file is applied completely or not at all.
  - Same refusals - a version recorded in the database without a local file stops the run (C(Remote migration
    versions not found in local migrations directory)), and so do local files older than the newest recorded
    version (out of order) unless O(include_all=true). Two files with one version are an error naming both.
  - Beyond the CLI - runs take a session advisory lock (C(pg_try_advisory_lock), polled for up to
    O(lock_wait_timeout) seconds), so two runs at once never apply a file twice; each file's transaction
    sets O(lock_timeout) and O(statement_timeout) with C(SET LOCAL) (after C(RESET ALL)), which also works
    through a transaction pooler; a file that failed only because a lock was not available
    (SQLSTATE 55P03) is retried as a whole, up to O(lock_retries) times (safe - its transaction rolled back);
    a warning names applied files that were edited afterwards (their statements differ from the recorded ones).
  - A file whose first line is the comment C(-- pourtrait:no-transaction) runs without a transaction, so
    C(CREATE INDEX CONCURRENTLY) works - each statement commits on its own, then its history row is written.
    If a statement fails, the statements before it stay applied, the file is not recorded, and the failure
    says so with C(partial=true) (a role can then offer a restore). A failed C(CREATE INDEX CONCURRENTLY)
    leaves an INVALID index behind - write such files as C(DROP INDEX CONCURRENTLY IF EXISTS ...) followed by
    C(CREATE INDEX CONCURRENTLY ...) so that they can run again. The Supabase CLI runs such a file in a
    transaction, where C(CREATE INDEX CONCURRENTLY) fails - push it with this module.
  - A failure names the file, the statement (1-based) and the SQLSTATE, for example
    C(20260101120000_add_index.sql statement 3 failed - relation "winez" does not exist (SQLSTATE 42P01);
    nothing from this file was applied). Files applied before it stay applied and are listed in C(applied).
  - O(state=list) compares local files with the history, like C(supabase migration list), and changes nothing.
    O(state=repair) edits the history like C(supabase migration repair) - O(repair_status=applied) records
    O(versions) (from their files) without running any SQL, O(repair_status=reverted) deletes their rows.
  - In check mode nothing is executed, no lock is taken and the history table is not created - the history is
    read and the result says what would run (C(pending)).
  - The module runs where the migration files are (usually C(delegate_to) localhost) and connects to the database
    from there.
options:
  migrations_dir:
    description:
      - Directory holding the migration files (the project's C(supabase/migrations)).
      - A relative path starts from the module's working directory; an absolute path (for example
        C({{ playbook_dir }}/../supabase/migrations)) is safer.
      - A missing directory is an error; so is one without migration files, except with
        O(state=repair) and O(repair_status=reverted).
    type: path
    default: supabase/migrations
  state:
    description:
      - V(applied) applies the pending files (C(supabase db push)).
      - V(list) reports local and recorded versions (C(supabase migration list)); it never fails on remote-only or
        out-of-order versions, it reports them.
      - V(repair) changes only the history table (C(supabase migration repair)), see O(repair_status).
    type: str
    choices: [applied, list, repair]
    default: applied
  repair_status:
    description:
      - With O(state=repair) (required there). V(applied) inserts the history rows of O(versions) - version, name and
        statements read from their local files - without running any SQL; versions already recorded are left as
        they are. V(reverted) deletes the history rows of O(versions) (the schema is not touched).
    type: str
    choices: [applied, reverted]
  versions:
    description:
      - With O(state=repair) (required there), the versions to repair, digits only, such as C(20240101120000).
    type: list
    elements: str
  include_all:
    description:
      - Also apply local files older than the newest recorded version (C(--include-all)). Without it such files stop
        the run.
    type: bool
    default: false
  lock_timeout:
    description:
      - How long a statement may wait for a lock before it fails with SQLSTATE 55P03, set with C(SET LOCAL) in each
        file's transaction (PostgreSQL duration such as C(5s) or C(500ms); C(0) waits forever).
      - A short wait with retries (see O(lock_retries)) keeps a migration from queueing the application's queries
        behind it.
    type: str
    default: 5s
  statement_timeout:
    description:
      - How long a statement may run before it is cancelled, set with C(SET LOCAL) in each file's transaction
        (PostgreSQL duration such as C(30min); C(0) for no limit).
    type: str
    default: 30min
  lock_retries:
    description:
      - How many times a file that failed only because a lock was not available (SQLSTATE 55P03, see
        O(lock_timeout)) is run again, after 1, 2, 4, ... seconds (at most 10). Its transaction rolled back, so a
        retry is safe. Files marked C(pourtrait:no-transaction) are never retried.
    type: int
    default: 3
  lock_wait_timeout:
    description:
      - Seconds to wait for another run's migration lock (a session advisory lock) before failing with an error
        that says another run holds it. C(0) tries once.
    type: int
    default: 60
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.postgres]
attributes:
  check_mode:
    details: Reads the history and returns what would run in C(pending); executes nothing, takes no lock and does
      not create the history table.
  diff_mode:
    support: full
    details: C(before) and C(after) are the versions recorded in the history table.
notes:
  - A failed file leaves no trace but its error - its transaction is rolled back, and when it was the first file of a
    database without migration history, the history table (and schema) this run created for it is dropped again.
  - Use a session connection (Supabase's direct connection or session pooler, port 5432). The transaction pooler
    (port 6543) cannot keep the session advisory lock, and files marked C(pourtrait:no-transaction) set their
    timeouts for the session; the module warns when the port is 6543.
  - Connect as the role that owns the schema (on Supabase C(postgres)); creating the history table needs the
    right to create schemas in the database.
  - Statements are split with the CLI's rules, which have its quirks - a backslash-escaped quote in an
    C(E'...') string, or the letters C(end) at the end of a word inside C(BEGIN ATOMIC), cut a statement early.
    The CLI fails on such files; write C('') for a quote instead.
  - A file is sent in one round trip. When PostgreSQL reports an error without a position (a constraint
    violation, a lock timeout), the file is run once more statement by statement inside a transaction that is
    always rolled back, to name the failing statement.
  - A C(COMMIT) (or C(BEGIN)) inside a file ends its transaction early, as it does with the CLI; the module warns.
  - The advisory lock key is C(8031451354945907060) (C(pg_try_advisory_lock(bigint))); other tools may take it to
    keep out of a migration's way.
seealso:
  - name: Supabase CLI - supabase db push
    description: The command this module is compatible with.
    link: https://supabase.com/docs/reference/cli/supabase-db-push
author: Pourtrait engineering (@pourtrait)
'''

EXAMPLES = r'''
- name: Apply pending migrations from the checkout
  pourtrait.ops.supabase_migration:
    migrations_dir: "{{ playbook_dir }}/../supabase/migrations"
    database_url: "{{ lookup('env', 'DATABASE_URL') }}"
  delegate_to: localhost
  register: migrated

- name: Show what would run, and the history before and after
  pourtrait.ops.supabase_migration:
    migrations_dir: supabase/migrations
  check_mode: true
  diff: true

- name: Compare local files with the database (supabase migration list)
  pourtrait.ops.supabase_migration:
    state: list
  register: migrations

- name: Apply a file older than the newest recorded version (supabase db push --include-all)
  pourtrait.ops.supabase_migration:
    include_all: true

- name: Forget versions that were applied from a branch that no longer exists
  pourtrait.ops.supabase_migration:
    state: repair
    repair_status: reverted
    versions: ['20240105093000']

- name: Record a migration that was applied by hand, without running it
  pourtrait.ops.supabase_migration:
    state: repair
    repair_status: applied
    versions: ['20240106110000']

- name: Busy tables - wait at most 2s for each lock, retry a file 5 times
  pourtrait.ops.supabase_migration:
    lock_timeout: 2s
    lock_retries: 5
    statement_timeout: 1h
'''

RETURN = r'''
applied:
  description: The files applied by this run, in order (empty in check mode). On failure, the ones applied before it.
  returned: always
  type: list
  elements: dict
  contains:
    version:
      description: The version (digits before the first C(_)).
      type: str
    name:
      description: The name part of the file name, as recorded in the history.
      type: str
    file:
      description: The file name.
      type: str
    duration:
      description: Seconds the file took, retries included.
      type: float
    statements:
      description: Number of statements in the file.
      type: int
    attempts:
      description: How many times the file ran (more than 1 after lock retries).
      type: int
    no_transaction:
      description: Whether the file ran without a transaction (C(-- pourtrait:no-transaction)).
      type: bool
  sample:
    - {version: '20260101120000', name: add_index, file: 20260101120000_add_index.sql, duration: 0.012,
       statements: 3, attempts: 1, no_transaction: false}
pending:
  description: Local versions not recorded in the history when the run started, in file order - what this run
    applies (or, in check mode, would apply).
  returned: always
  type: list
  elements: str
  sample: ['20260101120000']
local:
  description: Versions of the local migration files, in file order.
  returned: always
  type: list
  elements: str
remote:
  description: Versions recorded in the history table when the run started, sorted.
  returned: always
  type: list
  elements: str
remote_only:
  description: Recorded versions without a local file (the run refuses to apply while there are any).
  returned: always
  type: list
  elements: str
out_of_order:
  description: Pending versions older than the newest recorded version (applied only with O(include_all)).
  returned: always
  type: list
  elements: str
edited:
  description: Recorded versions whose local file now splits into other statements than the recorded ones
    (edited after it was applied; the edit never runs). Each also gives a warning.
  returned: always
  type: list
  elements: str
skipped_files:
  description: Entries of O(migrations_dir) that are not migrations (each also gives a warning).
  returned: always
  type: list
  elements: str
  sample: [README.md, add_users.sql]
migrations:
  description: With O(state=list), every version with where it is, in version order (the CLI's table).
  returned: when state is list
  type: list
  elements: dict
  contains:
    version:
      description: The version.
      type: str
    name:
      description: The local file's name part, else the recorded name.
      type: str
    file:
      description: The local file name, or null when it exists only in the history.
      type: str
    local:
      description: Whether a local file has this version.
      type: bool
    remote:
      description: Whether the history records this version.
      type: bool
repaired:
  description: With O(state=repair), the versions whose history row was inserted (or, in check mode, would be) or
    deleted.
  returned: when state is repair
  type: list
  elements: str
partial:
  description: True only when a file marked C(pourtrait:no-transaction) failed after some of its statements were
    applied (they stay applied); see C(failed_statement).
  returned: always
  type: bool
failed_file:
  description: The file that failed.
  returned: on failure of a file
  type: str
failed_statement:
  description: 1-based number of the statement that failed (null when it failed while writing the history row).
  returned: on failure of a file
  type: int
sqlstate:
  description: The SQLSTATE of the error.
  returned: on failure of a file
  type: str
  sample: 42P01
diff:
  description: With C(--diff), the recorded versions before and after the run (after as it would be, in check mode).
  returned: when diff mode is on
  type: dict
  sample: {before: ['20240101000000'], after: ['20240101000000', '20260101120000']}
'''

import os
import re
import time

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError, PostgresModule, connect,
)
from ansible_collections.pourtrait.ops.plugins.module_utils._module import check_range
from ansible_collections.pourtrait.ops.plugins.module_utils.migration_files import (
    MSG_OUT_OF_ORDER, MSG_REMOTE_ONLY, compare, scan_directory,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.migrations import HISTORY, Engine, MigrationFailed

VERSION = re.compile(r'[0-9]+')
TRANSACTION_POOLER_PORT = '6543'


class SupabaseMigration(PostgresModule):
    name = 'supabase_migration'
    argument_spec = dict(
        migrations_dir=dict(type='path', default='supabase/migrations'),
        state=dict(type='str', default='applied', choices=['applied', 'list', 'repair']),
        repair_status=dict(type='str', choices=['applied', 'reverted']),
        versions=dict(type='list', elements='str'),
        include_all=dict(type='bool', default=False),
        lock_timeout=dict(type='str', default='5s'),
        statement_timeout=dict(type='str', default='30min'),
        lock_retries=dict(type='int', default=3),
        lock_wait_timeout=dict(type='int', default=60),
    )
    module_kwargs = dict(required_if=[('state', 'repair', ['repair_status', 'versions'])])

    def validate(self):
        params = self.params
        if params['state'] != 'repair' and (params['repair_status'] or params['versions']):
            raise PgModuleError('repair_status and versions go with state: repair only; set state: repair or drop them')
        if params['state'] == 'repair':
            versions = [str(v).strip() for v in params['versions']]
            if not versions:
                raise PgModuleError('versions is empty; list the versions to repair, such as [20240101120000]')
            bad = [v for v in versions if not VERSION.fullmatch(v)]
            if bad:
                raise PgModuleError('versions must be digits, such as 20240101120000 (the part of the file name '
                                    'before the first _); got %s' % ', '.join(repr(v) for v in bad))
            params['versions'] = list(dict.fromkeys(versions))
        check_range('lock_retries', params['lock_retries'], minimum=0, use='0 (no retry) or more')
        check_range('lock_wait_timeout', params['lock_wait_timeout'], minimum=0, use='0 (try once) or more seconds')
        for name in ('lock_timeout', 'statement_timeout'):
            if not str(params[name]).strip():
                raise PgModuleError('%s is empty; use a PostgreSQL duration such as 5s or 30min' % name)

    def load_files(self):
        params = self.params
        directory = params['migrations_dir']
        reverting = params['state'] == 'repair' and params['repair_status'] == 'reverted'
        if reverting and not os.path.isdir(directory):
            return [], []
        files, skipped = scan_directory(directory)
        for _entry, reason in skipped:
            self.warn(reason)
        if not files and not reverting:
            raise PgModuleError('no migration files in %s (%d other entries skipped); migrations are named '
                                '<digits>_<name>.sql, such as 20240101120000_create_wines.sql - check migrations_dir'
                                % (directory, len(skipped)))
        for migration in files:
            migration.load()
        return files, [entry for entry, _reason in skipped]

    def run(self):
        self.validate()
        params = self.params
        files, skipped = self.load_files()
        if str(self.conn_params.get('port')) == TRANSACTION_POOLER_PORT:
            self.warn('port 6543 is Supabase\'s transaction pooler: it cannot keep the session advisory lock '
                      'that keeps two runs apart; connect to port 5432 (direct connection or session pooler)')

        # client_encoding in the start-up packet, so that RESET ALL before each file keeps it.
        def open_connection():
            return connect(dict(self.conn_params, client_encoding='UTF8'), autocommit=True,
                           application_name='pourtrait.ops/%s' % self.name)

        conn = open_connection()
        engine = None
        try:
            engine = Engine(conn, params['lock_timeout'], params['statement_timeout'], params['lock_retries'],
                            warn=self.warn, reconnect=open_connection)
            engine.validate_settings()
            if params['state'] != 'list' and not self.check_mode:
                engine.acquire_lock(params['lock_wait_timeout'])
            history = engine.read_history()
            result = self.compare(files, skipped, history)
            if params['state'] == 'list':
                return self.listing(files, history, result)
            if params['state'] == 'repair':
                return self.repair(engine, files, history, result)
            return self.apply(engine, files, result)
        finally:
            if engine is not None:
                engine.release_lock()
                conn = engine.conn  # a new one after a lost connection
            conn.close()

    def compare(self, files, skipped, history):
        local = [f.version for f in files]
        remote = sorted(history)
        pending, remote_only, out_of_order = compare(local, remote)
        edited = []
        for migration in files:
            recorded = history.get(migration.version)
            if recorded is None or recorded[1] is None:
                continue
            if list(recorded[1]) != migration.statements:
                edited.append(migration.version)
                self.warn('%s was edited after it was applied: its statements differ from those recorded in %s '
                          '(%d now, %d recorded); applied files never run again - put the change in a new '
                          'migration, or restore the file' % (migration.filename, HISTORY,
                                                              len(migration.statements), len(recorded[1])))
        return dict(changed=False, local=local, remote=remote, pending=pending, remote_only=remote_only,
                    out_of_order=out_of_order, edited=edited, skipped_files=skipped, applied=[], partial=False)

    def with_diff(self, result, before, after):
        self.diff(sorted(before), sorted(after))
        return result

    def listing(self, files, history, result):
        by_version = dict((f.version, f) for f in files)
        rows = []
        for version in sorted(set(by_version) | set(history)):
            migration = by_version.get(version)
            rows.append(dict(version=version,
                             name=migration.name if migration else (history[version][0] or ''),
                             file=migration.filename if migration else None,
                             local=migration is not None, remote=version in history))
        result['migrations'] = rows
        return self.with_diff(result, result['remote'], result['remote'])

    def repair(self, engine, files, history, result):
        params = self.params
        versions = params['versions']
        by_version = dict((f.version, f) for f in files)
        before = list(result['remote'])
        if params['repair_status'] == 'applied':
            missing = [v for v in versions if v not in by_version]
            if missing:
                raise PgModuleError('no migration file for version%s %s in %s; repair_status: applied records a file\'s '
                                    'statements, so the file must be there (or use repair_status: reverted)'
                                    % ('s' if len(missing) > 1 else '', ', '.join(missing), params['migrations_dir']))
            todo = [by_version[v] for v in versions if v not in history]
            repaired = [m.version for m in todo]
            if todo and not self.check_mode:
                engine.ensure_history()
                engine.cursor.execute('BEGIN')
                try:
                    for migration in todo:
                        engine.record_applied(migration)
                    engine.cursor.execute('COMMIT')
                except Exception:
                    engine.rollback()
                    raise
            after = before + repaired
        else:
            repaired = [v for v in versions if v in history]
            if repaired and not self.check_mode:
                repaired = engine.delete_versions(repaired)
            after = [v for v in before if v not in repaired]
        result.update(changed=bool(repaired), repaired=sorted(repaired))
        return self.with_diff(result, before, after)

    def apply(self, engine, files, result):
        params = self.params
        if result['remote_only']:
            versions = result['remote_only']
            raise PgModuleError(
                '%s: %s. Make sure the local checkout is up to date; then either mark them reverted (state: repair, '
                'repair_status: reverted, versions: [%s] - like supabase migration repair --status reverted %s) or '
                'pull the missing files (supabase db pull)'
                % (MSG_REMOTE_ONLY, ', '.join(versions), ', '.join(versions), ' '.join(versions)),
                **self.extras(result))
        by_version = dict((f.version, f) for f in files)
        if result['out_of_order'] and not params['include_all']:
            newest = result['remote'][-1]
            raise PgModuleError(
                '%s: %s (older than the newest recorded version %s). Rerun with include_all: true to apply them '
                '(like supabase db push --include-all), or rename them to a version after %s'
                % (MSG_OUT_OF_ORDER, ', '.join(os.path.join(params['migrations_dir'], by_version[v].filename)
                                               for v in result['out_of_order']), newest, newest),
                **self.extras(result))
        todo = [by_version[v] for v in result['pending']]
        for migration in todo:
            if migration.no_transaction:
                continue
            control = migration.transaction_control()
            if control:
                self.warn('%s statement %s begins or ends a transaction itself; the file already runs as one '
                          'transaction, and a COMMIT inside it makes earlier statements permanent even if a '
                          'later one fails' % (migration.filename, ', '.join(str(i) for i in control)))
        before = list(result['remote'])
        if self.check_mode or not todo:
            result['changed'] = bool(todo)
            return self.with_diff(result, before, before + [m.version for m in todo])
        history_before = engine.history_snapshot()
        engine.ensure_history()
        for migration in todo:
            started = time.time()
            try:
                duration, attempts = engine.apply(migration)
            except MigrationFailed as exc:
                partial = exc.extra.get('partial', False)
                if exc.extra.pop('recorded', None) and not migration.no_transaction:
                    # the connection went after the file's COMMIT: it is applied whole, and this run did it
                    result['applied'].append(dict(version=migration.version, name=migration.name,
                                                  file=migration.filename, duration=round(time.time() - started, 3),
                                                  statements=len(migration.statements), attempts=1,
                                                  no_transaction=False))
                if not result['applied'] and not partial:
                    engine.undo_history(history_before)
                exc.extra.update(self.extras(result))
                exc.extra['partial'] = partial
                raise
            result['applied'].append(dict(version=migration.version, name=migration.name, file=migration.filename,
                                          duration=duration, statements=len(migration.statements), attempts=attempts,
                                          no_transaction=migration.no_transaction))
        result['changed'] = True
        return self.with_diff(result, before, before + [m['version'] for m in result['applied']])

    @staticmethod
    def extras(result):
        keys = ('local', 'remote', 'pending', 'remote_only', 'out_of_order', 'edited', 'skipped_files', 'applied',
                'partial')
        extra = dict((k, result[k]) for k in keys)
        extra['changed'] = bool(result['applied'])
        return extra


def main():
    SupabaseMigration.main()


if __name__ == '__main__':
    main()

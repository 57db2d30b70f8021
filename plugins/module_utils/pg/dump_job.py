# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dump as a job with named steps (``DumpJob.run``):

validate -> find_programs -> read_database -> plan -> (check mode: check_mode_result) ->
snapshot -> run_pg_dump -> checksum -> verify -> describe -> place -> write_manifest -> prune -> result

A dump is written under a temporary name next to its final place, hashed while it streams
(custom and plain formats) or file by file (directory format), verified, and only then renamed;
its manifest records what was dumped and the checksums a restore checks first. Nothing is left
behind when a step fails, and a dump whose own database session was lost says so in one line.

Other dumps subclass it (``pg/supabase_dump.py``): ``program`` (``pg_dump`` or ``pg_dumpall``),
``argv()`` (a whole argument list, output to stdout; set ``custom_argv``), ``stream_edit()`` (a
``StreamEdit`` rewriting plain SQL on its way to the file; the hash covers what is written),
``kind`` (recorded in the manifest; pruning only counts dumps of the same kind), ``name_tag``
(default names become ``<dbname>-<tag>-<time>``), ``manifest_extra()`` and ``scan_insert``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError,
    connect,
    describe_db_error,
    one_line,
    psycopg2,
    resolve_tables,
    split_qualified,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.checksums import (
    CHECKSUM_SESSION_SETTINGS,
    TABLE_CHECKSUM_METHOD,
    count_rows,
    database_size,
    dumped_tables,
    record_table_checksums,
    row_estimates,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.compress import choose_compressor, dump_to_directory
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.files import (
    PartialClaim,
    discard_leftovers,
    ensure_backup_dir,
    fsync_path,
    place_no_clobber,
    remove_path,
    temp_name,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.formats import (
    default_name,
    dump_filename,
    list_toc,
    next_free_path,
    utcnow,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.job import Job
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.manifest import (
    MANIFEST_VERSION,
    TIME_FORMAT,
    manifest_path_for,
    write_manifest,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.programs import (
    build_dump_argv,
    client_env,
    default_jobs,
    describe_client,
    find_client,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.prune import apply_prune, plan_prune
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.stream import PLAIN_TRAILER, stream_to_file
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.verify import (
    database_is_empty,
    list_toc_quiet,
    scratch_restore_check,
)


def dump_argument_spec(**options):
    """The options of every dump module (backup_dir, name, keep, max_age_days, bin_dir), and ``options``."""
    return dict(backup_dir=dict(type='path', required=True), name=dict(type='str'), keep=dict(type='int'),
                max_age_days=dict(type='int'), bin_dir=dict(type='path'), **options)


def validate_dump_options(opts):
    if opts.get('schema_only') and opts.get('data_only'):
        raise PgModuleError('schema_only and data_only are mutually exclusive; set at most one')
    compression = opts.get('compression')
    if compression is not None and not 0 <= compression <= 9:
        raise PgModuleError('compression must be between 0 and 9, got %s' % compression)
    if opts.get('jobs') is not None and opts['jobs'] < 1:
        raise PgModuleError('jobs must be 1 or more, got %s' % opts['jobs'])
    if opts.get('keep') is not None and opts['keep'] < 1:
        raise PgModuleError('keep must be 1 or more (the dump just taken counts), got %s' % opts['keep'])
    if opts.get('max_age_days') is not None and opts['max_age_days'] < 0:
        raise PgModuleError('max_age_days must be 0 or more, got %s' % opts['max_age_days'])
    if opts.get('verify') == 'restore' and opts.get('data_only'):
        raise PgModuleError('verify=restore needs the schema in the dump; use verify=toc with data_only')
    if opts.get('table_checksums') and opts.get('schema_only'):
        raise PgModuleError('table_checksums needs the data in the dump; drop schema_only or set table_checksums=false')
    name = opts.get('name')
    if name is not None and (not name or '/' in name or name.startswith('.')):
        raise PgModuleError('name "%s" must be a plain file name (no "/", not starting with "."); '
                            'put the directory in backup_dir' % name)


def check_schemas(conn, schemas):
    """Fail in one line naming the schemas of ``schemas`` that do not exist."""
    missing = []
    with conn.cursor() as cur:
        for schema in schemas:
            cur.execute('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s', (schema,))
            if cur.fetchone() is None:
                missing.append(schema)
    if missing:
        raise PgModuleError('schema %s does not exist in database "%s"; check schemas'
                            % (', '.join('"%s"' % m for m in missing), conn.get_dsn_parameters().get('dbname')))


def lost_session_error(conn, exc):
    """The one-line error for a dump whose own database session was cut (its snapshot gone with it), or None
    when ``exc`` is another failure."""
    text = str(exc)
    if not conn.closed and 'invalid snapshot identifier' not in text:
        return None
    reason = describe_db_error(exc) if isinstance(exc, psycopg2.Error) else one_line(text)
    return PgModuleError('the database session of the dump was lost (%s); nothing was written and the database '
                         'is unchanged: run the backup again' % reason)


class DumpJob(Job):
    """Dump, verify, write the manifest, prune; see postgres_dump for the options in ``opts``.

    With ``opts['table_checksums']`` the dump runs in an exported snapshot and, in that same snapshot,
    the row count and checksum of every dumped table is recorded in the manifest (``table_checksums``,
    ``table_checksum_method``), for postgres_compare to check a restore against the moment of the dump.

    ``run()`` returns the module result."""

    program = 'pg_dump'
    kind = None
    name_tag = None
    scan_insert = False
    custom_argv = False  # argv() builds the whole argument list itself (plain format, no snapshot)
    extra_args = ()  # more pg_dump arguments

    def __init__(self, conn_params, opts, check_mode=False, application_name='pourtrait.ops'):
        super(DumpJob, self).__init__(conn_params, opts, check_mode=check_mode, application_name=application_name)
        self.conn = self.edit = self.snapshot_id = self.plain_digest = self.files = None
        self.checksum_extra, self.manifest, self.removed, self.discarded = {}, {}, [], []

    # -- the hooks of other dumps ------------------------------------------------------------------

    def stream_edit(self):
        """A StreamEdit rewriting the plain output on its way to the file, or None."""
        return None

    def manifest_extra(self):
        """More manifest keys."""
        return {}

    def argv(self, snapshot=None):
        """The dump program's argument list."""
        output = self.tmp_path if self.fmt == 'directory' else None
        return build_dump_argv(self.pg_dump, self.fmt, output=output, snapshot=snapshot, **self.argv_kwargs)

    # -- the steps ---------------------------------------------------------------------------------

    def run(self):
        self.validate()
        self.conn = connect(self.conn_params, application_name=self.application_name)
        try:
            self.find_programs()
            self.read_database()
            self.plan()
            if self.check_mode:
                return self.check_mode_result()
            self.dump()
            self.prune()
        finally:
            self.conn.close()
        return self.result()

    def dump(self):
        """The steps that write: a failure leaves nothing behind."""
        ensure_backup_dir(self.backup_dir)
        self.discarded = discard_leftovers(self.backup_dir)
        claim = PartialClaim(self.tmp_path)
        try:
            self.snapshot()
            self.run_pg_dump()
            try:
                self.checksum()
                self.verify()
                self.describe()
                self.place()
            except BaseException:
                remove_path(self.tmp_path)
                raise
            self.write_manifest()
        except (PgModuleError, psycopg2.Error) as exc:
            lost = lost_session_error(self.conn, exc)
            if lost is None:
                raise
            raise lost
        finally:
            claim.release()

    def validate(self):
        """The options, before anything is run."""
        opts = self.opts
        validate_dump_options(opts)
        self.fmt = opts.get('format') or 'directory'
        self.edit = self.stream_edit()
        if (self.custom_argv or self.edit is not None) and self.fmt != 'plain':
            raise PgModuleError('a custom argument list or stream edit needs the plain format, not %s' % self.fmt)
        self.with_checksums = bool(opts.get('table_checksums'))
        if self.with_checksums and self.custom_argv:
            raise PgModuleError('table_checksums needs pg_dump run in an exported snapshot, not a custom argument list')
        self.jobs = opts.get('jobs') or default_jobs()
        self.compression = 1 if opts.get('compression') is None else opts['compression']
        self.compressor = choose_compressor(self.fmt, self.compression, opts.get('compressor'))
        self.verify_method = opts.get('verify') or 'toc'
        self.backup_dir = os.path.abspath(opts['backup_dir'])

    def find_programs(self):
        """The clients: bin_dir's, else a pg_dump at least as new as the server (the server's own major when
        there is one, else the newest) and the pg_restore / psql that read what it writes (``self.clients``)."""
        bin_dir = self.opts.get('bin_dir')
        number = getattr(self.conn, 'server_version', 0) or 0  # 170010 for 17.10
        major = number // 10000 if number >= 100000 else None
        dump = find_client(self.program, bin_dir, minimum=major and str(major), prefer_major=major,
                           reason='the server (%s.%s)' % (major, number % 10000) if major else None)
        self.pg_dump, restore, psql = dump['path'], None, None
        if self.fmt != 'plain':
            try:
                restore = find_client('pg_restore', bin_dir, minimum=str(dump['major']), prefer_major=dump['major'],
                                      reason='the archives of %s %s' % (self.program, dump['version']))
            except PgModuleError:
                if self.verify_method != 'none':
                    raise
        if self.fmt == 'plain' and self.verify_method == 'restore':
            psql = find_client('psql', bin_dir, minimum=str(dump['major']), prefer_major=dump['major'],
                               reason='the SQL of %s %s' % (self.program, dump['version']))
        self.pg_restore = restore and restore['path']
        self.psql = psql and psql['path']
        self.clients = {self.program: describe_client(dump)}
        self.clients.update((name, describe_client(c)) for name, c in (('pg_restore', restore), ('psql', psql)) if c)
        self.pg_dump_version = dump['version']

    def read_database(self):
        """The database's name and version; the tables and schemas named in the options must exist."""
        conn, opts = self.conn, self.opts
        self.dbname = conn.get_dsn_parameters().get('dbname')
        with conn.cursor() as cur:
            cur.execute('SHOW server_version')
            self.server_version = cur.fetchone()[0]
            self.tables = []
            if opts.get('tables'):
                self.tables = resolve_tables(cur, opts['tables'])
        if opts.get('schemas'):
            check_schemas(conn, opts['schemas'])
        self.exclude_tables = [split_qualified(t) for t in opts.get('exclude_tables') or ()]
        conn.rollback()

    def plan(self):
        """The dump's final and temporary names and pg_dump's arguments."""
        opts = self.opts
        self.now = utcnow()
        base = '%s-%s' % (self.dbname, self.name_tag) if self.name_tag else self.dbname
        name = opts.get('name') or default_name(base, self.now)
        self.final_path = os.path.join(self.backup_dir, dump_filename(name, self.fmt))
        self.mpath = manifest_path_for(self.final_path)
        self.auto_name = not opts.get('name')
        if os.path.lexists(self.final_path) or os.path.lexists(self.mpath):
            if not self.auto_name:
                raise PgModuleError('%s already exists; choose another name or remove the old dump' % self.final_path)
            # Two runs in the same second: the later one takes the next free name.
            self.final_path = next_free_path(self.final_path, self.fmt)
            self.mpath = manifest_path_for(self.final_path)
        if os.path.exists(self.backup_dir) and not os.path.isdir(self.backup_dir):
            raise PgModuleError('backup_dir %s exists and is not a directory; point backup_dir at a directory'
                                % self.backup_dir)
        self.tmp_path = temp_name(self.final_path)
        isal = self.compressor == 'isal'
        # With compressor=isal pg_dump writes the data files uncompressed (and reports each one done), and leaves
        # syncing to the module: it fsyncs each compressed file and the directory itself, while pg_dump's own sync
        # at exit would write out the uncompressed files still being compressed (then deleted).
        self.argv_kwargs = dict(jobs=self.jobs, compression=0 if isal else self.compression,
                                schema_only=opts.get('schema_only'), data_only=opts.get('data_only'),
                                schemas=opts.get('schemas'), exclude_schemas=opts.get('exclude_schemas'),
                                tables=self.tables, exclude_tables=self.exclude_tables,
                                extra=tuple(self.extra_args) + (('--verbose', '--no-sync') if isal else ()))

    def check_mode_result(self):
        if os.path.isdir(self.backup_dir) and not os.access(self.backup_dir, os.W_OK | os.X_OK):
            raise PgModuleError('backup_dir %s is not writable; fix its permissions or choose another directory'
                                % self.backup_dir)
        prune = plan_prune(self.backup_dir, self.dbname, self.opts.get('keep'), self.opts.get('max_age_days'),
                           now=self.now, pending=1, kind=self.kind)
        self.command = self.argv()
        return dict(changed=True, path=self.final_path, manifest_path=self.mpath, format=self.fmt,
                    compressor=self.compressor or 'none', size=None, duration=0.0, sha256=None,
                    verification=dict(method=self.verify_method, ok=None, details='check mode: not run'),
                    removed=[p['path'] for p in prune],
                    discarded=discard_leftovers(self.backup_dir, check_mode=True), manifest={}, command=self.command,
                    clients=self.clients)

    def snapshot(self):
        """One exported snapshot for pg_dump, the table checksums and the row counts of verify=restore; this
        transaction stays open (and the snapshot valid) until they are all read."""
        if self.verify_method == 'restore' or self.with_checksums:
            self.conn.set_session(isolation_level='REPEATABLE READ', readonly=True)
            with self.conn.cursor() as cur:
                cur.execute('SELECT pg_catalog.pg_export_snapshot()')
                self.snapshot_id = cur.fetchone()[0]

    def run_pg_dump(self):
        """Run the dump program into the temporary name, hashing while it writes."""
        self.command = self.argv(self.snapshot_id)
        self.env = client_env(self.conn_params, dbname=self.dbname, application_name=self.application_name)
        dump_started = time.time()
        if self.fmt == 'directory':
            self.files, self.sha256, self.size = dump_to_directory(
                self.command, self.env, self.tmp_path, self.jobs, compressor=self.compressor, level=self.compression)
        else:
            self.plain_digest = stream_to_file(self.command, self.env, self.tmp_path, scan_copy=(self.fmt == 'plain'),
                                               edit=self.edit, scan_insert=self.scan_insert)
            self.sha256, self.size = self.plain_digest.hexdigest(), self.plain_digest.size
        self.dump_seconds = time.time() - dump_started

    def checksum(self):
        """With table_checksums: the row count and checksum of every dumped table, in the dump's snapshot."""
        if not self.with_checksums:
            return
        started = time.time()
        opts = self.opts
        tables = dumped_tables(self.conn, tables=self.tables, schemas=opts.get('schemas'),
                               exclude_schemas=opts.get('exclude_schemas'), exclude_tables=self.exclude_tables)
        self.checksum_extra = dict(
            table_checksums=record_table_checksums(self.conn_params, self.conn, self.snapshot_id, tables, self.jobs,
                                                   self.application_name),
            table_checksum_method=TABLE_CHECKSUM_METHOD,
            table_checksum_settings=dict(CHECKSUM_SESSION_SETTINGS),
            checksum_seconds=round(time.time() - started, 3),
            database_size=database_size(self.conn))

    def verify(self):
        """The dump, still under its temporary name: its table of contents (custom, directory) or trailer (plain),
        or with verify=restore a scratch restore whose row counts must equal the source's in the dump's
        snapshot. Notes the tables with data."""
        method = self.verify_method
        if self.fmt == 'plain':
            self.data_tables = list(self.plain_digest.copy_tables)
            complete = self.edit.complete if self.edit is not None else PLAIN_TRAILER in self.plain_digest.tail
            if not complete:
                raise PgModuleError('the plain dump has no "dump complete" trailer; pg_dump output was cut short, '
                                    'the dump was discarded')
            self.verification = dict(method='toc', ok=True, details=dict(trailer=True, tables=len(self.data_tables)))
            if method == 'none':
                self.verification = dict(method='none', ok=None, details='not verified')
        elif method == 'none':
            self.verification = dict(method='none', ok=None, details='not verified')
            self.data_tables = list_toc_quiet(self.pg_restore, self.tmp_path, self.env)
            return
        else:
            entries, self.data_tables = list_toc(self.pg_restore, self.tmp_path, self.env,
                                                 allow_empty=database_is_empty(self.conn))
            self.verification = dict(method='toc', ok=True, details=dict(entries=entries, tables=len(self.data_tables)))
        if method == 'restore':
            self.verification = scratch_restore_check(self.conn_params, self.fmt, self.tmp_path, self.pg_restore,
                                                      self.psql, self.jobs, self.source_counts, self.application_name)
        if self.verification['ok'] is False:
            raise PgModuleError('dump verification (%s) failed: %s; the dump was discarded'
                                % (method, '; '.join(self.verification['details'].get('mismatches', []))[:600]))

    def source_counts(self, tables):
        """Row counts of ``tables`` in the dump's snapshot (what a verify=restore must find)."""
        return count_rows(self.conn_params, self.dbname, tables, workers=self.jobs, snapshot=self.snapshot_id,
                          application_name=self.application_name)

    def describe(self):
        """The manifest: what was dumped, how, and the tables' row estimates."""
        self.conn.rollback()
        self.conn.set_session(isolation_level='READ COMMITTED', readonly=False)
        estimates = row_estimates(self.conn, self.data_tables)
        self.conn.rollback()
        self.manifest = self.build_manifest(estimates, self.pg_dump_version)

    def build_manifest(self, estimates, pg_dump_version):
        opts, fmt = self.opts, self.fmt
        manifest = dict(
            manifest_version=MANIFEST_VERSION,
            tool='pourtrait.ops',
            database=self.dbname,
            server_version=self.server_version,
            pg_dump_version=pg_dump_version,
            clients=self.clients,
            created=self.now.strftime(TIME_FORMAT),
            dump_seconds=round(self.dump_seconds, 3),
            format=fmt,
            compression=self.compression if fmt != 'plain' else 0,
            compressor=self.compressor or 'none',
            jobs=self.jobs if fmt == 'directory' else 1,
            schema_only=bool(opts.get('schema_only')),
            data_only=bool(opts.get('data_only')),
            schemas=list(opts.get('schemas') or []),
            exclude_schemas=list(opts.get('exclude_schemas') or []),
            tables_included=['%s.%s' % t for t in self.tables],
            exclude_tables=['%s.%s' % t for t in self.exclude_tables],
            name=os.path.basename(self.final_path),
            size=self.size,
            sha256=self.sha256,
            sha256_method=('sha256 over "<sha256>  <file>" lines sorted by file' if fmt == 'directory'
                           else 'sha256 of the file'),
            files=self.files,
            tables=estimates,
            verification=self.verification,
        )
        manifest.update(self.checksum_extra)
        if self.kind is not None:
            manifest['kind'] = self.kind
        manifest.update(self.manifest_extra() or {})
        return manifest

    def place(self):
        """Rename the verified dump into place, never over anything; a default name moves on to the next free
        one when another run took it meanwhile."""
        while True:
            try:
                place_no_clobber(self.tmp_path, self.final_path)
                return
            except FileExistsError:
                if not self.auto_name:
                    raise PgModuleError('%s already exists; choose another name or remove the old dump'
                                        % self.final_path)
                self.final_path = next_free_path(self.final_path, self.fmt)
                self.mpath = manifest_path_for(self.final_path)
                self.manifest['name'] = os.path.basename(self.final_path)

    def write_manifest(self):
        try:
            write_manifest(self.mpath, self.manifest)
            fsync_path(self.backup_dir)
        except BaseException as exc:
            remove_path(self.final_path)
            if isinstance(exc, OSError):
                raise PgModuleError('cannot write manifest %s: %s; the dump was discarded' % (self.mpath, exc))
            raise

    def prune(self):
        """Remove the older dumps beyond keep / max_age_days, never the one just taken."""
        prune = plan_prune(self.backup_dir, self.dbname, self.opts.get('keep'), self.opts.get('max_age_days'),
                           protect=(self.final_path,), kind=self.kind)
        self.removed = apply_prune(prune)

    def result(self):
        return dict(changed=True, path=self.final_path, manifest_path=self.mpath, format=self.fmt,
                    compressor=self.compressor or 'none', size=self.size, duration=self.elapsed(),
                    sha256=self.sha256, verification=self.verification, removed=self.removed,
                    discarded=self.discarded, manifest=self.manifest, command=self.command, clients=self.clients)

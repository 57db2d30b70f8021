# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Supabase CLI-compatible ``supabase db dump`` (schema, data or roles) as a subclass of the dump
job: the program (``pg_dump`` or ``pg_dumpall``) and the CLI's argument list, and the CLI's edits
of the plain SQL applied while it streams into the file (``SupabaseDumpJob``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import re

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError, split_qualified
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.dump_job import DumpJob
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.stream import CLUSTER_TRAILER, PLAIN_TRAILER, StreamEdit

# Facts from the CLI (pkg/migration/dump.go and its scripts): the schemas and roles Supabase
# manages, and the line edits that make the output replayable on another Supabase project.

# Left out of a schema dump (pg_dump patterns; the ones with * are wildcards).
SCHEMA_EXCLUDED_SCHEMAS = [
    'information_schema', 'pg_*',
    '_analytics', '_realtime', '_supavisor', 'auth', 'etl', 'extensions', 'pgbouncer', 'realtime', 'storage',
    'supabase_functions', 'supabase_migrations',
    'cron', 'dbdev', 'graphql', 'graphql_public', 'net', 'pgmq', 'pgsodium', 'pgsodium_masks', 'pgtle', 'repack',
    'tiger', 'tiger_data', 'timescaledb_*', '_timescaledb_*', 'topology', 'vault',
]
# Left out of a data dump: user data in auth, storage, supabase_functions, cron, net, pgmq and dbdev is kept.
DATA_EXCLUDED_SCHEMAS = [
    'information_schema', 'pg_*',
    'graphql', 'graphql_public', 'pgsodium', 'pgsodium_masks', 'pgtle', 'repack', 'tiger', 'tiger_data',
    'timescaledb_*', '_timescaledb_*', 'topology', 'vault',
    'etl', 'extensions', 'pgbouncer', 'realtime', 'supabase_migrations', '_analytics', '_realtime', '_supavisor',
]
# Migration history of the managed services: never part of a data dump.
DATA_EXCLUDED_TABLES = ['auth.schema_migrations', 'storage.migrations', 'supabase_functions.migrations']
# Roles Supabase creates and guards (regular expressions matched against the whole name).
RESERVED_ROLES = [
    'anon', 'authenticated', 'authenticator', 'cli_login_.*', 'dashboard_user', 'pgbouncer', 'postgres',
    'service_role', 'supabase_.*', 'pgsodium_keyholder', 'pgsodium_keyiduser', 'pgsodium_keymaker', 'pgtle_admin',
]
# Role settings a project may set on reserved roles (kept in a roles dump).
ALLOWED_ROLE_CONFIGS = ['pgaudit.*', 'pgrst.*', 'session_replication_role', 'statement_timeout', 'track_io_timing']

DUMP_MODES = ('schema', 'data', 'roles')
_RESERVED_RE = re.compile(r'\A(?:%s)\Z' % '|'.join(RESERVED_ROLES))
_ALLOWED_SET_RE = re.compile(r' SET "(?:%s)" ' % '|'.join(ALLOWED_ROLE_CONFIGS))
_ROLE_LINE_RE = re.compile(r'^(?:CREATE|ALTER) ROLE "((?:[^"]|"")+)"')
_GRANT_TO_RESERVED_RE = re.compile(r'GRANT ".*" TO "((?:[^"]|"")+)"')
_ACL_RE = re.compile(r'^(?:GRANT|REVOKE) .+? ON (?:[A-Z]+ )*"((?:[^"]|"")+)"')
_RESTRICT_RE = re.compile(r'^\\(?:un)?restrict\b')
_IF_NOT_EXISTS = [(re.compile(r'^CREATE (SCHEMA|TABLE|SEQUENCE) "'), r'CREATE \1 IF NOT EXISTS "'),
                  (re.compile(r'^CREATE (VIEW|FUNCTION|TRIGGER) "'), r'CREATE OR REPLACE \1 "')]
_SCHEMA_COMMENT_OUT = re.compile(
    r'^(?:CREATE PUBLICATION "supabase_realtime|CREATE EVENT TRIGGER |         WHEN TAG IN |   EXECUTE FUNCTION '
    r'|ALTER EVENT TRIGGER |ALTER PUBLICATION "supabase_realtime_|ALTER FOREIGN DATA WRAPPER .+ OWNER TO '
    r'|ALTER DEFAULT PRIVILEGES FOR ROLE "supabase_admin"|COMMENT ON EXTENSION |CREATE POLICY "cron_job_'
    r'|ALTER TABLE "cron"|SET transaction_timeout = 0;)')
_BARE_EXTENSION_RE = re.compile(r'^(CREATE EXTENSION IF NOT EXISTS "(?:pg_tle|pgsodium)").+')


def schema_pattern(name):
    """A pg_dump schema pattern: wildcards as written, exact names quoted."""
    if '*' in name:
        return name
    return '"%s"' % name.replace('"', '""')


def _matches_any(name, patterns):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _unquote_ident(text):
    return text.replace('""', '"')


def schema_line_editor(excluded=(), keep_comments=False):
    """The CLI's edits of a schema dump, one line (text) at a time: None drops the line."""
    excluded = list(excluded)

    def edit(line):
        for regex, repl in _IF_NOT_EXISTS:
            line = regex.sub(repl, line, count=1)
        if _SCHEMA_COMMENT_OUT.match(line) or _RESTRICT_RE.match(line):
            line = '-- ' + line
        acl = _ACL_RE.match(line)
        if acl and _matches_any(_unquote_ident(acl.group(1)), excluded):
            line = '-- ' + line
        line = _BARE_EXTENSION_RE.sub(r'\1;', line)
        if not keep_comments and line.startswith('--'):
            return None
        return line
    return edit


def roles_line_editor(keep_comments=False):
    """The CLI's edits of ``pg_dumpall --roles-only``: reserved roles are left out (their allowed
    settings kept), attributes that need a superuser dropped."""

    def edit(line):
        if _RESTRICT_RE.match(line):
            line = '-- ' + line
        role = _ROLE_LINE_RE.match(line)
        if role and _RESERVED_RE.match(_unquote_ident(role.group(1))) and not _ALLOWED_SET_RE.search(line):
            line = '-- ' + line
        line = line.replace(' NOSUPERUSER', '').replace(' NOREPLICATION', '')
        grant = _GRANT_TO_RESERVED_RE.search(line)
        if grant and not line.startswith('--') and _RESERVED_RE.match(_unquote_ident(grant.group(1))):
            line = '-- ' + line
        if not keep_comments and line.startswith('--'):
            return None
        return line
    return edit


def bytes_editor(text_edit):
    """Wrap a text line editor for StreamEdit (bytes in, bytes out; undecodable bytes survive)."""
    def edit(line):
        out = text_edit(line.decode('utf-8', 'surrogateescape'))
        return None if out is None else out.encode('utf-8', 'surrogateescape')
    return edit


def db_dump_argv(mode, program, dbname, role='postgres', schemas=(), exclude_tables=(), use_copy=False):
    """The pg_dump / pg_dumpall argument list of a CLI-compatible dump (output to stdout).

    ``exclude_tables`` are (schema, table) pairs added to the managed migration tables."""
    argv = [program]
    if mode == 'roles':
        argv += ['--roles-only', '--no-password', '--quote-all-identifiers', '--no-role-passwords', '--no-comments']
        if role:
            argv.append('--role=%s' % role)
        if dbname:
            argv.append('--database=%s' % dbname)
        return argv
    argv += ['--format=p', '--no-password', '--quote-all-identifiers']
    if role:
        argv.append('--role=%s' % role)
    if mode == 'schema':
        argv.append('--schema-only')
        if schemas:
            argv += ['--schema=%s' % schema_pattern(s) for s in schemas]
        else:
            argv += ['--exclude-schema=%s' % schema_pattern(s) for s in SCHEMA_EXCLUDED_SCHEMAS]
        return argv
    argv.append('--data-only')
    if schemas:
        argv += ['--schema=%s' % schema_pattern(s) for s in schemas]
    else:
        argv += ['--exclude-schema=%s' % schema_pattern(s) for s in DATA_EXCLUDED_SCHEMAS]
        argv.append('--schema=*')
    for schema, table in exclude_tables:
        argv.append('--exclude-table=%s.%s' % (schema_pattern(schema), schema_pattern(table)))
    if not use_copy:
        argv += ['--column-inserts', '--rows-per-insert=100000']
    return argv


class SupabaseDumpJob(DumpJob):
    """``supabase db dump``: a plain dump of the schema, the data or the roles, with the CLI's edits.

    ``opts`` are the supabase_db_dump module's options; ``validate()`` keeps them as ``params`` and turns them
    into the dump job's ``opts``."""

    custom_argv = True
    mode = None

    def plan_mode(self):
        """(mode, name, excluded schemas, excluded tables) from the module's options."""
        p = self.params
        if p['data_only'] and p['roles_only']:
            raise PgModuleError('data_only and roles_only are mutually exclusive; set at most one (neither dumps the '
                                'schema)')
        mode = 'data' if p['data_only'] else 'roles' if p['roles_only'] else 'schema'
        if mode == 'roles' and p['schemas']:
            raise PgModuleError('schemas does not apply to roles_only (roles belong to the whole cluster); remove it')
        if mode != 'data' and p['exclude_tables']:
            raise PgModuleError('exclude_tables applies only to data_only dumps; remove it or set data_only=true')
        if mode != 'data' and p['use_copy']:
            raise PgModuleError('use_copy applies only to data_only dumps; remove it or set data_only=true')
        name = p['name']
        if name and name.endswith('.sql'):
            name = name[:-4]
        user_excluded = [split_qualified(t) for t in p['exclude_tables']]
        excluded_tables = [split_qualified(t) for t in DATA_EXCLUDED_TABLES] if mode == 'data' else []
        excluded_tables += [t for t in user_excluded if t not in excluded_tables]
        if mode == 'schema':
            excluded_schemas = [] if p['schemas'] else list(SCHEMA_EXCLUDED_SCHEMAS)
        elif mode == 'data':
            excluded_schemas = [] if p['schemas'] else list(DATA_EXCLUDED_SCHEMAS)
        else:
            excluded_schemas = []
        return mode, name, excluded_schemas, excluded_tables

    def validate(self):
        p = self.params = self.opts
        mode, name, self.excluded_schemas, self.excluded_tables = self.plan_mode()
        self.mode = mode
        self.role = p['role'] or None
        self.program = 'pg_dumpall' if mode == 'roles' else 'pg_dump'
        self.kind = 'supabase_db_dump/%s' % mode
        self.name_tag = mode
        self.scan_insert = mode == 'data'
        self.opts = dict(backup_dir=p['backup_dir'], name=name, format='plain', verify='toc' if p['verify'] else 'none',
                         schema_only=mode == 'schema', data_only=mode == 'data',
                         schemas=p['schemas'] if mode != 'roles' else [], exclude_schemas=self.excluded_schemas,
                         exclude_tables=['%s.%s' % t for t in self.excluded_tables], keep=p['keep'],
                         max_age_days=p['max_age_days'], bin_dir=p['bin_dir'])
        super(SupabaseDumpJob, self).validate()

    def stream_edit(self):
        keep_comments = self.params['keep_comments']
        if self.mode == 'schema':
            return StreamEdit(footer=b'RESET ALL;\n', trailer=PLAIN_TRAILER,
                              edit_line=bytes_editor(schema_line_editor(self.excluded_schemas, keep_comments)))
        if self.mode == 'data':
            return StreamEdit(header=b'SET session_replication_role = replica;\n\n', footer=b'RESET ALL;\n',
                              trailer=PLAIN_TRAILER)
        return StreamEdit(footer=b'RESET ALL;\n', trailer=CLUSTER_TRAILER, uniq=True,
                          edit_line=bytes_editor(roles_line_editor(keep_comments)))

    def argv(self, snapshot=None):
        p = self.params
        return db_dump_argv(self.mode, self.pg_dump, self.dbname, role=self.role, schemas=p['schemas'],
                            exclude_tables=self.excluded_tables if self.mode == 'data' else (),
                            use_copy=p['use_copy'])

    def manifest_extra(self):
        p = self.params
        return dict(mode=self.mode, role=self.role, keep_comments=bool(p['keep_comments']),
                    use_copy=bool(p['use_copy']) if self.mode == 'data' else None, program=self.program)

    def check_mode_result(self):
        result = super(SupabaseDumpJob, self).check_mode_result()
        result['dump_mode'] = self.mode
        result['msg'] = 'would dump the %s to %s' % (self.mode, result['path'])
        return result

    def result(self):
        result = super(SupabaseDumpJob, self).result()
        result['dump_mode'] = self.mode
        result['msg'] = 'dumped the %s of database %s to %s (%d bytes)' % (
            self.mode, result['manifest'].get('database'), os.path.basename(result['path']), result['size'])
        return result

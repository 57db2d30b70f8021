"""Unit tests of plugins/module_utils/pg/supabase_dump.py: the Supabase CLI's edits of a dump, its argument
lists, and the dump job of each mode."""

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import supabase_dump as sd
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError


def schema_edit(lines, **kw):
    edit = sd.schema_line_editor(sd.SCHEMA_EXCLUDED_SCHEMAS, **kw)
    return [out for out in (edit(line) for line in lines) if out is not None]


def test_schema_edits():
    src = [
        'CREATE SCHEMA "app";',
        'CREATE TABLE "public"."t" (',
        'CREATE SEQUENCE "public"."s"',
        'CREATE VIEW "public"."v" AS',
        'CREATE FUNCTION "public"."f"() RETURNS integer',
        'CREATE TRIGGER "tr" BEFORE UPDATE ON "public"."t"',
        'CREATE PUBLICATION "supabase_realtime" WITH (publish = \'insert\');',
        'CREATE EVENT TRIGGER "issue_pg_cron_access" ON "ddl_command_end"',
        '         WHEN TAG IN (\'CREATE EXTENSION\')',
        '   EXECUTE FUNCTION "extensions"."grant_pg_cron_access"();',
        'ALTER EVENT TRIGGER "x" OWNER TO "postgres";',
        'ALTER PUBLICATION "supabase_realtime_messages_publication" ADD TABLE ONLY "realtime"."messages";',
        'ALTER FOREIGN DATA WRAPPER "w" OWNER TO "postgres";',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "supabase_admin" IN SCHEMA "public" GRANT ALL ON TABLES TO "anon";',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "public" GRANT ALL ON TABLES TO "anon";',
        'GRANT USAGE ON SCHEMA "auth" TO "anon";',
        'GRANT ALL ON TABLE "storage"."objects" TO "service_role";',
        'REVOKE ALL ON FUNCTION "pg_catalog"."f"() FROM PUBLIC;',
        'GRANT USAGE ON SCHEMA "public" TO "anon";',
        'GRANT ALL ON FUNCTION "public"."f"("a" "pg_catalog"."text") TO "anon";',
        'CREATE EXTENSION IF NOT EXISTS "pg_tle" WITH SCHEMA "pgtle";',
        'CREATE EXTENSION IF NOT EXISTS "pgsodium" WITH SCHEMA "pgsodium";',
        'CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA "extensions";',
        'COMMENT ON EXTENSION "pgcrypto" IS \'cryptographic functions\';',
        'CREATE POLICY "cron_job_policy" ON "cron"."job" USING (true);',
        'ALTER TABLE "cron"."job" ENABLE ROW LEVEL SECURITY;',
        'SET transaction_timeout = 0;',
        '\\restrict abc',
        '-- Name: t; Type: TABLE',
        '    -- inside a body',
        '',
    ]
    assert schema_edit(src) == [
        'CREATE SCHEMA IF NOT EXISTS "app";',
        'CREATE TABLE IF NOT EXISTS "public"."t" (',
        'CREATE SEQUENCE IF NOT EXISTS "public"."s"',
        'CREATE OR REPLACE VIEW "public"."v" AS',
        'CREATE OR REPLACE FUNCTION "public"."f"() RETURNS integer',
        'CREATE OR REPLACE TRIGGER "tr" BEFORE UPDATE ON "public"."t"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "public" GRANT ALL ON TABLES TO "anon";',
        'GRANT USAGE ON SCHEMA "public" TO "anon";',
        'GRANT ALL ON FUNCTION "public"."f"("a" "pg_catalog"."text") TO "anon";',
        'CREATE EXTENSION IF NOT EXISTS "pg_tle";',
        'CREATE EXTENSION IF NOT EXISTS "pgsodium";',
        'CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA "extensions";',
        '    -- inside a body',
        '',
    ]
    kept = schema_edit(src, keep_comments=True)
    assert '-- CREATE EVENT TRIGGER "issue_pg_cron_access" ON "ddl_command_end"' in kept
    assert '-- GRANT USAGE ON SCHEMA "auth" TO "anon";' in kept and '-- \\restrict abc' in kept
    assert '-- Name: t; Type: TABLE' in kept


def test_roles_edits():
    edit = sd.roles_line_editor()
    src = [
        '\\restrict xyz',
        'CREATE ROLE "anon";',
        'ALTER ROLE "anon" WITH NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;',
        'CREATE ROLE "supabase_auth_admin";',
        'CREATE ROLE "cli_login_postgres";',
        'CREATE ROLE "analyst";',
        'ALTER ROLE "analyst" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;',
        'ALTER ROLE "authenticator" SET "statement_timeout" TO \'8s\';',
        'ALTER ROLE "authenticator" SET "pgrst.db_schemas" TO \'public\';',
        'ALTER ROLE "anon" SET "work_mem" TO \'8MB\';',
        'GRANT "anon" TO "authenticator" GRANTED BY "postgres";',
        'GRANT "authenticated" TO "analyst" GRANTED BY "postgres";',
        'CREATE ROLE "anonymous_reader";',
    ]
    out = [line for line in (edit(x) for x in src) if line is not None]
    assert out == [
        'CREATE ROLE "analyst";',
        'ALTER ROLE "analyst" WITH INHERIT NOCREATEROLE NOCREATEDB LOGIN NOBYPASSRLS;',
        'ALTER ROLE "authenticator" SET "statement_timeout" TO \'8s\';',
        'ALTER ROLE "authenticator" SET "pgrst.db_schemas" TO \'public\';',
        'GRANT "authenticated" TO "analyst" GRANTED BY "postgres";',
        'CREATE ROLE "anonymous_reader";',
    ]


def test_dump_argument_lists():
    schema = sd.db_dump_argv('schema', 'pg_dump', 'db')
    assert schema[:4] == ['pg_dump', '--format=p', '--no-password', '--quote-all-identifiers']
    assert '--role=postgres' in schema and '--schema-only' in schema
    assert '--exclude-schema="auth"' in schema and '--exclude-schema=pg_*' in schema
    assert '--exclude-schema=_timescaledb_*' in schema
    assert len([a for a in schema if a.startswith('--exclude-schema=')]) == len(sd.SCHEMA_EXCLUDED_SCHEMAS)
    only = sd.db_dump_argv('schema', 'pg_dump', 'db', schemas=['app'], role=None)
    assert '--schema="app"' in only and not any(a.startswith('--exclude-schema') for a in only)
    assert not any(a.startswith('--role') for a in only)
    data = sd.db_dump_argv('data', 'pg_dump', 'db', exclude_tables=[('auth', 'schema_migrations')])
    assert '--data-only' in data and '--schema=*' in data and '--column-inserts' in data
    assert '--rows-per-insert=100000' in data and '--exclude-table="auth"."schema_migrations"' in data
    for kept in ('auth', 'storage', 'supabase_functions', 'cron', 'net', 'pgmq', 'dbdev'):
        assert '--exclude-schema="%s"' % kept not in data
    assert '--exclude-schema="supabase_migrations"' in data and '--exclude-schema="vault"' in data
    assert '--column-inserts' not in sd.db_dump_argv('data', 'pg_dump', 'db', use_copy=True)
    roles = sd.db_dump_argv('roles', 'pg_dumpall', 'db')
    assert roles == ['pg_dumpall', '--roles-only', '--no-password', '--quote-all-identifiers', '--no-role-passwords',
                     '--no-comments', '--role=postgres', '--database=db']


def test_the_managed_lists_follow_facts_md():
    for schema in ('auth', 'storage', 'extensions', 'realtime', '_realtime', '_analytics', '_supavisor',
                   'supabase_functions', 'supabase_migrations', 'graphql', 'graphql_public', 'vault', 'pgsodium',
                   'pgsodium_masks', 'pgbouncer', 'net', 'cron', 'pgmq', 'pgtle', 'repack', 'dbdev', 'etl',
                   'topology', 'tiger', 'tiger_data', 'timescaledb_*', 'information_schema', 'pg_*'):
        assert schema in sd.SCHEMA_EXCLUDED_SCHEMAS
    for role in ('anon', 'authenticated', 'service_role', 'supabase_admin', 'authenticator'):
        assert sd._RESERVED_RE.match(role)
    assert not sd._RESERVED_RE.match('analyst')


# -- the dump job ------------------------------------------------------------------------------

def _params(**kw):
    params = dict(backup_dir='/b', name=None, data_only=False, roles_only=False, schemas=[], exclude_tables=[],
                  use_copy=False, keep_comments=False, role='postgres', verify=True, keep=None, max_age_days=None,
                  bin_dir=None)
    params.update(kw)
    return params


@pytest.mark.parametrize('params, message', [
    (dict(data_only=True, roles_only=True), 'data_only and roles_only are mutually exclusive; set at most one '
                                            '(neither dumps the schema)'),
    (dict(roles_only=True, schemas=['public']), 'schemas does not apply to roles_only'),
    (dict(exclude_tables=['public.t']), 'exclude_tables applies only to data_only dumps'),
    (dict(use_copy=True), 'use_copy applies only to data_only dumps'),
])
def test_bad_options(params, message):
    with pytest.raises(PgModuleError) as err:
        sd.SupabaseDumpJob({}, _params(**params)).validate()
    assert message in str(err.value)


@pytest.mark.parametrize('params, mode, program', [
    (dict(), 'schema', 'pg_dump'),
    (dict(data_only=True), 'data', 'pg_dump'),
    (dict(roles_only=True), 'roles', 'pg_dumpall'),
])
def test_each_mode_is_a_plain_dump_of_its_own_kind(params, mode, program):
    job = sd.SupabaseDumpJob({}, _params(name='nightly.sql', **params))
    job.validate()
    assert (job.mode, job.program, job.kind, job.name_tag) == (mode, program, 'supabase_db_dump/%s' % mode, mode)
    assert job.opts['format'] == 'plain' and job.opts['name'] == 'nightly'
    assert job.scan_insert is (mode == 'data')
    assert job.edit is not None and job.edit.trailer == (sd.CLUSTER_TRAILER if mode == 'roles' else sd.PLAIN_TRAILER)
    job.pg_dump, job.dbname = '/usr/bin/%s' % program, 'postgres'
    assert job.argv('ignored-snapshot') == sd.db_dump_argv(mode, job.pg_dump, 'postgres', role='postgres',
                                                           exclude_tables=job.excluded_tables if mode == 'data' else ())
    assert job.manifest_extra()['mode'] == mode and job.manifest_extra()['program'] == program


def test_data_dumps_leave_out_the_managed_migration_tables():
    job = sd.SupabaseDumpJob({}, _params(data_only=True, exclude_tables=['public.audit', 'auth.schema_migrations']))
    job.validate()
    assert job.excluded_tables == [('auth', 'schema_migrations'), ('storage', 'migrations'),
                                   ('supabase_functions', 'migrations'), ('public', 'audit')]
    assert job.opts['exclude_schemas'] == list(sd.DATA_EXCLUDED_SCHEMAS)

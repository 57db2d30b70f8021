"""Unit tests of plugins/module_utils/pg/supabase_dump.py: the Supabase CLI's edits of a dump and its
argument lists."""

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import supabase_dump as sd


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

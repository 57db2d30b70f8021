"""supabase_db_dump against a real PostgreSQL 15: the three CLI modes (schema, data, roles) with
their exclusions and edits, the dump machinery shared with postgres_dump (atomic write, checksum,
manifest, retention), check mode and bad input."""

import hashlib
import json
import os
import stat
import uuid

import pytest

from tests.conftest import assert_one_line_error, run_module


def sha256_file(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def read(path):
    with open(path) as handle:
        return handle.read()


def lines(path):
    return read(path).splitlines()


@pytest.fixture
def supa_db(db):
    """The seeded database plus what a Supabase project holds: user data in auth and storage, the
    migration tables of the managed services, an event trigger, grants on managed schemas, a view
    and a function in public."""
    db.query("""
        CREATE SCHEMA IF NOT EXISTS supabase_functions;
        CREATE TABLE supabase_functions.migrations (version text PRIMARY KEY);
        INSERT INTO supabase_functions.migrations VALUES ('20210101');
        CREATE TABLE supabase_functions.hooks (id bigserial PRIMARY KEY, hook_name text);
        INSERT INTO supabase_functions.hooks (hook_name) VALUES ('notify_signup');
        CREATE TABLE auth.schema_migrations (version text PRIMARY KEY);
        INSERT INTO auth.schema_migrations VALUES ('20171026211738');
        CREATE TABLE storage.migrations (id int PRIMARY KEY, name text);
        INSERT INTO storage.migrations VALUES (0, 'create-migrations-table');
        INSERT INTO auth.users (email) VALUES ('ana@example.com'), ('ben@example.com');
        INSERT INTO storage.buckets (id, name) VALUES ('labels', 'labels');
        CREATE TABLE supabase_migrations.seed_files (path text PRIMARY KEY);
        INSERT INTO supabase_migrations.seed_files VALUES ('seed.sql');
        CREATE VIEW public.cheap_wines AS SELECT id, name FROM public.wines WHERE price_cents < 1500;
        CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- a comment inside a body
          NEW.updated_at := now();
          RETURN NEW;
        END $$;
        CREATE TRIGGER wines_touch BEFORE UPDATE ON public.wines FOR EACH ROW EXECUTE FUNCTION public.touch();
        CREATE FUNCTION extensions.grant_pg_cron_access() RETURNS event_trigger LANGUAGE plpgsql AS $$
        BEGIN END $$;
        CREATE EVENT TRIGGER issue_pg_cron_access ON ddl_command_end WHEN TAG IN ('CREATE EXTENSION')
          EXECUTE FUNCTION extensions.grant_pg_cron_access();
        GRANT USAGE ON SCHEMA auth TO anon;
        GRANT SELECT ON public.wines TO anon;
        COMMENT ON TABLE public.wines IS 'the catalogue';
    """)
    try:
        yield db
    finally:
        db.query('DROP EVENT TRIGGER IF EXISTS issue_pg_cron_access')


def dump(db, tmp_path, check_mode=False, **args):
    return run_module('supabase_db_dump', dict(db.conn_args(), backup_dir=str(tmp_path / 'dumps'), **args),
                      check_mode=check_mode)


def test_schema_dump_excludes_managed_schemas_and_makes_cli_edits(supa_db, tmp_path):
    result = dump(supa_db, tmp_path)
    assert result.get('changed') and not result.get('failed'), result
    path = result['path']
    assert result['dump_mode'] == 'schema' and result['format'] == 'plain'
    assert os.path.basename(path).startswith(supa_db.name + '-schema-') and path.endswith('Z.sql')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # only the dump and its manifest, no temporary names
    assert sorted(os.listdir(tmp_path / 'dumps')) == sorted([os.path.basename(path), os.path.basename(path)
                                                             + '.manifest.json'])
    text = read(path)
    out = lines(path)
    # the command is the CLI's
    command = result['command']
    assert '--schema-only' in command and '--quote-all-identifiers' in command and '--role=postgres' in command
    for pattern in ('"auth"', '"storage"', '"extensions"', '"supabase_migrations"', '"vault"', 'pg_*',
                    'timescaledb_*', '"information_schema"'):
        assert '--exclude-schema=%s' % pattern in command
    assert supa_db.server.password not in ' '.join(command)
    # managed schemas are left out, the user's schema is in with the CLI's edits
    assert 'CREATE TABLE IF NOT EXISTS "public"."wines" (' in out
    assert 'CREATE OR REPLACE VIEW "public"."cheap_wines" AS' in out
    assert any(line.startswith('CREATE OR REPLACE FUNCTION "public"."touch"()') for line in out)
    assert any(line.startswith('CREATE OR REPLACE TRIGGER "wines_touch"') for line in out)
    assert any(line.startswith('CREATE SEQUENCE IF NOT EXISTS "public"."wines_id_seq"') for line in out)
    assert 'GRANT SELECT ON TABLE "public"."wines" TO "anon";' in out
    assert 'CREATE TABLE IF NOT EXISTS "auth"."users"' not in text  # referenced by a public FK, never created
    assert '"storage"."buckets"' not in text
    assert 'CREATE SCHEMA IF NOT EXISTS "auth"' not in text and 'seed_files' not in text
    # event triggers, grants on managed schemas and COMMENT ON EXTENSION are gone
    assert 'EVENT TRIGGER' not in text and 'WHEN TAG IN' not in text
    assert 'GRANT USAGE ON SCHEMA "auth"' not in text and 'GRANT USAGE ON SCHEMA "extensions"' not in text
    assert 'GRANT USAGE ON SCHEMA "public" TO "anon";' in out
    assert 'COMMENT ON EXTENSION' not in text
    assert 'CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA "extensions";' in out
    # comments (also inside function bodies, like the CLI's sed) and psql meta-commands are dropped
    assert not any(line.startswith('--') for line in out)
    assert not any(line.startswith('\\') for line in out)
    assert 'COMMENT ON TABLE "public"."wines" IS \'the catalogue\';' in out
    assert out[-1] == 'RESET ALL;'

    manifest = json.load(open(result['manifest_path']))
    assert manifest == result['manifest']
    assert manifest['kind'] == 'supabase_db_dump/schema' and manifest['mode'] == 'schema'
    assert manifest['format'] == 'plain' and manifest['schema_only'] is True
    assert manifest['sha256'] == sha256_file(path) == result['sha256']
    assert manifest['size'] == os.path.getsize(path) == result['size']
    assert 'auth' in manifest['exclude_schemas']
    assert result['verification'] == {'method': 'toc', 'ok': True, 'details': {'trailer': True, 'tables': 0}}


def test_schema_dump_replays_on_an_empty_supabase_like_database(supa_db, tmp_path):
    """What the CLI's file is for: run it against another project (here: a fresh database of the
    same cluster holding the Supabase skeleton)."""
    result = dump(supa_db, tmp_path, name='baseline')
    assert not result.get('failed'), result
    target = 't_' + uuid.uuid4().hex[:12]
    supa_db.server.create_database(target)
    try:
        supa_db.server.execute('CREATE SCHEMA extensions; CREATE SCHEMA auth; CREATE SCHEMA storage; '
                               'CREATE EXTENSION pgcrypto WITH SCHEMA extensions; '
                               'CREATE EXTENSION pg_stat_statements WITH SCHEMA extensions; '
                               'CREATE TABLE auth.users (id uuid PRIMARY KEY); '
                               'CREATE TABLE storage.buckets (id text PRIMARY KEY); '
                               'CREATE TABLE storage.objects (id uuid PRIMARY KEY)', dbname=target)
        restored = run_module('postgres_restore', dict(supa_db.conn_args(), path=result['path'], target_db=target))
        assert not restored.get('failed'), restored
        assert restored['checksum_ok'] is True
        names = supa_db.server.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                                       "'public' ORDER BY 1", dbname=target)
        assert ('wines',) in names and ('cheap_wines',) in names
    finally:
        supa_db.server.drop_database(target)


def test_data_dump_keeps_auth_and_storage_data_without_migration_tables(supa_db, tmp_path):
    supa_db.query("INSERT INTO public.wines (name, price_cents) VALUES ('Ruby''s\nreserve', 1200)")
    result = dump(supa_db, tmp_path, data_only=True)
    assert not result.get('failed'), result
    assert result['dump_mode'] == 'data' and os.path.basename(result['path']).startswith(supa_db.name + '-data-')
    out = lines(result['path'])
    text = read(result['path'])
    assert out[0] == 'SET session_replication_role = replica;' and out[-1] == 'RESET ALL;'
    command = result['command']
    assert '--data-only' in command and '--schema=*' in command and '--column-inserts' in command
    assert '--exclude-table="auth"."schema_migrations"' in command
    assert '--exclude-table="storage"."migrations"' in command
    assert '--exclude-table="supabase_functions"."migrations"' in command
    # user data of the managed services is in, their migration history is not
    assert 'INSERT INTO "auth"."users"' in text and 'ana@example.com' in text
    assert 'INSERT INTO "storage"."buckets"' in text
    assert 'INSERT INTO "supabase_functions"."hooks"' in text
    assert 'schema_migrations' not in text and '"storage"."migrations"' not in text
    assert '"supabase_functions"."migrations"' not in text and '20171026211738' not in text
    assert 'seed_files' not in text  # supabase_migrations stays out
    assert 'INSERT INTO "public"."wines"' in text
    assert 'CREATE TABLE' not in text
    tables = set((t['schema'], t['table']) for t in result['manifest']['tables'])
    assert ('public', 'wines') in tables and ('auth', 'users') in tables
    assert result['manifest']['kind'] == 'supabase_db_dump/data' and result['manifest']['data_only'] is True

    # replaying it into a copy of the schema gives the same rows (a newline inside a value included)
    target = 't_' + uuid.uuid4().hex[:12]
    schema = run_module('postgres_dump', dict(supa_db.conn_args(), backup_dir=str(tmp_path / 'pg'),
                                              format='plain', schema_only=True))
    assert not schema.get('failed'), schema
    supa_db.server.create_database(target)
    try:
        for path in (schema['path'], result['path']):
            restored = run_module('postgres_restore', dict(supa_db.conn_args(), path=path, target_db=target))
            assert not restored.get('failed'), restored
        for table in ('public.wines', 'auth.users', 'storage.buckets'):
            assert supa_db.server.execute('SELECT count(*) FROM %s' % table, dbname=target) \
                == supa_db.query('SELECT count(*) FROM %s' % table)
        assert supa_db.server.execute("SELECT count(*) FROM public.wines WHERE name = 'Ruby''s\nreserve'",
                                      dbname=target)[0][0] == 1
    finally:
        supa_db.server.drop_database(target)


def test_data_dump_with_copy_and_extra_exclusions(supa_db, tmp_path):
    result = dump(supa_db, tmp_path, data_only=True, use_copy=True, exclude_tables=['wines', 'auth.users'])
    assert not result.get('failed'), result
    text = read(result['path'])
    assert 'COPY "storage"."buckets" ("id", "name", "public", "created_at") FROM stdin;' in text
    assert 'INSERT INTO' not in text
    assert 'COPY "public"."wines"' not in text and 'COPY "auth"."users"' not in text
    assert 'public.wines' in result['manifest']['exclude_tables']


def test_roles_dump_leaves_out_reserved_roles(supa_db, tmp_path):
    role = 'analyst_' + uuid.uuid4().hex[:8]
    supa_db.server.execute('CREATE ROLE %s LOGIN NOINHERIT; GRANT authenticated TO %s; '
                           "ALTER ROLE %s SET statement_timeout = '15s'; "
                           "ALTER ROLE authenticator SET statement_timeout = '8s'; "
                           "ALTER ROLE anon SET work_mem = '8MB'" % (role, role, role))
    try:
        result = dump(supa_db, tmp_path, roles_only=True)
        assert not result.get('failed'), result
        assert result['dump_mode'] == 'roles'
        command = result['command']
        assert os.path.basename(command[0]) == 'pg_dumpall'
        assert '--roles-only' in command and '--no-role-passwords' in command and '--role=postgres' in command
        out = lines(result['path'])
        text = read(result['path'])
        assert 'CREATE ROLE "%s";' % role in out
        alter = [line for line in out if line.startswith('ALTER ROLE "%s" WITH' % role)]
        assert alter and 'NOSUPERUSER' not in alter[0] and 'NOREPLICATION' not in alter[0] and 'LOGIN' in alter[0]
        assert 'ALTER ROLE "%s" SET "statement_timeout" TO \'15s\';' % role in out
        assert any(line.startswith('GRANT "authenticated" TO "%s"' % role) for line in out)
        # reserved roles are left out, except their allowed settings
        for reserved in ('anon', 'authenticated', 'authenticator', 'service_role', 'supabase_admin', 'postgres'):
            assert 'CREATE ROLE "%s"' % reserved not in text
            assert 'ALTER ROLE "%s" WITH' % reserved not in text
        assert 'ALTER ROLE "authenticator" SET "statement_timeout" TO \'8s\';' in out
        assert '"work_mem"' not in text
        assert 'TO "authenticator"' not in text
        assert not any(line.startswith('--') or line.startswith('\\') for line in out)
        assert out[-1] == 'RESET ALL;'
        assert all(a != b or not a for a, b in zip(out, out[1:]))  # uniq
        assert result['verification']['ok'] is True
        assert result['manifest']['kind'] == 'supabase_db_dump/roles'
        assert result['manifest']['sha256'] == sha256_file(result['path'])
    finally:
        supa_db.server.execute("DROP ROLE %s; ALTER ROLE authenticator RESET statement_timeout; "
                               "ALTER ROLE anon RESET work_mem" % role)


def test_keep_comments_keeps_them(supa_db, tmp_path):
    result = dump(supa_db, tmp_path, keep_comments=True, name='with-comments')
    assert not result.get('failed'), result
    text = read(result['path'])
    assert '-- PostgreSQL database dump complete' in text
    assert '-- CREATE EVENT TRIGGER "issue_pg_cron_access"' in text
    assert '-- COMMENT ON EXTENSION "pgcrypto"' in text
    assert '-- a comment inside a body' in text
    assert result['path'].endswith('/with-comments.sql')


def test_check_mode_writes_nothing(supa_db, tmp_path):
    result = dump(supa_db, tmp_path, check_mode=True, data_only=True)
    assert result['changed'] and not result.get('failed'), result
    assert result['size'] is None and result['manifest'] == {}
    assert '--data-only' in result['command']
    assert not os.path.exists(tmp_path / 'dumps')


def test_retention_counts_only_the_same_mode(supa_db, tmp_path):
    pg = run_module('postgres_dump', dict(supa_db.conn_args(), backup_dir=str(tmp_path / 'dumps'), format='plain',
                                          name='pg-full'))
    assert not pg.get('failed'), pg
    first = dump(supa_db, tmp_path, name='s1')
    data = dump(supa_db, tmp_path, name='d1', data_only=True)
    second = dump(supa_db, tmp_path, name='s2', keep=1)
    assert not second.get('failed'), second
    assert second['removed'] == [first['path']]
    assert not os.path.exists(first['path']) and not os.path.exists(first['manifest_path'])
    assert os.path.exists(data['path']) and os.path.exists(pg['path'])


def test_existing_name_is_an_error_and_keeps_the_file(supa_db, tmp_path):
    first = dump(supa_db, tmp_path, name='fixed')
    before = sha256_file(first['path'])
    again = dump(supa_db, tmp_path, name='fixed')
    assert_one_line_error(again, 'already exists', 'choose another name')
    assert sha256_file(first['path']) == before


@pytest.mark.parametrize('args, fragments', [
    (dict(data_only=True, roles_only=True), ['data_only and roles_only are mutually exclusive']),
    (dict(exclude_tables=['wines']), ['exclude_tables applies only to data_only']),
    (dict(roles_only=True, schemas=['public']), ['schemas does not apply to roles_only']),
    (dict(schemas=['nope']), ['schema "nope" does not exist']),
    (dict(login_password='wrong'), ['rejected the credentials', 'login_password']),
    (dict(role='nobody_here'), ['pg_dump failed', 'nobody_here']),
])
def test_bad_input_is_one_line_and_writes_nothing(supa_db, tmp_path, args, fragments):
    result = run_module('supabase_db_dump', dict(supa_db.conn_args(), backup_dir=str(tmp_path / 'dumps'), **args))
    assert_one_line_error(result, *fragments)
    assert not os.path.exists(tmp_path / 'dumps') or os.listdir(tmp_path / 'dumps') == []

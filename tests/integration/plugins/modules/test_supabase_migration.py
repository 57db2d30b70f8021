"""supabase_migration against a real PostgreSQL 15 (tests/sandbox/pg.py): compatibility with the
Supabase CLI's history table, the refusals of `supabase db push`, repair and list, and what the
module adds - the advisory lock, timeouts and lock retries, no-transaction files, clear errors."""

import json
import threading
import time
import uuid


from tests.conftest import assert_one_line_error, run_module

MODULE = 'supabase_migration'
LOCK_KEY = 8031451354945907060  # plugins/module_utils/migrations.py ADVISORY_LOCK_KEY
CLI_CREATE_HISTORY = [  # what `supabase db push` runs to create the history table (pkg/migration/history.go)
    "SET lock_timeout = '4s'",
    'CREATE SCHEMA IF NOT EXISTS supabase_migrations',
    'CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)',
    'ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]',
    'ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text',
]


def write(directory, files):
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return str(directory)


def migrate(db, directory, check_mode=False, diff=False, env=None, **args):
    return run_module(MODULE, dict(db.conn_args(), migrations_dir=directory, **args), check_mode=check_mode,
                      diff=diff, env=env)


def warnings_of(result):
    return [w['event']['msg'] if isinstance(w, dict) else w for w in result.get('warnings') or []]


def history(db):
    if db.scalar("SELECT to_regclass('supabase_migrations.schema_migrations')") is None:
        return None
    return db.query('SELECT version, name, statements FROM supabase_migrations.schema_migrations ORDER BY version')


def table_exists(db, name):
    return db.scalar('SELECT to_regclass(%s)', (name,)) is not None


def cli_history(db, rows=()):
    """The history table as the CLI creates it, with rows as the CLI inserts them."""
    db.query(';\n'.join(CLI_CREATE_HISTORY))
    for version, name, statements in rows:
        db.query('INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES (%s, %s, %s)',
                 (version, name, statements))


BASIC = {
    '20260101000000_create_cellar.sql': 'create table cellar (id int primary key, label text);\n'
                                        "insert into cellar values (1, 'first');\n",
    '20260102000000_add_vintage.sql': 'alter table cellar add column vintage int;\n',
}


# -- applying -----------------------------------------------------------------------------------
def test_applies_pending_files_in_order_then_nothing_to_do(db, tmp_path):
    directory = write(tmp_path / 'migrations', BASIC)
    assert history(db) is None
    first = migrate(db, directory, diff=True)
    assert first['changed'] is True, first
    assert [a['version'] for a in first['applied']] == ['20260101000000', '20260102000000']
    assert first['applied'][0]['name'] == 'create_cellar'
    assert first['applied'][0]['statements'] == 2 and first['applied'][0]['attempts'] == 1
    assert isinstance(first['applied'][0]['duration'], float)
    assert first['pending'] == ['20260101000000', '20260102000000'] and first['remote'] == []
    assert first['diff'] == {'before': [], 'after': ['20260101000000', '20260102000000']}
    assert first['partial'] is False
    assert db.query('SELECT id, label, vintage FROM cellar') == [(1, 'first', None)]
    assert [r[0] for r in history(db)] == ['20260101000000', '20260102000000']

    second = migrate(db, directory, diff=True)
    assert second['changed'] is False, second
    assert second['applied'] == [] and second['pending'] == []
    assert second['remote'] == ['20260101000000', '20260102000000']
    assert second['diff']['before'] == second['diff']['after']


def test_history_rows_are_exactly_what_the_cli_writes(db, tmp_path):
    text = ('-- Wines and their tasting notes\n'
            'create table tasting (\n  id bigint generated always as identity primary key,\n  note text\n);\n\n'
            "insert into tasting (note) values ('crisp; mineral'), ('it''s \"oaky\"') ;;\n"
            'create function tasting_count() returns bigint language sql\nbegin atomic\n'
            '  select count(*) from tasting;\nend;\n'
            'create function touch() returns trigger language plpgsql as $body$\nbegin\n'
            '  new.note := coalesce(new.note, \'-\');  -- default; keep\n  return new;\nend;\n$body$;\n'
            '/* a block; comment */ comment on table tasting is \'notes; per wine\';\n'
            '-- trailing comment\n')
    directory = write(tmp_path / 'migrations', {'20260103120000_tasting notes.sql': text})
    result = migrate(db, directory)
    assert result['changed'] is True, result
    expected = [
        '-- Wines and their tasting notes\n'
        'create table tasting (\n  id bigint generated always as identity primary key,\n  note text\n)',
        "insert into tasting (note) values ('crisp; mineral'), ('it''s \"oaky\"')",
        'create function tasting_count() returns bigint language sql\nbegin atomic\n'
        '  select count(*) from tasting;\nend',
        'create function touch() returns trigger language plpgsql as $body$\nbegin\n'
        '  new.note := coalesce(new.note, \'-\');  -- default; keep\n  return new;\nend;\n$body$',
        '/* a block; comment */ comment on table tasting is \'notes; per wine\'',
        '-- trailing comment',
    ]
    assert history(db) == [('20260103120000', 'tasting notes', expected)]
    assert db.scalar('SELECT tasting_count()') == 2
    # The table has the CLI's shape: version text primary key, statements text[], name text.
    columns = db.query("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                       "WHERE table_schema = 'supabase_migrations' AND table_name = 'schema_migrations' "
                       "ORDER BY ordinal_position")
    assert columns == [('version', 'text', 'NO'), ('statements', 'ARRAY', 'YES'), ('name', 'text', 'YES')]
    assert db.scalar("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                     "WHERE conrelid = 'supabase_migrations.schema_migrations'::regclass") == 'PRIMARY KEY (version)'


def test_a_history_written_by_the_cli_is_taken_as_it_is(db, tmp_path):
    directory = write(tmp_path / 'migrations', BASIC)
    db.query('create table cellar (id int primary key, label text)')
    # `supabase db push` applied the first file: its row holds the statements as the CLI stores them.
    cli_history(db, [('20260101000000', 'create_cellar',
                      ['create table cellar (id int primary key, label text)',
                       "insert into cellar values (1, 'first')"])])
    result = migrate(db, directory)
    assert result['changed'] is True, result
    assert [a['version'] for a in result['applied']] == ['20260102000000']
    assert result['edited'] == [] and not warnings_of(result)
    assert [r[0] for r in history(db)] == ['20260101000000', '20260102000000']


def test_an_old_version_only_history_table_gets_the_cli_columns(db, tmp_path):
    db.query('CREATE TABLE supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)')
    db.query("INSERT INTO supabase_migrations.schema_migrations VALUES ('20260101000000')")
    db.query('create table cellar (id int primary key, label text)')
    result = migrate(db, write(tmp_path / 'migrations', BASIC))
    assert result['changed'] is True, result
    assert result['edited'] == []  # no statements recorded: nothing to compare
    assert history(db) == [('20260101000000', None, None),
                           ('20260102000000', 'add_vintage', ['alter table cellar add column vintage int'])]


def test_check_mode_runs_nothing_and_creates_no_history_table(db, tmp_path):
    directory = write(tmp_path / 'migrations', BASIC)
    result = migrate(db, directory, check_mode=True, diff=True)
    assert result['changed'] is True, result
    assert result['pending'] == ['20260101000000', '20260102000000']
    assert result['applied'] == []
    assert result['diff'] == {'before': [], 'after': ['20260101000000', '20260102000000']}
    assert history(db) is None
    assert not table_exists(db, 'cellar')
    migrate(db, directory)
    assert migrate(db, directory, check_mode=True)['changed'] is False


def test_every_file_starts_from_reset_settings_with_the_timeouts_set_locally(db, tmp_path):
    directory = write(tmp_path / 'migrations', {
        '1_settings.sql': "create table seen (file int, search_path text, lock_timeout text, statement_timeout text);\n"
                          "select set_config('search_path', '', false);\n"
                          "set statement_timeout = '1h';\n",
        '2_check.sql': "insert into public.seen select 2, current_setting('search_path'), "
                       "current_setting('lock_timeout'), current_setting('statement_timeout');\n",
    })
    result = migrate(db, directory, lock_timeout='3s', statement_timeout='7min')
    assert result['changed'] is True, result
    assert db.query('select * from seen') == [(2, '"$user", public', '3s', '7min')]


# -- misnamed files, duplicates, empty and missing directories ------------------------------------
def test_misnamed_files_are_skipped_with_a_warning(db, tmp_path):
    files = dict(BASIC)
    files['add_users.sql'] = 'create table users_x (id int);'
    files['README.md'] = 'notes'
    result = migrate(db, write(tmp_path / 'migrations', files))
    assert result['changed'] is True, result
    assert sorted(result['skipped_files']) == ['README.md', 'add_users.sql']
    assert any('Skipping migration add_users.sql' in w for w in warnings_of(result))
    assert not table_exists(db, 'users_x')


def test_duplicate_versions_are_an_error_naming_both_files(db, tmp_path):
    directory = write(tmp_path / 'migrations', {'20260101000000_a.sql': 'create table a (x int);',
                                                '20260101000000_b.sql': 'create table b (x int);'})
    result = migrate(db, directory)
    assert_one_line_error(result, 'duplicate migration version 20260101000000', '20260101000000_a.sql',
                          '20260101000000_b.sql')
    assert history(db) is None and not table_exists(db, 'a')


def test_missing_or_empty_migrations_dir_is_a_clear_error(db, tmp_path):
    missing = migrate(db, str(tmp_path / 'nowhere'))
    assert_one_line_error(missing, 'migrations_dir', 'nowhere', 'does not exist')
    empty = migrate(db, write(tmp_path / 'empty', {'notes.txt': 'x'}))
    assert_one_line_error(empty, 'no migration files in', '<digits>_<name>.sql')
    assert history(db) is None


def test_bad_options_are_one_line_errors(db, tmp_path):
    directory = write(tmp_path / 'migrations', BASIC)
    assert_one_line_error(migrate(db, directory, lock_timeout='5 parsecs'), 'lock_timeout', '5s')
    assert_one_line_error(migrate(db, directory, state='repair', repair_status='reverted', versions=['v1']),
                          'versions must be digits', "'v1'")
    assert_one_line_error(migrate(db, directory, versions=['1']), 'go with state: repair')
    assert history(db) is None


# -- remote-only and out-of-order versions ------------------------------------------------------
def test_remote_only_versions_stop_the_run_with_the_repair_hint(db, tmp_path):
    cli_history(db, [('20251231000000', 'from_another_branch', ['select 1'])])
    directory = write(tmp_path / 'migrations', BASIC)
    result = migrate(db, directory)
    assert_one_line_error(result, 'Remote migration versions not found in local migrations directory: 20251231000000',
                          'repair_status: reverted', 'supabase migration repair --status reverted 20251231000000',
                          'supabase db pull')
    assert result['remote_only'] == ['20251231000000']
    assert not table_exists(db, 'cellar')

    repaired = migrate(db, directory, state='repair', repair_status='reverted', versions=['20251231000000'], diff=True)
    assert repaired['changed'] is True and repaired['repaired'] == ['20251231000000'], repaired
    assert repaired['diff'] == {'before': ['20251231000000'], 'after': []}
    assert history(db) == []
    again = migrate(db, directory, state='repair', repair_status='reverted', versions=['20251231000000'])
    assert again['changed'] is False and again['repaired'] == []
    assert migrate(db, directory)['changed'] is True
    assert table_exists(db, 'cellar')


def test_out_of_order_files_need_include_all(db, tmp_path):
    directory = write(tmp_path / 'migrations', {
        '20260101000000_a.sql': 'create table a (x int);',
        '20260103000000_c.sql': 'create table c (x int);',
    })
    assert migrate(db, directory)['changed'] is True
    (tmp_path / 'migrations' / '20260102000000_b.sql').write_text('create table b (x int);')
    (tmp_path / 'migrations' / '20260104000000_d.sql').write_text('create table d (x int);')
    refused = migrate(db, directory)
    assert_one_line_error(refused, 'Found local migration files to be inserted before the last migration on remote '
                                   'database', '20260102000000_b.sql', 'older than the newest recorded version '
                                   '20260103000000', 'include_all: true')
    assert refused['out_of_order'] == ['20260102000000']
    assert not table_exists(db, 'b') and not table_exists(db, 'd')

    applied = migrate(db, directory, include_all=True)
    assert applied['changed'] is True, applied
    assert [a['version'] for a in applied['applied']] == ['20260102000000', '20260104000000']
    assert table_exists(db, 'b') and table_exists(db, 'd')


# -- failures -------------------------------------------------------------------------------------
FAILING = {
    '20260101000000_create_cellar.sql': BASIC['20260101000000_create_cellar.sql'],
    '20260101120000_add_index.sql': 'create table bottles (id int primary key);\n'
                                    'insert into bottles values (1);\n'
                                    'insert into bottles select id from winez;\n',
    '20260102000000_later.sql': 'create table later (x int);\n',
}


def test_a_failing_statement_names_file_statement_and_sqlstate_and_leaves_no_trace(db, tmp_path):
    result = migrate(db, write(tmp_path / 'migrations', FAILING))
    assert_one_line_error(result)
    assert result['msg'] == ('20260101120000_add_index.sql statement 3 failed: relation "winez" does not exist '
                             '(SQLSTATE 42P01); nothing from this file was applied')
    assert result['failed_file'] == '20260101120000_add_index.sql'
    assert result['failed_statement'] == 3 and result['sqlstate'] == '42P01'
    assert result['partial'] is False and result['changed'] is True
    assert [a['version'] for a in result['applied']] == ['20260101000000']
    assert table_exists(db, 'cellar')
    assert not table_exists(db, 'bottles') and not table_exists(db, 'later')
    assert [r[0] for r in history(db)] == ['20260101000000']


def test_statement_numbers_count_characters_not_bytes(db, tmp_path):
    # PostgreSQL reports error positions in characters; 300 three-byte characters before the failing
    # statement would push a byte count into statement 3.
    directory = write(tmp_path / 'migrations', {
        '1_unicode.sql': "create table cafe (note text default '%s');\n"
                         'select * from nowhere;\n'
                         "comment on table cafe is '%s';\n" % (u'\u2615' * 300, 'x' * 900),
    })
    result = migrate(db, directory)
    assert_one_line_error(result, '1_unicode.sql statement 2 failed: relation "nowhere" does not exist (SQLSTATE 42P01)')
    assert not table_exists(db, 'cafe')


def test_an_error_without_a_position_still_names_its_statement(db, tmp_path):
    # A unique violation carries no position: the module finds the statement by a rolled-back replay.
    directory = write(tmp_path / 'migrations', {
        '1_seq.sql': 'create table counter (n int primary key);\n',
        '2_dup.sql': 'insert into counter values (1);\ninsert into counter values (2);\n'
                     'insert into counter values (1);\ninsert into counter values (3);\n',
    })
    result = migrate(db, directory)
    assert_one_line_error(result, '2_dup.sql statement 3 failed: duplicate key value violates unique constraint '
                                  '"counter_pkey" (SQLSTATE 23505); nothing from this file was applied')
    assert result['failed_statement'] == 3
    assert db.query('select n from counter') == []


def test_a_version_recorded_meanwhile_fails_the_history_insert_and_rolls_back(db, tmp_path):
    # Stands in for a `supabase db push` of the same file running at the same time (the CLI takes no lock).
    directory = write(tmp_path / 'migrations', {
        '7_raced.sql': 'create table raced (x int);\n'
                       "insert into supabase_migrations.schema_migrations(version, name) values ('7', 'raced');\n",
    })
    result = migrate(db, directory)
    assert_one_line_error(result, '7_raced.sql failed while recording it in supabase_migrations.schema_migrations: '
                                  'duplicate key value violates unique constraint', '(SQLSTATE 23505)',
                          'another tool (supabase db push?) recorded version 7 meanwhile',
                          'nothing from this file was applied')
    assert result['failed_statement'] is None and result['sqlstate'] == '23505'
    # no trace: not even the history table this run had created for it
    assert history(db) is None and not table_exists(db, 'raced')


def test_statement_timeout_cancels_a_slow_statement(db, tmp_path):
    directory = write(tmp_path / 'migrations', {'1_slow.sql': 'create table s (x int);\nselect pg_sleep(3);\n'})
    started = time.time()
    result = migrate(db, directory, statement_timeout='300ms')
    assert time.time() - started < 3
    assert_one_line_error(result, '1_slow.sql statement 2 failed: canceling statement due to statement timeout '
                                  '(SQLSTATE 57014)')
    assert not table_exists(db, 's')


def hold_table_lock(db, table, seconds):
    """Hold ACCESS EXCLUSIVE on a table from another session for ``seconds``; returns the thread."""
    conn = db.connect(autocommit=False)
    conn.cursor().execute('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE' % table)

    def release():
        time.sleep(seconds)
        conn.rollback()
        conn.close()
    thread = threading.Thread(target=release)
    thread.start()
    return thread


def migrate_while_locked(db, tmp_path, seconds, **options):
    """Migrate a file whose second statement needs table busy, which another session locks for ``seconds``."""
    db.query('create table busy (x int)')
    directory = write(tmp_path / 'migrations', {'1_busy.sql': 'create table side (x int);\n'
                                                              'alter table busy add column y int;\n'})
    thread = hold_table_lock(db, 'busy', seconds)
    try:
        return migrate(db, directory, **options)
    finally:
        thread.join()


def test_a_file_that_only_waited_for_a_lock_is_retried_whole(db, tmp_path):
    result = migrate_while_locked(db, tmp_path, 1.5, lock_timeout='200ms', lock_retries=3)
    assert result['changed'] is True, result
    assert result['applied'][0]['attempts'] >= 2
    assert any('lock' in w and 'retrying the whole file' in w for w in warnings_of(result))
    assert table_exists(db, 'side')
    assert db.scalar("select count(*) from information_schema.columns where table_name = 'busy' "
                     "and column_name = 'y'") == 1


def test_lock_not_available_without_retries_fails_cleanly(db, tmp_path):
    result = migrate_while_locked(db, tmp_path, 3, lock_timeout='100ms', lock_retries=0)
    assert_one_line_error(result, '1_busy.sql statement 2 failed: canceling statement due to lock timeout '
                                  '(SQLSTATE 55P03); nothing from this file was applied')
    assert result['sqlstate'] == '55P03'
    assert not table_exists(db, 'side')


def test_a_lost_connection_says_what_became_of_the_file(db, tmp_path):
    directory = write(tmp_path / 'migrations', {'1_slow.sql': 'create table s (x int);\nselect pg_sleep(5);\n'})

    def terminate():
        deadline = time.time() + 5
        while time.time() < deadline:
            killed = db.scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s "
                               "AND application_name = 'pourtrait.ops/supabase_migration' AND query LIKE %s",
                               (db.name, '%pg_sleep%'))
            if killed:
                return
            time.sleep(0.05)
    thread = threading.Thread(target=terminate)
    thread.start()
    result = migrate(db, directory)
    thread.join()
    # a new connection read the history: the file's transaction was rolled back
    assert_one_line_error(result, '1_slow.sql failed: the connection to PostgreSQL was lost',
                          'nothing from this file was applied (its transaction was rolled back; version 1 is not '
                          'recorded)', 'run the same playbook again')
    # and, as after any failed first file, the history table this run created is gone again
    assert history(db) is None and not table_exists(db, 's')


def test_a_role_that_cannot_create_the_history_table(db, tmp_path):
    role = 'mig_' + uuid.uuid4().hex[:8]
    db.query('CREATE ROLE %s LOGIN PASSWORD %%s' % role, ('pw-' + role,))
    try:
        args = dict(db.conn_args(), login_user=role, login_password='pw-' + role)
        result = run_module(MODULE, dict(args, migrations_dir=write(tmp_path / 'migrations', BASIC)))
        assert_one_line_error(result, 'cannot create the migration history table supabase_migrations.schema_migrations',
                              'permission denied', '42501', 'on Supabase: postgres')
        assert history(db) is None and not table_exists(db, 'cellar')

        # With the history table in place and writable, the file itself fails on public: still one line.
        cli_history(db)
        db.query('GRANT USAGE ON SCHEMA supabase_migrations TO %s' % role)
        db.query('GRANT SELECT, INSERT ON supabase_migrations.schema_migrations TO %s' % role)
        result = run_module(MODULE, dict(args, migrations_dir=str(tmp_path / 'migrations')))
        assert_one_line_error(result, '20260101000000_create_cellar.sql statement 1 failed: permission denied for '
                                      'schema public (SQLSTATE 42501); nothing from this file was applied')
        assert history(db) == [] and not table_exists(db, 'cellar')
    finally:
        db.query('DROP OWNED BY %s' % role)
        db.query('DROP ROLE %s' % role)


# -- the advisory lock ------------------------------------------------------------------------------
def test_a_lock_held_by_another_run_makes_the_run_wait_then_fail_clearly(db, tmp_path):
    holder = db.connect()
    try:
        holder.cursor().execute('SELECT pg_advisory_lock(%s)', (LOCK_KEY,))
        started = time.time()
        result = migrate(db, write(tmp_path / 'migrations', BASIC), lock_wait_timeout=1)
        assert time.time() - started >= 1
        assert_one_line_error(result, 'another migration run holds the migration lock on database "%s"' % db.name,
                              'backend pid %d' % holder.get_backend_pid(), 'gave up after 1 s', 'lock_wait_timeout')
        assert history(db) is None and not table_exists(db, 'cellar')
        # check mode takes no lock, so it still answers
        assert migrate(db, str(tmp_path / 'migrations'), check_mode=True)['changed'] is True
    finally:
        holder.close()
    assert migrate(db, str(tmp_path / 'migrations'))['changed'] is True


def test_two_runs_at_once_apply_each_file_exactly_once(db, tmp_path):
    db.query('create table applied_count (file text)')
    files = {}
    for number in range(1, 6):
        files['2026010100000%d_step.sql' % number] = (
            'create table once_%d (x int);\n'  # no IF NOT EXISTS: a second run of this file fails
            "insert into applied_count values ('%d');\n"
            'select pg_sleep(0.2);\n' % (number, number))
    directory = write(tmp_path / 'migrations', files)
    results = [None, None]

    def run(slot):
        results[slot] = migrate(db, directory)
    threads = [threading.Thread(target=run, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        assert not result.get('failed'), json.dumps(result)
    applied = sorted(a['version'] for r in results for a in r['applied'])
    assert applied == sorted(v.split('_')[0] for v in files)  # every file once, by one run or the other
    assert db.query('select file, count(*) from applied_count group by file order by file') == \
        [(str(n), 1) for n in range(1, 6)]
    assert len(history(db)) == 5


# -- edited files, no-transaction files -------------------------------------------------------------
def test_editing_an_applied_file_gives_a_warning(db, tmp_path):
    directory = write(tmp_path / 'migrations', BASIC)
    migrate(db, directory)
    (tmp_path / 'migrations' / '20260102000000_add_vintage.sql').write_text(
        'alter table cellar add column vintage int not null default 2020;\n')
    result = migrate(db, directory)
    assert result['changed'] is False
    assert result['edited'] == ['20260102000000']
    assert any('20260102000000_add_vintage.sql was edited after it was applied' in w for w in warnings_of(result))


def test_a_no_transaction_file_can_create_an_index_concurrently(db, tmp_path):
    directory = write(tmp_path / 'migrations', {
        '20260101000000_create_cellar.sql': BASIC['20260101000000_create_cellar.sql'],
        '20260101120000_index.sql': '-- pourtrait:no-transaction\n'
                                    'drop index concurrently if exists cellar_label_idx;\n'
                                    'create index concurrently cellar_label_idx on cellar (label);\n',
    })
    result = migrate(db, directory)
    assert result['changed'] is True, result
    assert result['applied'][1]['no_transaction'] is True
    assert db.scalar("select indisvalid from pg_index where indexrelid = 'cellar_label_idx'::regclass") is True
    assert history(db)[1][2][0].startswith('-- pourtrait:no-transaction\ndrop index concurrently')


def test_a_no_transaction_file_that_fails_halfway_reports_partial(db, tmp_path):
    directory = write(tmp_path / 'migrations', {
        '1_partial.sql': '-- pourtrait:no-transaction\ncreate table first_half (x int);\n'
                         'create table second_half (x int);\ncreate index concurrently i on winez (x);\n',
    })
    result = migrate(db, directory)
    assert_one_line_error(result, '1_partial.sql statement 3 failed: relation "winez" does not exist (SQLSTATE 42P01)',
                          'statements 1-2 stay applied')
    assert result['partial'] is True and result['failed_statement'] == 3
    assert table_exists(db, 'first_half') and table_exists(db, 'second_half')
    assert history(db) == []


# -- list and repair -----------------------------------------------------------------------------
def test_list_compares_local_and_remote_like_migration_list(db, tmp_path):
    cli_history(db, [('20251231000000', 'gone', ['select 1']),
                     ('20260101000000', 'create_cellar', ['select 1'])])
    files = dict(BASIC)
    files['20250101000000_early.sql'] = 'select 1;'
    result = migrate(db, write(tmp_path / 'migrations', files), state='list')
    assert result['changed'] is False, result
    assert result['local'] == ['20250101000000', '20260101000000', '20260102000000']
    assert result['remote'] == ['20251231000000', '20260101000000']
    assert result['pending'] == ['20250101000000', '20260102000000']
    assert result['remote_only'] == ['20251231000000']
    assert result['out_of_order'] == ['20250101000000']
    assert result['edited'] == ['20260101000000']
    assert [(m['version'], m['local'], m['remote']) for m in result['migrations']] == [
        ('20250101000000', True, False), ('20251231000000', False, True),
        ('20260101000000', True, True), ('20260102000000', True, False)]
    assert result['migrations'][1]['name'] == 'gone' and result['migrations'][1]['file'] is None


def test_repair_applied_records_history_without_running_sql(db, tmp_path):
    directory = write(tmp_path / 'migrations', BASIC)
    check = migrate(db, directory, check_mode=True, state='repair', repair_status='applied',
                    versions=['20260101000000'])
    assert check['changed'] is True and check['repaired'] == ['20260101000000']
    assert history(db) is None
    result = migrate(db, directory, state='repair', repair_status='applied', versions=['20260101000000'], diff=True)
    assert result['changed'] is True, result
    assert result['diff'] == {'before': [], 'after': ['20260101000000']}
    assert history(db) == [('20260101000000', 'create_cellar',
                            ['create table cellar (id int primary key, label text)',
                             "insert into cellar values (1, 'first')"])]
    assert not table_exists(db, 'cellar')  # no SQL ran
    again = migrate(db, directory, state='repair', repair_status='applied', versions=['20260101000000'])
    assert again['changed'] is False
    missing = migrate(db, directory, state='repair', repair_status='applied', versions=['20990101000000'])
    assert_one_line_error(missing, 'no migration file for version 20990101000000')


def test_the_transaction_pooler_port_gives_a_warning(db, tmp_path):
    # Nothing listens on 6543 here: the warning comes before the connection error.
    result = run_module(MODULE, dict(db.conn_args(), login_port=6543, connect_timeout=2,
                                     migrations_dir=write(tmp_path / 'migrations', BASIC)))
    assert result.get('failed')
    assert any('transaction pooler' in w for w in warnings_of(result)), result

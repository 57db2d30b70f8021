"""postgres_maintenance against a real PostgreSQL 15 (tests/sandbox/pg.py)."""

import time

import pytest

from tests.conftest import assert_one_line_error, run_module
from tests.waiting import poll

MODULE = 'postgres_maintenance'


def maintenance(db, check_mode=False, **args):
    return run_module(MODULE, dict(db.conn_args(), **args), check_mode=check_mode)


def stat(db, table, column):
    return db.scalar('SELECT %s FROM pg_stat_user_tables WHERE schemaname = %%s AND relname = %%s' % column,
                     ('public', table))


def relfilenode(db, relation):
    return db.scalar('SELECT pg_relation_filenode(%s::regclass)', (relation,))


def delete_rows(db, table, where):
    """Delete rows in a separate session and wait until the statistics count them as dead. Autovacuum is off
    for the table, so a busy machine's autovacuum worker cannot clear them before the module reads them."""
    db.query('ALTER TABLE %s SET (autovacuum_enabled = off)' % table)
    deleted = db.scalar('WITH d AS (DELETE FROM %s WHERE %s RETURNING 1) SELECT count(*) FROM d' % (table, where))
    assert deleted > 0
    assert poll(lambda: stat(db, table, 'n_dead_tup') >= deleted)
    return deleted


def test_analyze_named_tables(db):
    assert stat(db, 'wines', 'last_analyze') is None  # a fresh database has no statistics yet
    result = maintenance(db, operation='analyze', tables=['wines', 'public.recommendations', 'wines'])
    assert result['changed'] is True, result
    assert [p['table'] for p in result['plan']] == ['public.wines', 'public.recommendations']
    assert result['plan'][0] == dict(table='public.wines', sql='ANALYZE "public"."wines"', reason='requested')
    assert [t['status'] for t in result['tables']] == ['ok', 'ok']
    assert all(isinstance(t['duration'], float) for t in result['tables'])
    assert stat(db, 'wines', 'last_analyze') is not None
    assert stat(db, 'recommendations', 'last_analyze') is not None
    assert stat(db, 'notifications', 'last_analyze') is None
    assert result['tables'][0]['dead_tuples_after'] == stat(db, 'wines', 'n_dead_tup')


def test_vacuum_removes_dead_tuples(db):
    deleted = delete_rows(db, 'notifications', 'id <= 400')
    result = maintenance(db, operation='vacuum', tables=['notifications'])
    assert result['changed'] is True, result
    entry = result['tables'][0]
    assert entry['sql'] == 'VACUUM "public"."notifications"'
    assert entry['status'] == 'ok'
    assert entry['dead_tuples_before'] == deleted
    assert entry['dead_tuples_after'] == 0
    assert stat(db, 'notifications', 'n_dead_tup') == 0
    assert stat(db, 'notifications', 'last_vacuum') is not None
    assert stat(db, 'notifications', 'last_analyze') is None  # plain VACUUM does not analyze


def test_vacuum_analyze(db):
    delete_rows(db, 'error_logs', 'id <= 100')
    result = maintenance(db, operation='vacuum_analyze', tables=['error_logs'])
    entry = result['tables'][0]
    assert entry['sql'] == 'VACUUM (ANALYZE) "public"."error_logs"'
    assert entry['dead_tuples_before'] == 100 and entry['dead_tuples_after'] == 0
    assert stat(db, 'error_logs', 'last_vacuum') is not None
    assert stat(db, 'error_logs', 'last_analyze') is not None


def test_vacuum_full_rewrites_the_table(db):
    delete_rows(db, 'performance_metrics', 'id <= 1000')
    before = relfilenode(db, 'public.performance_metrics')
    size_before = db.scalar("SELECT pg_table_size('public.performance_metrics')")
    result = maintenance(db, operation='vacuum', full=True, tables=['performance_metrics'])
    entry = result['tables'][0]
    assert result['changed'] is True
    assert entry['sql'] == 'VACUUM (FULL) "public"."performance_metrics"'
    assert entry['dead_tuples_before'] == 1000
    assert entry['dead_tuples_after'] is None  # VACUUM FULL does not update the statistics
    assert relfilenode(db, 'public.performance_metrics') != before
    assert db.scalar("SELECT pg_table_size('public.performance_metrics')") < size_before


@pytest.mark.parametrize('concurrently, expected', [
    (True, 'REINDEX TABLE CONCURRENTLY "public"."wines"'),
    (False, 'REINDEX TABLE "public"."wines"'),
])
def test_reindex_rebuilds_the_indexes(db, concurrently, expected):
    before = relfilenode(db, 'public.wines_region_idx')
    result = maintenance(db, operation='reindex', tables=['wines'], concurrently=concurrently)
    assert result['changed'] is True, result
    assert result['tables'][0]['sql'] == expected
    assert result['tables'][0]['status'] == 'ok'
    assert relfilenode(db, 'public.wines_region_idx') != before
    assert db.scalar("SELECT count(*) FROM pg_index WHERE indrelid = 'public.wines'::regclass AND NOT indisvalid") == 0


def test_check_mode_returns_the_plan_and_runs_nothing(db):
    deleted = delete_rows(db, 'notifications', 'id <= 100')
    filenode = relfilenode(db, 'public.wines_region_idx')
    result = maintenance(db, check_mode=True, operation='vacuum_analyze', tables=['notifications'])
    assert result['changed'] is True
    assert result['plan'] == [dict(table='public.notifications', sql='VACUUM (ANALYZE) "public"."notifications"',
                                   reason='requested')]
    assert result['tables'] == []
    assert stat(db, 'notifications', 'n_dead_tup') == deleted
    assert stat(db, 'notifications', 'last_vacuum') is None
    result = maintenance(db, check_mode=True, operation='reindex', tables=['wines'])
    assert result['plan'][0]['sql'] == 'REINDEX TABLE CONCURRENTLY "public"."wines"'
    assert relfilenode(db, 'public.wines_region_idx') == filenode


def test_auto_picks_tables_over_the_ratio_then_has_nothing_to_do(db):
    db.query('ANALYZE')  # every table analyzed: only dead tuples count
    deleted = delete_rows(db, 'notifications', 'id <= 400')  # 400 of 1200: 33%
    delete_rows(db, 'wines', 'id <= 10')  # 10 dead tuples: under min_dead_tuples
    check = maintenance(db, check_mode=True, operation='vacuum_analyze', tables='auto')
    assert [p['table'] for p in check['plan']] == ['public.notifications'], check
    assert check['plan'][0]['reason'] == '400 dead tuples, 33.3% of 1200 (over 10.0%)'
    assert stat(db, 'notifications', 'n_dead_tup') == deleted

    result = maintenance(db, operation='vacuum_analyze', tables='auto')
    assert result['changed'] is True
    assert [t['table'] for t in result['tables']] == ['public.notifications']
    assert result['tables'][0]['dead_tuples_before'] == 400
    assert result['tables'][0]['dead_tuples_after'] == 0
    assert stat(db, 'notifications', 'n_dead_tup') == 0

    again = maintenance(db, operation='vacuum_analyze', tables='auto')
    assert again['changed'] is False
    assert again['plan'] == [] and again['tables'] == []


def test_auto_includes_never_analyzed_tables_of_the_given_schemas(db):
    db.query('ANALYZE public.wines')
    result = maintenance(db, check_mode=True, operation='analyze', tables=['auto'])
    planned = {p['table']: p['reason'] for p in result['plan']}
    assert 'public.wines' not in planned
    assert planned['public.notifications'] == 'never analyzed'
    assert not [t for t in planned if not t.startswith('public.')]
    result = maintenance(db, check_mode=True, operation='analyze', tables=['auto'], schemas=['auth'])
    gotrue = ['auth.audit_log_entries', 'auth.mfa_factors', 'auth.refresh_tokens', 'auth.sessions', 'auth.users']
    assert [p['table'] for p in result['plan']] == gotrue  # GoTrue's tables (seed_auth.sql)
    result = maintenance(db, check_mode=True, operation='analyze', tables=['auto'], include_never_analyzed=False)
    assert result['changed'] is False and result['plan'] == []


@pytest.mark.parametrize('name', ['wines; DROP TABLE wines', 'wines"; DROP TABLE wines; --', "wines'; DROP TABLE wines"])
def test_hostile_names_are_identifiers_not_sql(db, name):
    result = maintenance(db, operation='vacuum', tables=[name])
    assert_one_line_error(result)
    # Unquoted names fold to lower case as in SQL; an unbalanced quote is no name at all.
    assert ('"public.%s" does not exist' % name.lower() in result['msg']
            or '"%s" is not a table name; use table or schema.table' % name in result['msg']), result['msg']
    assert db.scalar('SELECT count(*) FROM wines') == 500
    assert stat(db, 'wines', 'last_vacuum') is None


def test_all_tables_are_checked_before_anything_runs(db):
    result = maintenance(db, operation='analyze', tables=['wines', 'missing_table', 'auth.nope'])
    assert_one_line_error(result, 'table "public.missing_table", "auth.nope" does not exist in database')
    assert result.get('changed') is not True
    assert stat(db, 'wines', 'last_analyze') is None


def test_lock_timeout_fails_the_locked_table_only(db):
    holder = db.connect(autocommit=False)
    try:
        holder.cursor().execute('LOCK TABLE wines IN ACCESS EXCLUSIVE MODE')
        started = time.time()
        result = maintenance(db, operation='analyze', tables=['wines', 'user_profiles'], lock_timeout='200ms')
        assert time.time() - started < 5
    finally:
        holder.rollback()
        holder.close()
    assert_one_line_error(result, 'analyze failed on public.wines', 'lock timeout')
    assert result['changed'] is True
    statuses = {t['table']: t['status'] for t in result['tables']}
    assert statuses == {'public.wines': 'failed', 'public.user_profiles': 'ok'}
    assert stat(db, 'wines', 'last_analyze') is None
    assert stat(db, 'user_profiles', 'last_analyze') is not None


def test_a_cut_connection_stops_the_run_and_names_the_tables_not_touched(db):
    import threading
    holder = db.connect(autocommit=False)
    box = {}
    try:
        holder.cursor().execute('LOCK TABLE wines IN ACCESS EXCLUSIVE MODE')
        worker = threading.Thread(target=lambda: box.update(result=maintenance(
            db, operation='analyze', tables=['wines', 'user_profiles', 'notifications'], lock_timeout='30s')))
        worker.start()
        waiting = "application_name = 'pourtrait.ops/postgres_maintenance' AND wait_event_type = 'Lock'"
        assert poll(lambda: db.scalar('SELECT count(*) FROM pg_stat_activity WHERE ' + waiting))
        db.scalar('SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE ' + waiting)
        worker.join(60)
    finally:
        holder.rollback()
        holder.close()
    result = box['result']
    assert_one_line_error(result, 'the connection to PostgreSQL was lost during analyze of public.wines',
                          'public.user_profiles, public.notifications not touched',
                          'run the same task again')
    assert [t['table'] for t in result['tables']] == ['public.wines']
    assert stat(db, 'user_profiles', 'last_analyze') is None and stat(db, 'notifications', 'last_analyze') is None


@pytest.mark.parametrize('args, fragments', [
    (dict(operation='analyze', tables=['wines'], full=True), ['full: true is VACUUM FULL', 'not analyze']),
    (dict(operation='reindex', tables=['wines'], full=True), ['needs operation vacuum or vacuum_analyze']),
    (dict(operation='vacuum', tables=['auto', 'wines']), ['cannot be mixed']),
    (dict(operation='vacuum', tables=[]), ['tables is empty']),
    (dict(operation='vacuum', tables=['wines'], lock_timeout='soon'), ['lock_timeout', 'use a duration']),
    (dict(operation='vacuum', tables=['wines'], statement_timeout='-'), ['statement_timeout', 'use a duration']),
    (dict(operation='vacuum', tables='auto', dead_tuple_ratio=1.5), ['dead_tuple_ratio is 1.5']),
    (dict(operation='vacuum', tables=['a.b.c']), ['"a.b.c" is not a table name']),
    (dict(operation='shrink', tables=['wines']), ['operation']),
])
def test_bad_input_is_a_one_line_error_and_changes_nothing(db, args, fragments):
    result = maintenance(db, **args)
    assert_one_line_error(result, *fragments)
    assert stat(db, 'wines', 'last_vacuum') is None and stat(db, 'wines', 'last_analyze') is None


def test_table_not_owned_is_skipped(db, pg_server):
    db.query("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'maint_guest') THEN "
             "CREATE ROLE maint_guest LOGIN PASSWORD 'guest-pw'; END IF; END $$")
    db.query('GRANT CONNECT ON DATABASE "%s" TO maint_guest' % db.name)
    args = dict(db.conn_args(), login_user='maint_guest', login_password='guest-pw')
    result = run_module(MODULE, dict(args, operation='vacuum', tables=['wines']))
    assert result['changed'] is False, result
    assert result['tables'][0]['status'] == 'skipped'
    assert 'wines' in result['tables'][0]['message']
    assert stat(db, 'wines', 'last_vacuum') is None

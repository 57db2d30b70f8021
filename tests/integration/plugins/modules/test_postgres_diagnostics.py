"""postgres_diagnostics against a real PostgreSQL 15 (tests/sandbox/pg.py)."""

import threading
import time

import pytest

from tests.contention import Contention
from tests.conftest import assert_one_line_error, run_module
from tests.waiting import poll

MODULE = 'postgres_diagnostics'
ALL_KEYS = {'slow_queries', 'table_sizes', 'index_usage', 'unused_indexes', 'dead_tuples',
            'connections', 'long_running', 'database',
            'blocking', 'locks', 'bloat', 'cache_hit', 'vacuum_stats', 'role_stats', 'replication_slots',
            'seq_scans', 'traffic_profile', 'calls', 'db_stats'}


def warning_texts(result):
    """Warnings as the playbook sees them (the raw module output wraps each one in an event)."""
    return [w['event']['msg'] if isinstance(w, dict) else w for w in result.get('warnings') or []]


def diagnostics(db, **args):
    result = run_module(MODULE, dict(db.conn_args(), **args))
    assert not result.get('failed'), result
    assert result['changed'] is False
    return result


def test_all_subsets_describe_the_database(db, pg_version):
    result = diagnostics(db)
    facts = result['diagnostics']
    assert set(facts) == ALL_KEYS
    database = facts['database']
    assert database['name'] == db.name
    assert database['size_bytes'] == db.scalar('SELECT pg_database_size(current_database())')
    assert database['max_connections'] == 200
    if pg_version == '15':
        assert database['server_version'].startswith('15')
    else:
        assert database['server_version'].startswith(pg_version + '.')
    assert database['pg_stat_statements'] == 'extensions'
    assert not result.get('warnings')

    sizes = facts['table_sizes']
    assert 0 < len(sizes) <= 20
    totals = [t['total_bytes'] for t in sizes]
    assert totals == sorted(totals, reverse=True)
    # The largest table really is the largest, measured exactly.
    biggest = db.query("SELECT n.nspname || '.' || c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                       "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
                       "AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 2 DESC LIMIT 1")[0]
    assert (sizes[0]['table'], sizes[0]['total_bytes']) == biggest
    wines = [t for t in sizes if t['table'] == 'public.wines'][0]
    assert wines['table_bytes'] == db.scalar("SELECT pg_table_size('public.wines')")
    assert wines['index_bytes'] == db.scalar("SELECT pg_indexes_size('public.wines')")
    assert wines['total_bytes'] == wines['table_bytes'] + wines['index_bytes']
    assert wines['total'].endswith('kB')


def test_limit_applies_to_every_list(db):
    facts = diagnostics(db, limit=2)['diagnostics']
    for key in ('table_sizes', 'index_usage', 'unused_indexes'):
        assert len(facts[key]) == 2, key


def test_slow_queries_from_pg_stat_statements(db):
    db.query('SELECT pg_sleep(0.25)')
    db.query('SELECT count(*) FROM wines')
    facts = diagnostics(db, gather_subset=['slow_queries'], slow_query_threshold_ms=200)['diagnostics']
    assert set(facts) == {'slow_queries'}
    slow = facts['slow_queries']
    assert [q['query'] for q in slow] == ['SELECT pg_sleep($1)']
    entry = slow[0]
    assert entry['calls'] == 1 and entry['rows'] == 1
    assert 250 <= entry['mean_ms'] < 2000
    assert entry['total_ms'] == entry['mean_ms']
    assert 'shared_blk_read_time_ms' in entry
    # Below the threshold: the fast statement appears too (and nothing from other databases).
    facts = diagnostics(db, gather_subset=['slow_queries'], slow_query_threshold_ms=0, limit=1000)['diagnostics']
    texts = [q['query'] for q in facts['slow_queries']]
    assert 'SELECT count(*) FROM wines' in texts
    means = [q['mean_ms'] for q in facts['slow_queries']]
    assert means == sorted(means, reverse=True)


def test_pg_stat_statements_in_public_schema(db):
    db.query('ALTER EXTENSION pg_stat_statements SET SCHEMA public')
    db.query('SELECT pg_sleep(0.15)')
    facts = diagnostics(db, gather_subset=['slow_queries', 'database'])['diagnostics']
    assert facts['database']['pg_stat_statements'] == 'public'
    assert 'SELECT pg_sleep($1)' in [q['query'] for q in facts['slow_queries']]


def test_missing_pg_stat_statements_warns_and_returns_the_rest(db):
    db.query('DROP EXTENSION pg_stat_statements')
    result = diagnostics(db)
    facts = result['diagnostics']
    assert facts['slow_queries'] == []
    assert facts['database']['pg_stat_statements'] is None
    assert facts['table_sizes'] and facts['index_usage']
    warnings = warning_texts(result)
    assert len(warnings) == 1
    assert 'shared_preload_libraries' in warnings[0]
    assert 'CREATE EXTENSION pg_stat_statements WITH SCHEMA extensions' in warnings[0]


def test_dead_tuples_per_table(db):
    deleted = db.scalar('WITH d AS (DELETE FROM notifications WHERE id <= 300 RETURNING 1) SELECT count(*) FROM d')
    assert deleted == 300
    poll(lambda: db.scalar("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'notifications'") >= 300, fail=False)
    facts = diagnostics(db, gather_subset=['dead_tuples'])['diagnostics']
    rows = {r['table']: r for r in facts['dead_tuples']}
    notifications = rows['public.notifications']
    assert notifications['dead_tuples'] == 300
    assert notifications['live_tuples'] == db.scalar("SELECT n_live_tup FROM pg_stat_user_tables "
                                                     "WHERE relname = 'notifications'")
    assert notifications['dead_ratio'] == round(300.0 / (notifications['live_tuples'] + 300), 4)
    assert notifications['last_vacuum'] is None
    assert all(r['dead_tuples'] > 0 for r in facts['dead_tuples'])
    # After a VACUUM the table is gone from the list.
    db.query('VACUUM notifications')
    facts = diagnostics(db, gather_subset=['dead_tuples'])['diagnostics']
    assert 'public.notifications' not in [r['table'] for r in facts['dead_tuples']]


def test_index_usage_and_unused_indexes(db):
    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute('SET enable_seqscan = off')
        for _attempt in range(3):
            cur.execute("SELECT count(*) FROM wines WHERE region = 'Rioja'")
    conn.close()
    poll(lambda: db.scalar("SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'wines_region_idx'"), fail=False)
    facts = diagnostics(db, gather_subset=['index_usage', 'unused_indexes'], limit=100)['diagnostics']
    usage = {r['index']: r for r in facts['index_usage']}
    region = usage['public.wines_region_idx']
    assert region['scans'] == 3 and region['table'] == 'public.wines'
    assert region['size_bytes'] == db.scalar("SELECT pg_relation_size('public.wines_region_idx')")
    assert facts['index_usage'][0]['index'] == 'public.wines_region_idx'  # the only index scanned
    unused = {r['index']: r for r in facts['unused_indexes']}
    assert 'public.wines_varietal_idx' in unused
    assert 'public.wines_region_idx' not in unused
    assert 'public.wines_pkey' not in unused and 'public.user_profiles_email_key' not in unused
    assert unused['public.wines_varietal_idx']['size_bytes'] == db.scalar(
        "SELECT pg_relation_size('public.wines_varietal_idx')")
    sizes = [r['size_bytes'] for r in facts['unused_indexes']]
    assert sizes == sorted(sizes, reverse=True)


@pytest.fixture
def busy_sessions(db):
    """An idle session, one idle in a transaction, and one running a 4 s query."""
    idle = db.connect()
    in_tx = db.connect(autocommit=False)
    in_tx.cursor().execute('SELECT 1')
    busy = db.connect()
    busy.cursor().execute("SET application_name = 'diag-test-sleeper'")
    pid = busy.get_backend_pid()

    def sleep():
        try:
            busy.cursor().execute("SELECT pg_sleep(4) /* a long comment that makes the query text longer */")
        except Exception:  # cancelled at teardown
            pass

    thread = threading.Thread(target=sleep)
    thread.start()
    time.sleep(1.3)
    yield pid
    busy.cancel()
    thread.join()
    for conn in (idle, in_tx, busy):
        conn.close()


def test_connections_and_long_running(db, busy_sessions):
    facts = diagnostics(db, gather_subset=['connections', 'long_running'], long_running_seconds=1,
                        query_max_length=20)['diagnostics']
    connections = facts['connections']
    assert connections['max_connections'] == 200
    assert connections['by_state']['active'] >= 1
    assert connections['by_state']['idle'] >= 1
    assert connections['by_state']['idle in transaction'] >= 1
    assert connections['total'] == sum(connections['by_state'].values())
    long_running = [q for q in facts['long_running'] if q['pid'] == busy_sessions]
    assert len(long_running) == 1
    entry = long_running[0]
    assert entry['application_name'] == 'diag-test-sleeper'
    assert entry['state'] == 'active'
    assert entry['usename'] == 'postgres'
    assert entry['database'] == db.name
    assert 1.0 <= entry['duration_seconds'] < 10
    assert entry['query'] == 'SELECT pg_sleep(4) /...'
    # Over the threshold: nothing.
    facts = diagnostics(db, gather_subset=['long_running'], long_running_seconds=600)['diagnostics']
    assert facts['long_running'] == []


def test_gather_subset_exclusions(db):
    facts = diagnostics(db, gather_subset=['!slow_queries', '!long_running'])['diagnostics']
    assert set(facts) == ALL_KEYS - {'slow_queries', 'long_running'}
    facts = diagnostics(db, gather_subset=['all', '!database'])['diagnostics']
    assert set(facts) == ALL_KEYS - {'database'}
    facts = diagnostics(db, gather_subset=['table_sizes', 'database'])['diagnostics']
    assert set(facts) == {'table_sizes', 'database'}


@pytest.mark.parametrize('args, fragments', [
    (dict(gather_subset=['tables']), ['gather_subset: unknown subset "tables"', 'table_sizes', 'prefix a name with !']),
    (dict(gather_subset=['!bogus']), ['unknown subset "!bogus"']),
    (dict(gather_subset=['!all']), ['leaves nothing to gather']),
    (dict(gather_subset=['database', '!database']), ['leaves nothing to gather']),
    (dict(gather_subset=[]), ['gather_subset is empty']),
    (dict(limit=0), ['limit is 0', '1 or more']),
    (dict(slow_query_threshold_ms=-1), ['slow_query_threshold_ms is -1.0']),
    (dict(query_max_length=3), ['query_max_length is 3']),
])
def test_bad_input_is_a_one_line_error(db, args, fragments):
    result = run_module(MODULE, dict(db.conn_args(), **args))
    assert_one_line_error(result, *fragments)


def test_wrong_password_and_missing_database(db):
    result = run_module(MODULE, dict(db.conn_args(), login_password='wrong'))
    assert_one_line_error(result, 'rejected the credentials')
    assert 'wrong' not in result['msg']
    result = run_module(MODULE, dict(db.conn_args(), login_db='no_such_db'))
    assert_one_line_error(result, 'database "no_such_db" does not exist')


def test_database_size_runs_on_a_second_connection_or_falls_back_to_the_first(db):
    """The database size (slowest with many tables) runs beside the catalog queries on a second connection;
    a role allowed a single connection (as in an incident with no free slot) still gets every subset."""
    role = 'diag_single_%s' % db.name[-6:]
    db.server.execute('CREATE ROLE %s LOGIN PASSWORD %%s CONNECTION LIMIT 1' % role, params=('single-slot-pw',))
    db.server.execute('GRANT pg_read_all_stats TO %s' % role)
    db.query('GRANT USAGE ON SCHEMA extensions TO %s' % role)
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(db.server.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pourtrait.ops/postgres_diagnostics'"
            )[0][0])
            time.sleep(0.005)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _run in range(3):
            both = diagnostics(db)
    finally:
        stop.set()
        watcher.join()
    try:
        assert max(seen) == 2, 'two connections were never seen at once: %s' % sorted(set(seen))
        assert both['diagnostics']['database']['size_bytes'] == db.scalar('SELECT pg_database_size(current_database())')
        single = diagnostics(db, login_user=role, login_password='single-slot-pw')
        facts = single['diagnostics']
        assert set(facts) == ALL_KEYS and not single.get('warnings'), single
        assert facts['database']['size_bytes'] == db.scalar('SELECT pg_database_size(current_database())')
        assert facts['table_sizes'] == both['diagnostics']['table_sizes']
    finally:
        db.query('DROP OWNED BY %s' % role)
        db.server.execute('DROP ROLE %s' % role)


# -- the parts of every `supabase inspect db` report ----------------------------------------------------------

@pytest.fixture
def contention(db):
    """A row-lock wait (UPDATE on a row another transaction updated) and a relation-lock wait (a SELECT on a table
    another transaction locked with LOCK TABLE)."""
    sessions = Contention(db)
    row_holder = sessions.hold('UPDATE wines SET rating = 1 WHERE id = 1', 'row-holder')
    row_waiter = sessions.wait('UPDATE wines SET rating = 2 WHERE id = 1', 'row-waiter')
    table_holder = sessions.hold('LOCK TABLE notifications IN ACCESS EXCLUSIVE MODE', 'table-holder')
    table_waiter = sessions.wait('SELECT count(*) FROM notifications', 'table-waiter')
    try:
        yield dict(row_holder=row_holder, row_waiter=row_waiter, table_holder=table_holder, table_waiter=table_waiter)
    finally:
        sessions.close()


def test_blocking_is_a_tree_with_the_root_blockers_first(db, contention):
    facts = diagnostics(db, gather_subset=['blocking'])['diagnostics']
    trees = dict((t['pid'], t) for t in facts['blocking'])
    assert set(trees) == {contention['row_holder'], contention['table_holder']}
    row = trees[contention['row_holder']]
    assert row['application_name'] == 'row-holder' and row['state'] == 'idle in transaction'
    assert row['blocked_by'] == [] and row['blocked_count'] == 1
    assert [c['pid'] for c in row['children']] == [contention['row_waiter']]
    waiter = row['children'][0]
    assert waiter['blocked_by'] == [contention['row_holder']]
    assert waiter['waiting_for']['locktype'] == 'transactionid'
    assert waiter['waiting_for']['mode'] == 'ShareLock'
    assert waiter['query'] == 'UPDATE wines SET rating = 2 WHERE id = 1'
    # The relation-lock wait that `supabase inspect db blocking` misses.
    table = trees[contention['table_holder']]
    assert [c['pid'] for c in table['children']] == [contention['table_waiter']]
    waiter = table['children'][0]
    assert waiter['waiting_for']['locktype'] == 'relation'
    assert waiter['waiting_for']['mode'] == 'AccessShareLock'
    assert waiter['waiting_for']['object'] == 'public.notifications'
    assert waiter['waiting_for']['seconds'] >= 0 and waiter['children'] == []


def test_locks_lists_waiting_locks_first_with_relation_and_mode(db, contention):
    facts = diagnostics(db, gather_subset=['locks'], limit=100)['diagnostics']
    locks = facts['locks']
    waiting = [lock for lock in locks if not lock['granted']]
    assert set(lock['pid'] for lock in waiting) == {contention['row_waiter'], contention['table_waiter']}
    assert locks[:len(waiting)] == waiting
    table_wait = [lock for lock in waiting if lock['pid'] == contention['table_waiter']][0]
    assert (table_wait['locktype'], table_wait['mode'], table_wait['object']) == (
        'relation', 'AccessShareLock', 'public.notifications')
    held = [lock for lock in locks if lock['pid'] == contention['table_holder'] and lock['granted']
            and lock['object'] == 'public.notifications']
    assert held and held[0]['mode'] == 'AccessExclusiveLock' and held[0]['age_seconds'] >= 0
    assert not [lock for lock in locks if lock['locktype'] == 'virtualxid']


def test_no_contention_no_tree(db):
    assert diagnostics(db, gather_subset=['blocking'])['diagnostics']['blocking'] == []


@pytest.fixture
def bloated(db):
    """Two tables of the same shape, analyzed: one fresh, one with 90% of its rows updated then deleted and
    autovacuum off for it (so nothing reclaims the space)."""
    for name, options in (('diag_bloated', 'WITH (autovacuum_enabled = false)'), ('diag_fresh', '')):
        db.query('CREATE TABLE %s (id int PRIMARY KEY, payload text) %s' % (name, options))
        db.query("INSERT INTO %s SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g" % name)
    db.query("UPDATE diag_bloated SET payload = repeat('y', 100)")
    db.query('DELETE FROM diag_bloated WHERE id % 10 <> 0')
    db.query('ANALYZE diag_bloated')
    db.query('ANALYZE diag_fresh')
    return 'public.diag_bloated', 'public.diag_fresh'


def test_bloat_is_higher_for_the_bloated_table(db, bloated):
    facts = diagnostics(db, gather_subset=['bloat'], limit=100)['diagnostics']
    items = dict((i['name'], i) for i in facts['bloat'])
    bloated_table, fresh_table = items['public.diag_bloated'], items['public.diag_fresh']
    assert bloated_table['kind'] == 'table' and bloated_table['note'] is None
    assert bloated_table['bloat_ratio'] > 0.8
    assert fresh_table['bloat_ratio'] < 0.2
    assert bloated_table['wasted_bytes'] > fresh_table['wasted_bytes']
    assert bloated_table['size_bytes'] == db.scalar("SELECT pg_relation_size('diag_bloated')")
    index = items['public.diag_bloated_pkey']
    assert index['kind'] == 'index' and index['table'] == 'public.diag_bloated'
    assert index['bloat_ratio'] > items['public.diag_fresh_pkey']['bloat_ratio']
    wasted = [i['wasted_bytes'] or 0 for i in facts['bloat']]
    assert wasted == sorted(wasted, reverse=True)


def test_bloat_notes_where_statistics_are_missing(db):
    db.query("CREATE TABLE diag_unanalyzed AS SELECT g AS id, repeat('x', 50) AS payload FROM generate_series(1, 2000) g")
    db.query('VACUUM diag_unanalyzed')  # pages and tuples known, column statistics not
    facts = diagnostics(db, gather_subset=['bloat'], limit=100)['diagnostics']
    item = [i for i in facts['bloat'] if i['name'] == 'public.diag_unanalyzed'][0]
    assert item['bloat_ratio'] is None and item['wasted_bytes'] is None
    assert 'no statistics' in item['note'] or 'never analyzed' in item['note']


def test_vacuum_stats_respect_the_tables_own_thresholds(db, bloated):
    db.query('ALTER TABLE diag_fresh SET (autovacuum_vacuum_threshold = 100000, autovacuum_vacuum_scale_factor = 0, '
             'autovacuum_vacuum_insert_threshold = 100000)')
    db.query('DELETE FROM diag_fresh WHERE id <= 1000')
    for table, dead in (('diag_fresh', 1000), ('diag_bloated', 4500)):  # statistics reach the server shortly after
        poll(lambda table=table, dead=dead: db.scalar(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s", (table,)) >= dead, fail=False)
    facts = diagnostics(db, gather_subset=['vacuum_stats'], limit=100)['diagnostics']
    rows = dict((r['table'], r) for r in facts['vacuum_stats'])
    bloated_row = rows['public.diag_bloated']
    assert bloated_row['dead_tuples'] >= 4500 and bloated_row['autovacuum_due'] is True
    assert bloated_row['autovacuum_due_by'] == 'dead_tuples'
    assert bloated_row['autovacuum_enabled'] is False and 'VACUUM' in bloated_row['note']
    # threshold 50 + 0.2 * reltuples (500 live rows after ANALYZE) with the server's defaults
    assert bloated_row['vacuum_threshold'] == 150
    fresh_row = rows['public.diag_fresh']
    assert fresh_row['dead_tuples'] >= 1000
    assert fresh_row['vacuum_threshold'] == 100000 and fresh_row['autovacuum_due'] is False
    assert fresh_row['insert_threshold'] == 100000 + 1000  # insert scale factor 0.2 of 5000 rows
    assert facts['vacuum_stats'][0]['autovacuum_due'] is True


@pytest.fixture
def slot(db):
    name = 'diag_slot_%s' % db.name[-8:]
    db.query('SELECT pg_create_physical_replication_slot(%s, true)', (name,))
    db.query('CREATE TABLE diag_wal AS SELECT g FROM generate_series(1, 20000) g')  # WAL after the slot
    try:
        yield name
    finally:
        db.query('SELECT pg_drop_replication_slot(%s)', (name,))


def test_replication_slot_retains_wal(db, slot):
    facts = diagnostics(db, gather_subset=['replication_slots'], limit=100)['diagnostics']
    entry = [s for s in facts['replication_slots'] if s['slot_name'] == slot][0]
    assert entry['active'] is False and entry['slot_type'] == 'physical'
    assert entry['retained_wal_bytes'] > 0
    assert entry['wal_status'] in ('reserved', 'extended')


def test_role_stats_against_the_roles_limit(db):
    role = 'diag_limited_%s' % db.name[-6:]
    db.server.execute('CREATE ROLE %s LOGIN PASSWORD %%s CONNECTION LIMIT 5' % role, params=('limited-pw',))
    conn = db.server.connect(db.name)
    other = None
    try:
        import psycopg2
        other = psycopg2.connect(host='127.0.0.1', port=db.server.port, user=role, password='limited-pw', dbname=db.name)
        facts = diagnostics(db, gather_subset=['role_stats'], limit=100)['diagnostics']
        stats = facts['role_stats']
        assert stats['max_connections'] == 200
        roles = dict((r['role'], r) for r in stats['roles'])
        assert roles[role]['connections'] == 1 and roles[role]['limit'] == 5
        assert roles[role]['limit_used_ratio'] == 0.2
        assert roles['postgres']['limit'] is None and roles['postgres']['connections'] >= 1
    finally:
        if other is not None:
            other.close()
        conn.close()
        db.server.execute('DROP ROLE %s' % role)


def test_traffic_seq_scans_cache_hit_calls_and_db_stats(db):
    for _attempt in range(3):
        db.query('SELECT count(*) FROM wines')
    db.query("UPDATE error_logs SET level = 'warn'")
    facts = diagnostics(db, gather_subset=['seq_scans', 'traffic_profile', 'cache_hit', 'calls', 'db_stats'],
                        limit=100)['diagnostics']
    scans = dict((r['table'], r) for r in facts['seq_scans'])
    assert scans['public.wines']['seq_scans'] >= 3
    assert scans['public.wines']['seq_rows_read'] >= 1500
    traffic = dict((r['table'], r) for r in facts['traffic_profile'])
    assert traffic['public.wines']['profile'] == 'read-heavy'
    assert traffic['public.error_logs']['rows_written'] >= 300
    cache = facts['cache_hit']
    assert 0 < cache['table_hit_ratio'] <= 1 and cache['table_blocks_hit'] > 0
    calls = facts['calls']
    counts = [c['calls'] for c in calls]
    assert counts == sorted(counts, reverse=True)
    wines = [c for c in calls if c['query'] == 'SELECT count(*) FROM wines'][0]
    assert wines['calls'] == 3 and 0 < wines['calls_share'] <= 1
    stats = facts['db_stats']
    assert stats['name'] == db.name and stats['size_bytes'] > 0 and stats['commits'] > 0
    assert stats['wal_bytes'] > 0 and stats['wal_note'] is None  # the superuser may list the WAL
    assert stats['checkpoints']['source'] == ('pg_stat_checkpointer' if int(db.scalar('SHOW server_version_num')) >= 170000
                                              else 'pg_stat_bgwriter')
    assert stats['checkpoints']['timed'] is not None


def test_calls_without_pg_stat_statements_says_so_once(db):
    db.query('DROP EXTENSION pg_stat_statements')
    result = diagnostics(db, gather_subset=['calls', 'slow_queries', 'db_stats'])
    assert result['diagnostics']['calls'] == [] and result['diagnostics']['slow_queries'] == []
    warnings = warning_texts(result)
    assert len(warnings) == 1
    assert 'slow_queries and calls are empty' in warnings[0] and 'CREATE EXTENSION' in warnings[0]


def test_every_new_part_is_a_bad_name_when_misspelt(db):
    result = run_module(MODULE, dict(db.conn_args(), gather_subset=['blocker']))
    assert_one_line_error(result, 'unknown subset "blocker"', 'blocking', 'replication_slots', 'db_stats')

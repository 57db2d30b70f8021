"""postgres_terminate against real sessions of a real PostgreSQL 15.

Each test opens its own client sessions (a runaway query in a thread, a session
left idle in transaction, a plain idle pooled-style connection, sessions of an
excluded role or application) and checks pg_stat_activity afterwards.
"""

import json
import threading
import time

import psycopg2
import pytest

from tests.contention import Contention
from tests.waiting import poll
from tests.conftest import assert_one_line_error, run_module

# Catches the cancel and keeps going: only a terminate stops it.
STUBBORN_SQL = """
CREATE OR REPLACE FUNCTION public.stubborn_sleep() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  LOOP
    BEGIN
      PERFORM pg_sleep(30);
      RETURN;
    EXCEPTION WHEN query_canceled THEN
      NULL;
    END;
  END LOOP;
END
$$;
"""


class Client(object):
    """A client session; ``start(query)`` runs a query in a thread."""

    def __init__(self, db, application_name, user=None):
        kwargs = db.server.conn_kwargs(db.name)
        if user is not None:
            # Other roles have no password: come in over the Unix socket (trust).
            kwargs.update(host=db.server.base_dir, user=user, password=None)
        kwargs['application_name'] = application_name
        self.conn = psycopg2.connect(**kwargs)
        self.pid = self.conn.get_backend_pid()
        self.error = None
        self.thread = None

    def start(self, query):
        self.conn.autocommit = True

        def target():
            try:
                with self.conn.cursor() as cur:
                    cur.execute(query)
            except psycopg2.Error as exc:
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        return self

    def idle_in_transaction(self):
        self.conn.autocommit = False
        with self.conn.cursor() as cur:
            cur.execute('SELECT count(*) FROM wines')
        return self

    def idle(self):
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute('SELECT 1')
        return self


@pytest.fixture
def clients(db):
    opened = []

    def open_client(application_name, user=None):
        client = Client(db, application_name, user=user)
        opened.append(client)
        return client

    yield open_client
    pids = [c.pid for c in opened]
    db.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)', (pids,))
    for client in opened:
        if client.thread is not None:
            client.thread.join(10)
        try:
            client.conn.close()
        except psycopg2.Error:
            pass


def activity(db, pids):
    """{pid: state} of those pids still connected."""
    rows = db.query('SELECT pid, state FROM pg_stat_activity WHERE pid = ANY(%s)', (list(pids),))
    return dict(rows)


def wait_for(db, pids_states, older_than=1.0, timeout=10):
    """Until every pid is in its state for longer than ``older_than`` seconds."""
    deadline = time.time() + timeout
    while True:
        rows = db.query(
            "SELECT pid, state, extract(epoch FROM clock_timestamp() - CASE WHEN state = 'active' "
            "THEN query_start ELSE state_change END) FROM pg_stat_activity WHERE pid = ANY(%s)",
            (list(pids_states),))
        ready = set(pid for pid, state, age in rows if state == pids_states[pid] and age > older_than)
        if ready == set(pids_states):
            return
        if time.time() > deadline:
            raise AssertionError('sessions never reached %r: %r' % (pids_states, rows))
        time.sleep(0.05)


def mixed_sessions(db, clients):
    """A runaway query, an idle transaction, an idle pooled session, a managed role's query and an excluded
    application's query, each settled in its state."""
    runaway = clients('runaway').start('SELECT pg_sleep(30)')
    idle_tx = clients('forgot-to-commit').idle_in_transaction()
    idle = clients('pooled').idle()
    managed = clients('managed', user='authenticator').start('SELECT pg_sleep(30)')
    kept = clients('keepme').start('SELECT pg_sleep(30)')
    wait_for(db, {runaway.pid: 'active', idle_tx.pid: 'idle in transaction', idle.pid: 'idle',
                  managed.pid: 'active', kept.pid: 'active'})
    return runaway, idle_tx, idle, managed, kept


def warnings_of(result):
    """The module's warnings as text (ansible-core 2.19 returns them as structured events)."""
    return json.dumps(result.get('warnings', []))


def args(db, **extra):
    params = db.conn_args()
    params.update(active_seconds=1, idle_in_transaction_seconds=1, grace_seconds=2)
    params.update(extra)
    return params


def test_check_mode_lists_only_safe_candidates_and_touches_nothing(db, clients):
    runaway, idle_tx, idle, managed, kept = mixed_sessions(db, clients)

    result = run_module('postgres_terminate', args(db, exclude_applications=['keepme']), check_mode=True, diff=True)

    assert result.rc == 0, result
    assert result['changed'] is True
    by_pid = dict((c['pid'], c) for c in result['candidates'])
    assert set(by_pid) == {runaway.pid, idle_tx.pid}
    assert by_pid[runaway.pid]['reason'].startswith('active ')
    assert by_pid[runaway.pid]['reason'].endswith(' > 1s')
    assert by_pid[runaway.pid]['query'] == 'SELECT pg_sleep(30)'
    assert by_pid[runaway.pid]['application_name'] == 'runaway'
    assert by_pid[runaway.pid]['datname'] == db.name
    assert by_pid[idle_tx.pid]['reason'].startswith('idle in transaction ')
    assert by_pid[idle_tx.pid]['state'] == 'idle in transaction'
    assert all(not c['application_name'].startswith('pourtrait.ops') for c in result['candidates'])
    assert result['left_alone']['excluded_role'] == 1
    assert result['left_alone']['excluded_application'] == 1
    assert result['cancelled'] == [] and result['terminated'] == []
    assert len(result['diff']['before']['sessions']) == 2
    # Nothing was signalled.
    states = activity(db, [runaway.pid, idle_tx.pid, idle.pid, managed.pid, kept.pid])
    assert states[runaway.pid] == 'active'
    assert states[idle_tx.pid] == 'idle in transaction'
    assert len(states) == 5


def test_cancel_then_terminate_stops_runaways_and_spares_the_rest(db, clients):
    runaway, idle_tx, idle, managed, kept = mixed_sessions(db, clients)

    started = time.time()
    result = run_module('postgres_terminate', args(db, exclude_applications=['keepme']))
    elapsed = time.time() - started

    assert result.rc == 0, result
    assert result['changed'] is True
    # The cancel worked on the sleeping query: no terminate needed; the idle transaction is terminated at once.
    assert result['cancelled'] == [runaway.pid]
    assert result['terminated'] == [idle_tx.pid]
    assert result['still_running'] == []
    outcomes = dict((c['pid'], c['outcome']) for c in result['candidates'])
    assert outcomes == {runaway.pid: 'cancelled', idle_tx.pid: 'terminated'}
    assert elapsed < 8, 'waited the full grace period although the cancel worked'

    states = activity(db, [runaway.pid, idle_tx.pid, idle.pid, managed.pid, kept.pid])
    assert idle_tx.pid not in states                # terminated
    assert states[runaway.pid] == 'idle'           # cancelled: the connection stays, the query is gone
    assert states[idle.pid] == 'idle'              # plain idle pooled connection untouched
    assert states[managed.pid] == 'active'         # Supabase-managed role untouched
    assert states[kept.pid] == 'active'            # excluded application untouched
    runaway.thread.join(5)
    assert isinstance(runaway.error, psycopg2.errors.QueryCanceled)

    # Nothing left to stop: not changed.
    again = run_module('postgres_terminate', args(db, exclude_applications=['keepme']))
    assert again['changed'] is False
    assert again['candidates'] == []


def test_cancel_ignored_then_terminated_after_grace(db, clients):
    db.query(STUBBORN_SQL)
    stubborn = clients('stubborn').start('SELECT public.stubborn_sleep()')
    polite = clients('polite').start('SELECT pg_sleep(30)')
    wait_for(db, {stubborn.pid: 'active', polite.pid: 'active'})

    result = run_module('postgres_terminate', args(db, grace_seconds=1))

    assert result.rc == 0, result
    assert result['cancelled'] == [polite.pid]
    assert result['terminated'] == [stubborn.pid]
    assert result['still_running'] == []
    states = activity(db, [stubborn.pid, polite.pid])
    assert stubborn.pid not in states
    assert states[polite.pid] == 'idle'


def test_cancel_only_reports_what_it_could_not_stop(db, clients):
    db.query(STUBBORN_SQL)
    stubborn = clients('stubborn').start('SELECT public.stubborn_sleep()')
    idle_tx = clients('forgot-to-commit').idle_in_transaction()
    wait_for(db, {stubborn.pid: 'active', idle_tx.pid: 'idle in transaction'})

    result = run_module('postgres_terminate', args(db, action='cancel', grace_seconds=0.5))

    assert result.rc == 0, result
    assert result['changed'] is False
    assert result['cancelled'] == [] and result['terminated'] == []
    assert sorted(result['still_running']) == sorted([stubborn.pid, idle_tx.pid])
    assert 'idle in transaction' in warnings_of(result), result
    states = activity(db, [stubborn.pid, idle_tx.pid])
    assert states == {stubborn.pid: 'active', idle_tx.pid: 'idle in transaction'}


def test_terminate_closes_the_session(db, clients):
    runaway = clients('runaway').start('SELECT pg_sleep(30)')
    wait_for(db, {runaway.pid: 'active'})

    result = run_module('postgres_terminate', args(db, action='terminate'))

    assert result.rc == 0, result
    assert result['terminated'] == [runaway.pid]
    assert result['cancelled'] == []
    assert runaway.pid not in activity(db, [runaway.pid])
    runaway.thread.join(5)
    assert isinstance(runaway.error, psycopg2.OperationalError)


def test_filters_roles_and_databases(db, clients, pg_server):
    runaway = clients('runaway').start('SELECT pg_sleep(30)')
    wait_for(db, {runaway.pid: 'active'})

    # Only some roles: the postgres session is not one of them.
    only = run_module('postgres_terminate', args(db, roles=['service_role']), check_mode=True)
    assert only['candidates'] == [] and only['changed'] is False
    assert only['left_alone']['not_in_roles'] == 1

    # A role both wanted and excluded stays excluded, with a warning.
    both = run_module('postgres_terminate', args(db, roles=['postgres'], exclude_roles=['postgres']), check_mode=True)
    assert both['candidates'] == []
    assert 'exclude_roles' in warnings_of(both), both

    # Connected to another database: the default looks at that database only.
    other = dict(args(db), login_db='postgres')
    assert runaway.pid not in [c['pid'] for c in run_module('postgres_terminate', other, check_mode=True)['candidates']]
    everywhere = run_module('postgres_terminate', dict(other, databases=['all']), check_mode=True)
    assert runaway.pid in [c['pid'] for c in everywhere['candidates']]
    named = run_module('postgres_terminate', dict(other, databases=[db.name]), check_mode=True)
    assert [c['pid'] for c in named['candidates']] == [runaway.pid]

    missing = run_module('postgres_terminate', args(db, databases=['nope; DROP DATABASE postgres']))
    assert_one_line_error(missing, 'database "nope; DROP DATABASE postgres" does not exist')
    assert runaway.pid in activity(db, [runaway.pid])


def test_thresholds_are_respected(db, clients):
    runaway = clients('runaway').start('SELECT pg_sleep(30)')
    idle_tx = clients('forgot-to-commit').idle_in_transaction()
    wait_for(db, {runaway.pid: 'active', idle_tx.pid: 'idle in transaction'}, older_than=0.2)

    result = run_module('postgres_terminate', args(db, active_seconds=600, idle_in_transaction_seconds=600))

    assert result.rc == 0, result
    assert result['changed'] is False
    assert result['candidates'] == []
    assert len(activity(db, [runaway.pid, idle_tx.pid])) == 2


def test_connected_before_ends_every_session_of_the_role_that_logged_in_earlier(db, clients):
    """After a password rotation: every session of the role that connected before it ends, idle ones too."""
    runaway, idle_tx, idle, managed, kept = mixed_sessions(db, clients)
    rotated_at = db.scalar('SELECT clock_timestamp()')
    time.sleep(0.05)
    later = clients('after-the-rotation').idle()
    wait_for(db, {later.pid: 'idle'}, older_than=0.1)
    older = sorted([runaway.pid, idle_tx.pid, idle.pid, kept.pid])
    params = args(db, connected_before=rotated_at.isoformat(), roles=['postgres'])

    planned = run_module('postgres_terminate', params, check_mode=True)
    assert planned['changed'] is True and sorted(c['pid'] for c in planned['candidates']) == older, planned
    assert len(activity(db, older + [later.pid, managed.pid])) == 6

    result = run_module('postgres_terminate', params)
    assert result.rc == 0, result
    assert sorted(result['terminated'] + result['cancelled']) == older, result
    assert activity(db, older) == {}
    assert set(activity(db, [later.pid, managed.pid])) == {later.pid, managed.pid}  # newer / another role
    assert run_module('postgres_terminate', params)['changed'] is False

    bad = run_module('postgres_terminate', args(db, connected_before='after lunch', roles=['postgres']))
    assert_one_line_error(bad, "connected_before='after lunch' is not a time", 'ISO 8601')
    no_roles = run_module('postgres_terminate', args(db, connected_before=rotated_at.isoformat()))
    assert_one_line_error(no_roles, 'connected_before', 'roles')
    assert later.pid in activity(db, [later.pid])


def test_bad_input_is_one_line(db):
    result = run_module('postgres_terminate', args(db, active_seconds=-1))
    assert_one_line_error(result, 'active_seconds must be 0 or more')
    result = run_module('postgres_terminate', args(db, action='kill'))
    assert_one_line_error(result, 'action')


# -- blocking_roots --------------------------------------------------------------------------------------------

@pytest.fixture
def blocking(db, clients):
    """Three root blockers, each with a waiter: one idle in a transaction holding a row lock, one holding a table
    lock while running a query that ignores a cancel, and one holding a table lock while running a query a cancel
    ends (which releases the lock)."""
    sessions = Contention(db)
    idle_root = sessions.hold('UPDATE wines SET rating = 1 WHERE id = 1', 'root-idle')
    db.query(STUBBORN_SQL)
    in_tx = clients('root-in-tx').start('LOCK TABLE notifications IN ACCESS EXCLUSIVE MODE; '
                                        'SELECT public.stubborn_sleep()')
    implicit = clients('root-implicit').start('LOCK TABLE error_logs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30)')
    for client, table in ((in_tx, 'notifications'), (implicit, 'error_logs')):
        poll(lambda: db.scalar("SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = %s::regclass "
                               "AND mode = 'AccessExclusiveLock' AND granted", (client.pid, table)),
             what='%s locked by %d' % (table, client.pid))
    waiters = [sessions.wait('UPDATE wines SET rating = 2 WHERE id = 1', 'waits-row'),
               sessions.wait('SELECT count(*) FROM notifications', 'waits-in-tx'),
               sessions.wait('SELECT count(*) FROM error_logs', 'waits-implicit')]
    try:
        yield dict(idle=idle_root, in_tx=in_tx.pid, implicit=implicit.pid, waiters=waiters)
    finally:
        sessions.close()


def test_blocking_roots_check_mode_lists_them_and_signals_nothing(db, blocking):
    result = run_module('postgres_terminate', args(db, blocking_roots=True), check_mode=True)
    assert result['changed'] is True, result
    candidates = dict((c['pid'], c) for c in result['candidates'])
    assert set(candidates) == {blocking['idle'], blocking['in_tx'], blocking['implicit']}
    assert candidates[blocking['idle']]['blocking'] == [blocking['waiters'][0]]
    assert candidates[blocking['idle']]['reason'] == 'blocks 1 session(s): %d' % blocking['waiters'][0]
    assert all(c['outcome'] == 'would stop' for c in candidates.values())
    assert set(activity(db, [blocking['idle'], blocking['in_tx'], blocking['implicit']])) == {
        blocking['idle'], blocking['in_tx'], blocking['implicit']}


def test_blocking_roots_cancels_first_then_terminates_what_still_blocks(db, blocking):
    result = run_module('postgres_terminate', args(db, blocking_roots=True, grace_seconds=1))
    assert not result.get('failed'), result
    assert result['changed'] is True
    outcomes = dict((c['pid'], c['outcome']) for c in result['candidates'])
    # idle in transaction: terminated without a cancel; the query ignoring the cancel still blocked after the
    # grace, so it was terminated; the cancelled query's transaction released its lock
    assert outcomes == {blocking['idle']: 'terminated', blocking['in_tx']: 'terminated',
                        blocking['implicit']: 'cancelled'}
    assert result['cancelled'] == [blocking['implicit']]
    assert sorted(result['terminated']) == sorted([blocking['idle'], blocking['in_tx']])
    assert blocking['implicit'] in activity(db, [blocking['implicit']])
    # The waiters got their locks; nobody waits any more, so a second run changes nothing.
    poll(lambda: not db.scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"),
         what='no session waiting on a lock')
    again = run_module('postgres_terminate', args(db, blocking_roots=True, grace_seconds=1))
    assert again['changed'] is False and again['candidates'] == [], again


def test_blocking_roots_respects_excluded_applications(db, blocking):
    result = run_module('postgres_terminate', args(db, blocking_roots=True,
                                                   exclude_applications=['root-idle', 'root-in-tx', 'root-implicit']),
                        check_mode=True)
    assert result['candidates'] == [] and result['left_alone']['excluded_application'] == 3

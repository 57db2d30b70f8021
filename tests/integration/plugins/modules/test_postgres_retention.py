"""postgres_retention against the seeded Pourtrait schema on a real PostgreSQL 15."""

import math

import pytest

from tests.conftest import assert_one_line_error, run_module

OLD_READ = "SELECT count(*) FROM notifications WHERE read AND created_at < now() - interval '90 days'"
OLD_UNREAD = "SELECT count(*) FROM notifications WHERE NOT read AND created_at < now() - interval '90 days'"
RECENT = "SELECT count(*) FROM notifications WHERE created_at >= now() - interval '90 days'"


def notifications(db, **extra):
    params = db.conn_args()
    params.update(table='public.notifications', older_than_days=90, match={'read': True},
                  batch_size=100, pause_seconds=0)
    params.update(extra)
    return params


def test_deletes_old_read_notifications_in_batches(db):
    old_read, old_unread, recent = db.scalar(OLD_READ), db.scalar(OLD_UNREAD), db.scalar(RECENT)
    assert old_read > 300 and old_unread > 0 and recent > 0  # the seed has something to delete and to keep

    result = run_module('postgres_retention', notifications(db), diff=True)

    assert result.rc == 0, result
    assert result['changed'] is True
    assert result['deleted'] == old_read
    assert result['batches'] == math.ceil(old_read / 100.0)
    assert result['complete'] is True
    assert result['table'] == 'public.notifications'
    assert result['diff'] == {'before': {'public.notifications': old_read}, 'after': {'public.notifications': 0}}
    assert db.scalar(OLD_READ) == 0
    assert db.scalar(OLD_UNREAD) == old_unread      # match: unread old notifications survive
    assert db.scalar(RECENT) == recent              # younger rows survive

    again = run_module('postgres_retention', notifications(db))
    assert again['changed'] is False
    assert again['deleted'] == 0 and again['batches'] == 0


def test_check_mode_counts_and_deletes_nothing(db):
    total, old_read = db.scalar('SELECT count(*) FROM notifications'), db.scalar(OLD_READ)

    result = run_module('postgres_retention', notifications(db), check_mode=True)

    assert result.rc == 0, result
    assert result['changed'] is True
    assert result['would_delete'] == old_read
    assert result['deleted'] == 0
    assert db.scalar('SELECT count(*) FROM notifications') == total

    capped = run_module('postgres_retention', notifications(db, max_batches=2), check_mode=True)
    assert capped['would_delete'] == 200


def test_max_batches_stops_early_and_says_so(db):
    old_read = db.scalar(OLD_READ)

    result = run_module('postgres_retention', notifications(db, batch_size=50, max_batches=3))

    assert result['deleted'] == 150 and result['batches'] == 3
    assert result['complete'] is False
    assert db.scalar(OLD_READ) == old_read - 150


def test_without_match_every_old_row_goes(db):
    old = db.scalar("SELECT count(*) FROM error_logs WHERE created_at < now() - interval '90 days'")
    total = db.scalar('SELECT count(*) FROM error_logs')

    result = run_module('postgres_retention', dict(db.conn_args(), table='error_logs', older_than_days=90,
                                                   batch_size=1000, pause_seconds=0))

    assert result['deleted'] == old > 0
    assert result['batches'] == 1
    assert db.scalar('SELECT count(*) FROM error_logs') == total - old


def test_null_match_and_text_values(db):
    db.query("INSERT INTO error_logs (level, message, context, created_at) VALUES "
             "('warn', 'a', NULL, now() - interval '400 days'), ('warn', 'b', '{}', now() - interval '400 days'), "
             "('error', 'c', NULL, now() - interval '400 days')")

    result = run_module('postgres_retention', dict(db.conn_args(), table='error_logs', older_than_days=365,
                                                   match={'level': 'warn', 'context': None}))

    assert result['deleted'] == 1
    assert db.scalar("SELECT count(*) FROM error_logs WHERE created_at < now() - interval '365 days'") == 2
    assert db.scalar("SELECT count(*) FROM error_logs WHERE message = 'a'") == 0


def test_hostile_identifiers_do_not_exist(db):
    wines = db.scalar('SELECT count(*) FROM wines')

    bad_table = run_module('postgres_retention', notifications(db, table='notifications; DROP TABLE wines'))
    assert_one_line_error(bad_table, 'table "public.notifications; drop table wines" does not exist')

    bad_column = run_module('postgres_retention', notifications(db, timestamp_column='created_at; DROP TABLE wines'))
    assert_one_line_error(bad_column, 'column "created_at; DROP TABLE wines" does not exist in table "public.notifications"')

    bad_match = run_module('postgres_retention', notifications(db, match={'read" = true; DROP TABLE wines; --': True}))
    assert_one_line_error(bad_match, 'column "read" = true; DROP TABLE wines; --" does not exist in table '
                          '"public.notifications"')

    bad_function = run_module('postgres_retention', dict(db.conn_args(), function='cleanup(); DROP TABLE wines'))
    assert_one_line_error(bad_function, 'function "public.cleanup(); drop table wines()" does not exist')

    assert db.scalar('SELECT count(*) FROM wines') == wines
    assert db.scalar(OLD_READ) > 0


def test_wrong_column_type_and_bad_values(db):
    not_time = run_module('postgres_retention', notifications(db, timestamp_column='title'))
    assert_one_line_error(not_time, 'column "title" of "public.notifications" is text, not a timestamp')

    bad_value = run_module('postgres_retention', notifications(db, match={'read': 'maybe'}))
    assert_one_line_error(bad_value, 'invalid input syntax for type boolean', 'check the match values')

    nested = run_module('postgres_retention', notifications(db, match={'read': [True]}))
    assert_one_line_error(nested, 'match: the value of "read" must be')

    both = run_module('postgres_retention', notifications(db, function='cleanup_monitoring_data'))
    assert_one_line_error(both, 'mutually exclusive')

    no_age = run_module('postgres_retention', dict(db.conn_args(), table='notifications'))
    assert_one_line_error(no_age, 'older_than_days')

    bad_timeout = run_module('postgres_retention', notifications(db, lock_timeout='soon'))
    assert_one_line_error(bad_timeout, 'lock_timeout', 'use a duration such as 5s')

    assert db.scalar(OLD_READ) > 0


def test_lock_timeout_gives_up_instead_of_queueing(db):
    old_read = db.scalar(OLD_READ)
    holder = db.connect(autocommit=False)
    try:
        with holder.cursor() as cur:
            cur.execute('LOCK TABLE notifications IN ACCESS EXCLUSIVE MODE')
        result = run_module('postgres_retention', notifications(db, lock_timeout='200ms'))
    finally:
        holder.rollback()
        holder.close()

    assert_one_line_error(result, 'deleting from "public.notifications"', 'lock_timeout (now 200ms)')
    assert result['deleted'] == 0
    assert db.scalar(OLD_READ) == old_read


def test_cleanup_function(db):
    expected = db.scalar(
        "SELECT (SELECT count(*) FROM performance_metrics WHERE recorded_at < now() - interval '30 days') "
        "+ (SELECT count(*) FROM error_logs WHERE created_at < now() - interval '90 days')")
    before = db.scalar('SELECT count(*) FROM performance_metrics')
    assert expected > 0

    check = run_module('postgres_retention', dict(db.conn_args(), function='cleanup_monitoring_data'), check_mode=True)
    assert check.rc == 0, check
    assert check['changed'] is True
    assert check['function_result'] is None
    assert db.scalar('SELECT count(*) FROM performance_metrics') == before   # not called

    result = run_module('postgres_retention', dict(db.conn_args(), function='public.cleanup_monitoring_data'))
    assert result.rc == 0, result
    assert result['changed'] is True
    assert result['function'] == 'public.cleanup_monitoring_data'
    assert result['function_result'] == expected
    assert db.scalar("SELECT count(*) FROM performance_metrics WHERE recorded_at < now() - interval '30 days'") == 0


@pytest.mark.parametrize('definition, expected', [
    ("RETURNS void LANGUAGE sql AS 'SELECT NULL'", None),
    ("RETURNS TABLE (n int, at date) LANGUAGE sql AS $$ SELECT 1, DATE '2026-01-02' $$",
     [{'n': 1, 'at': '2026-01-02'}]),
    ("RETURNS numeric LANGUAGE sql AS 'SELECT 2.5'", 2.5),
])
def test_function_results_are_json_safe(db, definition, expected):
    db.query('CREATE FUNCTION public.retention_probe() ' + definition)
    result = run_module('postgres_retention', dict(db.conn_args(), function='retention_probe'))
    assert result.rc == 0, result
    assert result['function_result'] == expected


def test_procedure_is_called(db):
    db.query("CREATE TABLE probe_log (at timestamptz DEFAULT now())")
    db.query("CREATE PROCEDURE public.retention_proc() LANGUAGE sql AS 'INSERT INTO probe_log DEFAULT VALUES'")
    result = run_module('postgres_retention', dict(db.conn_args(), function='retention_proc'))
    assert result.rc == 0, result
    assert result['changed'] is True
    assert db.scalar('SELECT count(*) FROM probe_log') == 1


def test_partitioned_table_uses_the_primary_key(db):
    db.query("CREATE TABLE events (id bigint, at timestamptz NOT NULL, kind text, PRIMARY KEY (id, at)) "
             "PARTITION BY RANGE (at)")
    db.query("CREATE TABLE events_old PARTITION OF events FOR VALUES FROM ('2000-01-01') TO ('2025-01-01')")
    db.query("CREATE TABLE events_new PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2100-01-01')")
    # Same ids in both partitions: ctid-style batching would be ambiguous, the key is not.
    db.query("INSERT INTO events SELECT g, TIMESTAMPTZ '2020-01-01' + g * interval '1 hour', 'x' "
             "FROM generate_series(1, 30) g")
    db.query("INSERT INTO events SELECT g, now() - interval '1 day', 'x' FROM generate_series(1, 30) g")

    result = run_module('postgres_retention', dict(db.conn_args(), table='events', timestamp_column='at',
                                                   older_than_days=365, batch_size=7, pause_seconds=0))

    assert result.rc == 0, result
    assert (result['deleted'], result['batches']) == (30, 5)
    assert db.scalar('SELECT count(*) FROM events_old') == 0
    assert db.scalar('SELECT count(*) FROM events_new') == 30

    db.query("CREATE TABLE nokey (at timestamptz) PARTITION BY RANGE (at)")
    nokey = run_module('postgres_retention', dict(db.conn_args(), table='nokey', timestamp_column='at',
                                                  older_than_days=1))
    assert_one_line_error(nokey, 'partitioned table "public.nokey" has no primary key')

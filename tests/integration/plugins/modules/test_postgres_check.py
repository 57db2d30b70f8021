"""postgres_check: read-only SQL checks against a real database."""

from tests.conftest import assert_one_line_error, run_module


def check(db, checks, **extra):
    return run_module('postgres_check', dict(db.conn_args(), checks=checks, **extra))


def test_passing_checks_report_what_they_returned(db):
    result = check(db, ['SELECT count(*) = 500 FROM wines', 'SELECT count(*) FROM wines', "SELECT 'x', 1"])
    assert not result.get('failed'), result
    assert result['changed'] is False and result['passed'] is True
    assert [r['detail'] for r in result['results']] == ['returned True', 'returned 500', "returned ('x', 1)"]


def test_false_null_empty_and_errors_fail_with_one_line_naming_each(db):
    result = check(db, ['SELECT count(*) = 1 FROM wines', 'SELECT NULL', 'SELECT 1 WHERE false',
                        'SELECT 1 FROM winez', 'SELECT true'])
    assert_one_line_error(result, '4 of 5 SQL check(s) failed:', '"SELECT count(*) = 1 FROM wines" returned false',
                          '"SELECT NULL" returned NULL', '"SELECT 1 WHERE false" returned no rows',
                          '"SELECT 1 FROM winez" failed: relation "winez" does not exist (SQLSTATE 42P01)')
    assert [r['ok'] for r in result['results']] == [False, False, False, False, True]


def test_a_check_that_writes_is_refused_and_changes_nothing(db):
    result = check(db, ['DELETE FROM wines RETURNING true', "SELECT set_config('x.y', '1', false) IS NOT NULL"])
    assert_one_line_error(result, 'read-only transaction')
    assert db.scalar('SELECT count(*) FROM wines') == 500


def test_report_only_and_check_mode(db):
    result = check(db, ['SELECT false'], fail_on_failure=False)
    assert not result.get('failed') and result['passed'] is False
    assert result['failed_checks'] == ['"SELECT false" returned false']
    result = run_module('postgres_check', dict(db.conn_args(), checks=['SELECT true']), check_mode=True)
    assert result['passed'] is True


def test_statement_timeout_applies(db):
    result = check(db, ['SELECT pg_sleep(5) IS NULL'], statement_timeout='200ms')
    assert_one_line_error(result, 'canceling statement due to statement timeout')


def test_bad_input(db):
    assert_one_line_error(check(db, ['', '  ']), 'checks is empty; give at least one SQL statement')
    assert_one_line_error(check(db, ['SELECT true'], lock_timeout='soon'),
                          'lock_timeout: invalid value for parameter "lock_timeout": "soon"')

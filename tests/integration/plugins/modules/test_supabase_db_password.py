"""supabase_db_password against the Supabase stand-in and the real PostgreSQL behind it: after a rotation the
new password connects, the old one fails for new connections, a session opened before stays alive; idempotence
with a given password, check mode, the app's DATABASE_URL check and bad input. Each test rotates a throwaway
login role (tests/db_roles.py), never the session server's postgres."""

import psycopg2
import pytest

from tests.conftest import assert_one_line_error, run_module
from tests.db_roles import scratch_login_role
from tests.fixtures_standins import SUPABASE_DATABASE


@pytest.fixture
def role(supabase, pg_server):
    with scratch_login_role(pg_server, SUPABASE_DATABASE) as (name, password, url):
        supabase.set_database(url)
        try:
            yield dict(name=name, password=password, url=url, port=pg_server.port)
        finally:
            supabase.set_database(None)


def rotate(supabase, role, check_mode=False, diff=False, **args):
    args = dict(dict(db_host='127.0.0.1', db_port=role['port'], db_user=role['name'], db_name=SUPABASE_DATABASE,
                     db_sslmode='disable', verify_timeout=2), **args)
    return run_module('supabase_db_password', args, check_mode=check_mode, diff=diff, env=supabase.env)


def connects(role, password):
    try:
        psycopg2.connect(host='127.0.0.1', port=role['port'], user=role['name'], password=password,
                         dbname=SUPABASE_DATABASE, connect_timeout=5).close()
        return True
    except psycopg2.OperationalError as exc:
        assert 'password authentication failed' in str(exc)
        return False


def patches(supabase):
    return supabase.requests(method='PATCH', path_prefix='/v1/projects/%s/database/password' % supabase.project_ref)


def test_generated_rotation_really_changes_the_role(supabase, role):
    kept = psycopg2.connect(role['url'])
    try:
        result = rotate(supabase, role, return_password=True, length=40)
        assert not result.get('failed') and result['changed'] is True, result
        assert result['generated'] is True and result['verified'] is True and result['sessions_kept'] is True
        new = result['password']
        assert len(new) == 40 and new.isalnum()
        assert connects(role, new) and not connects(role, role['password'])
        with kept.cursor() as cur:  # opened before the change: still alive
            cur.execute('select current_user')
            assert cur.fetchone() == (role['name'],)
        assert result['target'] == {'host': '127.0.0.1', 'port': role['port'], 'user': role['name'],
                                    'dbname': SUPABASE_DATABASE}
        assert new not in result['msg'] and len(patches(supabase)) == 1
        # a generated password is new every run (documented): a second run changes it again
        second = rotate(supabase, role)
        assert second['changed'] is True and 'password' not in second
        assert not connects(role, new) and len(patches(supabase)) == 2
    finally:
        kept.close()


def test_a_given_password_is_idempotent(supabase, role):
    wanted = 'Given-password_0123456789'
    first = rotate(supabase, role, password=wanted)
    assert not first.get('failed') and first['changed'] is True and first['generated'] is False, first
    assert connects(role, wanted) and wanted not in first.stdout
    again = rotate(supabase, role, password=wanted)
    assert not again.get('failed') and again['changed'] is False and 'already connects' in again['msg'], again
    assert len(patches(supabase)) == 1


def test_check_mode_changes_nothing(supabase, role):
    result = rotate(supabase, role, check_mode=True, diff=True)
    assert result['changed'] is True and result['msg'].startswith('would set a generated password (32 characters)')
    assert result['diff'] == {'before': {'password': 'current'},
                              'after': {'password': 'new: a generated password (32 characters)'}}
    assert patches(supabase) == [] and connects(role, role['password'])
    given = rotate(supabase, role, check_mode=True, password=role['password'] + '-long-enough')
    assert given['changed'] is True and patches(supabase) == []
    same = rotate(supabase, role, check_mode=True, password=role['password'])
    assert same['changed'] is False


def test_app_database_url_must_point_at_this_database(supabase, role):
    elsewhere = 'postgresql://postgres:s3cret-value@db.otherproject.example:5432/postgres'
    result = rotate(supabase, role, app_database_url=elsewhere)
    assert_one_line_error(result, "the app's DATABASE_URL points at db.otherproject.example:5432 database postgres")
    assert 's3cret-value' not in result.stdout and patches(supabase) == []
    same = 'postgresql://%s:old@127.0.0.1:%d/%s' % (role['name'], role['port'], SUPABASE_DATABASE)
    assert rotate(supabase, role, app_database_url=same)['changed'] is True
    pooled = 'postgresql://%s.%s:old@aws-0-eu.pooler.supabase.com:6543/%s' % (
        role['name'], supabase.project_ref, SUPABASE_DATABASE)
    assert rotate(supabase, role, app_database_url=pooled)['changed'] is True


def test_bad_input_changes_nothing(supabase, role):
    assert_one_line_error(rotate(supabase, role, password='short-1'),
                          'the new database password is 7 characters long; use at least 16')
    spaced = rotate(supabase, role, password='has spaces and "quotes" 123')
    assert_one_line_error(spaced, 'characters other than letters, digits and - . _ ~')
    assert 'quotes' not in spaced['msg']
    assert_one_line_error(rotate(supabase, role, length=8), 'length must be 16 or more')
    assert patches(supabase) == [] and connects(role, role['password'])


def test_a_password_that_does_not_connect_is_reported(supabase, role):
    # the API changes the role, but the verification goes to a port nobody listens on
    result = rotate(supabase, role, db_port=1, return_password=True, verify_timeout=0)
    assert_one_line_error(result, 'was changed but connecting with it failed', 'rerun with the same password')
    assert result['changed'] is True and connects(role, result['password'])


def test_a_lost_answer_is_retried_with_the_same_password(supabase, role):
    # the PATCH is done, its answer replaced by a 502: sending the same password again is the same state
    supabase.set_faults(rate=1.0, kinds=['502'], when='after', methods=['PATCH'], max_faults=1)
    result = rotate(supabase, role, return_password=True)
    assert not result.get('failed') and result['changed'] is True and result['verified'] is True, result
    assert connects(role, result['password']) and len(patches(supabase)) == 2


def test_a_previous_password_can_be_put_back_with_strict_false(supabase, role):
    """The rescue of a failed rotation: the old password (here 'p@ss:w/rd!', which strict rules refuse)."""
    assert_one_line_error(rotate(supabase, role, password='p@ss:w/rd!'), 'use at least 16')
    back = rotate(supabase, role, password='p@ss:w/rd!', strict=False)
    assert not back.get('failed') and back['changed'] is True and connects(role, 'p@ss:w/rd!'), back
    assert_one_line_error(rotate(supabase, role, password='abc', strict=False), 'Supabase needs at least 4')


def test_every_answer_lost_but_the_change_made_is_found_by_connecting(supabase, role):
    # the PATCH is done, then every answer (all five attempts) is lost: the module does not claim nothing changed -
    # the new password connects, so the change went through and the run goes on as a rotation
    supabase.set_faults(rate=1.0, kinds=['502'], when='after', methods=['PATCH'], max_faults=5)
    result = rotate(supabase, role, return_password=True)
    assert not result.get('failed') and result['changed'] is True and result['verified'] is True, result
    assert connects(role, result['password']) and not connects(role, role['password'])
    assert len(patches(supabase)) == 5 and result['password'] not in result['msg']


def test_every_attempt_refused_before_the_change_says_nothing_changed(supabase, role):
    # the PATCH never reached the database (faults before processing): one line, changed false, the old password
    supabase.set_faults(rate=1.0, kinds=['502'], when='before', methods=['PATCH'], max_faults=5)
    result = rotate(supabase, role, return_password=True)
    assert_one_line_error(result, 'PATCH /v1/projects/%s/database/password' % supabase.project_ref)
    assert not result.get('changed') and 'password' not in result and connects(role, role['password'])
    assert len(patches(supabase)) == 5

"""supabase_backup_info against the Supabase Management API stand-in: backups, PITR, the
recoverable window, the age of the newest completed backup and the max_age_hours gate."""

import time

from tests.conftest import assert_one_line_error, run_module


def info(supabase, **args):
    return run_module('supabase_backup_info', args, env=supabase.env)


def test_default_project_has_pitr_and_a_fresh_backup(supabase):
    result = info(supabase, max_age_hours=24)
    assert not result.get('failed') and result['changed'] is False, result
    assert result['pitr_enabled'] is True and result['walg_enabled'] is True
    assert result['count'] == 7 and result['completed_count'] == 7
    assert [b['inserted_unix'] for b in result['backups']] == sorted((b['inserted_unix'] for b in result['backups']),
                                                                     reverse=True)
    newest = result['latest_completed']
    assert newest == result['backups'][0] and 2.5 < result['latest_completed_age_hours'] < 3.5
    window = result['recoverable_window']
    assert 167 < window['hours'] < 169 and abs(window['latest_unix'] - time.time()) < 60
    assert window['earliest'].endswith('Z') and window['earliest_unix'] < window['latest_unix']
    assert 'PITR on' in result['msg']


def test_old_newest_backup_fails_the_age_gate(supabase):
    now = int(time.time())
    supabase.set_backups(pitr_enabled=False, backups=[
        {'id': 11, 'status': 'COMPLETED', 'is_physical_backup': True, 'inserted_at': now - 30 * 3600},
        {'id': 12, 'status': 'FAILED', 'is_physical_backup': True, 'inserted_at': now - 6 * 3600},
        {'id': 10, 'status': 'COMPLETED', 'is_physical_backup': True, 'inserted_at': now - 54 * 3600},
    ])
    result = info(supabase, max_age_hours=24)
    assert_one_line_error(result, 'newest completed backup', 'id 11', '30.0 h old', 'max_age_hours=24')
    # the facts come back with the failure, for the report
    assert result['latest_completed']['id'] == 11 and result['pitr_enabled'] is False
    assert result.get('recoverable_window') is None
    ok = info(supabase, max_age_hours=31)
    assert not ok.get('failed') and ok['latest_completed_age_hours'] == 30.0, ok
    assert ok['backups'][0]['id'] == 12 and ok['backups'][0]['status'] == 'FAILED'


def test_no_completed_backup_fails_the_age_gate(supabase):
    supabase.set_backups(backups=[{'status': 'FAILED', 'is_physical_backup': True,
                                   'inserted_at': int(time.time()) - 3600}])
    result = info(supabase, max_age_hours=24)
    assert_one_line_error(result, 'has no completed backup', 'max_age_hours=24')
    listed = info(supabase)
    assert not listed.get('failed') and listed['latest_completed'] is None, listed


def test_pitr_off_is_reported_and_can_be_required(supabase):
    supabase.set_backups(pitr_enabled=False)
    result = info(supabase)
    assert not result.get('failed') and result['pitr_enabled'] is False, result
    assert 'PITR off' in result['msg']
    required = info(supabase, require_pitr=True)
    assert_one_line_error(required, 'point-in-time recovery is off', 'require_pitr')


def test_bad_max_age_is_refused_before_any_call(supabase):
    result = info(supabase, max_age_hours=0)
    assert_one_line_error(result, 'max_age_hours must be more than 0')
    assert supabase.requests() == []

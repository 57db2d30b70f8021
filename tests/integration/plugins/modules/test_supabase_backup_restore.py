"""supabase_backup_restore against the Supabase Management API stand-in: point-in-time and
physical restores that wait until the project is healthy again, check mode, every refusal the
issue lists (no confirmation, PITR off, a time outside the window, unknown project, bad token),
and a restore under a 30% fault rate that is requested exactly once."""

import time

import pytest

from tests.conftest import assert_one_line_error, run_module

FAULT_KINDS = ['429', '500', '502', '503', 'reset']


def restore(supabase, check_mode=False, env=None, **args):
    args.setdefault('poll_interval', 0.1)
    args.setdefault('wait_timeout', 60)
    return run_module('supabase_backup_restore', args, check_mode=check_mode, env=dict(supabase.env, **(env or {})))


def restore_posts(supabase):
    return supabase.requests(method='POST', path_prefix='/v1/projects/%s/database/backups/restore'
                             % supabase.project_ref)


def iso(unix):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(unix))


def test_point_in_time_restore_waits_until_healthy_again(supabase):
    supabase.set_timings(restoring_s=1.0, coming_up_s=0.3)
    target = int(time.time()) - 2 * 3600
    result = restore(supabase, recovery_time=iso(target), confirm=supabase.project_ref)
    assert not result.get('failed') and result['changed'] is True, result
    assert result['kind'] == 'pitr' and result['recovery_time_unix'] == target
    assert result['recovery_time'] == iso(target)
    assert result['status_before'] == 'ACTIVE_HEALTHY' and result['status'] == 'ACTIVE_HEALTHY'
    assert result['reconciled'] is False and result['duration_s'] >= 1.0
    restores = supabase.restores()
    assert len(restores) == 1
    assert restores[0]['kind'] == 'pitr' and restores[0]['recovery_time_target_unix'] == target
    assert restores[0]['status'] == 'COMPLETED'
    assert supabase.project()['status'] == 'ACTIVE_HEALTHY'
    # it saw the project RESTORING and kept polling until ACTIVE_HEALTHY
    polls = supabase.requests(method='GET', path_prefix='/v1/projects/%s' % supabase.project_ref)
    assert len(polls) >= 5


def test_unix_time_is_accepted(supabase):
    target = int(time.time()) - 600
    result = restore(supabase, recovery_time=str(target), confirm=supabase.project_ref, wait=False)
    assert not result.get('failed'), result
    assert result['status'] in ('RESTORING', 'COMING_UP', 'ACTIVE_HEALTHY')
    assert [r['recovery_time_target_unix'] for r in supabase.restores()] == [target]


def test_physical_backup_restore_by_id(supabase):
    backups = supabase.backups()['backups']
    chosen = sorted(backups, key=lambda b: b['inserted_at'])[-2]
    result = restore(supabase, backup_id=chosen['id'], confirm=supabase.project_ref)
    assert not result.get('failed'), result
    assert result['kind'] == 'physical' and result['backup']['id'] == chosen['id']
    assert result['status'] == 'ACTIVE_HEALTHY'
    restores = supabase.restores()
    assert len(restores) == 1 and restores[0]['kind'] == 'physical' and restores[0]['id'] == chosen['id']


def test_unknown_or_failed_backup_id_is_refused_before_the_api(supabase):
    now = int(time.time())
    supabase.set_backups(backups=[{'id': 5, 'status': 'FAILED', 'is_physical_backup': True, 'inserted_at': now - 60},
                                  {'id': 4, 'status': 'COMPLETED', 'is_physical_backup': True,
                                   'inserted_at': now - 86400}])
    missing = restore(supabase, backup_id=99, confirm=supabase.project_ref)
    assert_one_line_error(missing, 'backup 99 not found', 'completed physical backups: 4 (')
    failed = restore(supabase, backup_id=5, confirm=supabase.project_ref)
    assert_one_line_error(failed, 'backup 5 is FAILED', 'cannot be restored')
    assert restore_posts(supabase) == [] and supabase.restores() == []


def test_check_mode_says_what_it_would_restore_and_sends_nothing(supabase):
    target = int(time.time()) - 3600
    result = restore(supabase, check_mode=True, recovery_time=iso(target))
    assert not result.get('failed') and result['changed'] is True, result
    expected = 'would restore project %s to %s (point in time)' % (supabase.project_ref, iso(target))
    assert result['msg'].startswith(expected)
    assert 'confirm: %s is needed' % supabase.project_ref in result['msg']
    assert restore_posts(supabase) == [] and supabase.restores() == []
    assert supabase.project()['status'] == 'ACTIVE_HEALTHY'


@pytest.mark.parametrize('confirm, fragments', [
    (None, ['without confirmation', 'set confirm: {ref}']),
    ('yes', ['does not match project_ref {ref}', 'set confirm: {ref}']),
])
def test_missing_or_wrong_confirmation_is_refused_before_any_call(supabase, confirm, fragments):
    args = dict(recovery_time=iso(int(time.time()) - 3600))
    if confirm is not None:
        args['confirm'] = confirm
    result = restore(supabase, **args)
    assert_one_line_error(result, *[f.format(ref=supabase.project_ref) for f in fragments])
    assert supabase.requests() == [] and supabase.restores() == []


def test_pitr_off_is_refused_before_the_restore_call(supabase):
    supabase.set_backups(pitr_enabled=False)
    result = restore(supabase, recovery_time=iso(int(time.time()) - 3600), confirm=supabase.project_ref)
    assert_one_line_error(result, 'point-in-time recovery is off', 'backup_id')
    assert restore_posts(supabase) == [] and supabase.restores() == []


def test_time_outside_the_window_is_refused_naming_the_window(supabase):
    now = int(time.time())
    supabase.set_backups(earliest_unix=now - 86400, latest_unix=now - 600)
    target = now - 2 * 86400
    result = restore(supabase, recovery_time=iso(target), confirm=supabase.project_ref)
    assert_one_line_error(result, 'recovery_time %s is outside the recoverable window %s .. %s'
                          % (iso(target), iso(now - 86400), iso(now - 600)), 'pick a time inside it')
    assert result['recoverable_window']['earliest_unix'] == now - 86400
    assert restore_posts(supabase) == [] and supabase.restores() == []


def test_bad_time_and_future_time(supabase):
    bad = restore(supabase, recovery_time='last tuesday', confirm=supabase.project_ref)
    assert_one_line_error(bad, "recovery_time='last tuesday' is not a time", 'ISO 8601')
    future = restore(supabase, recovery_time=iso(int(time.time()) + 3600), confirm=supabase.project_ref)
    assert_one_line_error(future, 'is in the future')
    assert supabase.requests() == []


def test_busy_project_is_not_restored_again(supabase):
    supabase.set_status('RESTORING')
    result = restore(supabase, recovery_time=iso(int(time.time()) - 3600), confirm=supabase.project_ref)
    assert_one_line_error(result, 'is RESTORING', 'a restore cannot start now')
    assert restore_posts(supabase) == []


def test_failed_restore_fails_with_one_line(supabase):
    supabase.fail_next_restore()
    result = restore(supabase, recovery_time=iso(int(time.time()) - 3600), confirm=supabase.project_ref)
    assert_one_line_error(result, 'RESTORE_FAILED', 'Supabase dashboard')
    assert len(supabase.restores()) == 1


def test_unknown_project_ref(supabase):
    ref = 'zzzzzzzzzzzzzzzzzzzz'
    result = restore(supabase, project_ref=ref, recovery_time=iso(int(time.time()) - 3600), confirm=ref)
    assert_one_line_error(result, '404: Supabase project %s not found' % ref, 'SUPABASE_PROJECT_REF')
    assert supabase.restores() == []


def test_bad_token(supabase):
    result = restore(supabase, env={'SUPABASE_ACCESS_TOKEN': 'sbp_' + '0' * 40},
                     recovery_time=iso(int(time.time()) - 3600), confirm=supabase.project_ref)
    assert_one_line_error(result, '401: the Supabase access token was rejected; check SUPABASE_ACCESS_TOKEN')
    assert supabase.restores() == []


@pytest.mark.parametrize('when', ['before', 'after'])
def test_thirty_percent_faults_while_restoring_request_it_exactly_once(supabase, when):
    # a real restore stays RESTORING for minutes; a few seconds here keep the status readable
    # through the backoff that follows a lost answer
    supabase.set_timings(restoring_s=4.0, coming_up_s=0.5)
    supabase.set_faults(rate=0.3, kinds=FAULT_KINDS, seed=7, when=when)
    target = int(time.time()) - 3600
    result = restore(supabase, recovery_time=iso(target), confirm=supabase.project_ref, retries=8, timeout=5)
    supabase.clear_faults()
    assert not result.get('failed'), result
    assert result['status'] == 'ACTIVE_HEALTHY'
    restores = supabase.restores()
    assert len(restores) == 1 and restores[0]['recovery_time_target_unix'] == target, restores
    assert restores[0]['status'] == 'COMPLETED'
    faulted = [r for r in supabase.requests() if r.get('faulted')]
    assert len(faulted) >= 3  # the faults really happened


def test_lost_restore_answer_is_reconciled_not_repeated(supabase):
    supabase.set_timings(restoring_s=3.0, coming_up_s=0.3)
    supabase.set_faults(rate=1.0, kinds=['reset'], when='after', methods=['POST'],
                        paths=['/v1/projects/%s/database/backups/restore-pitr' % supabase.project_ref], max_faults=1)
    result = restore(supabase, recovery_time=iso(int(time.time()) - 3600), confirm=supabase.project_ref)
    assert not result.get('failed'), result
    assert result['reconciled'] is True and result['status'] == 'ACTIVE_HEALTHY'
    assert len(restore_posts(supabase)) == 1 and len(supabase.restores()) == 1

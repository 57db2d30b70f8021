"""backup_freshness against the S3 stand-in (recovery points written as backup_upload leaves them) and the
Supabase stand-in's GET /v1/projects/{ref}/database/backups."""

import datetime
import json
import time

import pytest

from tests.conftest import assert_one_line_error, run_module


def iso(hours_ago):
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=hours_ago)
    return when.strftime('%Y-%m-%dT%H:%M:%SZ')


def put_point(s3, name, hours_ago, verified=True, record=True, database='pourtrait', app=None):
    """A recovery point as backup_upload leaves it: dump object, then the record (unless record=False)."""
    client = s3.client()
    base = 'pourtrait/%s/%s/' % (database, name)
    client.put_object(Bucket=s3.bucket, Key=base + 'dump/%s' % name, Body=b'dump')
    if record:
        client.put_object(Bucket=s3.bucket, Key=base + 'recovery-point.json', Body=json.dumps(
            {'kind': 'recovery_point', 'database': database, 'name': name, 'created': iso(hours_ago),
             'verified': verified, 'app': app}).encode())


def supabase_backups(supabase, hours_ago, pitr=True):
    backups = [] if hours_ago is None else [
        {'status': 'COMPLETED', 'is_physical_backup': True, 'inserted_at': int(time.time() - hours_ago * 3600)}]
    supabase.set_backups(pitr_enabled=pitr, backups=backups)


def freshness(s3, supabase, check=False, **args):
    env = dict(s3.env(https=True), **supabase.env)
    env['SUPABASE_API_URL'] = supabase.env['SUPABASE_API_URL_HTTPS']
    return run_module('backup_freshness', dict({'database': 'pourtrait'}, **args), check_mode=check, env=env)


def test_fresh_point_and_supabase_backup_pass_with_ages(s3, supabase):
    put_point(s3, 'rp-old', 50)
    put_point(s3, 'rp-new', 2, app={'commit': 'a' * 40, 'deployment_id': 'dpl_x'})
    put_point(s3, 'rp-killed', 0.5, record=False)          # an upload that did not finish: not a backup
    supabase_backups(supabase, 3)
    result = freshness(s3, supabase, check=True)
    assert not result.get('failed') and result['fresh'] and result['changed'] is False, result
    newest = result['offsite']['newest']
    assert newest['name'] == 'rp-new' and 1.9 < newest['age_hours'] < 2.1
    assert newest['app_commit'] == 'a' * 40 and newest['deployment_id'] == 'dpl_x'
    assert result['offsite']['points'] == 2 and result['offsite']['incomplete_points'] == 1
    sb = result['supabase']
    assert sb['pitr_enabled'] is True and 2.9 < sb['latest_completed_age_hours'] < 3.1
    assert sb['recoverable_window'] and sb['latest_completed']['status'] == 'COMPLETED'
    assert result['msg'].startswith('backups are fresh: off-site rp-new')


def test_stale_offsite_point_fails_naming_what_to_run(s3, supabase):
    put_point(s3, 'rp-a', 30)
    put_point(s3, 'rp-b', 1, verified=False)                # newer, but not verified
    supabase_backups(supabase, 3)
    result = freshness(s3, supabase, max_age='26h')
    assert_one_line_error(result, 'the newest verified off-site recovery point rp-a is 30.0h old, over max_age 26h',
                          'run playbooks/backup.yml')
    assert 'Supabase' not in result['msg']
    assert result['fresh'] is False and [s['what'] for s in result['stale']] == ['offsite']
    assert result['offsite']['newest_any']['name'] == 'rp-b'
    assert freshness(s3, supabase, max_age='1d12h')['fresh'] is True


def test_stale_supabase_and_pitr_off_reported_without_failing(s3, supabase):
    put_point(s3, 'rp-a', 1)
    supabase_backups(supabase, 50, pitr=False)
    result = freshness(s3, supabase, supabase_require_pitr=True, fail_when_stale=False)
    assert not result.get('failed') and result['fresh'] is False, result
    assert [s['what'] for s in result['stale']] == ['supabase', 'supabase_pitr']
    assert "Supabase's newest COMPLETED backup of %s is 50.0h old" % supabase.project_ref in result['msg']
    assert 'point-in-time recovery is off' in result['msg']


def test_no_point_at_all(s3, supabase):
    supabase_backups(supabase, 3)
    result = freshness(s3, supabase)
    assert_one_line_error(result, 'no verified off-site recovery point in s3://%s/pourtrait/pourtrait/' % s3.bucket,
                          'run playbooks/backup.yml')


@pytest.mark.parametrize('value, fragment', [
    ('26', "max_age='26' is not an age (a number needs a unit)"),
    ('soon', "max_age='soon' is not an age; use a number with w, d, h, m or s"),
    ('0h', "max_age='0h' is not an age; use a positive one"),
])
def test_max_age_that_does_not_parse(s3, supabase, value, fragment):
    result = freshness(s3, supabase, max_age=value)
    assert_one_line_error(result, fragment)
    assert not s3.requests()


def test_supabase_off_checks_the_bucket_alone_and_no_secret_in_output(s3, supabase):
    put_point(s3, 'rp-a', 1)
    env = s3.env(https=False)
    result = run_module('backup_freshness', {'database': 'pourtrait', 'supabase': False}, env=env)
    assert result['fresh'] and result['supabase'] is None, result
    text = result.stdout + result.stderr
    assert s3.secret_access_key not in text and supabase.token not in text
    missing = run_module('backup_freshness', {'database': 'pourtrait'}, env=env)
    assert_one_line_error(missing, 'no Supabase access token', 'set supabase=false')

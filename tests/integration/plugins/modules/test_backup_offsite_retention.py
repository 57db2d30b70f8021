"""backup_offsite_retention against the S3 stand-in: recovery points seeded as backup_upload lays them out."""

import datetime
import json

import pytest

from tests.conftest import assert_one_line_error, run_module

DB = 'pourtrait'


def seed(s3, name, days_old, verified=True, record=True, locked=False):
    client = s3.client()
    prefix = 'pourtrait/%s/%s/' % (DB, name)
    extra = {}
    if locked:
        extra = {'ObjectLockMode': 'GOVERNANCE', 'ObjectLockRetainUntilDate':
                 datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=5)}
    client.put_object(Bucket=s3.bucket, Key=prefix + 'dump/%s' % name, Body=b'dump', **extra)
    if record:
        created = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_old))
        body = {'record_version': 1, 'name': name, 'database': DB, 'verified': verified,
                'created': created.strftime('%Y-%m-%dT%H:%M:%SZ'), 'dump': {'sha256': 'x'}}
        client.put_object(Bucket=s3.bucket, Key=prefix + 'recovery-point.json', Body=json.dumps(body).encode())


def names(s3):
    return sorted(set(k.split('/')[2] for k in s3.objects()))


def prune(s3, check=False, diff=False, **args):
    return run_module('backup_offsite_retention', dict(args, database=DB), check_mode=check, diff=diff, env=s3.env())


def test_keep_newest_and_age_check_mode_then_real_then_idempotent(s3):
    for i in range(5):
        seed(s3, 'd%d' % i, days_old=i * 10)
    dry = prune(s3, check=True, diff=True, keep=2)
    assert dry['changed'] and dry['deleted'] == ['d2', 'd3', 'd4'], dry
    assert dry['diff'] == {'before': {'recovery_points': ['d0', 'd1', 'd2', 'd3', 'd4']},
                           'after': {'recovery_points': ['d0', 'd1']}}
    assert names(s3) == ['d0', 'd1', 'd2', 'd3', 'd4']
    real = prune(s3, keep=2, max_age_days=25)
    assert real['changed'] and real['deleted'] == ['d3', 'd4'] and real['deleted_objects'] == 4, real
    assert names(s3) == ['d0', 'd1', 'd2']
    again = prune(s3, keep=2, max_age_days=25)
    assert again['changed'] is False and again['deleted'] == []


def test_newest_verified_always_kept(s3):
    seed(s3, 'new-unverified', days_old=1, verified=False)
    seed(s3, 'old-verified', days_old=40)
    result = prune(s3, keep=1)
    assert result['deleted'] == [] and [k['name'] for k in result['kept']] == ['new-unverified', 'old-verified']
    assert 'the newest verified' in result['kept'][1]['reason']


def test_retention_that_deletes_everything_is_refused(s3):
    seed(s3, 'a', days_old=30, verified=False)
    seed(s3, 'b', days_old=40, verified=False)
    result = prune(s3, max_age_days=7)
    assert_one_line_error(result, 'would delete all 2 recovery points')
    assert names(s3) == ['a', 'b']


@pytest.mark.parametrize('args,fragment', [
    ({}, 'no retention rule'), ({'keep': 0}, 'keep must be 1 or more'),
    ({'keep': 1, 'prefix': '../x'}, 'has the segment ".."'),
])
def test_bad_policies(s3, args, fragment):
    seed(s3, 'a', days_old=1)
    assert_one_line_error(prune(s3, **args), fragment)
    assert names(s3) == ['a']


def test_incomplete_uploads_and_purge_versions_and_lock(s3):
    seed(s3, 'keep-me', days_old=1)
    seed(s3, 'old', days_old=50)
    seed(s3, 'half', days_old=0, record=False)
    result = prune(s3, keep=1, purge_versions=True, incomplete_after_hours=0.0001)
    assert result['deleted'] == ['old'] and result['incomplete'] == ['half'], result
    assert names(s3) == ['keep-me']
    assert s3.state()['versions'] == 2   # only keep-me's two objects, no versions or delete markers left
    seed(s3, 'locked', days_old=60, locked=True)
    locked = prune(s3, keep=1, purge_versions=True)
    assert locked['deleted'] == ['locked'] and len(locked['refused']) == 1, locked
    assert 'pourtrait/pourtrait/locked/dump/locked' in s3.objects()

"""backup_app_snapshot against the Vercel and S3 stand-ins and a real git repository made here: the archive of
exactly the commit the live deployment's meta.githubCommitSha names, env var NAMES only, and the recovery point
record tying dump + app commit + deployment id + time together."""

import io
import json
import os
import subprocess
import tarfile
import uuid

import pytest

from tests.conftest import assert_one_line_error, run_module

GIT_ENV = {'GIT_AUTHOR_NAME': 'Test', 'GIT_AUTHOR_EMAIL': 't@example.invalid', 'GIT_COMMITTER_NAME': 'Test',
           'GIT_COMMITTER_EMAIL': 't@example.invalid', 'GIT_CONFIG_NOSYSTEM': '1', 'HOME': '/nonexistent'}


def git(repo, *args):
    env = dict(os.environ, **GIT_ENV)
    return subprocess.run(['git', '-C', str(repo)] + list(args), check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


@pytest.fixture(scope='module')
def app_repo(tmp_path_factory):
    """A git repository with three commits: {path, commits: [oldest..newest], unfetched: a SHA it lacks}."""
    repo = tmp_path_factory.mktemp('app-repo')
    git(repo, 'init', '-q', '-b', 'main')
    commits = []
    for i in range(3):
        (repo / 'app.js').write_text('console.log("release %d")\n' % i)
        (repo / 'README.md').write_text('release %d\n' % i)
        git(repo, 'add', '-A')
        git(repo, 'commit', '-q', '-m', 'release %d' % i)
        commits.append(git(repo, 'rev-parse', 'HEAD'))
    return {'path': str(repo), 'commits': commits, 'unfetched': 'ab' * 20}


def snapshot(vercel, s3, check=False, diff=False, **args):
    env = dict(s3.env(https=True), **vercel.env)
    return run_module('backup_app_snapshot', args, check_mode=check, diff=diff, env=env)


def live_at(vercel, sha):
    return vercel.seed_deployment(sha=sha, live=True, created_offset_s=-60)


def point(name=None):
    return dict(database='pourtrait', name=name or 'rp-' + uuid.uuid4().hex[:8])


def test_archive_of_the_live_commit_names_only_and_idempotent(vercel, s3, app_repo):
    sha = app_repo['commits'][1]          # production runs the middle commit, not HEAD
    dep = live_at(vercel, sha)
    where = point()
    first = snapshot(vercel, s3, app_repo_path=app_repo['path'], **where)
    assert not first.get('failed') and first['changed'], first.get('msg')
    assert first['commit'] == sha and first['deployment_id'] == dep['uid'] and first['ref'] == 'main'
    assert first['repo'] == 'pourtrait/pourtrait'
    assert first['env_names'] == ['DATABASE_URL', 'NEXT_PUBLIC_SUPABASE_URL', 'OPENAI_API_KEY']
    base = 'pourtrait/pourtrait/%s/app/' % where['name']
    assert first['keys'] == [base + 'app.tar.gz', base + 'app.json']
    client = s3.client()
    body = client.get_object(Bucket=s3.bucket, Key=base + 'app.tar.gz')['Body'].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode='r:gz') as tar:
        member = [m for m in tar.getnames() if m.endswith('/app.js')][0]
        assert tar.extractfile(member).read() == b'console.log("release 1")\n'
    info = json.loads(client.get_object(Bucket=s3.bucket, Key=base + 'app.json')['Body'].read())
    assert info['commit'] == sha and info['deployment_id'] == dep['uid'] and info['archive'] == first['archive']
    # names only: no value of any production variable anywhere in the bucket or the result
    values = [v['value'] for v in vercel.env_vars() if v.get('value')]
    text = json.dumps(info) + first.stdout + first.stderr
    assert values and not any(v in text for v in values)
    assert not any('decrypt=true' in (r.get('query') or '') for r in vercel.requests(path_prefix='/v10/projects'))
    # no record yet: the point stays incomplete until backup_upload writes it
    assert 'pourtrait/pourtrait/%s/recovery-point.json' % where['name'] not in s3.objects()

    second = snapshot(vercel, s3, app_repo_path=app_repo['path'], diff=True, **where)
    assert not second.get('failed') and second['changed'] is False, second
    assert second['diff']['before'] == second['diff']['after']


def test_check_mode_names_keys_and_writes_nothing(vercel, s3, app_repo):
    live_at(vercel, app_repo['commits'][2])
    result = snapshot(vercel, s3, check=True, diff=True, app_repo_path=app_repo['path'], **point())
    assert not result.get('failed') and result['changed'] and result['archive'] is None, result
    assert result['diff']['before'] == {'app': None}
    assert result['diff']['after']['app']['commit'] == app_repo['commits'][2]
    assert s3.state()['objects'] == []


def test_after_the_upload_the_record_gains_the_app_section(vercel, s3, app_repo, tmp_path):
    """The other order: a complete point (record written) gets the app section in its record."""
    where = point()
    record_key = 'pourtrait/pourtrait/%s/recovery-point.json' % where['name']
    s3.client().put_object(Bucket=s3.bucket, Key=record_key, Body=json.dumps(
        {'kind': 'recovery_point', 'database': 'pourtrait', 'name': where['name'], 'verified': True,
         'created': '2026-01-01T02:00:00Z', 'dump': {'sha256': '00'}}).encode())
    dep = live_at(vercel, app_repo['commits'][0])
    result = snapshot(vercel, s3, app_repo_path=app_repo['path'], **where)
    assert not result.get('failed') and result['changed'] and result['record_updated'], result
    record = json.loads(s3.client().get_object(Bucket=s3.bucket, Key=record_key)['Body'].read())
    assert record['app']['commit'] == app_repo['commits'][0] and record['app']['deployment_id'] == dep['uid']
    assert record['dump'] == {'sha256': '00'} and record['verified']
    again = snapshot(vercel, s3, app_repo_path=app_repo['path'], **where)
    assert again['changed'] is False and not again['record_updated'], again
    # production moved on: the old point keeps its snapshot
    live_at(vercel, app_repo['commits'][2])
    moved = snapshot(vercel, s3, app_repo_path=app_repo['path'], **where)
    assert_one_line_error(moved, 'already holds the app snapshot of commit %s' % app_repo['commits'][0],
                          'take a new backup')


def test_commit_not_fetched_is_one_line_saying_git_fetch(vercel, s3, app_repo):
    live_at(vercel, app_repo['unfetched'])
    result = snapshot(vercel, s3, app_repo_path=app_repo['path'], **point())
    assert_one_line_error(result, 'commit %s (what production runs) is not in %s' % (app_repo['unfetched'],
                                                                                     app_repo['path']), 'git fetch')
    assert s3.state()['objects'] == []


def test_not_a_git_repo(vercel, s3, tmp_path):
    result = snapshot(vercel, s3, app_repo_path=str(tmp_path), **point())
    assert_one_line_error(result, 'app_repo_path %s is not a git repository' % tmp_path, 'git checkout of the app')
    assert s3.state()['objects'] == [] and not vercel.requests(path_prefix='/v13/deployments')

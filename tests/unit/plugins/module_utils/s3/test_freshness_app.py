"""Unit tests of s3/freshness.py (ages, what is stale) and the pure parts of s3/app_snapshot.py (what counts as
the same snapshot, the record's app section, keys) - and its git calls on a real repository made here."""

import datetime
import os
import subprocess
import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import app_snapshot, freshness, layout  # noqa: E402

NOW = datetime.datetime(2026, 12, 1, 12, tzinfo=datetime.timezone.utc)
LIMITS = {'max_age': '26h', 'max_age_s': 26 * 3600, 'supabase_max_age': '26h', 'supabase_max_age_s': 26 * 3600,
          'require_pitr': False}


@pytest.mark.parametrize('text, seconds', [('26h', 93600), ('90m', 5400), ('2d', 172800), ('1d12h', 129600),
                                           ('1w', 604800), ('1.5h', 5400), (' 30 s ', 30), ('2D', 172800)])
def test_ages_that_parse(text, seconds):
    assert freshness.parse_age(text, 'max_age') == seconds


@pytest.mark.parametrize('text, fragment', [('26', 'a number needs a unit'), ('soon', 'is not an age'),
                                            ('', 'is not an age'), ('0h', 'use a positive one'),
                                            ('-1h', 'is not an age'), ('1y', 'is not an age')])
def test_ages_that_do_not(text, fragment):
    with pytest.raises(OpsError) as err:
        freshness.parse_age(text, 'max_age')
    assert fragment in str(err.value) and "max_age=" in str(err.value)


def point(name, hours, verified=True, app=None):
    return {'name': name, 'created': NOW - datetime.timedelta(hours=hours), 'verified': verified,
            'record': {'app': app} if app else {}}


def test_offsite_state_takes_the_newest_verified():
    complete = [point('c', 1, verified=False), point('b', 5, app={'commit': 'ab' * 20, 'deployment_id': 'dpl_1'}),
                point('a', 40)]
    state = freshness.offsite_state(complete, [{'name': 'x'}], NOW)
    assert state['newest']['name'] == 'b' and state['age_hours'] == 5.0
    assert state['newest']['app_commit'] == 'ab' * 20 and state['newest_any']['name'] == 'c'
    assert (state['points'], state['verified_points'], state['incomplete_points']) == (3, 2, 1)
    assert freshness.offsite_state(complete, [], NOW, require_verified=False)['newest']['name'] == 'c'


def test_judge_names_what_is_stale_and_what_to_run():
    offsite = freshness.offsite_state([point('a', 30)], [], NOW)
    supabase = {'project_ref': 'abcdefghijklmnopqrst', 'latest_completed_age_hours': 3.0, 'pitr_enabled': False}
    stale = freshness.judge(offsite, supabase, LIMITS, 's3://b/p/db/')
    assert [s['what'] for s in stale] == ['offsite']
    assert 'a is 30.0h old, over max_age 26h' in stale[0]['message'] and 'playbooks/backup.yml' in stale[0]['message']
    stale = freshness.judge(freshness.offsite_state([], [], NOW), dict(supabase, latest_completed_age_hours=None),
                            dict(LIMITS, require_pitr=True), 's3://b/p/db/')
    assert [s['what'] for s in stale] == ['offsite', 'supabase', 'supabase_pitr']
    assert stale[0]['message'].startswith('no verified off-site recovery point in s3://b/p/db/')
    assert freshness.judge(freshness.offsite_state([point('a', 2)], [], NOW), supabase, LIMITS, '') == []


def test_same_snapshot_and_record_section():
    wanted = {'commit': 'ab' * 20, 'deployment_id': 'dpl_1', 'env_names': ['A', 'B'], 'ref': 'main'}
    assert app_snapshot.same(dict(wanted, captured='x'), wanted)
    assert not app_snapshot.same(dict(wanted, env_names=['A']), wanted) and not app_snapshot.same(None, wanted)
    info = app_snapshot.info_document(wanted, 'db', 'rp', 'k/app.tar.gz', 'ff' * 32, 10)
    section = app_snapshot.record_section(info, 'k/app.json')
    assert section['commit'] == 'ab' * 20 and section['archive_sha256'] == 'ff' * 32 and section['info_key'] == 'k/app.json'
    assert app_snapshot.record_section(None, 'k') is None
    assert layout.app_keys('pourtrait', 'db', 'rp') == ('pourtrait/db/rp/app/app.tar.gz', 'pourtrait/db/rp/app/app.json')


def test_git_archive_of_a_commit_and_the_errors(tmp_path):
    repo = str(tmp_path / 'repo')
    env = dict(os.environ, GIT_AUTHOR_NAME='t', GIT_AUTHOR_EMAIL='t@x.invalid', GIT_COMMITTER_NAME='t',
               GIT_COMMITTER_EMAIL='t@x.invalid', GIT_CONFIG_NOSYSTEM='1')
    os.mkdir(repo)
    with open(os.path.join(repo, 'f.txt'), 'w') as handle:
        handle.write('x\n')
    for args in (['init', '-q'], ['add', '-A'], ['commit', '-q', '-m', 'one']):
        subprocess.run(['git', '-C', repo] + args, check=True, env=env, capture_output=True)
    sha = subprocess.run(['git', '-C', repo, 'rev-parse', 'HEAD'], check=True, capture_output=True,
                         text=True).stdout.strip()
    app_snapshot.check_repo(repo)
    digest, size = app_snapshot.archive(repo, sha, str(tmp_path / 'a.tar.gz'), 'app-x')
    assert len(digest) == 64 and size > 0
    assert app_snapshot.archive(repo, sha, str(tmp_path / 'b.tar.gz'), 'app-x')[0] == digest   # deterministic
    with pytest.raises(OpsError, match='is not in .*; run git fetch there'):
        app_snapshot.check_commit(repo, 'ab' * 20)
    with pytest.raises(OpsError, match="'--output=/etc/x' is not a commit SHA"):
        app_snapshot.check_commit(repo, '--output=/etc/x')
    with pytest.raises(OpsError, match='is not a git repository'):
        app_snapshot.check_repo(str(tmp_path))

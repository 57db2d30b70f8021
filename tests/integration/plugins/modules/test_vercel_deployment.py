"""vercel_deployment against the Vercel stand-in: build, wait, fail, cancel, promote when STAGED."""

import pytest

from tests.conftest import assert_one_line_error, run_module

SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678'


def conn(vercel, **extra):
    args = dict(api_token=vercel.token, team_id=vercel.team_id, project=vercel.project_name, api_url=vercel.api_url,
                poll_interval=0.1, wait_timeout=30)
    args.update(extra)
    return args


def creates(vercel):
    return vercel.requests(method='POST', path_prefix='/v13/deployments')


def test_deploy_commit_then_idempotent(vercel):
    args = conn(vercel, git_repo='pourtrait/pourtrait', git_ref='main', git_sha=SHA)
    planned = run_module('vercel_deployment', args, check_mode=True)
    assert planned['changed'] is True and SHA in planned['msg'] and creates(vercel) == []

    done = run_module('vercel_deployment', args, diff=True)
    assert done['changed'] is True and done['created'] is True, done
    dep = done['deployment']
    assert dep['state'] == 'READY' and dep['alias_assigned'] is True and dep['sha'] == SHA
    live = vercel.live()
    assert live['uid'] == dep['id'] and live['sha'] == SHA
    assert done['diff']['after'] == {'production': dep['id']}

    again = run_module('vercel_deployment', args)
    assert again['changed'] is False and 'already live' in again['msg']
    assert len(creates(vercel)) == 1


def test_build_error_is_reported(vercel):
    vercel.next_build(fail=True)
    before = vercel.live()['uid']
    result = run_module('vercel_deployment', conn(vercel, git_ref='main', git_sha=SHA))
    assert_one_line_error(result, 'ended ERROR', 'fix the build')
    assert vercel.live()['uid'] == before


def test_timeout_cancels_when_asked(vercel):
    vercel.set_timings(building_s=60)
    result = run_module('vercel_deployment', conn(vercel, git_ref='main', wait_timeout=1, cancel_on_timeout=True))
    assert_one_line_error(result, 'has been canceled', 'wait_timeout')
    newest = vercel.deployments()[0]
    assert newest['state'] == 'CANCELED' and not newest['live']
    assert len(vercel.requests(method='PATCH', path_prefix='/v12/deployments/')) == 1


def test_timeout_without_cancel_leaves_the_build(vercel):
    vercel.set_timings(building_s=60)
    result = run_module('vercel_deployment', conn(vercel, git_ref='main', wait_timeout=1))
    assert_one_line_error(result, 'still', 'cancel_on_timeout')
    assert vercel.deployments()[0]['state'] in ('QUEUED', 'BUILDING')
    cancel = run_module('vercel_deployment', conn(vercel, state='canceled', deployment=vercel.deployments()[0]['uid']))
    assert cancel['changed'] is True and cancel['canceled'] is True
    assert vercel.deployments()[0]['state'] == 'CANCELED'
    again = run_module('vercel_deployment', conn(vercel, state='canceled', deployment=vercel.deployments()[0]['uid']))
    assert again['changed'] is False


def test_staged_build_after_rollback_is_promoted(vercel):
    assert run_module('vercel_rollback', conn(vercel))['changed']
    assert vercel.project()['autoAssignCustomDomains'] is False
    done = run_module('vercel_deployment', conn(vercel, git_ref='main', git_sha=SHA))
    assert done['changed'] and done['promoted'] is True, done
    assert vercel.live()['uid'] == done['deployment']['id']


def test_staged_build_not_promoted_warns(vercel):
    assert run_module('vercel_rollback', conn(vercel))['changed']
    live = vercel.live()['uid']
    done = run_module('vercel_deployment', conn(vercel, git_ref='main', promote=False))
    assert done['changed'] and done['promoted'] is False
    texts = [w['event']['msg'] if isinstance(w, dict) else w for w in done.get('warnings', [])]
    assert any('STAGED' in t and 'vercel_promote' in t for t in texts), done
    assert vercel.live()['uid'] == live


def test_redeploy_existing_build(vercel):
    source = vercel.deployments()[1]
    done = run_module('vercel_deployment', conn(vercel, deployment=source['uid']))
    assert done['changed'] and done['deployment']['id'] != source['uid'], done
    live = vercel.live()
    assert live['uid'] == done['deployment']['id'] and live['sha'] == source['sha']


@pytest.mark.parametrize('kind', ['502', 'reset', '429'])
def test_lost_create_answer_is_not_built_twice(vercel, kind):
    vercel.set_faults(rate=1.0, kinds=[kind], when='after', methods=['POST'], paths=['/v13/deployments'],
                      max_faults=1, retry_after='0')
    count = len(vercel.deployments())
    done = run_module('vercel_deployment', conn(vercel, git_ref='main', git_sha=SHA))
    assert done['changed'] and done['deployment']['state'] == 'READY', done
    assert len(creates(vercel)) == 1 and len(vercel.deployments()) == count + 1
    assert vercel.live()['uid'] == done['deployment']['id']


def test_bad_input(vercel):
    result = run_module('vercel_deployment', conn(vercel))
    assert_one_line_error(result, 'nothing to deploy', 'git_ref')
    result = run_module('vercel_deployment', conn(vercel, state='canceled', deployment=vercel.live()['uid']))
    assert_one_line_error(result, 'is READY', 'only a queued or building')
    assert creates(vercel) == []

"""vercel_promote against the Vercel stand-in."""

from tests.conftest import assert_one_line_error, run_module


def conn(vercel, **extra):
    args = dict(api_token=vercel.token, team_id=vercel.team_id, project=vercel.project_name, api_url=vercel.api_url,
                poll_interval=0.1, wait_timeout=30)
    args.update(extra)
    return args


def promote_posts(vercel):
    return [r for r in vercel.requests(method='POST') if '/promote/' in r['path']]


def test_promote_live_is_no_change(vercel):
    live = vercel.live()
    result = run_module('vercel_promote', conn(vercel, deployment=live['uid']))
    assert result['changed'] is False and 'already live' in result['msg'], result
    assert promote_posts(vercel) == []


def test_promote_undoes_a_rollback(vercel):
    original, previous = vercel.deployments()[0], vercel.deployments()[1]
    rolled = run_module('vercel_rollback', conn(vercel))
    assert rolled['changed'] and vercel.live()['uid'] == previous['uid']
    assert vercel.project()['autoAssignCustomDomains'] is False

    planned = run_module('vercel_promote', conn(vercel, deployment=original['url']), check_mode=True, diff=True)
    assert planned['changed'] is True and 'would promote' in planned['msg']
    assert planned['diff']['after'] == {'production': original['uid']}
    assert promote_posts(vercel) == [] and vercel.live()['uid'] == previous['uid']

    done = run_module('vercel_promote', conn(vercel, deployment=original['url']))
    assert done['changed'] is True and done['job_status'] == 'succeeded', done
    assert done['from']['id'] == previous['uid'] and done['to']['id'] == original['uid']
    assert vercel.live()['uid'] == original['uid']
    assert done['auto_assign_custom_domains'] is True and vercel.project()['autoAssignCustomDomains'] is True

    again = run_module('vercel_promote', conn(vercel, deployment=original['uid']))
    assert again['changed'] is False
    assert len(promote_posts(vercel)) == 1


def test_preview_needs_rebuild(vercel):
    preview = vercel.seed_deployment(target='preview', created_offset_s=-60)
    refused = run_module('vercel_promote', conn(vercel, deployment=preview['uid']))
    assert_one_line_error(refused, 'preview build', 'rebuild: true')
    assert len(vercel.deployments()) == 4

    rebuilt = run_module('vercel_promote', conn(vercel, deployment=preview['uid'], rebuild=True))
    assert rebuilt['changed'] is True and rebuilt['rebuilt'] is True, rebuilt
    live = vercel.live()
    assert live['uid'] == rebuilt['to']['id'] and live['uid'] != preview['uid']
    assert live['target'] == 'production' and live['sha'] == preview['sha']


def test_not_ready_and_unknown(vercel):
    failed = vercel.seed_deployment(state='ERROR', created_offset_s=-60)
    result = run_module('vercel_promote', conn(vercel, deployment=failed['uid']))
    assert_one_line_error(result, 'ERROR, not READY')
    result = run_module('vercel_promote', conn(vercel, deployment='dpl_nothere000000000000'))
    assert_one_line_error(result, "'dpl_nothere000000000000' not found")
    assert promote_posts(vercel) == []

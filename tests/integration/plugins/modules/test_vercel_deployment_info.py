"""vercel_deployment_info against the Vercel stand-in."""

from tests.conftest import assert_one_line_error, run_module


def conn(vercel, **extra):
    args = dict(api_token=vercel.token, team_id=vercel.team_id, project=vercel.project_name, api_url=vercel.api_url)
    args.update(extra)
    return args


def test_lists_production_and_candidates(vercel):
    preview = vercel.seed_deployment(target='preview', created_offset_s=-30)
    broken = vercel.seed_deployment(state='ERROR', created_offset_s=-7200)
    deps = [d for d in vercel.deployments() if d['target'] == 'production' and d['state'] == 'READY']
    result = run_module('vercel_deployment_info', conn(vercel))
    assert result['changed'] is False
    assert result['project']['name'] == vercel.project_name and result['project']['auto_assign_custom_domains'] is True
    assert result['production']['id'] == vercel.live()['uid']
    assert [d['id'] for d in result['deployments']][:1] == [preview['uid']]
    assert len(result['deployments']) == 5
    assert [d['id'] for d in result['rollback_candidates']] == [d['uid'] for d in deps[1:]]
    assert result['previous']['id'] == deps[1]['uid'] and broken['uid'] not in [
        d['id'] for d in result['rollback_candidates']]

    prod = run_module('vercel_deployment_info', conn(vercel, target='production', state=['READY']))
    assert [d['id'] for d in prod['deployments']] == [d['uid'] for d in deps]


def test_paging(vercel):
    first = run_module('vercel_deployment_info', conn(vercel, limit=2))
    assert len(first['deployments']) == 2 and first['pagination']['next']
    rest = run_module('vercel_deployment_info', conn(vercel, limit=2, until=first['pagination']['next']))
    ids = [d['id'] for d in first['deployments'] + rest['deployments']]
    assert ids == [d['uid'] for d in vercel.deployments()]


def test_inspect_by_url_and_exclusions(vercel):
    deps = vercel.deployments()
    result = run_module('vercel_deployment_info', conn(vercel, deployment=deps[1]['url'], exclude=[deps[1]['uid']]))
    assert result['deployment']['id'] == deps[1]['uid'] and result['deployment']['state'] == 'READY'
    assert result['previous']['id'] == deps[2]['uid']


def test_after_rollback_reports_the_paused_project(vercel):
    previous = vercel.deployments()[1]
    rolled = run_module('vercel_rollback', conn(vercel, poll_interval=0.1))
    assert rolled['changed']
    result = run_module('vercel_deployment_info', conn(vercel))
    assert result['production']['id'] == previous['uid']
    assert result['project']['auto_assign_custom_domains'] is False
    req = result['project']['last_alias_request']
    assert req['type'] == 'rollback' and req['job_status'] == 'succeeded' and req['to_deployment_id'] == previous['uid']


def test_errors(vercel):
    assert_one_line_error(run_module('vercel_deployment_info', conn(vercel, project='ghost')),
                          "project 'ghost' not found", 'VERCEL_PROJECT')
    assert_one_line_error(run_module('vercel_deployment_info', conn(vercel, team_id='other-team')),
                          '403', 'other-team', 'VERCEL_TEAM_ID')
    assert_one_line_error(run_module('vercel_deployment_info', conn(vercel, deployment='dpl_unknown00000000000')),
                          "deployment 'dpl_unknown00000000000' not found")
    assert_one_line_error(run_module('vercel_deployment_info', conn(vercel, api_token=None, project='pourtrait')),
                          'no Vercel token', 'VERCEL_TOKEN')


def test_candidates_leave_out_builds_before_the_recorded_secret_rotation(vercel):
    """The candidates and `previous` agree with what vercel_rollback target=previous would pick after a rotation."""
    from tests.integration.plugins.modules.test_vercel_rollback import iso, record_rotation
    deps = [d for d in vercel.deployments() if d['target'] == 'production' and d['state'] == 'READY']
    assert len(deps) >= 3
    rotated = iso(deps[2]['created'], +1)  # after the third newest build: only the second newest is still safe
    record_rotation(vercel, rotated)
    result = run_module('vercel_deployment_info', conn(vercel))
    assert result['rotated_at'].startswith(rotated[:19])
    assert [d['id'] for d in result['rollback_candidates']] == [deps[1]['uid']]
    assert result['previous']['id'] == deps[1]['uid']
    unguarded = run_module('vercel_deployment_info', conn(vercel, respect_rotation=False))
    assert unguarded['rotated_at'] is None
    assert [d['id'] for d in unguarded['rollback_candidates']] == [d['uid'] for d in deps[1:]]
    # an explicit not_before later than the rotation wins
    later = run_module('vercel_deployment_info', conn(vercel, not_before=iso(deps[1]['created'], +1)))
    assert later['rollback_candidates'] == [] and later['previous'] is None

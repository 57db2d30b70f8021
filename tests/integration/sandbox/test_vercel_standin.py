"""The Vercel API stand-in behaves like the real API where our modules depend on it."""

import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import requests


def ok(result, status=200):
    code, body, _headers = result
    assert code == status, (code, body)
    return body


def assert_error(result, status, code=None):
    got, body, _headers = result
    assert got == status, (got, body)
    assert set(body) == {'error'} and isinstance(body['error']['message'], str) and body['error']['message'], body
    if code:
        assert body['error']['code'] == code, body
    return body['error']


def project(vercel):
    return ok(vercel.api('GET', '/v9/projects/%s' % vercel.project_id))


def wait_job(vercel, status='succeeded', timeout=5):
    return vercel.wait_for(lambda v: (project(v)['lastAliasRequest'] or {}).get('jobStatus') == status
                           and project(v), timeout=timeout)


def wait_state(vercel, uid, states=('READY', 'ERROR', 'CANCELED'), timeout=5):
    def done(v):
        dep = ok(v.api('GET', '/v13/deployments/%s' % uid))
        return dep if dep['readyState'] in states else None
    return vercel.wait_for(done, timeout=timeout)


def create(vercel, target='production', **extra):
    body = {'name': vercel.project_name, 'gitSource': {'type': 'github', 'repoId': 123456789, 'ref': 'main'}}
    if target:
        body['target'] = target
    body.update(extra)
    return ok(vercel.api('POST', '/v13/deployments', body, params={'forceNew': '1'}))


# -- default state, ids and versions -------------------------------------------------------------
def test_default_state_is_one_team_project_with_three_ready_production_deployments(vercel):
    proj = project(vercel)
    assert proj['name'] == 'pourtrait' and proj['accountId'] == vercel.team_id
    assert proj['autoAssignCustomDomains'] is True and proj['lastAliasRequest'] is None
    listed = ok(vercel.api('GET', '/v6/deployments', params={'projectId': vercel.project_id}))['deployments']
    assert len(listed) == 3
    assert all(d['readyState'] == 'READY' and d['target'] == 'production' and d['isRollbackCandidate'] for d in listed)
    assert [d['created'] for d in listed] == sorted((d['created'] for d in listed), reverse=True)
    assert proj['targets']['production']['id'] == listed[0]['uid']
    assert proj['targets']['production']['readySubstate'] == 'PROMOTED'
    assert vercel.live()['uid'] == listed[0]['uid'] and vercel.live()['health'] == 'healthy'
    assert 'uid' in listed[0] and 'id' not in listed[0]
    teams = ok(vercel.api('GET', '/v1/teams', team=False))['teams']
    assert [t['id'] for t in teams] == [vercel.team_id]
    assert ok(vercel.api('GET', '/teams/%s' % vercel.team_slug, team=False))['id'] == vercel.team_id
    user = ok(vercel.api('GET', '/v2/user', team=False))['user']
    assert user['defaultTeamId'] == vercel.team_id and user['username']


def test_get_deployment_by_id_or_url_under_each_version_carries_team(vercel):
    live = vercel.live()
    for version in ('v11', 'v12', 'v13'):
        dep = ok(vercel.api('GET', '/%s/deployments/%s' % (version, live['uid'])))
        assert dep['id'] == live['uid'] and 'uid' not in dep
    by_url = ok(vercel.api('GET', '/v13/deployments/%s' % live['url']))
    assert by_url['id'] == live['uid']
    assert by_url['team'] == {'id': vercel.team_id, 'name': 'Pourtrait', 'slug': vercel.team_slug}
    assert by_url['aliasAssigned'] is True and 'pourtrait.app' in by_url['alias']
    encoded = urllib.parse.quote('https://%s' % live['url'], safe='')
    assert ok(vercel.api('GET', '/v13/deployments/%s' % encoded))['id'] == live['uid']


# -- errors --------------------------------------------------------------------------------------
def test_auth_team_and_not_found_errors(vercel):
    path = '/v9/projects/%s' % vercel.project_id
    assert assert_error(vercel.api('GET', path, token=''), 401)['missingToken'] is True
    assert assert_error(vercel.api('GET', path, token='A' * 24), 401)['invalidToken'] is True
    assert_error(vercel.api('GET', path, token=vercel.token + '!'), 401)
    assert_error(vercel.api('GET', path, params={'teamId': 'team_' + 'x' * 24}), 403, 'forbidden')
    assert_error(vercel.api('GET', path, params={'slug': 'someone-else'}), 403, 'forbidden')
    assert ok(vercel.api('GET', path, params={'slug': vercel.team_slug}))['id'] == vercel.project_id
    assert_error(vercel.api('GET', path, team=False), 404, 'not_found')  # team project, personal scope
    assert_error(vercel.api('GET', '/v9/projects/nope'), 404, 'not_found')
    assert_error(vercel.api('GET', '/v13/deployments/dpl_unknown'), 404, 'not_found')
    assert_error(vercel.api('GET', '/v99/nothing'), 404, 'not_found')
    assert_error(vercel.api('POST', '/v13/deployments', {'target': 'production'}), 400, 'bad_request')


def test_personal_project_is_scoped_to_the_user(vercel):
    vercel.reset(owner='personal')
    path = '/v9/projects/%s' % vercel.project_id
    assert ok(vercel.api('GET', path))['accountId'] == vercel.user_id
    assert_error(vercel.api('GET', path, params={'teamId': vercel.team_id}), 404, 'not_found')
    dep = ok(vercel.api('GET', '/v13/deployments/%s' % vercel.live()['uid']))
    assert 'team' not in dep


# -- listing -------------------------------------------------------------------------------------
def test_pagination_follows_until_equals_next(vercel):
    for i in range(5):
        vercel.seed_deployment(created_offset_s=-100 - i, target='preview' if i % 2 else 'production')
    seen, params = [], {'projectId': vercel.project_id, 'limit': 3}
    pages = 0
    while True:
        body = ok(vercel.api('GET', '/v6/deployments', params=params))
        pages += 1
        assert body['pagination']['count'] == len(body['deployments'])
        seen += [d['uid'] for d in body['deployments']]
        if body['pagination']['next'] is None:
            break
        params['until'] = body['pagination']['next']
    assert pages == 3 and len(seen) == len(set(seen)) == 8
    prod = ok(vercel.api('GET', '/v6/deployments', params={'target': 'production', 'limit': 100}))['deployments']
    assert len(prod) == 6 and all(d['target'] == 'production' for d in prod)
    assert_error(vercel.api('GET', '/v6/deployments', params={'limit': 1000}), 400, 'bad_request')


def test_filters_state_csv_sha_and_rollback_candidates(vercel):
    bad = vercel.seed_deployment(state='ERROR', sha='f' * 40, created_offset_s=-10)
    vercel.seed_deployment(target='preview', created_offset_s=-20)
    rows = ok(vercel.api('GET', '/v6/deployments', params={'state': 'ERROR,CANCELED'}))['deployments']
    assert [d['uid'] for d in rows] == [bad['uid']] and rows[0]['errorCode'] == 'BUILD_FAILED'
    assert [d['uid'] for d in ok(vercel.api('GET', '/v6/deployments', params={'sha': 'f' * 40}))['deployments']] \
        == [bad['uid']]
    assert [d['uid'] for d in ok(vercel.api('GET', '/v6/deployments', params={'meta-githubCommitSha': 'f' * 40}))[
        'deployments']] == [bad['uid']]
    cands = ok(vercel.api('GET', '/v6/deployments', params={'rollbackCandidate': 'true'}))['deployments']
    assert len(cands) == 3 and not bad['isRollbackCandidate']


# -- building ------------------------------------------------------------------------------------
def test_production_build_goes_queued_building_ready_and_becomes_live(vercel):
    vercel.set_timings(queued_s=0.2, building_s=0.5)
    old = vercel.live()
    dep = create(vercel)
    assert dep['readyState'] == 'QUEUED' and dep['target'] == 'production' and dep['aliasAssigned'] is False
    seen = {dep['readyState']}
    deadline = time.time() + 5
    while time.time() < deadline:
        cur = ok(vercel.api('GET', '/v13/deployments/%s' % dep['id']))
        seen.add(cur['readyState'])
        if cur['readyState'] == 'READY':
            break
        time.sleep(0.03)
    assert seen >= {'QUEUED', 'BUILDING', 'READY'}
    assert cur['aliasAssigned'] is True and cur['readySubstate'] == 'PROMOTED'
    assert project(vercel)['targets']['production']['id'] == dep['id'] != old['uid']
    status, health, _hdrs = vercel.app('/health')
    assert status == 200 and health['deploymentId'] == dep['id']


def test_failed_build_and_preview_redeploy_leave_production_alone(vercel):
    live = vercel.live()
    vercel.next_build(fail=True)
    bad = create(vercel)
    done = wait_state(vercel, bad['id'])
    assert done['readyState'] == 'ERROR' and done['errorCode'] == 'BUILD_FAILED'
    redeploy = ok(vercel.api('POST', '/v13/deployments', {'name': vercel.project_name, 'deploymentId': live['uid']}))
    assert redeploy['target'] is None and redeploy['meta']['originalDeploymentId'] == live['uid']
    assert wait_state(vercel, redeploy['id'])['readyState'] == 'READY'
    assert project(vercel)['targets']['production']['id'] == live['uid']
    assert_error(vercel.api('POST', '/v13/deployments', {'name': vercel.project_name, 'deploymentId': 'dpl_x'}), 404)


def test_cancel_only_while_building(vercel):
    vercel.set_timings(queued_s=0.5, building_s=2)
    dep = create(vercel)
    canceled = ok(vercel.api('PATCH', '/v12/deployments/%s/cancel' % dep['id']))
    assert canceled['readyState'] == 'CANCELED'
    assert_error(vercel.api('PATCH', '/v12/deployments/%s/cancel' % dep['id']), 400)
    assert_error(vercel.api('PATCH', '/v12/deployments/%s/cancel' % vercel.live()['uid']), 400)


# -- rollback and promote ------------------------------------------------------------------------
@pytest.mark.parametrize('version', ['v1', 'v9'])
def test_rollback_job_moves_production_and_turns_auto_assign_off(vercel, version):
    vercel.set_timings(job_pending_s=0.3, job_running_s=0.3)
    deps = vercel.deployments()
    live, previous = deps[0], deps[1]
    ok(vercel.api('POST', '/%s/projects/%s/rollback/%s' % (version, vercel.project_id, previous['uid']),
                  params={'description': 'bad release'}), 201)
    proj = project(vercel)
    assert proj['autoAssignCustomDomains'] is False
    lar = proj['lastAliasRequest']
    assert lar['type'] == 'rollback' and lar['fromDeploymentId'] == live['uid']
    assert lar['toDeploymentId'] == previous['uid'] and lar['jobStatus'] in ('pending', 'in-progress')
    assert proj['rollbackDescription']['description'] == 'bad release'
    seen = {lar['jobStatus']}
    deadline = time.time() + 5
    while time.time() < deadline:
        status = project(vercel)['lastAliasRequest']['jobStatus']
        seen.add(status)
        if status == 'succeeded':
            break
        time.sleep(0.02)
    assert {'pending', 'in-progress', 'succeeded'} <= seen
    assert project(vercel)['targets']['production']['id'] == previous['uid']
    assert vercel.app('/health')[1]['deploymentId'] == previous['uid']
    assert len(vercel.requests(method='POST', path_prefix='/%s/projects/' % version)) == 1


def test_after_rollback_new_builds_stay_staged_until_promoted(vercel):
    previous = vercel.deployments()[1]
    ok(vercel.api('POST', '/v1/projects/%s/rollback/%s' % (vercel.project_id, previous['uid'])), 201)
    wait_job(vercel)
    dep = create(vercel)
    ready = wait_state(vercel, dep['id'])
    assert ready['readyState'] == 'READY' and ready['readySubstate'] == 'STAGED' and ready['aliasAssigned'] is False
    assert project(vercel)['targets']['production']['id'] == previous['uid']
    ok(vercel.api('POST', '/v10/projects/%s/promote/%s' % (vercel.project_id, dep['id']), {}), 201)
    proj = wait_job(vercel)
    assert proj['lastAliasRequest']['type'] == 'promote' and proj['autoAssignCustomDomains'] is True
    assert proj['targets']['production']['id'] == dep['id']
    promoted = ok(vercel.api('GET', '/v13/deployments/%s' % dep['id']))
    assert promoted['readySubstate'] == 'PROMOTED' and promoted['aliasAssigned'] is True
    assert_error(vercel.api('POST', '/v10/projects/%s/promote/%s' % (vercel.project_id, dep['id']), {}), 409)


def test_rollback_and_promote_refuse_bad_targets(vercel):
    base = '/v1/projects/%s/rollback/' % vercel.project_id
    live = vercel.live()
    preview = vercel.seed_deployment(target='preview', created_offset_s=-5)
    failed = vercel.seed_deployment(state='ERROR', created_offset_s=-6)
    assert_error(vercel.api('POST', base + preview['uid']), 400)
    assert_error(vercel.api('POST', base + failed['uid']), 422)
    assert_error(vercel.api('POST', base + live['uid']), 409)
    assert_error(vercel.api('POST', base + 'dpl_unknown'), 404, 'not_found')
    assert_error(vercel.api('POST', '/v1/projects/prj_unknown/rollback/%s' % live['uid']), 404, 'not_found')
    assert_error(vercel.api('POST', '/v10/projects/%s/promote/%s' % (vercel.project_id, preview['uid']), {}), 400)
    assert_error(vercel.api('POST', '/v10/projects/%s/promote/%s' % (vercel.project_id, live['uid']), {}), 409)
    assert project(vercel)['lastAliasRequest'] is None and project(vercel)['autoAssignCustomDomains'] is True


def test_hobby_plan_rolls_back_one_step_only(vercel):
    vercel.set_plan('hobby')
    deps = vercel.deployments()
    err = assert_error(vercel.api('POST', '/v1/projects/%s/rollback/%s' % (vercel.project_id, deps[2]['uid'])), 402)
    assert 'Hobby' in err['message']
    assert project(vercel)['lastAliasRequest'] is None
    ok(vercel.api('POST', '/v1/projects/%s/rollback/%s' % (vercel.project_id, deps[1]['uid'])), 201)


def test_failed_job_lists_failed_aliases_and_keeps_production(vercel):
    live, previous = vercel.deployments()[:2]
    vercel.next_job(fail=True)
    ok(vercel.api('POST', '/v9/projects/%s/rollback/%s' % (vercel.project_id, previous['uid'])), 201)
    proj = wait_job(vercel, 'failed')
    assert proj['targets']['production']['id'] == live['uid']
    failed = ok(vercel.api('GET', '/v9/projects/%s/rollback/aliases' % vercel.project_id,
                           params={'failedOnly': 'true'}))['aliases']
    assert failed and all(a['status'] == 'failed' and a['alias']['deploymentId'] == previous['uid'] for a in failed)
    assert ok(vercel.api('GET', '/v1/projects/%s/promote/aliases' % vercel.project_id,
                         params={'failedOnly': 'true'}))['aliases'] == []


# -- env vars and aliases ------------------------------------------------------------------------
def test_env_vars_list_decrypt_create_upsert_edit_delete(vercel):
    path = '/v10/projects/%s/env' % vercel.project_id
    envs = ok(vercel.api('GET', path))['envs']
    by_key = dict((e['key'], e) for e in envs)
    plain = dict((e['key'], e['value']) for e in vercel.env_vars())
    assert by_key['DATABASE_URL']['type'] == 'encrypted' and by_key['DATABASE_URL']['value'] != plain['DATABASE_URL']
    assert by_key['OPENAI_API_KEY']['value'] == ''
    decrypted = dict((e['key'], e) for e in ok(vercel.api('GET', path, params={'decrypt': 'true'}))['envs'])
    assert decrypted['DATABASE_URL']['value'] == plain['DATABASE_URL'] and decrypted['DATABASE_URL']['decrypted']
    one = ok(vercel.api('GET', '/v1/projects/%s/env/%s' % (vercel.project_id, by_key['DATABASE_URL']['id'])))
    assert one['value'] == plain['DATABASE_URL']

    new = {'key': 'FEATURE_FLAG', 'value': 'on', 'type': 'plain', 'target': ['production']}
    created = ok(vercel.api('POST', path, new), 201)
    assert created['failed'] == [] and created['created']['key'] == 'FEATURE_FLAG'
    conflict = assert_error(vercel.api('POST', path, dict(new, value='off')), 400, 'ENV_CONFLICT')
    assert conflict['envVarId'] == created['created']['id']
    ok(vercel.api('POST', path, dict(new, value='off'), params={'upsert': 'true'}), 201)
    assert [e['value'] for e in vercel.env_vars() if e['key'] == 'FEATURE_FLAG'] == ['off']
    batch = ok(vercel.api('POST', '/v9/projects/%s/env' % vercel.project_id,
                          [dict(new, value='x'), {'key': 'OTHER', 'value': 'y', 'type': 'encrypted',
                                                  'target': ['preview']}]), 201)
    assert [c['key'] for c in batch['created']] == ['OTHER']
    assert batch['failed'][0]['error']['code'] == 'ENV_CONFLICT'
    assert_error(vercel.api('POST', path, {'key': '1BAD', 'value': 'v', 'type': 'plain', 'target': ['production']}),
                 400)

    env_id = created['created']['id']
    edited = ok(vercel.api('PATCH', '/v9/projects/%s/env/%s' % (vercel.project_id, env_id),
                           {'value': 'edited', 'comment': 'why'}))
    assert edited['comment'] == 'why'
    assert [e['value'] for e in vercel.env_vars() if e['id'] == env_id] == ['edited']
    assert_error(vercel.api('PATCH', '/v9/projects/%s/env/%s' % (vercel.project_id, env_id),
                            {'key': 'DATABASE_URL'}), 409, 'existing_key_and_target')
    assert_error(vercel.api('PATCH', '/v9/projects/%s/env/%s' % (vercel.project_id, env_id), {'bogus': 1}), 400)
    removed = ok(vercel.api('DELETE', '/v9/projects/%s/env/%s' % (vercel.project_id, env_id)))
    assert removed['id'] == env_id and env_id not in [e['id'] for e in vercel.env_vars()]
    assert_error(vercel.api('DELETE', '/v9/projects/%s/env/%s' % (vercel.project_id, env_id)), 404, 'not_found')


def test_aliases_point_at_production(vercel):
    aliases = ok(vercel.api('GET', '/v4/aliases', params={'projectId': vercel.project_id}))['aliases']
    assert {'pourtrait.app', 'www.pourtrait.app'} <= set(a['alias'] for a in aliases)
    assert set(a['deploymentId'] for a in aliases) == {vercel.live()['uid']}


# -- faults, log, TLS ----------------------------------------------------------------------------
def test_429_has_retry_after_and_limit_and_a_faulted_request_changes_nothing(vercel):
    previous = vercel.deployments()[1]
    vercel.set_faults(rate=1.0, kinds=['429'], retry_after='2')
    code, body, headers = vercel.api('POST', '/v1/projects/%s/rollback/%s' % (vercel.project_id, previous['uid']))
    assert code == 429 and headers['Retry-After'] == '2'
    assert body['error']['code'] == 'rate_limited' and body['error']['limit']['remaining'] == 0
    assert set(body['error']['limit']) == {'remaining', 'reset', 'resetMs', 'total'}
    vercel.clear_faults()
    assert project(vercel)['lastAliasRequest'] is None
    log = vercel.requests(method='POST')
    assert [(e['status'], e['faulted']) for e in log] == [(429, '429')]


def test_after_mode_applies_the_change_then_loses_the_answer(vercel):
    previous = vercel.deployments()[1]
    vercel.set_faults(rate=1.0, kinds=['500'], when='after', methods=['POST'])
    assert_error(vercel.api('POST', '/v1/projects/%s/rollback/%s' % (vercel.project_id, previous['uid'])), 500,
                 'internal_server_error')
    vercel.clear_faults()
    assert project(vercel)['lastAliasRequest']['toDeploymentId'] == previous['uid']


def test_reset_and_hang_drop_the_connection(vercel):
    session = requests.Session()
    url = vercel.api_url + '/v2/user'
    headers = {'Authorization': 'Bearer ' + vercel.token}
    vercel.set_faults(rate=1.0, kinds=['reset'])
    with pytest.raises(requests.ConnectionError):
        session.get(url, headers=headers, timeout=5)
    vercel.set_faults(rate=1.0, kinds=['hang'], hang_s=1.5)
    started = time.time()
    with pytest.raises(requests.Timeout):
        session.get(url, headers=headers, timeout=0.3)
    assert time.time() - started < 1.4
    # the stand-in logs the hung request when it drops it (hang_s later): wait for that entry, so the
    # request below is logged last
    deadline = time.time() + 10
    while len(vercel.requests(path_prefix='/v2/user')) < 2 and time.time() < deadline:
        time.sleep(0.05)
    vercel.clear_faults()
    assert session.get(url, headers=headers, timeout=5).status_code == 200
    faulted = [e['faulted'] for e in vercel.requests(path_prefix='/v2/user')]
    assert faulted[:1] == ['reset'] and faulted[-1] is None


def test_faults_are_deterministic_for_a_seed_and_spare_admin_paths(vercel):
    def run():
        vercel.set_faults(rate=0.5, kinds=['500', '502', '503'], seed=7)
        codes = [vercel.api('GET', '/v2/user', team=False)[0] for _i in range(12)]
        vercel.state()  # admin: never faulted
        return codes
    first, second = run(), run()
    assert first == second and 200 in first and set(first) - {200}
    assert vercel.faults()['injected'] == len([c for c in second if c != 200])
    vercel.set_faults(rate=1.0, kinds=['503'], max_faults=2, paths=['/v2/'])
    codes = [vercel.api('GET', '/v2/user', team=False)[0] for _i in range(3)]
    assert codes == [503, 503, 200]
    assert vercel.api('GET', '/v1/teams', team=False)[0] == 200


def test_latency_is_added(vercel):
    vercel.set_faults(rate=0, latency_ms=300)
    started = time.time()
    ok(vercel.api('GET', '/v2/user', team=False))
    assert time.time() - started >= 0.3


def test_https_with_the_generated_ca(vercel):
    proj = ok(vercel.api('GET', '/v9/projects/%s' % vercel.project_id, https=True))
    assert proj['id'] == vercel.project_id
    assert requests.get(vercel.https_url + '/v2/user', headers={'Authorization': 'Bearer ' + vercel.token},
                        verify=vercel.ca_path, timeout=5).status_code == 200
    with pytest.raises(urllib.error.URLError) as info:
        urllib.request.urlopen(vercel.https_url + '/v2/user', context=ssl.create_default_context(), timeout=5)
    assert 'CERTIFICATE_VERIFY_FAILED' in str(info.value)


def test_request_log_counts_every_request(vercel):
    vercel.api('GET', '/v2/user', team=False)
    vercel.api('GET', '/v9/projects/%s' % vercel.project_id, token='B' * 24)
    vercel.app('/health')
    log = vercel.requests()
    assert [(e['service'], e['method'], e['path'], e['status']) for e in log] == [
        ('vercel', 'GET', '/v2/user', 200), ('vercel', 'GET', '/v9/projects/%s' % vercel.project_id, 401),
        ('app', 'GET', '/health', 200)]
    assert all(e['faulted'] is None and e['time'] > 0 for e in log)
    assert len(vercel.requests(path_prefix='/v9/')) == 1 and len(vercel.requests(service='app')) == 1


def test_seeded_build_can_be_made_to_fail_and_a_hang_from_an_earlier_test_is_not_logged(vercel):
    dep = vercel.seed_deployment(state='BUILDING', fail=True, created_offset_s=0)
    assert wait_state(vercel, dep['uid'])['readyState'] == 'ERROR'
    assert vercel.live()['uid'] != dep['uid']
    vercel.set_faults(rate=1.0, kinds=['hang'], hang_s=0.5)
    with pytest.raises(requests.Timeout):
        requests.get(vercel.api_url + '/v2/user', timeout=0.2)
    vercel.reset()
    time.sleep(0.6)
    assert vercel.requests() == []

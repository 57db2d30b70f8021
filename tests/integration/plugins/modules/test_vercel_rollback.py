"""vercel_rollback against the Vercel + app stand-ins: real subprocess, real HTTP."""

import time

from tests.conftest import assert_one_line_error, run_module


def conn(vercel, **extra):
    args = dict(api_token=vercel.token, team_id=vercel.team_id, project=vercel.project_name, api_url=vercel.api_url,
                poll_interval=0.1, wait_timeout=30)
    args.update(extra)
    return args


def rollback_posts(vercel):
    posts = vercel.requests(method='POST', path_prefix='/v1/projects/')
    return [p for p in posts if '/rollback/' in p['path']]


def test_rollback_to_previous_then_idempotent(vercel):
    deps = vercel.deployments()
    live, previous = deps[0], deps[1]
    assert live['live']

    planned = run_module('vercel_rollback', conn(vercel), check_mode=True, diff=True)
    assert planned['changed'] is True and planned['to']['id'] == previous['uid']
    assert previous['uid'] in planned['msg'] and 'would roll' in planned['msg']
    assert planned['diff'] == {'before': {'production': live['uid']}, 'after': {'production': previous['uid']}}
    assert rollback_posts(vercel) == [] and vercel.live()['uid'] == live['uid']

    done = run_module('vercel_rollback', conn(vercel, description='INC-1 checkout errors'))
    assert done['changed'] is True, done
    assert done['from']['id'] == live['uid'] and done['to']['id'] == previous['uid']
    assert done['job_status'] == 'succeeded' and done['duration_s'] > 0
    assert done['auto_assign_paused'] is True and 'auto-assignment is now paused' in done['note']
    assert vercel.live()['uid'] == previous['uid']
    assert vercel.project()['autoAssignCustomDomains'] is False
    status, _body, headers = vercel.app('/health')
    assert status == 200 and headers['x-sandbox-deployment'] == previous['uid']

    again = run_module('vercel_rollback', conn(vercel))
    assert again['changed'] is False, again
    assert again['job_status'] == 'none' and 'already live' in again['msg']
    assert len(rollback_posts(vercel)) == 1
    assert vercel.live()['uid'] == previous['uid']


def test_rollback_to_named_deployment_by_url(vercel):
    oldest = vercel.deployments()[2]
    result = run_module('vercel_rollback', conn(vercel, target=oldest['url']))
    assert result['changed'] and result['to']['id'] == oldest['uid'], result
    assert vercel.live()['uid'] == oldest['uid']
    assert run_module('vercel_rollback', conn(vercel, target=oldest['uid']))['changed'] is False


def test_exactly_one_rollback_despite_faults(vercel):
    # 30% of all API calls fail (429, 5xx, resets, hangs). 'before': a faulted call is not processed;
    # 'after': it is processed and then its answer is lost. The seeds make the rollback POST itself hit.
    for when, seed in (('after', 4), ('before', 4)):
        vercel.reset()
        live, previous = vercel.deployments()[0], vercel.deployments()[1]
        vercel.set_faults(rate=0.3, seed=seed, when=when, hang_s=1, retry_after='0')
        result = run_module('vercel_rollback', conn(vercel, timeout=3, retries=8))
        injected = vercel.faults()['injected']
        vercel.clear_faults()
        assert result['changed'] is True and result['job_status'] == 'succeeded', (when, result)
        assert result['from']['id'] == live['uid'] and result['to']['id'] == previous['uid']
        assert vercel.live()['uid'] == previous['uid']
        posts = rollback_posts(vercel)
        assert injected > 0 and any(p['faulted'] for p in posts), (when, posts)
        processed = [p for p in posts if not (when == 'before' and p['faulted'])]
        assert len(processed) == 1, (when, posts)


def test_rollback_after_lost_response_is_reconciled_not_repeated(vercel):
    previous = vercel.deployments()[1]
    vercel.set_faults(rate=1.0, kinds=['500'], when='after', methods=['POST'], max_faults=1)
    result = run_module('vercel_rollback', conn(vercel))
    assert result['changed'] and vercel.live()['uid'] == previous['uid'], result
    posts = rollback_posts(vercel)
    assert len(posts) == 1 and posts[0]['status'] == 500


def test_not_before_and_exclude_skip_unsafe_targets(vercel):
    deps = vercel.deployments()
    live, previous, oldest = deps[0], deps[1], deps[2]
    excluded = run_module('vercel_rollback', conn(vercel, exclude=[previous['uid']]), check_mode=True)
    assert excluded['to']['id'] == oldest['uid'], excluded
    rotation = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(previous['created'] / 1000.0 + 1))
    none_left = run_module('vercel_rollback', conn(vercel, not_before=rotation))
    assert_one_line_error(none_left, 'no rollback candidate', live['uid'], 'built after')
    named = run_module('vercel_rollback', conn(vercel, target=previous['uid'], not_before=rotation))
    assert_one_line_error(named, 'before not_before', 'unsafe after the secret rotation')
    assert vercel.live()['uid'] == live['uid'] and rollback_posts(vercel) == []


def test_bad_targets_are_one_line_errors(vercel):
    preview = vercel.seed_deployment(target='preview', created_offset_s=-600)
    failed = vercel.seed_deployment(state='ERROR', created_offset_s=-900)
    result = run_module('vercel_rollback', conn(vercel, target=preview['uid']))
    assert_one_line_error(result, 'preview build', 'vercel_promote rebuild=true')
    result = run_module('vercel_rollback', conn(vercel, target=failed['uid']))
    assert_one_line_error(result, 'ERROR, not READY')
    result = run_module('vercel_rollback', conn(vercel, target='dpl_doesnotexist1234'))
    assert_one_line_error(result, "rollback target 'dpl_doesnotexist1234' not found")
    assert rollback_posts(vercel) == []


def test_hobby_plan_limit(vercel):
    vercel.set_plan('hobby')
    oldest = vercel.deployments()[2]
    result = run_module('vercel_rollback', conn(vercel, target=oldest['uid']))
    assert_one_line_error(result, '402', 'Hobby', 'target=previous')
    assert not vercel.live()['uid'] == oldest['uid']


def test_connection_faults_token_team_project(vercel):
    result = run_module('vercel_rollback', conn(vercel, api_token='A' * 24))
    assert_one_line_error(result, '401: the Vercel token was rejected; check VERCEL_TOKEN')
    result = run_module('vercel_rollback', conn(vercel, api_token='not a token at all'))
    assert_one_line_error(result, 'malformed', 'VERCEL_TOKEN')
    assert 'not a token at all' not in result.stdout
    result = run_module('vercel_rollback', conn(vercel, team_id='team_someoneelse00000000'))
    assert_one_line_error(result, '403', 'team_someoneelse00000000', 'VERCEL_TEAM_ID')
    result = run_module('vercel_rollback', conn(vercel, project='nope'))
    assert_one_line_error(result, "project 'nope' not found", 'VERCEL_PROJECT')
    assert rollback_posts(vercel) == []


def test_rate_limit_outlasting_retries_and_unreachable_api(vercel):
    vercel.set_faults(rate=1.0, kinds=['429'], retry_after='0')
    result = run_module('vercel_rollback', conn(vercel, retries=2))
    assert_one_line_error(result, '429', 'rate limit', 'after 3 attempts', 'raise retries')
    vercel.clear_faults()
    result = run_module('vercel_rollback', conn(vercel, api_url='http://127.0.0.1:9', retries=1))
    assert_one_line_error(result, 'could not be reached', 'VERCEL_API_URL')


def test_https_with_ca_path_and_env_fallbacks(vercel):
    previous = vercel.deployments()[1]
    env = {'VERCEL_TOKEN': vercel.token, 'VERCEL_TEAM_ID': vercel.team_slug, 'VERCEL_PROJECT': vercel.project_name,
           'VERCEL_API_URL': vercel.https_url, 'VERCEL_CA_PATH': vercel.ca_path}
    result = run_module('vercel_rollback', dict(poll_interval=0.1), env=env)
    assert result['changed'] and vercel.live()['uid'] == previous['uid'], result
    bad = run_module('vercel_rollback', dict(poll_interval=0.1, ca_path='/etc/ssl/certs/ca-certificates.crt',
                                             retries=0), env=env)
    assert_one_line_error(bad, 'TLS verification', 'VERCEL_CA_PATH')


# -- the secret rotation guard (POURTRAIT_SECRET_ROTATED_AT) ------------------------------------------------------

ROTATED_KEY = 'POURTRAIT_SECRET_ROTATED_AT'


def iso(ms, shift_s=0):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(ms / 1000.0 + shift_s))


def record_rotation(vercel, value, kind='plain', target=('production',)):
    """The project variable the security_incident role writes after a rotation, set through the API."""
    status, body, _headers = vercel.api('POST', '/v10/projects/%s/env' % vercel.project_id, params={'upsert': 'true'},
                                        body={'key': ROTATED_KEY, 'value': value, 'type': kind, 'target': list(target)})
    assert status == 201 and not body['failed'], body


def env_reads(vercel):
    return [r for r in vercel.requests(method='GET') if r['path'].endswith('/env') or '/env/' in r['path']]


def test_rotation_refuses_previous_built_before_it(vercel):
    deps = vercel.deployments()
    live, previous = deps[0], deps[1]
    rotated = iso(previous['created'], +1)
    record_rotation(vercel, rotated)

    for check_mode in (True, False):
        refused = run_module('vercel_rollback', conn(vercel), check_mode=check_mode)
        assert_one_line_error(refused, 'no rollback target built after the secret rotation at %s' % rotated[:19],
                              'every older build carries the rotated secret', 'set force=true to roll back anyway')
    assert rollback_posts(vercel) == [] and vercel.live()['uid'] == live['uid']

    forced = run_module('vercel_rollback', conn(vercel, force=True))
    assert forced['changed'] and forced['to']['id'] == previous['uid'], forced
    assert forced['forced'] is True and forced['rotated_at'].startswith(rotated[:19])
    warnings = [str(w) for w in forced['warnings']]
    assert any('force=true' in w and previous['uid'] in w and 'carries the rotated secret' in w for w in warnings), forced
    assert vercel.live()['uid'] == previous['uid'] and len(rollback_posts(vercel)) == 1

    # the same forced run again: already live, nothing sent, no warning about the rotation
    again = run_module('vercel_rollback', conn(vercel, force=True))
    assert again['changed'] is False and again['forced'] is False, again
    assert len(rollback_posts(vercel)) == 1


def test_rotation_refuses_a_named_older_target_and_allows_newer(vercel):
    deps = vercel.deployments()
    live, previous, oldest = deps[0], deps[1], deps[2]
    rotated = iso(oldest['created'], +1)
    record_rotation(vercel, rotated)

    refused = run_module('vercel_rollback', conn(vercel, target=oldest['uid']))
    assert_one_line_error(refused, 'rollback target %s was built at' % oldest['uid'],
                          'before the secret rotation at %s' % rotated[:19], 'set force=true to roll back anyway')
    assert rollback_posts(vercel) == []

    # previous was built after the rotation: allowed, and the rotation is reported
    done = run_module('vercel_rollback', conn(vercel, target=previous['uid']))
    assert done['changed'] and done['forced'] is False and done['rotated_at'].startswith(rotated[:19]), done
    assert not any('force=true' in str(w) for w in done.get('warnings', []))
    assert vercel.live()['uid'] == previous['uid']
    assert live['uid'] != previous['uid']


def test_rotation_marker_read_once_skippable_and_checked(vercel):
    deps = vercel.deployments()
    previous = deps[1]
    # no marker: one env list call (no decryption), the rollback goes ahead, rotated_at null
    planned = run_module('vercel_rollback', conn(vercel), check_mode=True)
    assert planned['to']['id'] == previous['uid'] and planned['rotated_at'] is None, planned
    reads = env_reads(vercel)
    assert len(reads) == 1 and 'decrypt=false' in reads[0]['query'], reads

    # respect_rotation=false: no env read at all, and a marker is ignored
    record_rotation(vercel, iso(deps[0]['created'], +1))
    vercel.clear_requests()
    ignored = run_module('vercel_rollback', conn(vercel, respect_rotation=False), check_mode=True)
    assert ignored['to']['id'] == previous['uid'] and ignored['rotated_at'] is None, ignored
    assert env_reads(vercel) == []


def test_rotation_marker_encrypted_or_malformed(vercel):
    previous = vercel.deployments()[1]
    # an encrypted marker older than previous is read (decrypted, one variable) and allows it
    record_rotation(vercel, iso(previous['created'], -60), kind='encrypted')
    planned = run_module('vercel_rollback', conn(vercel), check_mode=True)
    assert planned['to']['id'] == previous['uid'] and planned['rotated_at'], planned

    record_rotation(vercel, 'yesterday', kind='plain')
    bad = run_module('vercel_rollback', conn(vercel))
    assert_one_line_error(bad, "%s='yesterday'" % ROTATED_KEY, 'is not a time', 'respect_rotation=false')
    assert rollback_posts(vercel) == []

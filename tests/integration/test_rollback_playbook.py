"""End-to-end runs of playbooks/rollback.yml (and the deploy check mode) with
ansible-playbook, the way an on-call engineer runs them against production:
inventory/production keeps no secret, so the Vercel modules read VERCEL_TOKEN,
VERCEL_TEAM_ID, VERCEL_PROJECT, VERCEL_API_URL and the roles read APP_URL from
the environment - here pointing at the test's own Vercel and app stand-ins."""

from tests.helpers import run_playbook

FAST = ['-e', 'rollback_poll_interval=0.1', '-e', 'rollback_health_interval=0.2']


def playbook(name, vercel, *args):
    """Run playbooks/<name>.yml against inventory/production; returns (rc, stdout + stderr)."""
    result = run_playbook(name, *args, env=vercel.env)
    return result.rc, result.output


def seed_broken_release(vercel):
    """A broken release live over the default healthy production; returns (broken, previous) uids."""
    previous = vercel.live()['uid']
    broken = vercel.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    assert vercel.live()['uid'] == broken
    return broken, previous


def rollback_posts(vercel):
    return [r for r in vercel.requests(method='POST') if '/rollback/' in r['path']]


def test_rollback_check_run_and_rerun(vercel):
    broken, previous = seed_broken_release(vercel)

    rc, out = playbook('rollback', vercel, '--check', *FAST)
    assert rc == 0, out
    assert 'Would roll production back from %s' % broken in out, out
    assert 'to %s' % previous in out
    assert vercel.live()['uid'] == broken
    assert rollback_posts(vercel) == []

    rc, out = playbook('rollback', vercel, '-e', 'rollback_reason="INC-1: checkout 500s"', *FAST)
    assert rc == 0, out
    assert 'changed=1' in out, out
    assert 'Rolled production back from %s' % broken in out, out
    assert 'New production deploys stay STAGED (domain auto-assignment is paused) until one is promoted' in out
    assert vercel.live()['uid'] == previous
    status, body, _headers = vercel.app('/health')
    assert (status, body['status'], body['deploymentId']) == (200, 'healthy', previous)
    project = vercel.project()
    assert project['autoAssignCustomDomains'] is False
    assert project['rollbackDescription']['description'] == 'INC-1: checkout 500s'

    # the second run finds production rolled back and healthy: nothing is sent
    rc, out = playbook('rollback', vercel, *FAST)
    assert rc == 0, out
    assert 'changed=0' in out, out
    assert 'Production already points at %s' % previous in out, out
    assert 'rollback_to=<deployment id or URL>' in out
    assert len(rollback_posts(vercel)) == 1
    assert vercel.live()['uid'] == previous


def test_going_further_back_takes_rollback_to(vercel):
    broken, previous = seed_broken_release(vercel)
    oldest = sorted((d for d in vercel.deployments() if d['uid'] not in (broken, previous)),
                    key=lambda d: d['created'])[0]['uid']
    rc, out = playbook('rollback', vercel, *FAST)
    assert rc == 0 and vercel.live()['uid'] == previous, out

    rc, out = playbook('rollback', vercel, '-e', 'rollback_to=%s' % oldest, *FAST)
    assert rc == 0, out
    assert 'Rolled production back from %s' % previous in out, out
    assert vercel.live()['uid'] == oldest


def test_rollback_onto_an_unhealthy_deployment_fails_and_says_what_to_do(vercel):
    broken, previous = seed_broken_release(vercel)
    vercel.set_health(previous, 'broken')
    rc, out = playbook('rollback', vercel, '-e', 'rollback_health_wait_timeout=0.5', *FAST)
    assert rc == 2, out
    assert vercel.live()['uid'] == previous
    line = [x for x in out.splitlines() if x.startswith('fatal:') and '"msg": "Production points at' in x]
    assert len(line) == 1, out
    assert 'Production points at %s (rolled back from %s), but it is not healthy: ' % (previous, broken) in line[0]
    assert 'unhealthy services: database (unhealthy)' in line[0]
    assert 'Roll back further with -e rollback_to=<older deployment id or URL>' in line[0]


def test_rollback_without_a_candidate_changes_nothing(vercel):
    vercel.reset(deployments=1)
    live = vercel.live()['uid']
    rc, out = playbook('rollback', vercel, *FAST)
    assert rc == 2, out
    assert 'no rollback candidate' in out, out
    assert vercel.live()['uid'] == live
    assert rollback_posts(vercel) == []


def test_deploy_check_mode_builds_nothing_and_says_it_would_promote(vercel):
    _broken, previous = seed_broken_release(vercel)
    rc, out = playbook('rollback', vercel, *FAST)
    assert rc == 0, out
    rc, out = playbook('deploy', vercel, '--check', '-e', 'deploy_git_sha=%s' % ('ab' * 20), '-e', 'deploy_git_ref=main',
                       '-e', 'deploy_backup=false', '-e', 'deploy_gate_database=false')
    assert rc == 0, out
    assert 'Would start a production build of %s' % ('ab' * 20) in out, out
    assert 'the new build would stay STAGED, so it would be promoted explicitly' in out
    assert 'on failure, roll back to %s' % previous in out
    assert [r for r in vercel.requests(method='POST') if r['path'].startswith('/v13/deployments')] == []
    assert vercel.live()['uid'] == previous


SMOKE_PLAY = """\
- name: Health check of the app only
  hosts: localhost
  gather_facts: false
  roles:
    - role: pourtrait.ops.health_check
      vars:
        health_check_app_url: "{{ lookup('ansible.builtin.env', 'APP_URL') }}"
        health_check_database: false
        health_check_supabase: false
        health_check_smoke_delay: 0.1
        health_check_fail: true
"""


def test_health_check_asks_a_smoke_get_again_after_a_transient_failure(vercel, tmp_path):
    play = tmp_path / 'smoke.yml'
    play.write_text(SMOKE_PLAY)

    def run():
        result = run_playbook(play, env=vercel.env)
        return result.rc, result.output

    def smoke_calls():
        return [(r['method'], r['path'].split('?')[0]) for r in vercel.requests(service='app')
                if r['path'].startswith('/api/')]

    # two 503s on the GET, then an answer: the check passes on the third try; the POST is asked once
    vercel.set_faults(rate=1.0, kinds=['503'], services=['app'], paths=['/api/wines'], max_faults=2)
    rc, out = run()
    assert rc == 0, out
    assert smoke_calls().count(('GET', '/api/wines')) == 3 and smoke_calls().count(('POST', '/api/ai/chat')) == 1

    # a GET that keeps failing fails the check after its retries (1 + 2 tries), naming the endpoint
    vercel.reset()
    vercel.set_faults(rate=1.0, kinds=['503'], services=['app'], paths=['/api/wines'])
    rc, out = run()
    assert rc != 0, out
    assert smoke_calls().count(('GET', '/api/wines')) == 3
    assert '/api/wines' in [line for line in out.splitlines() if line.startswith('fatal:')][-1], out

"""End-to-end runs of playbooks/incident.yml with ansible-playbook against the
test's own Vercel, app, Supabase and webhook stand-ins (inventory/production:
the modules read VERCEL_*, SUPABASE_* and SLACK_WEBHOOK_URL from the
environment). A broken release is live; each mitigation is played through and
judged by what production serves afterwards."""

import glob
import json

from tests.helpers import run_playbook

FAST = ['-e', 'incident_response_poll_interval=0.1', '-e', 'incident_response_verify_interval=0.2',
        '-e', 'rollback_poll_interval=0.1', '-e', 'rollback_health_interval=0.2',
        '-e', 'maintenance_window_poll_interval=0.1', '-e', 'maintenance_window_health_interval=0.2',
        '-e', 'maintenance_window_health_wait_timeout=2']


def playbook(name, vercel, *args, supabase=None, reports_dir=None):
    """Run playbooks/<name>.yml against inventory/production; returns (rc, stdout + stderr)."""
    result = run_playbook(name, *(FAST + list(args)), reports_dir=reports_dir,
                          env=[vercel.env, supabase.env if supabase else {},
                               {'SLACK_WEBHOOK_URL': vercel.webhook_url}])
    out = result.output
    assert vercel.webhook_url.rsplit('/', 1)[1] not in out, out
    return result.rc, out


def seed_broken_release(vercel):
    previous = vercel.live()
    broken = vercel.seed_deployment(health='broken', live=True, created_offset_s=-600, sha='bad' * 13 + 'b')
    return broken, previous


def health(vercel):
    status, body, _headers = vercel.app('/health')
    return status, body.get('status') if isinstance(body, dict) else body


def test_p1_rollback_acknowledges_assesses_mitigates_and_verifies(vercel, supabase, tmp_path):
    broken, previous = seed_broken_release(vercel)
    rc, out = playbook('incident', vercel, '-e', 'incident_response_severity=P1',
                       '-e', 'incident_response_title="INC-7 wines API 500s"',
                       '-e', 'incident_response_mitigation=rollback', supabase=supabase, reports_dir=tmp_path)
    assert rc == 0, out
    # the timeline, phase by phase
    for name in ('Acknowledge: incident - P1 INC-7 wines API 500s', 'Acknowledge: the last Vercel deployments',
                 'Assess: error rate and latency of production', 'Mitigate: roll production back',
                 'Verify: watch production - 3 rounds 0.2 s apart', 'Report: the incident so far'):
        assert 'TASK [' in out and name in out, name
    # acknowledge: the snapshot saw the broken release, Supabase, and skipped what is not configured
    assert 'app health: FAILED' in out
    assert 'supabase: project %s is ACTIVE_HEALTHY' % supabase.project_ref in out, out
    assert 'OpenAI: skipped: no token' in out
    assert 'database: skipped' in out
    # assess: the error rate and what changed, with the commit
    assert 'Errors: 483 of 1150 requests (42.0 %); p95 3000 ms' in out, out
    assert '%s production READY sha badbadb at ' % broken['uid'] in out, out
    # mitigate + verify: production is the previous build again, and healthy
    assert vercel.live()['uid'] == previous['uid']
    assert health(vercel) == (200, 'healthy')
    assert 'Mitigation: rolled production back from %s to %s' % (broken['uid'], previous['uid']) in out
    assert 'Verification: pass after 3 round(s)' in out
    texts = [m['text'] for m in vercel.webhook_messages()]
    assert len(texts) == 2, texts
    assert texts[0].startswith('[production] P1 incident acknowledged: INC-7 wines API 500s')
    assert texts[1] == '[production] P1 INC-7 wines API 500s: mitigation rollback - verification pass.'
    reports = glob.glob(str(tmp_path / '*incident.md'))
    if reports:  # the runbook_report callback writes the timeline
        with open(reports[0]) as handle:
            assert 'Mitigate: roll production back' in handle.read()


def test_check_mode_mitigates_nothing(vercel):
    broken, previous = seed_broken_release(vercel)
    rc, out = playbook('incident', vercel, '--check', '-e', 'incident_response_severity=P2',
                       '-e', 'incident_response_mitigation=rollback')
    assert rc == 0, out
    assert 'Mitigation: would roll production back from %s to %s' % (broken['uid'], previous['uid']) in out, out
    assert 'Verification: not run in check mode.' in out
    assert 'supabase: skipped: no Supabase credentials' in out
    assert vercel.live()['uid'] == broken['uid']
    assert [r for r in vercel.requests(method='POST') if '/rollback/' in r['path']] == []
    assert vercel.webhook_messages() == []


def test_maintenance_mitigation_stays_on_until_the_window_is_closed(vercel):
    seed_broken_release(vercel)
    rc, out = playbook('incident', vercel, '-e', 'incident_response_severity=P0',
                       '-e', 'incident_response_mitigation=maintenance')
    assert rc == 0, out
    assert 'It stays on while the incident lasts: end it with ansible-playbook playbooks/maintenance_window.yml ' \
           '-e maintenance_window_action=close' in out, out
    assert vercel.env_value('MAINTENANCE_MODE') == 'true'
    assert health(vercel) == (503, 'maintenance')
    assert vercel.live()['env']['MAINTENANCE_MODE'] == 'true'
    # only the incident's own two messages
    assert len(vercel.webhook_messages()) == 2

    rc, out = playbook('maintenance_window', vercel, '-e', 'maintenance_window_action=close')
    # the broken release is still live: maintenance mode is off, and the play says production is not healthy
    assert rc == 2, out
    assert vercel.env_value('MAINTENANCE_MODE') == 'false'
    assert vercel.live()['env']['MAINTENANCE_MODE'] == 'false'
    assert health(vercel) == (503, 'unhealthy')
    assert 'Maintenance mode is off (MAINTENANCE_MODE=false, production' in out
    assert 'but production does not answer healthy' in out


def test_feature_flag_is_set_and_redeployed_once(vercel):
    flag = ['-e', 'incident_response_severity=P2', '-e', 'incident_response_mitigation=feature_flag',
            '-e', json.dumps({'incident_response_feature_flag': {'key': 'FEATURE_RECS_V2', 'value': 'false'}})]
    before = vercel.live()['uid']
    rc, out = playbook('incident', vercel, *flag)
    assert rc == 0, out
    assert vercel.env_value('FEATURE_RECS_V2') == 'false'
    live = vercel.live()
    assert live['uid'] != before and live['env']['FEATURE_RECS_V2'] == 'false'
    assert 'Mitigation: set FEATURE_RECS_V2=false for production and redeployed as %s.' % live['uid'] in out, out

    rc, out = playbook('incident', vercel, *flag)
    assert rc == 0, out
    assert 'FEATURE_RECS_V2=false for production (it already was).' in out, out
    assert vercel.live()['uid'] == live['uid']
    assert len(vercel.requests(method='POST', path_prefix='/v13/deployments')) == 1


def test_unknown_severity_or_mitigation_is_refused(vercel):
    rc, out = playbook('incident', vercel, '-e', 'incident_response_severity=P5')
    assert rc == 2, out
    assert 'value of incident_response_severity must be one of: P0, P1, P2, P3, got: P5' in out, out

    rc, out = playbook('incident', vercel, '-e', 'incident_response_severity=P1',
                       '-e', 'incident_response_mitigation=reboot')
    assert rc == 2, out
    assert 'value of incident_response_mitigation must be one of: rollback, maintenance, feature_flag, none, ' \
           'got: reboot' in out, out

    rc, out = playbook('incident', vercel)
    assert rc == 2, out
    assert 'missing required arguments: incident_response_severity' in out, out

    rc, out = playbook('incident', vercel, '-e', 'incident_response_severity=P1',
                       '-e', 'incident_response_mitigation=feature_flag')
    assert rc == 2, out
    assert 'incident_response_mitigation=feature_flag needs incident_response_feature_flag=' in out, out
    assert vercel.requests(method='POST') == [] and vercel.requests(method='PATCH') == []
    assert vercel.webhook_messages() == []


def first_seq(requests, method, path):
    """The stand-ins' sequence number of the first ``method`` request whose path starts with (or, for
    ``/rollback/``, contains) ``path``; None when there is none."""
    seqs = [r['seq'] for r in requests if r['method'] == method
            and (path in r['path'] if path == '/rollback/' else r['path'].startswith(path))]
    return min(seqs) if seqs else None


def report_tasks(tmp_path):
    reports = sorted(glob.glob(str(tmp_path / '*incident.json')))
    assert reports, 'no run report in %s' % tmp_path
    with open(reports[-1]) as handle:
        return [task['name'] for task in json.load(handle)['tasks']]


def test_mitigate_first_rolls_back_before_the_snapshot_then_gathers_it(vercel, supabase, tmp_path):
    broken, previous = seed_broken_release(vercel)
    vercel.clear_requests()
    rc, out = playbook('incident', vercel, '-e', 'incident_response_severity=P1',
                       '-e', 'incident_response_title="INC-8 wines API 500s"',
                       '-e', 'incident_response_mitigation=rollback', '-e', 'incident_response_mitigate_first=true',
                       supabase=supabase, reports_dir=tmp_path)
    assert rc == 0, out
    assert vercel.live()['uid'] == previous['uid'] and health(vercel) == (200, 'healthy')
    # the stand-ins' request log: the rollback is requested before the snapshot's and the assessment's reads
    log = vercel.requests()
    rollback = first_seq(log, 'POST', '/rollback/')
    assert rollback is not None and [r['path'] for r in log if r['seq'] == rollback][0].endswith(
        '/rollback/%s' % previous['uid']), log
    for method, path in (('GET', '/api/monitoring/errors'), ('GET', '/api/monitoring/performance'),
                         ('GET', '/v1/projects/%s' % supabase.project_ref)):
        read = first_seq(log, method, path)
        assert read is not None and read > rollback, (path, read, rollback)
    # the run report's timeline: acknowledge, roll back, then snapshot, assess, verify, report
    names = report_tasks(tmp_path)
    order = [names.index(name) for name in (
        'Acknowledge: incident - P1 INC-8 wines API 500s', 'Roll production back to the previous deployment',
        "Acknowledge: snapshot of the app, its database, Supabase and the external services",
        'Acknowledge: the last Vercel deployments', 'Assess: error rate and latency of production',
        'Verify: watch production - 3 rounds 0.2 s apart', 'Report: the incident so far')]
    assert order == sorted(order), list(zip(order, names))
    # the snapshot shows production after the rollback, and says so
    assert 'Order: service first - the rollback ran before this snapshot' in out, out
    assert 'app health: FAILED' not in out, out
    assert 'Mitigation (first, before the snapshot): rolled production back from %s to %s' % (
        broken['uid'], previous['uid']) in out, out
    assert 'Verification: pass after 3 round(s)' in out
    assert len([r for r in vercel.requests(method='POST') if '/rollback/' in r['path']]) == 1
    texts = [m['text'] for m in vercel.webhook_messages()]
    assert len(texts) == 2, texts
    assert texts[0].startswith('[production] P1 incident acknowledged: INC-8 wines API 500s'), texts
    assert 'Mitigation: rollback (done first: verification follows).' in texts[0], texts
    assert texts[1] == '[production] P1 INC-8 wines API 500s: mitigation rollback - verification pass.'


def test_by_default_the_snapshot_comes_before_the_rollback(vercel, tmp_path):
    _broken, previous = seed_broken_release(vercel)
    vercel.clear_requests()
    rc, out = playbook('incident', vercel, '-e', 'incident_response_severity=P2',
                       '-e', 'incident_response_mitigation=rollback', reports_dir=tmp_path)
    assert rc == 0, out
    assert vercel.live()['uid'] == previous['uid']
    log = vercel.requests()
    assert first_seq(log, 'GET', '/api/monitoring/errors') < first_seq(log, 'POST', '/rollback/'), log
    assert 'Order: service first' not in out


def test_mitigate_first_that_fails_still_snapshots_reports_notifies_and_fails_at_the_end(vercel, tmp_path):
    broken, _previous = seed_broken_release(vercel)
    vercel.clear_requests()
    rc, out = playbook('incident', vercel, '-e', 'incident_response_severity=P1',
                       '-e', 'incident_response_title="INC-9 checkout down"',
                       '-e', 'incident_response_mitigation=rollback', '-e', 'incident_response_mitigate_first=true',
                       '-e', 'incident_response_rollback_to=dpl_doesnotexist000000000000', reports_dir=tmp_path)
    assert rc != 0, out
    assert vercel.live()['uid'] == broken['uid']
    assert [r for r in vercel.requests(method='POST') if '/rollback/' in r['path']] == []
    # the evidence is still gathered after the failed rollback: the snapshot and the assessment
    assert 'app health: FAILED' in out, out
    assert 'Errors: 483 of 1150 requests (42.0 %); p95 3000 ms' in out, out
    assert 'Mitigation: the rollback FAILED (it ran first, before the snapshot): ' in out, out
    assert 'The rollback failed: ' in out and 'Escalate;' in out, out
    texts = [m['text'] for m in vercel.webhook_messages()]
    assert len(texts) == 2, texts
    assert 'Mitigation: rollback (done first: it FAILED).' in texts[0], texts
    assert texts[1].startswith('[production] P1 INC-9 checkout down: mitigation rollback FAILED - verification '), texts

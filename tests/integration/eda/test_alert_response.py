"""The alert_response rulebook on the real ansible-rulebook (Java, drools) against the Vercel, app and Supabase
stand-ins: what a broken release, a failing state without a release, the kill switch, dry run and bad webhook
input do to production."""

import json
import urllib.error
import urllib.request

import pytest

from tests.integration.eda.rulebook import SECRET, Rulebook


@pytest.fixture
def rulebook(tmp_path, vercel, supabase):
    started = []

    def start(variables=None, group_vars=None):
        book = Rulebook(tmp_path, [vercel.env, supabase.env, {'SLACK_WEBHOOK_URL': vercel.webhook_url}], variables,
                        group_vars).start()
        started.append(book)
        return book

    yield start
    for book in started:
        book.stop()


def rollback_posts(vercel):
    return [r for r in vercel.requests(method='POST') if '/rollback/' in r['path']]


def finished(book, outcome):
    return [entry for entry in book.audit() if entry['outcome'] == outcome]


def test_a_broken_release_is_rolled_back_once(rulebook, vercel):
    previous = vercel.live()['uid']
    broken = vercel.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    vercel.clear_requests()
    book = rulebook()
    book.wait_for(lambda: finished(book, 'finished'), 150, 'the automatic incident run to finish')
    assert vercel.live()['uid'] == previous, book.output[-4000:]
    # production is healthy again: the monitor says so; still one rollback however long it flaps around
    book.wait_for(lambda: 'RECOVERED' in book.output, 30, 'the recovered notice')
    posts = rollback_posts(vercel)
    assert len(posts) == 1 and '/rollback/%s' % previous in posts[0]['path'], posts
    started = finished(book, 'started')
    assert len(started) == 1 and started[0]['trigger']['deployment_id'] == broken
    assert 'mitigation=rollback' in started[0]['action']
    reports = book.wait_for(lambda: [r for r in book.reports_json() if r.get('trigger')], 30, 'the run report')
    assert len(reports) == 1 and reports[0]['outcome'] == 'succeeded', book.output[-4000:]
    trigger = reports[0]['trigger']
    assert trigger['deployment_id'] == broken and trigger['state'] == 'failing'
    assert float(trigger['error_rate']) > 0.4
    # restore service first, then gather evidence: the rollback is requested before the incident's snapshot
    # (its smoke read of /api/wines - the monitor never reads it) and before the acknowledgement's message
    log = vercel.requests()
    rollback_seq = min(r['seq'] for r in log if r['method'] == 'POST' and '/rollback/' in r['path'])
    after = [r['seq'] for r in log if r['path'].startswith(('/api/wines', '/services/'))]
    assert len(after) >= 2 and min(after) > rollback_seq, log
    names = [task['name'] for task in reports[0]['tasks']]
    assert names.index('Roll production back to the previous deployment') < names.index(
        'Acknowledge: snapshot of the app, its database, Supabase and the external services') < names.index(
        'Verify: watch production - 2 rounds 0.2 s apart'), names


def test_failing_without_a_recent_release_is_an_incident_without_rollback(rulebook, vercel, supabase):
    live = vercel.live()['uid']
    # the database is down: production fails, the live release is an hour old
    supabase.set_status('ACTIVE_UNHEALTHY')
    vercel.set_health(live, 'broken')
    vercel.clear_requests()
    book = rulebook()
    book.wait_for(lambda: finished(book, 'finished'), 150, 'the incident run to finish')
    assert rollback_posts(vercel) == [] and vercel.live()['uid'] == live
    started = finished(book, 'started')
    assert len(started) == 1 and 'mitigation=none' in started[0]['action'], started
    # acknowledged and reported to the channel, snapshot in the report
    texts = [m['text'] for m in vercel.webhook_messages()]
    assert any('incident acknowledged' in t for t in texts), texts
    report = book.wait_for(lambda: [r for r in book.reports_json() if r.get('trigger')], 30, 'the run report')[0]
    assert any(t['name'].startswith('Acknowledge: snapshot') for t in report['tasks'])


@pytest.mark.parametrize('mode', ['kill_switch', 'dry_run'])
def test_kill_switch_and_dry_run_change_nothing_and_record_the_would_be_action(rulebook, vercel, tmp_path, mode):
    previous_live = vercel.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    vercel.clear_requests()
    if mode == 'kill_switch':
        (tmp_path / 'kill-switch').write_text('off during the migration\n')
        book = rulebook()
    else:
        book = rulebook({'dry_run': True})
    outcome = 'disabled' if mode == 'kill_switch' else 'dry_run'
    entries = book.wait_for(lambda: finished(book, outcome), 120, 'the %s audit line' % outcome)
    assert 'mitigation=rollback' in entries[0]['action'] and entries[0]['trigger']['deployment_id'] == previous_live
    assert rollback_posts(vercel) == [] and vercel.live()['uid'] == previous_live
    assert finished(book, 'started') == []


def post(port, body, headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request('http://127.0.0.1:%d/alerts' % port, data=data, method='POST',
                                 headers=dict({'Content-Type': 'application/json'}, **headers))
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_webhook_alert_runs_the_incident_rule(rulebook, vercel):
    """A generic alert with the shared secret: accepted, one incident run (dry run here). Bad webhook input (no or
    a wrong secret, malformed bodies): the rows of tests/reliability/test_webhook_bad_input.py."""
    book = rulebook({'dry_run': True})
    book.wait_listening()
    alert = {'name': 'checkout-500s', 'severity': 'P2'}
    assert post(book.port, alert, {'X-Pourtrait-Token': SECRET}) == 202
    entries = book.wait_for(lambda: [e for e in finished(book, 'dry_run') if e['trigger'].get('alert')], 90,
                            'the alert run (dry run)')
    assert entries[0]['trigger']['alert'] == 'checkout-500s' and 'severity=P2' in entries[0]['action']
    assert len([e for e in book.audit() if e['trigger'].get('alert')]) == 1


def test_pourtrait_ops_watch_prints_progress_and_stops_on_ctrl_c(vercel, supabase, tmp_path):
    """`pourtrait-ops watch` (this checkout's CLI) in the foreground: progress lines, then Ctrl-C stops it and the
    rulebook, exit 0."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    import yaml

    from tests.helpers import ROOT, playbook_env

    book = Rulebook(tmp_path, [vercel.env, supabase.env], {'dry_run': True})
    extra = tmp_path / 'watch-vars.yml'
    extra.write_text(yaml.safe_dump({'monitor_interval': 0.5, 'webhook_port': book.port}))
    env = dict(book.env, PYTHONPATH=os.path.join(ROOT, 'tools', 'pourtrait_ops_cli'))
    vercel.seed_deployment(health='broken', live=True, created_offset_s=-60)
    proc = subprocess.Popen([sys.executable, '-m', 'pourtrait_ops_cli', 'watch', '--inventory',
                             str(tmp_path / 'inventory'), '--vars', str(extra), '--dry-run'],
                            cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        book.proc = proc  # wait_for watches this process
        book.wait_for(lambda: finished(book, 'dry_run'), 120, 'the dry-run decision')
        book.wait_for(lambda: any('app_monitor: failing' in line for line in lines), 30, 'the progress line')
        proc.send_signal(signal.SIGINT)
        assert proc.wait(40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(5)
    text = ''.join(lines)
    assert 'DRY RUN, nothing is changed' in text and 'watch stopped' in text, text
    assert 'Traceback' not in text, text
    assert rollback_posts(vercel) == []
    leftover = subprocess.run(['pgrep', '-f', str(tmp_path)], capture_output=True, text=True,
                              check=False).stdout.split()
    assert leftover == [], subprocess.run(['ps', '-o', 'pid,ppid,etime,args', '-p', ','.join(leftover)],
                                          capture_output=True, text=True, check=False).stdout


def test_a_flapping_signal_rolls_back_once(rulebook, vercel):
    import time

    previous = vercel.live()['uid']
    broken = vercel.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    vercel.set_timings(job_pending_s=0.1, job_running_s=1.0)
    vercel.clear_requests()
    book = rulebook()
    # the release flaps between broken and healthy while the engine watches and acts
    book.wait_for(lambda: finished(book, 'started'), 90, 'the automatic run to start')
    for health in ('healthy', 'broken', 'healthy', 'broken'):
        vercel.set_health(broken, health)
        time.sleep(0.7)
    book.wait_for(lambda: finished(book, 'finished'), 120, 'the automatic run to finish')
    time.sleep(2)  # more polls of the monitor after the rollback
    posts = [p for p in rollback_posts(vercel) if p['status'] is not None and p['status'] < 400]
    assert len(posts) == 1 and vercel.live()['uid'] == previous, (posts, book.output[-3000:])
    assert len(finished(book, 'started')) == 1


def test_a_manual_rollback_at_the_same_moment_gives_one_rollback(rulebook, vercel, tmp_path):
    import threading

    from tests.helpers import run_playbook

    previous = vercel.live()['uid']
    vercel.seed_deployment(health='broken', live=True, created_offset_s=-60)
    vercel.set_timings(job_pending_s=0.1, job_running_s=2.0)
    vercel.clear_requests()
    book = rulebook()
    manual = {}

    def engineer():
        # the on-call engineer's rollback.yml as the engine notices the failure: the same lock file
        manual['result'] = run_playbook('rollback', '-e', 'rollback_poll_interval=0.1', '-e',
                                        'rollback_health_interval=0.2', env=[vercel.env, {
                                            'POURTRAIT_LOCK_PATH': book.env['POURTRAIT_LOCK_PATH']}])
    book.wait_for(lambda: 'app_monitor: failing' in book.output or book.audit(), 90, 'the engine to see the failure')
    thread = threading.Thread(target=engineer)
    thread.start()
    thread.join(180)
    book.wait_for(lambda: [e for e in book.audit() if e['outcome'] in ('finished', 'stale')], 120,
                  'the automatic run to end')
    result = manual['result']
    assert result.rc == 0, result.output[-3000:]
    assert 'holding %s' % book.env['POURTRAIT_LOCK_PATH'] in result.output, result.output[-3000:]
    posts = [p for p in rollback_posts(vercel) if p['status'] is not None and p['status'] < 400]
    assert len(posts) == 1 and '/rollback/%s' % previous in posts[0]['path'], posts
    assert vercel.live()['uid'] == previous


@pytest.mark.parametrize('variables, expected', [
    ({'monitor_interval': 'abc'}, "SourceArgumentError: Source plugin failed with error message: 'app_monitor: "
                                  "argument interval (the rulebook variable monitor_interval) is 'abc', not a number"),
    ({'webhook_port': 'http'}, "SourceArgumentError: Source plugin failed with error message: 'alert_webhook: "
                               "argument port (the rulebook variable webhook_port) is 'http', not a whole number"),
])
def test_a_rulebook_variable_that_does_not_parse_stops_the_engine_with_one_line_and_no_action(
        rulebook, vercel, variables, expected):
    """The event source's argument check: ansible-rulebook ends (not silently: a one-line error naming the
    variable), no event was emitted, so nothing ran - even with a broken release live."""
    live = vercel.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    vercel.clear_requests()
    book = rulebook(variables)
    book.proc.wait(120)
    book.reader.join(5)
    assert book.proc.returncode != 0, book.output[-3000:]
    lines = [line for line in book.output.splitlines() if expected in line]
    assert len(lines) >= 1, book.output[-4000:]
    assert book.audit() == [] and rollback_posts(vercel) == [] and vercel.live()['uid'] == live
    assert 'Recent release failing' not in book.output


def test_a_vars_file_that_is_not_yaml_is_refused_at_start_with_no_action(vercel, supabase, tmp_path):
    """A rulebook variables file with broken YAML: ansible-rulebook refuses it at start ("Terminating: ...");
    `pourtrait-ops watch` says so in one line naming the file and the place (exit 3) and starts nothing."""
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    live = vercel.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    vercel.clear_requests()
    book = Rulebook(tmp_path, [vercel.env, supabase.env])
    bad = tmp_path / 'rulebook-vars.yml'
    bad.write_text('monitor_interval: [5\nrecent_window: 600\n')
    book.start()
    book.proc.wait(120)
    book.reader.join(5)
    assert book.proc.returncode != 0 and 'ERROR - Terminating: while parsing' in book.output, book.output[-3000:]
    env = dict(book.env, PYTHONPATH=os.path.join(ROOT, 'tools', 'pourtrait_ops_cli'))
    watch = subprocess.run([sys.executable, '-m', 'pourtrait_ops_cli', 'watch', '--inventory',
                            str(tmp_path / 'inventory'), '--vars', str(bad)], cwd=str(tmp_path), env=env,
                           capture_output=True, text=True, timeout=60, check=False)
    assert watch.returncode == 3 and watch.stdout == '', (watch.stdout, watch.stderr)
    assert watch.stderr == ('pourtrait-ops: error: the rulebook variables %s are not YAML (line 2, column 14: '
                            "expected ',' or ']', but got ':'); fix the file\n" % bad)
    assert book.audit() == [] and rollback_posts(vercel) == [] and vercel.live()['uid'] == live

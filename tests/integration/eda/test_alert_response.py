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


def test_bad_webhook_input_is_refused_and_the_engine_keeps_running(rulebook, vercel):
    book = rulebook({'dry_run': True})
    book.wait_listening()
    alert = {'name': 'checkout-500s', 'severity': 'P2'}
    assert post(book.port, alert, {}) == 401
    assert post(book.port, alert, {'X-Pourtrait-Token': 'wrong'}) == 401
    assert post(book.port, b'{broken', {'X-Pourtrait-Token': SECRET}) == 400
    assert post(book.port, {'version': '4', 'alerts': 'x'}, {'X-Pourtrait-Token': SECRET}) == 400
    assert book.proc.poll() is None
    assert post(book.port, alert, {'X-Pourtrait-Token': SECRET}) == 202
    entries = book.wait_for(lambda: [e for e in finished(book, 'dry_run') if e['trigger'].get('alert')], 90,
                            'the alert run (dry run)')
    assert entries[0]['trigger']['alert'] == 'checkout-500s' and 'severity=P2' in entries[0]['action']
    assert len([e for e in book.audit() if e['trigger'].get('alert')]) == 1

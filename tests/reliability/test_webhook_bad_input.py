"""Bad input to the alert webhook (issue 14): refused with the right status, logged in one line, no event, so no
action; the engine keeps running.

One real ``ansible-rulebook`` (extensions/eda/rulebooks/alert_response.yml, dry run, production healthy) serves
every row of ``WEBHOOK_ROWS``: a request without the shared secret or with a wrong one (token or HMAC signature)
is answered 401; a body that is not an alert in a shape the receiver knows, 400 with the reason. For each row: the
status, the reason in the answer (400), the receiver's one warning line naming it, no event put on the queue (no
``alert_webhook: N event(s)`` line) and the engine still running. Last, one valid alert is accepted and is the
only automatic run the audit log holds: none of the rows led to an action. The secret never appears in the
engine's output. (The accepted path itself: tests/integration/eda/test_alert_response.py.)
"""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

import pytest

from tests.fixtures_standins import SupabaseSandbox, VercelSandbox
from tests.integration.eda.rulebook import SECRET, Rulebook

GOOD = {'name': 'checkout-500s', 'severity': 'P2'}
ALERT = {'status': 'firing', 'labels': {'alertname': 'HighErrorRate', 'severity': 'page'}, 'annotations': {},
         'startsAt': '2026-12-03T10:00:00Z', 'fingerprint': 'abc123'}


def alertmanager(**changes):
    body = {'version': '4', 'groupKey': '{}:{alertname="HighErrorRate"}', 'status': 'firing', 'receiver': 'eda',
            'groupLabels': {}, 'commonLabels': {}, 'commonAnnotations': {}, 'externalURL': 'http://am:9093',
            'alerts': [dict(ALERT)]}
    body.update(changes)
    return body


def signed(raw, secret=SECRET):
    return 'sha256=' + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


TOKEN = {'X-Pourtrait-Token': SECRET}
UNAUTHORIZED = '401 for POST /alerts from 127.0.0.1 (no or wrong secret)'

# id, body (dict/list: JSON; bytes: as is), headers (callable(raw) -> headers), status, fragment of the log line
WEBHOOK_ROWS = [
    ('no-secret', GOOD, lambda raw: {}, 401, UNAUTHORIZED),
    ('wrong-token', GOOD, lambda raw: {'X-Pourtrait-Token': 'not-the-secret'}, 401, UNAUTHORIZED),
    ('empty-token', GOOD, lambda raw: {'X-Pourtrait-Token': ''}, 401, UNAUTHORIZED),
    ('token-in-another-header', GOOD, lambda raw: {'Authorization': 'Bearer ' + SECRET}, 401, UNAUTHORIZED),
    ('signature-with-a-wrong-secret', GOOD, lambda raw: {'X-Pourtrait-Signature': signed(raw, 'guess')}, 401,
     UNAUTHORIZED),
    ('signature-of-another-body', GOOD,
     lambda raw: {'X-Pourtrait-Signature': signed(json.dumps({'name': 'other'}).encode())}, 401, UNAUTHORIZED),
    ('signature-without-sha256-prefix', GOOD,
     lambda raw: {'X-Pourtrait-Signature': signed(raw).split('=', 1)[1]}, 401, UNAUTHORIZED),
    ('not-json', b'{broken', lambda raw: TOKEN, 400, 'the body is not JSON'),
    ('empty-body', b'', lambda raw: TOKEN, 400, 'the body is not JSON'),
    ('json-list', [GOOD], lambda raw: TOKEN, 400, 'the body must be a JSON object'),
    ('generic-without-name', {'severity': 'P1'}, lambda raw: TOKEN, 400,
     'a generic alert needs a "name" (or "alertname"/"title") string'),
    ('generic-status-pending', dict(GOOD, status='pending'), lambda raw: TOKEN, 400,
     'status must be firing or resolved'),
    ('generic-labels-not-strings', dict(GOOD, labels={'severity': 1}), lambda raw: TOKEN, 400,
     'labels must be an object of strings'),
    ('alertmanager-version-3', alertmanager(version='3'), lambda raw: TOKEN, 400,
     "unsupported Alertmanager webhook version '3' (4 expected)"),
    ('alertmanager-alerts-not-a-list', alertmanager(alerts='x'), lambda raw: TOKEN, 400,
     'alerts must be a non-empty list'),
    ('alertmanager-no-alerts', alertmanager(alerts=[]), lambda raw: TOKEN, 400, 'alerts must be a non-empty list'),
    ('alertmanager-alert-without-alertname', alertmanager(alerts=[dict(ALERT, labels={'severity': 'page'})]),
     lambda raw: TOKEN, 400, 'alerts[0] has no alertname label'),
    # all or nothing: the first alert is fine, the second is not - no event for either
    ('alertmanager-second-alert-bad', alertmanager(alerts=[dict(ALERT), dict(ALERT, status='pending')]),
     lambda raw: TOKEN, 400, 'alerts[1].status must be firing or resolved'),
    ('alertmanager-annotations-not-strings', alertmanager(alerts=[dict(ALERT, annotations={'value': 0.42})]),
     lambda raw: TOKEN, 400, 'alerts[0].annotations must be an object of strings'),
]


def post(port, raw, headers):
    req = urllib.request.Request('http://127.0.0.1:%d/alerts' % port, data=raw, method='POST',
                                 headers=dict({'Content-Type': 'application/json'}, **headers))
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope='module')
def engine(standins, tmp_path_factory):
    """One ansible-rulebook for every row: dry run, production healthy (the monitor's events match no rule)."""
    vercel = VercelSandbox(standins, standins.admin('POST', '/reset', {}))
    supabase = SupabaseSandbox(standins, standins.admin('POST', '/reset', {}))
    book = Rulebook(tmp_path_factory.mktemp('webhook-bad-input'), [vercel.env, supabase.env], {'dry_run': True})
    book.start()
    try:
        book.wait_listening()
        yield book
    finally:
        book.stop()


@pytest.mark.parametrize('ident, body, headers, status, fragment', WEBHOOK_ROWS, ids=[r[0] for r in WEBHOOK_ROWS])
def test_webhook_bad_input(engine, ident, body, headers, status, fragment):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    seen = len(engine.output)
    answer, text = post(engine.port, raw, headers(raw))
    assert answer == status, text
    if status == 400:
        assert fragment in json.loads(text)['error']
    lines = engine.wait_for(lambda: [line for line in engine.output[seen:].splitlines() if fragment in line], 10,
                            'the log line of %s' % ident)
    assert len(lines) == 1 and 'WARNING' in lines[0], lines
    time.sleep(0.2)
    assert 'event(s):' not in engine.output[seen:], engine.output[seen:]
    assert engine.proc.poll() is None


def test_after_every_row_one_valid_alert_is_the_only_action(engine):
    assert post(engine.port, json.dumps(GOOD).encode(), TOKEN)[0] == 202
    entries = engine.wait_for(lambda: [e for e in engine.audit() if e['outcome'] == 'dry_run'], 90,
                              'the alert run (dry run)')
    time.sleep(1)
    assert len(engine.audit()) == 1 and entries[0]['trigger']['alert'] == 'checkout-500s', engine.audit()
    assert SECRET not in engine.output

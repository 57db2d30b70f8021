"""extensions/eda/plugins/event_source/alert_webhook.py over real HTTP on loopback."""

import asyncio
import hashlib
import hmac
import json
import urllib.error
import urllib.request

import pytest

from tests.unit.extensions.eda.plugins.event_source.loader import load

webhook = load('alert_webhook')
SECRET = 's3cret-for-tests'

ALERTMANAGER = {
    'version': '4', 'groupKey': '{}:{alertname="HighErrorRate"}', 'status': 'firing', 'receiver': 'eda',
    'groupLabels': {'alertname': 'HighErrorRate'}, 'commonLabels': {'alertname': 'HighErrorRate', 'severity': 'page'},
    'commonAnnotations': {'summary': 'error rate above 5 %'}, 'externalURL': 'http://alertmanager:9093',
    'alerts': [{'status': 'firing', 'labels': {'alertname': 'HighErrorRate', 'instance': 'pourtrait.app'},
                'annotations': {'summary': 'error rate 42 %'}, 'startsAt': '2026-12-03T10:00:00Z',
                'endsAt': '0001-01-01T00:00:00Z', 'generatorURL': 'http://prom/graph', 'fingerprint': 'abc123'},
               {'status': 'resolved', 'labels': {'alertname': 'HighLatency'}, 'annotations': {},
                'startsAt': '2026-12-03T09:00:00Z', 'endsAt': '2026-12-03T09:30:00Z', 'fingerprint': 'def456'}]}


def post(port, body, headers=None, raw=None):
    data = raw if raw is not None else json.dumps(body).encode('utf-8')
    req = urllib.request.Request('http://127.0.0.1:%d/alerts' % port, data=data, method='POST',
                                 headers=dict({'Content-Type': 'application/json'}, **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def sign(data):
    return 'sha256=' + hmac.new(SECRET.encode(), data, hashlib.sha256).hexdigest()


async def exchange(tmp_path, calls):
    """Run the source on a free port; make each call (in a thread); (answers, events)."""
    queue = asyncio.Queue()
    ready = tmp_path / 'ready.json'
    task = asyncio.create_task(webhook.main(queue, {'secret': SECRET, 'port': 0, 'ready_file': str(ready)}))
    for _attempt in range(200):
        if ready.exists() and ready.read_text():
            break
        await asyncio.sleep(0.02)
    info = json.loads(ready.read_text())
    assert info['host'] == '127.0.0.1'
    answers = []
    for call in calls:
        answers.append(await asyncio.to_thread(post, info['port'], *call))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return answers, events


def run(tmp_path, calls):
    return asyncio.run(exchange(tmp_path, calls))


def test_alertmanager_body_with_the_shared_secret_gives_one_event_per_alert(tmp_path):
    answers, events = run(tmp_path, [(ALERTMANAGER, {'X-Pourtrait-Token': SECRET})])
    assert answers == [(202, {'accepted': 2})]
    first, second = (e['pourtrait_alert'] for e in events)
    assert (first['source'], first['name'], first['status'], first['severity']) == (
        'alertmanager', 'HighErrorRate', 'firing', 'page')
    assert first['labels']['instance'] == 'pourtrait.app' and first['fingerprint'] == 'abc123'
    assert first['annotations'] == {'summary': 'error rate 42 %'}
    assert (second['name'], second['status']) == ('HighLatency', 'resolved')
    assert events[0]['payload']['generatorURL'] == 'http://prom/graph'


def test_generic_json_with_an_hmac_signature(tmp_path):
    body = {'name': 'checkout-500s', 'severity': 'P1', 'labels': {'service': 'checkout'}}
    data = json.dumps(body).encode()
    answers, events = run(tmp_path, [(None, {'X-Pourtrait-Signature': sign(data)}, data)])
    assert answers == [(202, {'accepted': 1})]
    alert = events[0]['pourtrait_alert']
    assert (alert['source'], alert['name'], alert['status'], alert['severity']) == (
        'generic', 'checkout-500s', 'firing', 'P1')


def test_no_or_wrong_secret_is_401_and_no_event_and_the_receiver_keeps_serving(tmp_path):
    data = json.dumps(ALERTMANAGER).encode()
    answers, events = run(tmp_path, [
        (ALERTMANAGER, None),
        (ALERTMANAGER, {'X-Pourtrait-Token': 'wrong'}),
        (None, {'X-Pourtrait-Signature': sign(data + b' ')}, data),
        (None, {'X-Pourtrait-Signature': 'sha256=00'}, data),
        ({'name': 'ok'}, {'X-Pourtrait-Token': SECRET}),
    ])
    assert [a[0] for a in answers] == [401, 401, 401, 401, 202]
    assert [e['pourtrait_alert']['name'] for e in events] == ['ok']


@pytest.mark.parametrize('raw, message', [
    (b'{not json', 'not JSON'),
    (b'[1, 2]', 'JSON object'),
    (b'{"severity": "P1"}', 'needs a "name"'),
    (b'{"name": "x", "status": "exploded"}', 'firing or resolved'),
    (json.dumps(dict(ALERTMANAGER, version='3')).encode(), 'version'),
    (json.dumps(dict(ALERTMANAGER, alerts=[])).encode(), 'non-empty'),
    (json.dumps(dict(ALERTMANAGER, alerts=['x'])).encode(), 'alerts[0] must be an object'),
    (json.dumps(dict(ALERTMANAGER, alerts=[{'status': 'firing', 'labels': {'x': 1}}])).encode(), 'labels'),
])
def test_malformed_bodies_are_400_with_the_reason_and_no_event(tmp_path, raw, message):
    answers, events = run(tmp_path, [(None, {'X-Pourtrait-Token': SECRET}, raw),
                                     ({'name': 'after'}, {'X-Pourtrait-Token': SECRET})])
    assert answers[0][0] == 400 and message in answers[0][1]['error'], answers
    assert answers[1][0] == 202
    assert [e['pourtrait_alert']['name'] for e in events] == ['after']


def test_a_secret_is_required():
    with pytest.raises(ValueError, match='shared secret'):
        asyncio.run(webhook.main(asyncio.Queue(), {'port': 0}))


@pytest.mark.parametrize('args, expected', [
    ({'port': 'x'}, "alert_webhook: argument port (the rulebook variable webhook_port) is 'x', not a whole number"),
    ({'port': 70000}, 'argument port (the rulebook variable webhook_port) must be 0 or more and 65535 or less'),
    ({'enabled': 'maybe'}, "argument enabled (the rulebook variable webhook_enabled) is 'maybe', not true or false"),
])
def test_arguments_that_do_not_parse_stop_it_with_one_line_before_it_listens(args, expected):
    with pytest.raises(ValueError) as info:
        asyncio.run(webhook.main(asyncio.Queue(), dict(args, secret=SECRET)))
    assert expected in str(info.value) and '\n' not in str(info.value)

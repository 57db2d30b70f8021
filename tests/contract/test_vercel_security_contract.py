"""Contract tests of the Vercel stand-in's firewall, runtime-log and build-event routes (tests/sandbox/
vercel_security.py, vercel_logs.py) against Vercel's OpenAPI spec, as in test_vercel_contract.py: each success body
validated against the operation's response schema (no undeclared field), each error ``{"error": {"code",
"message"}}`` with a status the spec lists; the ``application/stream+json`` answers line by line."""

import http.client
import json
import time
import urllib.parse

import pytest

from tests.contract.test_vercel_contract import SPEC_PATH, _resolve, check, load_spec, validate

CONFIG = '/v1/security/firewall/config'


@pytest.fixture(scope='module')
def spec():
    return load_spec(SPEC_PATH)


def fw(vercel, method, path, body=None, **params):
    params.setdefault('projectId', vercel.project_id)
    return vercel.api(method, path, body, params=params)


def stream_lines(vercel, path, count, timeout=5.0, **params):
    """(status, content type, the first ``count`` JSON lines) of a streamed answer; stops reading after ``timeout``."""
    params = dict(params)
    if vercel.team_owned:
        params['teamId'] = vercel.team_id
    url = urllib.parse.urlsplit(vercel.api_url)
    client = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        client.request('GET', path + '?' + urllib.parse.urlencode(params),
                       headers={'Authorization': 'Bearer %s' % vercel.token})
        resp = client.getresponse()
        lines, deadline = [], time.time() + timeout
        while len(lines) < count and time.time() < deadline:
            try:
                raw = resp.readline()
            except OSError:  # the stream stayed open, nothing more came: the timeout ends the read
                break
            if not raw:
                break
            if raw.strip():
                lines.append(json.loads(raw))
        return resp.status, resp.getheader('Content-Type'), lines
    finally:
        client.close()


def stream_schema(spec, path):
    content = spec['paths'][path]['get']['responses']['200']['content']['application/stream+json']
    return _resolve(spec, content['schema'])


def ip_rule(ip='203.0.113.7', action='deny', hostname='*', notes='contract'):
    return {'hostname': hostname, 'ip': ip, 'action': action, 'notes': notes}


def rate_rule(path='/api/wines', limit=3):
    return {'name': 'rate limit %s' % path, 'active': True,
            'conditionGroup': [{'conditions': [{'type': 'path', 'op': 'pre', 'value': path}]}],
            'action': {'mitigate': {'action': 'rate_limit', 'actionDuration': None,
                                    'rateLimit': {'algo': 'fixed_window', 'window': 60, 'limit': limit,
                                                  'keys': ['ip'], 'action': 'rate_limit'}}}}


def test_firewall_config_patch_put_get(spec, vercel):
    patch, get, put = (CONFIG, 'PATCH'), (CONFIG + '/{configVersion}', 'GET'), (CONFIG, 'PUT')
    active = check(spec, fw(vercel, 'GET', CONFIG + '/active'), *get, status=200)
    assert active['version'] == 1 and active['ips'] == [] and active['firewallEnabled'] is True
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'ip.insert', 'id': None, 'value': ip_rule()}), *patch, status=200)
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'rules.insert', 'id': None, 'value': rate_rule()}),
          *patch, status=200)
    deny = dict(rate_rule('/admin'), name='deny admin', action={'mitigate': {'action': 'deny'}})
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'rules.insert', 'value': deny}), *patch, status=200)
    active = check(spec, fw(vercel, 'GET', CONFIG + '/active'), *get, status=200)
    assert active['version'] == 4 and [i['ip'] for i in active['ips']] == ['203.0.113.7']
    assert [r['action']['mitigate']['action'] for r in active['rules']] == ['rate_limit', 'deny']
    ip_id, rule_id = active['ips'][0]['id'], active['rules'][1]['id']
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'ip.update', 'id': ip_id, 'value': ip_rule(action='challenge')}),
          *patch, status=200)
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'rules.priority', 'id': rule_id, 'value': 0}), *patch, status=200)
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'firewallEnabled', 'value': True}), *patch, status=200)
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'crs.update', 'id': 'sqli',
                                             'value': {'active': True, 'action': 'deny'}}), *patch, status=200)
    active = check(spec, fw(vercel, 'GET', CONFIG + '/active'), *get, status=200)
    assert active['rules'][0]['id'] == rule_id and active['ips'][0]['action'] == 'challenge'
    assert check(spec, fw(vercel, 'GET', CONFIG + '/2'), *get, status=200)['rules'] == []
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'ip.remove', 'id': ip_id}), *patch, status=200)
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'rules.remove', 'id': rule_id}), *patch, status=200)
    replaced = check(spec, fw(vercel, 'PUT', CONFIG, {'firewallEnabled': True, 'rules': [rate_rule()],
                                                      'ips': [ip_rule('198.51.100.0/24')]}), *put, status=200)
    assert replaced['active']['ips'][0]['ip'] == '198.51.100.0/24' and len(replaced['active']['rules']) == 1
    # errors
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'ip.insert', 'value': ip_rule('not-an-ip')}), *patch, status=400)
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'ip.insert', 'value': {'ip': '1.2.3.4'}}), *patch, status=400)
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'rules.insert', 'value': dict(
        rate_rule(), action={'mitigate': {'action': 'rate_limit'}})}), *patch, status=400)
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'nope'}), *patch, status=400)
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'ip.remove', 'id': 'ip_nope'}), *patch, status=404)
    check(spec, fw(vercel, 'PATCH', CONFIG, {'action': 'firewallEnabled', 'value': True}, projectId='prj_nope'),
          *patch, status=404)
    check(spec, vercel.api('PATCH', CONFIG, {'action': 'firewallEnabled', 'value': True}), *patch, status=400)
    check(spec, fw(vercel, 'PUT', CONFIG, {'rules': []}), *put, status=400)
    check(spec, fw(vercel, 'GET', CONFIG + '/99'), *get, status=404)
    check(spec, fw(vercel, 'GET', CONFIG + '/active', teamId='team_other'), *get, status=403)
    check(spec, vercel.api('GET', CONFIG + '/active', params={'projectId': vercel.project_id}, token='Q' * 24),
          *get, status=401)


def test_attack_mode_and_status(spec, vercel):
    op, status_op = ('/v1/security/attack-mode', 'POST'), ('/v1/security/firewall/attack-status', 'GET')
    until = int(time.time() * 1000) + 3600 * 1000
    body = check(spec, vercel.api('POST', '/v1/security/attack-mode', {
        'projectId': vercel.project_id, 'attackModeEnabled': True, 'attackModeActiveUntil': until}), *op, status=200)
    assert body['attackModeEnabled'] is True
    project = check(spec, vercel.api('GET', '/v9/projects/%s' % vercel.project_id), '/v9/projects/{idOrName}', 'GET',
                    status=200)
    assert project['security']['attackModeEnabled'] is True and project['security']['attackModeActiveUntil'] == until
    check(spec, vercel.api('POST', '/v1/security/attack-mode', {'projectId': vercel.project_id,
                                                                'attackModeEnabled': False}), *op, status=200)
    check(spec, vercel.api('POST', '/v1/security/attack-mode', {'projectId': vercel.project_id}), *op, status=400)
    check(spec, vercel.api('POST', '/v1/security/attack-mode', {'projectId': vercel.project_id,
                                                                'attackModeEnabled': 'yes'}), *op, status=400)
    check(spec, vercel.api('POST', '/v1/security/attack-mode', {'projectId': 'prj_nope', 'attackModeEnabled': True}),
          *op, status=404)
    assert check(spec, fw(vercel, 'GET', '/v1/security/firewall/attack-status'), *status_op, status=200) == {
        'anomalies': []}
    anomaly = {'projectId': vercel.project_id, 'ownerId': vercel.team_id, 'startTime': until - 7200000,
               'endTime': None, 'atMinute': until - 7200000, 'state': 'active',
               'affectedHostMap': {'pourtrait.app': {'ddosAlerts': {'a': {'atMinute': '2026-01-01T00:00', 'totalReqs': 9}}}}}
    vercel.admin('PUT', '/vercel/firewall/anomalies', [anomaly])
    body = check(spec, fw(vercel, 'GET', '/v1/security/firewall/attack-status', since=1), *status_op, status=200)
    assert body['anomalies'] == [anomaly]
    check(spec, fw(vercel, 'GET', '/v1/security/firewall/attack-status', since='x'), *status_op, status=400)


def test_firewall_events(spec, vercel):
    op = ('/v1/security/firewall/events', 'GET')
    vercel.admin('POST', '/vercel/firewall/events', {'action_type': 'deny', 'public_ip': '203.0.113.7', 'count': 5})
    vercel.admin('POST', '/vercel/firewall/events', {'action_type': 'challenge', 'public_ip': '203.0.113.8',
                                                     'host': 'www.pourtrait.app'})
    body = check(spec, fw(vercel, 'GET', '/v1/security/firewall/events'), *op, status=200)
    assert [(a['public_ip'], a['count']) for a in body['actions']] == [('203.0.113.7', 5), ('203.0.113.8', 1)]
    body = check(spec, fw(vercel, 'GET', '/v1/security/firewall/events', hosts='www.pourtrait.app'), *op, status=200)
    assert [a['action_type'] for a in body['actions']] == ['challenge']
    now = int(time.time() * 1000)
    body = check(spec, fw(vercel, 'GET', '/v1/security/firewall/events', startTimestamp=now + 60000), *op, status=200)
    assert body['actions'] == []
    check(spec, fw(vercel, 'GET', '/v1/security/firewall/events', startTimestamp=now, endTimestamp=now - 1),
          *op, status=400)
    check(spec, fw(vercel, 'GET', '/v1/security/firewall/events', projectId='prj_nope'), *op, status=404)


def test_runtime_logs_stream(spec, vercel):
    path = '/v1/projects/{projectId}/deployments/{deploymentId}/runtime-logs'
    live = vercel.live()
    vercel.app('/health')
    vercel.app('/api/nope')
    vercel.admin('POST', '/vercel/runtime_logs', {'deployment': live['uid'], 'lines': [
        {'level': 'error', 'message': 'boom', 'requestPath': '/api/wines', 'responseStatusCode': 500}]})
    status, ctype, lines = stream_lines(vercel, path.format(projectId=vercel.project_id, deploymentId=live['uid']), 3)
    assert status == 200 and ctype == 'application/stream+json' and len(lines) == 3
    schema = stream_schema(spec, path)
    for line in lines:
        validate(spec, line, schema, 'runtime-logs line')
    assert [(line['level'], line['responseStatusCode']) for line in lines] == [('info', 200), ('warning', 404),
                                                                               ('error', 500)]
    # the stream stays open: a reader without a deadline would wait; this one stops after 1 s
    started = time.time()
    _status, _ctype, more = stream_lines(vercel, path.format(projectId=vercel.project_id, deploymentId=live['uid']),
                                         10, timeout=1.0)
    assert len(more) == 3 and time.time() - started < 3
    op = (path, 'GET')
    check(spec, vercel.api('GET', path.format(projectId='prj_nope', deploymentId=live['uid'])), *op, status=404)
    check(spec, vercel.api('GET', path.format(projectId=vercel.project_id, deploymentId=live['uid']),
                           params={'teamId': 'team_other'}), *op, status=403)
    check(spec, vercel.api('GET', path.format(projectId=vercel.project_id, deploymentId=live['uid']), token='Q' * 24),
          *op, status=401)


def test_build_events(spec, vercel):
    path = '/v3/deployments/{idOrUrl}/events'
    op = (path, 'GET')
    failed = vercel.seed_deployment(state='ERROR', created_offset_s=-600)
    for dep in (vercel.live(), failed):
        body = check(spec, vercel.api('GET', '/v3/deployments/%s/events' % dep['uid'], params={'builds': 1}),
                     *op, status=200)
        assert body and all(e['deploymentId'] == dep['uid'] for e in body)
    body = check(spec, vercel.api('GET', '/v3/deployments/%s/events' % failed['uid'],
                                  params={'direction': 'backward', 'limit': 2}), *op, status=200)
    assert [e['type'] for e in body] == ['exit', 'stderr']
    assert check(spec, vercel.api('GET', '/v3/deployments/%s/events' % failed['uid'], params={'statusCode': '5xx'}),
                 *op, status=200) == []
    status, ctype, lines = stream_lines(vercel, '/v3/deployments/%s/events' % failed['uid'], 50, follow=1)
    assert status == 200 and ctype == 'application/stream+json' and len(lines) == 6
    for line in lines:
        validate(spec, line, _resolve(spec, spec['paths'][path]['get']['responses']['200']['content'][
            'application/stream+json']['schema']), 'events line')
    check(spec, vercel.api('GET', '/v3/deployments/%s/events' % failed['uid'], params={'direction': 'sideways'}),
          *op, status=400)
    check(spec, vercel.api('GET', '/v3/deployments/%s/events' % failed['uid'], params={'limit': 'many'}),
          *op, status=400)
    check(spec, vercel.api('GET', '/v3/deployments/dpl_nope/events'), *op, status=404)

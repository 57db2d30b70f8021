"""pourtrait.ops.alert_webhook - receive alerts over HTTP (Prometheus Alertmanager or generic JSON).

POST any path on ``host:port`` (127.0.0.1 by default: put a TLS proxy in front to expose it). Every request
must prove it knows the shared secret, either way:

* ``X-Pourtrait-Token: <secret>`` (header name: ``token_header``), or
* ``X-Pourtrait-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>`` (``signature_header``).

Without one, or with a wrong one: 401 and no event. A body that is not a JSON object, or an Alertmanager body
(``version`` "4" with ``alerts``) whose alerts are malformed: 400 and no event (logged; the engine keeps
running). Accepted: 202 and one event per alert (Alertmanager) or one event (generic JSON)::

  {pourtrait_alert: {source: alertmanager|generic, name, status: firing|resolved, severity, labels,
                     annotations, starts_at, ends_at, fingerprint, group_key, received_at}, payload: <the alert or body>}

Arguments: enabled (true; false: no listener, the source idles), host (127.0.0.1), port (5001; 0 picks a free
one, logged), secret (or the POURTRAIT_WEBHOOK_SECRET environment variable; required), token_header,
signature_header, max_body_bytes (1 MiB), ready_file (the bound port is written there as JSON once listening - for
tests and supervisors). Arguments are checked before it listens (module_utils/source_args.py): a port "x" or an
enabled "maybe" stops the source with one line naming the argument and its rulebook variable.
"""

import asyncio
import datetime
import hashlib
import hmac
import json
import logging
import os
import sys

from aiohttp import web


def _find_collection():
    """Make ``ansible_collections.pourtrait.ops`` importable in ansible-rulebook's process: it runs this file with
    runpy (no Ansible collection loader), so the collections root above this file (where ansible-rulebook found
    it), else one of ANSIBLE_COLLECTIONS_PATH, else a checkout's .collections goes on sys.path."""
    try:
        import ansible_collections.pourtrait.ops.plugins.module_utils  # noqa: F401
        return
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    parts = here.split(os.sep)
    candidates = [os.sep.join(parts[:i]) for i in range(len(parts) - 1, 0, -1) if parts[i] == 'ansible_collections']
    env = os.environ.get('ANSIBLE_COLLECTIONS_PATH') or os.environ.get('ANSIBLE_COLLECTIONS_PATHS') or ''
    candidates += [p for p in env.split(os.pathsep) if p]
    candidates.append(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(here)))),
                                   '.collections'))
    for root in candidates:
        if os.path.isdir(os.path.join(root, 'ansible_collections', 'pourtrait', 'ops', 'plugins', 'module_utils')):
            sys.path.insert(0, root)
            return


_find_collection()

from ansible_collections.pourtrait.ops.plugins.module_utils.source_args import check_args  # noqa: E402

LOG = logging.getLogger('pourtrait.ops.alert_webhook')

TOKEN_HEADER = 'X-Pourtrait-Token'
SIGNATURE_HEADER = 'X-Pourtrait-Signature'
SPEC = dict(
    enabled=dict(type=bool, default=True, variable='webhook_enabled', example='true'),
    secret=dict(env='POURTRAIT_WEBHOOK_SECRET'),
    host=dict(default='127.0.0.1', variable='webhook_host'),
    port=dict(type=int, default=5001, minimum=0, maximum=65535, variable='webhook_port', example='5001'),
    token_header=dict(default=TOKEN_HEADER), signature_header=dict(default=SIGNATURE_HEADER),
    max_body_bytes=dict(type=int, default=1024 * 1024, minimum=1, example='1048576'),
    ready_file=dict(),
)


class BadBody(ValueError):
    """The body is not one this receiver understands (-> 400)."""


def authorized(secret, headers, raw, token_header=TOKEN_HEADER, signature_header=SIGNATURE_HEADER):
    """True when the request carries the shared secret or a valid HMAC-SHA256 signature of ``raw``."""
    token = headers.get(token_header)
    if token is not None and hmac.compare_digest(token.encode('utf-8'), secret.encode('utf-8')):
        return True
    signature = headers.get(signature_header)
    if signature:
        expected = 'sha256=' + hmac.new(secret.encode('utf-8'), raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.strip().encode('utf-8'), expected.encode('utf-8'))
    return False


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _str_dict(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadBody('%s must be an object of strings' % what)
    return value


def parse(raw):
    """The events of one body (a list), or BadBody."""
    try:
        body = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadBody('the body is not JSON: %s' % exc)
    if not isinstance(body, dict):
        raise BadBody('the body must be a JSON object')
    received = _now()
    if 'alerts' in body and ('version' in body or 'groupKey' in body):
        return parse_alertmanager(body, received)
    name = body.get('alertname') or body.get('name') or body.get('title')
    status = body.get('status', 'firing')
    if not isinstance(name, str) or not name:
        raise BadBody('a generic alert needs a "name" (or "alertname"/"title") string')
    if status not in ('firing', 'resolved'):
        raise BadBody('status must be firing or resolved')
    labels = _str_dict(body.get('labels'), 'labels')
    return [dict(pourtrait_alert=dict(source='generic', name=name, status=status,
                                      severity=body.get('severity') or labels.get('severity'), labels=labels,
                                      annotations=body.get('annotations') or {}, starts_at=body.get('startsAt'),
                                      ends_at=body.get('endsAt'), fingerprint=body.get('fingerprint'),
                                      group_key=None, received_at=received),
                 payload=body)]


def parse_alertmanager(body, received):
    """One event per alert of an Alertmanager webhook (version 4)."""
    if str(body.get('version')) != '4':
        raise BadBody('unsupported Alertmanager webhook version %r (4 expected)' % body.get('version'))
    alerts = body.get('alerts')
    if not isinstance(alerts, list) or not alerts:
        raise BadBody('alerts must be a non-empty list')
    common = _str_dict(body.get('commonLabels'), 'commonLabels')
    events = []
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise BadBody('alerts[%d] must be an object' % index)
        labels = dict(common, **_str_dict(alert.get('labels'), 'alerts[%d].labels' % index))
        status = alert.get('status', body.get('status'))
        if status not in ('firing', 'resolved'):
            raise BadBody('alerts[%d].status must be firing or resolved' % index)
        if not labels.get('alertname'):
            raise BadBody('alerts[%d] has no alertname label' % index)
        events.append(dict(pourtrait_alert=dict(
            source='alertmanager', name=labels['alertname'], status=status, severity=labels.get('severity'),
            labels=labels, annotations=_str_dict(alert.get('annotations'), 'alerts[%d].annotations' % index),
            starts_at=alert.get('startsAt'), ends_at=alert.get('endsAt'), fingerprint=alert.get('fingerprint'),
            group_key=body.get('groupKey'), received_at=received), payload=alert))
    return events


def make_app(queue, secret, token_header=TOKEN_HEADER, signature_header=SIGNATURE_HEADER,
             max_body_bytes=1024 * 1024):
    async def receive(request):
        raw = await request.read()
        if not authorized(secret, request.headers, raw, token_header, signature_header):
            LOG.warning('alert_webhook: 401 for %s %s from %s (no or wrong secret)', request.method, request.path,
                        request.remote)
            return web.json_response({'error': 'unauthorized'}, status=401)
        try:
            events = parse(raw)
        except BadBody as exc:
            LOG.warning('alert_webhook: 400 for %s from %s: %s', request.path, request.remote, exc)
            return web.json_response({'error': str(exc)}, status=400)
        for event in events:
            await queue.put(event)
        LOG.info('alert_webhook: %d event(s): %s', len(events),
                 ', '.join('%s %s' % (e['pourtrait_alert']['name'], e['pourtrait_alert']['status']) for e in events))
        return web.json_response({'accepted': len(events)}, status=202)

    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_route('POST', '/{tail:.*}', receive)
    return app


async def main(queue, args):
    conf = check_args('alert_webhook', args, SPEC)  # a value that does not parse: one line, no listener
    if not conf['enabled']:
        LOG.info('alert_webhook: disabled (enabled=false); no listener')
        await asyncio.Future()
    secret = conf['secret']
    if not secret:
        raise ValueError('alert_webhook: a shared secret is required (secret, or POURTRAIT_WEBHOOK_SECRET)')
    host, port = conf['host'], conf['port']
    app = make_app(queue, secret, conf['token_header'], conf['signature_header'], conf['max_body_bytes'])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    LOG.info('alert_webhook: listening on %s:%s', host, bound)
    if conf['ready_file']:
        with open(conf['ready_file'], 'w') as handle:
            json.dump({'host': host, 'port': bound}, handle)
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()

"""pourtrait.ops.app_monitor - watch production and emit an event when its state changes.

Each poll reads the app (``/health``, ``/api/monitoring/errors``, ``/api/monitoring/performance``), the live
Vercel production deployment (its id, age and whether an older rollback candidate exists) and, when Supabase
credentials are given, the Supabase project's status (the database). An event is put on the queue only when
the state changes (the signals, the live deployment or the database health) - never on every poll - so a rule
fires once per change. The first poll always emits (``previous_state`` is then null).

Arguments (each falls back to the environment variable named):

  app_url (APP_URL), vercel_api_url (VERCEL_API_URL, default https://api.vercel.com), vercel_token (VERCEL_TOKEN),
  vercel_project (VERCEL_PROJECT), vercel_team_id (VERCEL_TEAM_ID), vercel_ca_path (VERCEL_CA_PATH),
  supabase_api_url (SUPABASE_API_URL, default https://api.supabase.com), supabase_token (SUPABASE_ACCESS_TOKEN),
  supabase_project_ref (SUPABASE_PROJECT_REF), interval (s, 30), timeout (s, 10),
  error_rate_threshold (0..1, 0.05), p95_threshold_ms (1500), recent_window_s (age under which the live
  deployment is "recent", 1800), max_events (stop after that many events; 0: never, for tests).

Event::

  {pourtrait_monitor: {state: failing|degraded|slow|healthy, severity: P0..P3, previous_state, observed_at,
                       changed: [...]},
   health: {ok, http_status, status, database, response_time_ms}, errors: {rate, count, total},
   latency: {p95_ms, p99_ms}, deployment: {id, created, age_s, recent, rollback_candidate},
   database: {healthy, source, status, cause}, signals: {health_failing, error_rate_high, latency_high}}

Tokens never appear in events or log lines.
"""

import asyncio
import datetime
import json
import logging
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

LOG = logging.getLogger('pourtrait.ops.app_monitor')

DEFAULTS = dict(interval=30.0, timeout=10.0, error_rate_threshold=0.05, p95_threshold_ms=1500.0,
                recent_window_s=1800.0, max_events=0)
ENV = dict(app_url='APP_URL', vercel_api_url='VERCEL_API_URL', vercel_token='VERCEL_TOKEN',
           vercel_project='VERCEL_PROJECT', vercel_team_id='VERCEL_TEAM_ID', vercel_ca_path='VERCEL_CA_PATH',
           supabase_api_url='SUPABASE_API_URL', supabase_token='SUPABASE_ACCESS_TOKEN',
           supabase_project_ref='SUPABASE_PROJECT_REF', supabase_ca_path='SUPABASE_CA_PATH')


def settings(args):
    """The effective settings: ``args`` over the environment over the defaults."""
    conf = {}
    for key, var in ENV.items():
        value = args.get(key)
        conf[key] = str(value) if value not in (None, '') else os.environ.get(var, '')
    conf['vercel_api_url'] = (conf['vercel_api_url'] or 'https://api.vercel.com').rstrip('/')
    conf['supabase_api_url'] = (conf['supabase_api_url'] or 'https://api.supabase.com').rstrip('/')
    conf['app_url'] = conf['app_url'].rstrip('/')
    for key, default in DEFAULTS.items():
        conf[key] = float(args.get(key, default)) if key != 'max_events' else int(args.get(key, default))
    if not conf['app_url']:
        raise ValueError('app_monitor: no app_url (argument or APP_URL)')
    return conf


def _get(url, timeout, token=None, ca_path=None):
    """(status or None, decoded JSON or None); never raises (a connection error is status None)."""
    req = urllib.request.Request(url, headers={'Accept': 'application/json'})
    if token:
        req.add_header('Authorization', 'Bearer %s' % token)
    context = ssl.create_default_context(cafile=ca_path) if ca_path and url.startswith('https') else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (OSError, ValueError) as exc:
        LOG.warning('app_monitor: GET %s failed: %s', url.split('?')[0], exc)
        return None, None
    try:
        return status, json.loads(raw.decode('utf-8')) if raw else None
    except ValueError:
        return status, None


def _vercel_url(conf, path, **params):
    if conf['vercel_team_id']:
        params['teamId'] = conf['vercel_team_id']
    return conf['vercel_api_url'] + path + ('?' + urllib.parse.urlencode(params) if params else '')


def read_deployment(conf, now):
    """The live production deployment: {id, created, age_s, recent, rollback_candidate} (ids None if unknown)."""
    result = dict(id=None, created=None, age_s=None, recent=False, rollback_candidate=False)
    if not (conf['vercel_token'] and conf['vercel_project']):
        return result
    token, ca_path, timeout = conf['vercel_token'], conf['vercel_ca_path'] or None, conf['timeout']
    status, project = _get(_vercel_url(conf, '/v9/projects/%s' % urllib.parse.quote(conf['vercel_project'])),
                           timeout, token, ca_path)
    if status != 200 or not isinstance(project, dict):
        return result
    live = ((project.get('targets') or {}).get('production')) or {}
    created = live.get('createdAt') or live.get('created')
    result['id'] = live.get('id') or live.get('uid')
    if created:
        result['created'] = int(created)
        result['age_s'] = round(max(0.0, now - created / 1000.0), 1)
        result['recent'] = result['age_s'] < conf['recent_window_s']
        status, listing = _get(_vercel_url(conf, '/v6/deployments', projectId=project.get('id', ''),
                                           target='production', state='READY', limit=10, until=int(created)),
                               timeout, token, ca_path)
        if status == 200 and isinstance(listing, dict):
            result['rollback_candidate'] = any(
                (d.get('uid') or d.get('id')) != result['id'] and d.get('isRollbackCandidate') is not False
                for d in listing.get('deployments') or [])
    return result


def read_database(conf, health):
    """{healthy, source, status}: the Supabase project's status when configured, else the app's own view."""
    if conf['supabase_token'] and conf['supabase_project_ref']:
        url = '%s/v1/projects/%s' % (conf['supabase_api_url'], urllib.parse.quote(conf['supabase_project_ref']))
        status, body = _get(url, conf['timeout'], conf['supabase_token'], conf['supabase_ca_path'] or None)
        if status == 200 and isinstance(body, dict):
            return dict(healthy=body.get('status') == 'ACTIVE_HEALTHY', source='supabase', status=body.get('status'))
        return dict(healthy=False, source='supabase', status='unreachable (HTTP %s)' % status)
    database = health.get('database')
    return dict(healthy=None if database is None else database == 'healthy', source='app', status=database)


def observe(conf):
    """One poll: the event body (without pourtrait_monitor.previous_state / changed)."""
    now = time.time()
    timeout = conf['timeout']
    started = time.monotonic()
    status, body = _get(conf['app_url'] + '/health', timeout)
    elapsed_ms = int((time.monotonic() - started) * 1000)
    body = body if isinstance(body, dict) else {}
    health = dict(ok=status == 200 and body.get('status') in ('healthy', 'ok'), http_status=status,
                  status=body.get('status'), database=(body.get('services') or {}).get('database'),
                  response_time_ms=body.get('responseTime', elapsed_ms))
    _st, errs = _get(conf['app_url'] + '/api/monitoring/errors', timeout)
    errs = errs if isinstance(errs, dict) else {}
    _st, perf = _get(conf['app_url'] + '/api/monitoring/performance', timeout)
    perf = perf if isinstance(perf, dict) else {}
    times = perf.get('responseTime') or {}
    errors = dict(rate=errs.get('errorRate'), count=errs.get('errorCount'), total=errs.get('totalRequests'))
    latency = dict(p95_ms=times.get('p95'), p99_ms=times.get('p99'))
    signals = dict(health_failing=not health['ok'],
                   error_rate_high=errors['rate'] is not None and errors['rate'] >= conf['error_rate_threshold'],
                   latency_high=latency['p95_ms'] is not None and latency['p95_ms'] >= conf['p95_threshold_ms'])
    if signals['health_failing']:
        state = 'failing'
    elif signals['error_rate_high']:
        state = 'degraded'
    elif signals['latency_high']:
        state = 'slow'
    else:
        state = 'healthy'
    deployment = read_deployment(conf, now)
    database = read_database(conf, health)
    # the database as the cause of slowness: Supabase (or the app) says it is not healthy
    database['cause'] = database['healthy'] is False or health['database'] not in (None, 'healthy')
    observed = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    return dict(pourtrait_monitor=dict(state=state, severity=severity(state, errors['rate']), observed_at=observed),
                health=health, errors=errors,
                latency=latency, deployment=deployment, database=database, signals=signals)


def severity(state, error_rate):
    """The incident severity the numbers say: P0 failing with a quarter of requests failing, P1 failing or a
    tenth failing, P2 degraded or slow, P3 healthy."""
    rate = error_rate or 0.0
    if state == 'failing' and rate >= 0.25:
        return 'P0'
    if state == 'failing' or rate >= 0.10:
        return 'P1'
    if state in ('degraded', 'slow'):
        return 'P2'
    return 'P3'


def state_key(event):
    """What a change is made of: the signals, the state, the live deployment and the database health."""
    return dict(state=event['pourtrait_monitor']['state'], signals=event['signals'],
                deployment=event['deployment']['id'], database=event['database']['healthy'])


class Monitor(object):
    """Turns observations into change events."""

    def __init__(self):
        self.last = None
        self.last_state = None

    def changes(self, event):
        """The event to emit for this observation, or None when nothing changed."""
        key = state_key(event)
        if key == self.last:
            return None
        changed = sorted(k for k in key if self.last is None or key[k] != self.last[k])
        event['pourtrait_monitor'].update(previous_state=self.last_state, changed=changed)
        self.last, self.last_state = key, key['state']
        return event


async def main(queue, args):
    conf = settings(args or {})
    monitor = Monitor()
    emitted = 0
    while True:
        event = await asyncio.to_thread(observe, conf)
        event = monitor.changes(event)
        if event is not None:
            LOG.info('app_monitor: %s (was %s): error rate %s, p95 %s ms, live %s (%s s old)',
                     event['pourtrait_monitor']['state'], event['pourtrait_monitor']['previous_state'],
                     event['errors']['rate'], event['latency']['p95_ms'], event['deployment']['id'],
                     event['deployment']['age_s'])
            await queue.put(event)
            emitted += 1
            if conf['max_events'] and emitted >= conf['max_events']:
                return
        await asyncio.sleep(conf['interval'])


if __name__ == '__main__':
    class _Printer(object):
        async def put(self, event):
            print(json.dumps(event))

    asyncio.run(main(_Printer(), dict(interval=5)))

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
  supabase_project_ref (SUPABASE_PROJECT_REF), supabase_ca_path (SUPABASE_CA_PATH), app_ca_path (APP_CA_PATH),
  interval (s, 30), timeout (s, 10), retries (per API call, 2), error_rate_threshold (0..1, 0.05),
  p95_threshold_ms (1500), recent_window_s (age under which the live deployment is "recent", 1800), max_events
  (stop after that many events; 0: never, for tests).

Every argument is checked before the first poll (module_utils/source_args.py): one that does not parse (an
interval "abc") stops the source with one line naming it and its rulebook variable - no event, no action. The
HTTP calls go through the collection's clients: the app through ``app.probe``, Vercel through ``VercelClient``
and Supabase through ``SupabaseClient`` (the retrying ``JsonSession``: timeouts, TLS verification with the
``*_ca_path``, retries with backoff on 429/5xx, one-line errors); a failed read is logged as one line and the
poll goes on with what it knows.

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
import sys
import time


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

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.app import (  # noqa: E402
    ERROR_COUNT_FIELDS, ERROR_RATE_FIELDS, LATENCY_FIELDS, REQUEST_COUNT_FIELDS, ProbeError, first_number,
    is_healthy_word, join_url, probe, service_statuses,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.source_args import SourceArgumentError, check_args  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.supabase import HEALTHY, SupabaseClient  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import (  # noqa: E402
    VercelClient, rollback_candidates,
)

LOG = logging.getLogger('pourtrait.ops.app_monitor')

SPEC = dict(
    app_url=dict(env='APP_URL'),
    vercel_api_url=dict(env='VERCEL_API_URL', default='https://api.vercel.com'),
    vercel_token=dict(env='VERCEL_TOKEN'), vercel_project=dict(env='VERCEL_PROJECT'),
    vercel_team_id=dict(env='VERCEL_TEAM_ID'), vercel_ca_path=dict(env='VERCEL_CA_PATH'),
    supabase_api_url=dict(env='SUPABASE_API_URL', default='https://api.supabase.com'),
    supabase_token=dict(env='SUPABASE_ACCESS_TOKEN'), supabase_project_ref=dict(env='SUPABASE_PROJECT_REF'),
    supabase_ca_path=dict(env='SUPABASE_CA_PATH'), app_ca_path=dict(env='APP_CA_PATH'),
    interval=dict(type=float, default=30.0, above=0, variable='monitor_interval', example='30'),
    timeout=dict(type=float, default=10.0, above=0, example='10'),
    retries=dict(type=int, default=2, minimum=0, maximum=10, example='2'),
    error_rate_threshold=dict(type=float, default=0.05, above=0, maximum=1, variable='error_rate_threshold',
                              example='0.05'),
    p95_threshold_ms=dict(type=float, default=1500.0, above=0, variable='p95_threshold_ms', example='1500'),
    recent_window_s=dict(type=float, default=1800.0, minimum=0, variable='recent_window', example='1800'),
    max_events=dict(type=int, default=0, minimum=0),
)


def settings(args):
    """The effective settings: ``args`` over the environment over the defaults, checked (one-line
    SourceArgumentError naming the argument and its rulebook variable)."""
    conf = check_args('app_monitor', args, SPEC)
    conf['app_url'] = (conf['app_url'] or '').rstrip('/')
    if not conf['app_url']:
        raise ValueError('app_monitor: no app_url (argument or APP_URL)')
    return conf


def clients(conf):
    """(VercelClient or None, SupabaseClient or None): the collection's clients (retries, TLS, one-line errors)
    for what the settings give credentials for. A malformed token is a one-line error here, at start."""
    timeout, retries = conf['timeout'], conf['retries']
    vercel = supabase = None
    try:
        if conf['vercel_token'] and conf['vercel_project']:
            vercel = VercelClient(conf['vercel_token'], team=conf['vercel_team_id'] or None,
                                  api_url=conf['vercel_api_url'], ca_path=conf['vercel_ca_path'] or None,
                                  timeout=timeout, retries=retries)
        if conf['supabase_token'] and conf['supabase_project_ref']:
            supabase = SupabaseClient(conf['supabase_token'], api_url=conf['supabase_api_url'],
                                      ca_path=conf['supabase_ca_path'] or None, timeout=timeout, retries=retries)
    except OpsError as exc:
        raise SourceArgumentError('app_monitor: %s' % exc)
    return vercel, supabase


def read_deployment(conf, vercel, now):
    """The live production deployment: {id, created, age_s, recent, rollback_candidate} (ids None if unknown);
    a rollback candidate as vercel_rollback picks one (READY, production, older than the rollback base)."""
    result = dict(id=None, created=None, age_s=None, recent=False, rollback_candidate=False)
    if vercel is None:
        return result
    try:
        project = vercel.project(conf['vercel_project'])
        live = (project.get('targets') or {}).get('production') or {}
        created = live.get('createdAt') or live.get('created')
        result['id'] = live.get('id') or live.get('uid')
        if created:
            result['created'] = int(created)
            result['age_s'] = round(max(0.0, now - created / 1000.0), 1)
            result['recent'] = result['age_s'] < conf['recent_window_s']
            # a target vercel_rollback would pick that is not what is live already (right after a rollback the
            # rollback base is the release rolled back from, so the live build itself would be counted)
            result['rollback_candidate'] = any((d.get('uid') or d.get('id')) != result['id']
                                               for d in rollback_candidates(vercel, project, limit=10))
    except OpsError as exc:
        LOG.warning('app_monitor: reading the live Vercel deployment failed: %s', exc)
    return result


def read_database(supabase, conf, health):
    """{healthy, source, status}: the Supabase project's status when configured, else the app's own view."""
    if supabase is not None:
        try:
            status = supabase.project(conf['supabase_project_ref']).get('status')
        except OpsError as exc:
            LOG.warning('app_monitor: reading the Supabase project failed: %s', exc)
            return dict(healthy=False, source='supabase', status='unreachable (%s)' % (
                'HTTP %s' % exc.extra['status'] if exc.extra.get('status') else 'no answer'))
        return dict(healthy=status == HEALTHY, source='supabase', status=status)
    database = health.get('database')
    return dict(healthy=None if database is None else database == 'healthy', source='app', status=database)


def _fetch(conf, path):
    """(HTTP status or None, decoded JSON object or {}, milliseconds) of one app probe (app.probe)."""
    started = time.monotonic()
    try:
        answer = probe(join_url(conf['app_url'], path), timeout=conf['timeout'], ca_path=conf['app_ca_path'] or None)
    except ProbeError as exc:
        LOG.warning('app_monitor: %s', exc)
        return None, {}, int((time.monotonic() - started) * 1000)
    data = answer.json()
    return answer.status, data if isinstance(data, dict) else {}, int((time.monotonic() - started) * 1000)


def _whole(value):
    """A number as the app sent it: 3000.0 -> 3000 (None stays None)."""
    return int(value) if value is not None and value == int(value) else value


def read_app(conf):
    """(health, errors, latency) from /health and the monitoring endpoints (field names as app.measure reads)."""
    status, body, elapsed_ms = _fetch(conf, '/health')
    health = dict(ok=status == 200 and is_healthy_word(body.get('status', '')), http_status=status,
                  status=body.get('status'), database=service_statuses(body).get('database'),
                  response_time_ms=body.get('responseTime', elapsed_ms))
    _status, errs, _ms = _fetch(conf, '/api/monitoring/errors')
    rate = first_number(errs, ERROR_RATE_FIELDS)
    count, total = first_number(errs, ERROR_COUNT_FIELDS), first_number(errs, REQUEST_COUNT_FIELDS)
    if rate is None and count is not None and total:
        rate = count / total
    _status, perf, _ms = _fetch(conf, '/api/monitoring/performance')
    errors = dict(rate=rate, count=_whole(count), total=_whole(total))
    latency = dict(p95_ms=_whole(first_number(perf, LATENCY_FIELDS['p95'])),
                   p99_ms=_whole(first_number(perf, LATENCY_FIELDS['p99'])))
    return health, errors, latency


def observe(conf, vercel=None, supabase=None):
    """One poll: the event body (without pourtrait_monitor.previous_state / changed)."""
    now = time.time()
    health, errors, latency = read_app(conf)
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
    deployment = read_deployment(conf, vercel, now)
    database = read_database(supabase, conf, health)
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
    vercel, supabase = clients(conf)
    monitor = Monitor()
    emitted = 0
    while True:
        started = time.monotonic()
        event = await asyncio.to_thread(observe, conf, vercel, supabase)
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
        # polls start every interval (the poll's own time is not added to the wait, so a failure is seen at most
        # one interval after it began); a poll slower than the interval is followed by a tenth of one
        await asyncio.sleep(max(conf['interval'] - (time.monotonic() - started), conf['interval'] / 10.0))


if __name__ == '__main__':
    class _Printer(object):
        async def put(self, event):
            print(json.dumps(event))

    asyncio.run(main(_Printer(), dict(interval=5)))

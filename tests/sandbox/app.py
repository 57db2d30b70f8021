"""The app stand-in: what each Vercel deployment of Pourtrait serves.

URL mapping (no DNS in the sandbox, so hostnames become path prefixes):

* ``APP_URL`` = ``http://127.0.0.1:<app port>`` serves the deployment that
  production points at right now (after a rollback it serves the rollback
  target: the change is visible from outside);
* ``http://127.0.0.1:<app port>/_d/<deployment url>`` serves one deployment,
  ``<deployment url>`` being the deployment's Vercel ``url`` field
  (``pourtrait-abc123def-pourtrait-team.vercel.app``); the Vercel admin state
  lists it per deployment as ``app_base_url``. A deployment that is not READY
  answers 404 with ``x-vercel-error: DEPLOYMENT_NOT_FOUND`` (unknown) or
  ``DEPLOYMENT_NOT_READY``.

The Vercel Firewall applies before any of this (vercel_security.py): the client IP is the connection's
source address (bind the client socket to 127.0.0.2 to be another client), a denied IP gets 403, a
challenge (or Attack Challenge Mode) 429 with the Security Checkpoint page, a rate limit 429; each
with ``x-vercel-mitigated``. Answers the app gives are runtime log lines (vercel_logs.py).

Endpoints (relative to either base): ``GET /health``, ``GET /api/monitoring/errors``,
``GET /api/monitoring/performance``, ``GET /api/wines``, ``POST|GET /api/ai/chat``
and ``GET /`` (a page). Every answer carries ``x-vercel-id`` and
``x-sandbox-deployment: <uid>``.

Health profiles (``health`` of a deployment, set when seeding or through
``PATCH /_sandbox/vercel/deployments/{uid}``):

* ``healthy``: /health 200 ``status: healthy``; error rate 0.2 %; p95 220 ms.
* ``broken``: /health 503 ``status: unhealthy`` (database and imageProcessing
  unhealthy); /api/wines and /api/ai/chat 500; error rate 42 %; p95 3 s.
* ``slow``: every answer takes ``app_slow_s`` (timing, default 0.6 s);
  /health 200 ``status: degraded`` with that ``responseTime``; p95 2.8 s.
* ``errors``: /health 200 healthy, but error rate 12 % and every 4th
  /api/wines answer is a 500.

Maintenance mode: a deployment whose env snapshot (see vercel_api.py) has
``MAINTENANCE_MODE`` = ``true`` (or ``1``) answers every path with 503,
``Retry-After: 300`` and ``x-sandbox-maintenance: 1``: ``/health``
``{status: "maintenance", maintenance: true, message, timestamp, version,
deploymentId}``, ``/`` a maintenance page (HTML), anything else
``{error: "maintenance", status: "maintenance", message}``. The health profile
does not matter then, as in an app that short-circuits in its middleware.

/health body: ``{status, timestamp, version, deploymentId, services: {database,
ai, imageProcessing}, responseTime (ms), memory: {used, total, percentage}}``.
/api/monitoring/errors: ``{timestamp, window, totalRequests, errorCount,
errorRate (0..1), errorsByType, recentErrors[]}``.
/api/monitoring/performance: ``{timestamp, window, requestCount,
responseTime: {avg, p50, p95, p99} (ms), slowestEndpoints[]}``.
"""

import datetime
import hashlib
import threading

from tests.sandbox.standin import Response, Service
from tests.sandbox.vercel_security import screen_app_request

PROFILES = {
    'healthy': {'status': 'healthy', 'code': 200, 'services': ('healthy', 'healthy', 'healthy'), 'rt': 45,
                'total': 1200, 'errors': 2, 'lat': (95, 80, 220, 410)},
    'broken': {'status': 'unhealthy', 'code': 503, 'services': ('unhealthy', 'healthy', 'unhealthy'), 'rt': 5012,
               'total': 1150, 'errors': 483, 'lat': (1400, 900, 3000, 5200)},
    'slow': {'status': 'degraded', 'code': 200, 'services': ('healthy', 'degraded', 'healthy'), 'rt': None,
             'total': 900, 'errors': 9, 'lat': (1650, 1400, 2800, 4100)},
    'errors': {'status': 'healthy', 'code': 200, 'services': ('healthy', 'healthy', 'healthy'), 'rt': 60,
               'total': 1200, 'errors': 144, 'lat': (120, 90, 260, 480)},
}


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


class AppService(Service):
    """Serves the deployments of the Vercel model (shared, same process)."""

    name = 'app'

    def __init__(self, vercel_service, slow_s=0.6):
        Service.__init__(self)
        self.vercel = vercel_service
        self.default_slow_s = slow_s
        self.slow_s = slow_s
        self.lock = threading.Lock()
        self.counters = {}

    def reset(self, options=None):
        self.slow_s = self.default_slow_s
        with self.lock:
            self.counters = {}

    def set_timings(self, values):
        if 'app_slow_s' in values:
            self.slow_s = float(values['app_slow_s'])
            return ['app_slow_s']
        return []

    def state(self):
        return {'slow_s': self.slow_s, 'requests_per_deployment': dict(self.counters)}

    def _resolve(self, path):
        """(deployment or None, rest of the path, reason when unavailable)."""
        model = self.vercel.model
        with model.lock:
            model.advance()
            if path.startswith('/_d/'):
                host, _sep, rest = path[4:].partition('/')
                dep = model.by_id_or_url(host)
                rest = '/' + rest
                if dep is None:
                    return None, rest, 'DEPLOYMENT_NOT_FOUND'
            else:
                dep = model.by_uid(model.production) if model.production else None
                rest = path
                if dep is None:
                    return None, rest, 'DEPLOYMENT_NOT_FOUND'
            if dep['state'] != 'READY':
                return None, rest, 'DEPLOYMENT_NOT_READY' if dep['state'] != 'ERROR' else 'DEPLOYMENT_NOT_FOUND'
            return dict(dep), rest, None

    def handle(self, request):
        """The Vercel Firewall first (see vercel_security.py: a blocked client IP gets 403, a challenge 429),
        then the deployment; each answer the app gives becomes a runtime log line (vercel_logs.py)."""
        vercel = self.vercel
        if request.path.startswith('/_d/'):
            host, _sep, rest = request.path[4:].partition('/')
            rest = '/' + rest
        else:
            host, rest = vercel.model.project['domains'][0], request.path
        blocked = screen_app_request(vercel, request, host, rest)
        if blocked is not None:
            return blocked
        response = self._serve(request)
        uid = response.headers.get('x-sandbox-deployment')
        if uid:
            detail = response.body.get('message') if isinstance(response.body, dict) else None
            vercel.record_app_request(uid, host, request.method, rest.rstrip('/') or '/', response.status, detail)
        return response

    def _serve(self, request):
        dep, rest, reason = self._resolve(request.path)
        vercel_id = 'iad1::' + hashlib.sha1(('%s%s' % (request.path, id(request))).encode()).hexdigest()[:20]
        if dep is None:
            return Response(404, 'The deployment could not be found on Vercel.\n\n%s\n' % reason,
                            headers={'x-vercel-error': reason, 'x-vercel-id': vercel_id},
                            content_type='text/plain; charset=utf-8')
        with self.lock:
            count = self.counters.get(dep['uid'], 0) + 1
            self.counters[dep['uid']] = count
        health = dep['health']
        profile = PROFILES[health]
        headers = {'x-vercel-id': vercel_id, 'x-sandbox-deployment': dep['uid'], 'cache-control': 'no-store'}
        delay = self.slow_s if health == 'slow' else 0.0
        rest = rest.rstrip('/') or '/'
        if str((dep.get('env') or {}).get('MAINTENANCE_MODE', '')).strip().lower() in ('true', '1'):
            return self._maintenance(dep, rest, headers)
        if rest == '/health':
            return self._health(dep, profile, headers, delay)
        if rest == '/api/monitoring/errors':
            return Response(200, self._errors(profile), headers=headers, delay=delay)
        if rest == '/api/monitoring/performance':
            return Response(200, self._performance(profile, delay), headers=headers, delay=delay)
        if rest in ('/api/wines', '/api/ai/chat'):
            return self._smoke(rest, request, health, count, headers, delay)
        if rest == '/':
            page = '<!doctype html><title>Pourtrait</title><p>Pourtrait %s</p>\n' % dep['meta'].get(
                'githubCommitSha', '')[:7]
            return Response(200, page, headers=headers, content_type='text/html; charset=utf-8', delay=delay)
        return Response(404, {'error': 'Not Found', 'path': rest}, headers=headers, delay=delay)

    def _health(self, dep, profile, headers, delay):
        database, ai, images = profile['services']
        response_time = int(delay * 1000) if profile['rt'] is None else profile['rt']
        body = {'status': profile['status'], 'timestamp': _now_iso(),
                'version': dep['meta'].get('githubCommitSha', '')[:7], 'deploymentId': dep['uid'],
                'services': {'database': database, 'ai': ai, 'imageProcessing': images},
                'responseTime': response_time,
                'memory': {'used': 182, 'total': 512, 'percentage': 35.5}}
        return Response(profile['code'], body, headers=headers, delay=delay)

    @staticmethod
    def _maintenance(dep, rest, headers):
        headers = dict(headers, **{'Retry-After': '300', 'x-sandbox-maintenance': '1'})
        message = 'Pourtrait is down for scheduled maintenance. Please try again shortly.'
        if rest == '/health':
            body = {'status': 'maintenance', 'maintenance': True, 'message': message, 'timestamp': _now_iso(),
                    'version': dep['meta'].get('githubCommitSha', '')[:7], 'deploymentId': dep['uid']}
            return Response(503, body, headers=headers)
        if rest == '/':
            page = ('<!doctype html><title>Pourtrait - maintenance</title><h1>We will be right back</h1>'
                    '<p>%s</p>\n' % message)
            return Response(503, page, headers=headers, content_type='text/html; charset=utf-8')
        return Response(503, {'error': 'maintenance', 'status': 'maintenance', 'message': message}, headers=headers)

    @staticmethod
    def _errors(profile):
        total, errors = profile['total'], profile['errors']
        recent = []
        if errors > 10:
            recent = [{'timestamp': _now_iso(), 'path': '/api/wines', 'status': 500,
                       'message': 'relation query failed: connection refused'}]
        return {'timestamp': _now_iso(), 'window': '5m', 'totalRequests': total, 'errorCount': errors,
                'errorRate': round(errors / float(total), 4),
                'errorsByType': {'5xx': errors, '4xx': 0}, 'recentErrors': recent}

    @staticmethod
    def _performance(profile, delay):
        avg, p50, p95, p99 = profile['lat']
        if delay:
            p50 = max(p50, int(delay * 1000))
        return {'timestamp': _now_iso(), 'window': '5m', 'requestCount': profile['total'],
                'responseTime': {'avg': avg, 'p50': p50, 'p95': p95, 'p99': p99},
                'slowestEndpoints': [{'path': '/api/ai/chat', 'p95': p99}]}

    @staticmethod
    def _smoke(rest, request, health, count, headers, delay):
        failing = health == 'broken' or (health == 'errors' and rest == '/api/wines' and count % 4 == 0)
        if failing:
            return Response(500, {'error': 'Internal Server Error', 'message': 'database unavailable'},
                            headers=headers, delay=delay)
        if rest == '/api/wines':
            body = {'wines': [{'id': 1, 'name': 'Chateau Margaux', 'vintage': 2015, 'region': 'Bordeaux'},
                              {'id': 2, 'name': 'Barolo Riserva', 'vintage': 2016, 'region': 'Piedmont'}],
                    'total': 2}
        else:
            body = {'reply': 'A Barolo would go well with that.', 'model': 'sandbox'}
        return Response(200, body, headers=headers, delay=delay)

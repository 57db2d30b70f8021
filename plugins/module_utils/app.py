# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probing the Pourtrait app: one timed HTTP request, health evaluation, and
the measurement rules of a verification window (``app_health``,
``deployment_verify``).

The timing breakdown is the one ``curl -w`` prints (each figure counted from
the start of the request, as curl does): ``dns_s`` (time_namelookup),
``connect_s`` (time_connect), ``tls_s`` (time_appconnect, 0 for http),
``first_byte_s`` (time_starttransfer) and ``total_s`` (time_total). requests
does not expose these, so the request is made with sockets and http.client.
Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import socket
import ssl
import time

try:
    from urllib.parse import urlsplit
    from http.client import HTTPConnection, HTTPException
except ImportError:  # pragma: no cover - Python 2 is not supported by this collection
    urlsplit = None
    HTTPConnection = None
    HTTPException = Exception

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, OpsModule

HEALTHY_WORDS = ('healthy', 'ok', 'up', 'pass', 'active_healthy')


def probe_argument_spec():
    """The options every module of the action group ``app`` (app_health, deployment_verify) takes: the app's
    origin and how to talk to it, so that a play sets them once with
    ``module_defaults: {group/pourtrait.ops.app: {base_url: ..., ca_path: ..., headers: ...}}``."""
    from ansible.module_utils.common.parameters import env_fallback
    return dict(
        base_url=dict(type='str', fallback=(env_fallback, ['APP_URL'])),
        timeout=dict(type='float', default=10),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        headers=dict(type='dict', default={}),
    )


class AppProbeModule(OpsModule):
    """Base of the modules that probe the app (app_health, deployment_verify; see OpsModule): the request
    options. Standard library only, so nothing to check for."""

    @classmethod
    def shared_argument_spec(cls):
        return probe_argument_spec()


class ProbeError(OpsError):
    """The request could not be made (DNS, connect, TLS, timeout); one line."""

    def __init__(self, msg, timing=None, permanent=False):
        super(ProbeError, self).__init__(msg)
        self.timing = timing or {}
        # a request that can never succeed (not a URL): retrying is pointless
        self.permanent = permanent


class ProbeResult(object):
    def __init__(self, status, headers, body, timing):
        self.status, self.headers, self.body, self.timing = status, headers, body, timing

    def json(self):
        try:
            return json.loads(self.body.decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            return None


def ssl_context(validate_certs=True, ca_path=None):
    if not validate_certs:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()


class _Request(object):
    """One request's deadline, socket, stage (named in the error) and curl-style timing."""

    def __init__(self, url, timeout):
        self.url = url
        self.timeout = timeout
        self.timing = dict(dns_s=None, connect_s=None, tls_s=None, first_byte_s=None, total_s=None)
        self.start = time.time()
        self.deadline = self.start + timeout
        self.stage = None
        self.sock = None

    def left(self):
        remaining = self.deadline - time.time()
        if remaining <= 0:
            raise socket.timeout('timed out')
        return remaining

    def stamp(self, name):
        self.timing[name] = round(time.time() - self.start, 6)

    def connect(self, host, port):
        self.stage = 'resolving %s' % host
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        self.stamp('dns_s')
        self.stage = 'connecting to %s:%s' % (host, port)
        last = None
        for family, socktype, proto, _canon, addr in infos:
            sock = self.sock = socket.socket(family, socktype, proto)
            sock.settimeout(self.left())
            try:
                sock.connect(addr)
            except (OSError, socket.timeout) as exc:
                last = exc
                sock.close()
                self.sock = None
                continue
            self.stamp('connect_s')
            return
        raise last or OSError('no address')

    def handshake(self, host, validate_certs, ca_path):
        self.stage = 'TLS handshake with %s' % host
        self.sock.settimeout(self.left())
        self.sock = ssl_context(validate_certs, ca_path).wrap_socket(self.sock, server_hostname=host)
        self.stamp('tls_s')

    def exchange(self, host, port, method, path, headers, max_body, body=None):
        self.stage = 'waiting for %s' % self.url
        self.sock.settimeout(self.left())
        conn = HTTPConnection(host, port, timeout=self.left())
        conn.sock = self.sock
        hdrs = {'Accept': 'application/json', 'User-Agent': 'pourtrait.ops (app_health)', 'Connection': 'close'}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode('utf-8')
            hdrs['Content-Type'] = 'application/json'
        hdrs.update(headers or {})
        conn.request(method, path, body=payload, headers=hdrs)
        resp = conn.getresponse()
        self.stamp('first_byte_s')
        self.stage = 'reading the answer from %s' % self.url
        body = resp.read(max_body)
        self.stamp('total_s')
        result = ProbeResult(resp.status, dict(resp.getheaders()), body, self.timing)
        conn.close()
        return result

    def error(self, exc):
        """The one-line ProbeError for what went wrong at the current stage."""
        if isinstance(exc, ssl.SSLError):
            return ProbeError('%s failed (%s); set ca_path to the CA that signed the certificate, or '
                              'validate_certs=false for a test server'
                              % (self.stage, getattr(exc, 'reason', None) or exc), self.timing)
        if isinstance(exc, socket.gaierror):
            return ProbeError('%s failed (%s); check the URL' % (self.stage, exc.strerror or exc), self.timing)
        if isinstance(exc, socket.timeout):
            return ProbeError('%s timed out after %ss' % (self.stage, self.timeout), self.timing)
        return ProbeError('%s failed (%s)' % (self.stage, getattr(exc, 'strerror', None) or exc.__class__.__name__),
                          self.timing)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass


def probe(url, timeout=10.0, validate_certs=True, ca_path=None, headers=None, method='GET', max_body=1048576,
          body=None):
    """One request with the curl-style timing breakdown; ``body`` (not None) is sent as JSON. Raises ProbeError."""
    parts = urlsplit(url)
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise ProbeError('%r is not an http(s) URL; use e.g. https://pourtrait.app/health' % url, permanent=True)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == 'https' else 80)
    path = parts.path or '/'
    if parts.query:
        path += '?' + parts.query
    request = _Request(url, timeout)
    try:
        request.connect(host, port)
        if parts.scheme == 'https':
            request.handshake(host, validate_certs, ca_path)
        else:
            request.timing['tls_s'] = 0.0
        return request.exchange(host, port, method, path, headers, max_body, body)
    except (OSError, HTTPException) as exc:
        raise request.error(exc)
    finally:
        request.close()


def is_healthy_word(value):
    return str(value).strip().lower() in HEALTHY_WORDS


def service_statuses(data):
    """{name: status text} from the ``services``/``checks`` part of a health JSON, in any common shape."""
    services = None
    if isinstance(data, dict):
        services = data.get('services', data.get('checks'))
    out = {}
    if isinstance(services, dict):
        for name, value in services.items():
            if isinstance(value, dict):
                value = value.get('status', value.get('state', 'unknown'))
            elif isinstance(value, bool):
                value = 'healthy' if value else 'unhealthy'
            out[str(name)] = str(value)
    elif isinstance(services, list):
        for item in services:
            if isinstance(item, dict) and item.get('name'):
                out[str(item['name'])] = str(item.get('status', 'unknown'))
    return out


def evaluate_health(probe_result, expected_status='healthy', required_services=None):
    """(healthy, status, services, unhealthy list, problem text) of one health answer."""
    data = probe_result.json()
    if not isinstance(data, dict):
        return False, None, {}, [], 'HTTP %s with a body that is not JSON' % probe_result.status
    status = str(data.get('status', ''))
    services = service_statuses(data)
    unhealthy = ['%s (%s)' % (name, value) for name, value in sorted(services.items()) if not is_healthy_word(value)]
    for name in required_services or []:
        if name not in services:
            unhealthy.append('%s (missing)' % name)
    problems = []
    if status.lower() != expected_status.lower():
        problems.append('status %s, expected %s' % (status or 'missing', expected_status))
    if unhealthy:
        problems.append('unhealthy services: %s' % ', '.join(unhealthy))
    if probe_result.status >= 400 and not problems:
        problems.append('HTTP %s' % probe_result.status)
    return not problems, status, services, unhealthy, '; '.join(problems)


def first_number(data, names):
    """The first numeric field among ``names`` (looked up at the top level and one level down)."""
    if not isinstance(data, dict):
        return None
    scopes = [data] + [v for v in data.values() if isinstance(v, dict)]
    for name in names:
        for scope in scopes:
            value = scope.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    return None


ERROR_RATE_FIELDS = ('error_rate', 'errorRate', 'rate')
ERROR_COUNT_FIELDS = ('errors', 'error_count', 'errorCount', 'total_errors', 'count')
REQUEST_COUNT_FIELDS = ('requests', 'total_requests', 'totalRequests', 'request_count', 'requestCount', 'total')
LATENCY_FIELDS = {
    'p50': ('p50_ms', 'p50', 'median_ms'),
    'p95': ('p95_ms', 'p95', 'p95ResponseTime'),
    'p99': ('p99_ms', 'p99'),
    'avg': ('avg_ms', 'average_ms', 'avg_response_time_ms', 'avgResponseTime', 'mean_ms'),
}

DEFAULT_CHECKS = [
    dict(name='health', kind='health', path='/health', critical=True),
    dict(name='error_rate', kind='error_rate', path='/api/monitoring/errors', threshold=0.05, min_requests=10),
    dict(name='latency', kind='latency', path='/api/monitoring/performance', threshold=1000.0, stat='p95',
         min_requests=10),
]


def join_url(base, path):
    """``path`` (an endpoint such as ``/health``, with or without its leading slash, and with its query) under
    ``base`` (the app's origin, with or without a trailing slash, possibly with a path prefix); a full http(s)
    URL in ``path`` is used as it is."""
    if re.match(r'^https?://', path or '', re.I):
        return path
    return (base or '').rstrip('/') + '/' + (path or '').lstrip('/')


NO_BASE_URL = ('no app URL: set base_url to the app\'s origin (for example https://pourtrait.app; a play sets it once '
               'with module_defaults for group/pourtrait.ops.app), or APP_URL in the environment')


def target_url(params, path_key='path'):
    """(url, error): the URL a probe module requests - ``url`` when given (a full URL wins, as before base_url
    and path existed), else ``path`` joined to ``base_url``; error is a one-line message when neither is
    known."""
    url = params.get('url')
    path = params.get(path_key) or ''
    if url:
        return url, None
    if re.match(r'^https?://', path, re.I):
        return path, None
    if not params.get('base_url'):
        return None, NO_BASE_URL
    return join_url(params['base_url'], path), None


def measure(check, base_url, timeout=10.0, validate_certs=True, ca_path=None, headers=None, now=time.time):
    """One measurement of one check: pass, fail, inconclusive (no / too little data) or error (could not measure)."""
    kind = check['kind']
    url = join_url(base_url, check.get('path') or '')
    out = dict(check=check['name'], kind=kind, at=round(now(), 3), url=url, result='error', value=None,
               threshold=check.get('threshold'), detail='', http_status=None, timing=None)
    try:
        answer = probe(url, timeout=timeout, validate_certs=validate_certs, ca_path=ca_path, headers=headers)
    except ProbeError as exc:
        out.update(detail=str(exc), timing=exc.timing)
        return out
    out.update(http_status=answer.status, timing=answer.timing)
    if kind == 'health':
        expected = check.get('expected_status') or 'healthy'
        healthy, status, services, unhealthy, problem = evaluate_health(answer, expected, check.get('services'))
        out['value'] = status
        if answer.json() is None:
            out['detail'] = problem
            return out
        out['services'] = services
        out['unhealthy_services'] = unhealthy
        out['result'] = 'pass' if healthy else 'fail'
        out['detail'] = problem or 'healthy'
        return out
    data = answer.json()
    if answer.status >= 400 or not isinstance(data, dict):
        out['detail'] = 'HTTP %s%s' % (answer.status, '' if isinstance(data, dict) else ' without JSON')
        return out
    requests_seen = first_number(data, REQUEST_COUNT_FIELDS)
    min_requests = check.get('min_requests') or 0
    if kind == 'error_rate':
        value = first_number(data, ERROR_RATE_FIELDS)
        if value is None:
            errors = first_number(data, ERROR_COUNT_FIELDS)
            if errors is not None and requests_seen:
                value = errors / requests_seen
        if value is not None and value > 1 and check.get('threshold', 1) <= 1:
            value = value / 100.0  # a percentage
    else:
        value = first_number(data, LATENCY_FIELDS.get(check.get('stat') or 'p95', ('p95_ms',)))
    out['value'] = None if value is None else round(value, 6)
    out['requests'] = requests_seen
    if value is None:
        out.update(result='inconclusive', detail='no data')
    elif requests_seen is not None and requests_seen < min_requests:
        out.update(result='inconclusive', detail='too few requests (%d < %d)' % (requests_seen, min_requests))
    elif value > float(check['threshold']):
        unit = 'ms' if kind == 'latency' else ''
        out.update(result='fail', detail='%s %s%s above %s%s' % (kind, out['value'], unit, check['threshold'], unit))
    else:
        out.update(result='pass', detail='%s %s within %s' % (kind, out['value'], check['threshold']))
    return out


def verify(checks, base_url, interval=30.0, count=10, initial_delay=0.0, failure_limit=0, consecutive_error_limit=4,
           inconclusive_limit=0, timeout=10.0, validate_certs=True, ca_path=None, headers=None, sleep=time.sleep):
    """Watch ``checks`` for ``count`` rounds; returns (verdict, reason, measurements, summary).

    Per check: failures beyond ``failure_limit`` fail the verification, as do
    errors beyond ``consecutive_error_limit`` in a row; a failing critical
    check fails it at once. Otherwise inconclusive measurements beyond
    ``inconclusive_limit``, or a check that never passed, make it
    inconclusive - no data is never success.
    """
    measurements = []
    summary = dict((c['name'], dict(passed=0, failed=0, inconclusive=0, errors=0, consecutive_errors=0,
                                    max_consecutive_errors=0, critical=bool(c.get('critical'))))
                   for c in checks)
    if initial_delay > 0:
        sleep(initial_delay)
    rounds = 0
    for index in range(count):
        rounds = index + 1
        round_started = time.time()
        for check in checks:
            m = measure(check, base_url, timeout, validate_certs, ca_path, headers)
            m['round'] = rounds
            measurements.append(m)
            s = summary[check['name']]
            if m['result'] == 'error':
                s['errors'] += 1
                s['consecutive_errors'] += 1
                s['max_consecutive_errors'] = max(s['max_consecutive_errors'], s['consecutive_errors'])
            else:
                s['consecutive_errors'] = 0
                s[{'pass': 'passed', 'fail': 'failed', 'inconclusive': 'inconclusive'}[m['result']]] += 1
            if m['result'] == 'fail' and check.get('critical'):
                return ('fail', 'critical check %s failed in round %d: %s' % (check['name'], rounds, m['detail']),
                        measurements, summary, rounds)
            if s['failed'] > failure_limit:
                return ('fail', 'check %s failed %d time(s), more than failure_limit %d (last: %s)'
                        % (check['name'], s['failed'], failure_limit, m['detail']), measurements, summary, rounds)
            if s['consecutive_errors'] > consecutive_error_limit:
                return ('fail', 'check %s could not be measured %d times in a row, more than consecutive_error_limit %d '
                        '(last: %s)' % (check['name'], s['consecutive_errors'], consecutive_error_limit, m['detail']),
                        measurements, summary, rounds)
        if index + 1 < count:
            sleep(max(0.0, interval - (time.time() - round_started)))
    for check in checks:
        s = summary[check['name']]
        if s['inconclusive'] > inconclusive_limit:
            return ('inconclusive', 'check %s was inconclusive %d time(s) (no data or too few requests), more than '
                    'inconclusive_limit %d' % (check['name'], s['inconclusive'], inconclusive_limit),
                    measurements, summary, rounds)
        if s['passed'] == 0:
            return ('inconclusive', 'check %s never passed in %d round(s) (%d error(s))'
                    % (check['name'], rounds, s['errors']), measurements, summary, rounds)
    return ('pass', 'every check passed in %d round(s)' % rounds, measurements, summary, rounds)

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One retrying JSON session for the REST clients (Vercel, Supabase).

* one ``requests.Session`` per client: connection reuse, timeouts, TLS
  verification (``validate_certs`` / ``ca_path``);
* retries on 429, 5xx and connection errors with jittered exponential
  backoff, honouring ``Retry-After`` (seconds or an HTTP date);
* a request that changes something and is not idempotent (a POST) is never
  repeated blindly: when its outcome is unknown (a 5xx, a reset or a read
  timeout after it was sent) the caller's ``reconcile`` callback re-reads the
  state and says whether the change already happened;
* every failure becomes one ``HttpError`` whose message is one line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import email.utils
import random
import re
import time
import traceback

from ansible.module_utils.basic import env_fallback
from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, OpsModule, one_line

REQUESTS_IMPORT_ERROR = None
try:
    import requests
except ImportError:  # pragma: no cover - reported by the module at run time
    requests = None
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

RETRY_STATUSES = frozenset([429, 500, 502, 503, 504])
IDEMPOTENT_METHODS = frozenset(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])


def http_argument_spec(default_api_url, env_prefix, **vendor_options):
    """The connection options of an API module: the vendor's own (credentials, project), ``api_url`` (falls back
    to ``<PREFIX>_API_URL``), ``ca_path`` (``<PREFIX>_CA_PATH``), ``validate_certs``, ``timeout`` and ``retries``
    (doc fragment pourtrait.ops.http_client and the vendor's fragment)."""
    return dict(
        vendor_options,
        api_url=dict(type='str', default=default_api_url, fallback=(env_fallback, ['%s_API_URL' % env_prefix])),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path', fallback=(env_fallback, ['%s_CA_PATH' % env_prefix])),
        timeout=dict(type='int', default=30),
        retries=dict(type='int', default=4),
    )


def parse_user_time(value, option, epoch_word, error=OpsError, per_second=1):
    """A time a user gave, as an int epoch in 1/``per_second`` units (1: seconds, 1000: milliseconds), None for
    none: ISO 8601 text (a date alone is midnight, no zone is UTC) or an epoch number in seconds (above 1e11, in
    milliseconds). Otherwise ``error`` names ``option``."""
    if value in (None, ''):
        return None
    text = str(value).strip()
    if re.match(r'^\d+(\.\d+)?$', text):
        number = float(text)
        return int(number * per_second / 1000 if number > 1e11 else number * per_second)
    candidate = text.replace('Z', '+00:00').replace('z', '+00:00')
    if re.match(r'^\d{4}-\d{2}-\d{2}$', candidate):
        candidate += 'T00:00:00+00:00'
    candidate = candidate.replace(' ', 'T', 1)
    try:
        stamp = datetime.datetime.fromisoformat(candidate)
    except ValueError:
        raise error('%s=%r is not a time; use ISO 8601 such as 2026-01-31T14:00:00Z, or %s seconds'
                    % (option, text[:60], epoch_word))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return int(stamp.timestamp() * per_second)


class HttpError(OpsError):
    """A request that failed for good; ``str()`` is one line for the user. Its details are attributes, not
    result fields (a vendor client turns it into its own error with the fields that matter)."""

    def __init__(self, msg, status=None, code=None, body=None, attempts=0, method=None, path=None):
        super(HttpError, self).__init__(msg)
        self.status, self.code, self.body = status, code, body
        self.attempts, self.method, self.path = attempts, method, path


class Response(object):
    """What a call returns: HTTP status, decoded JSON (or None), headers."""

    def __init__(self, status, data, headers=None, attempts=1, reconciled=False):
        self.status = status
        self.data = data
        self.headers = headers or {}
        self.attempts = attempts
        self.reconciled = reconciled

    def __repr__(self):
        return 'Response(%s)' % self.status


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = str(value).strip()
    if not value:
        return None
    if re.match(r'^\d+(\.\d+)?$', value):
        return float(value)
    try:
        parsed = email.utils.parsedate_tz(value)
    except (TypeError, ValueError):
        parsed = None
    if not parsed:
        return None
    when = email.utils.mktime_tz(parsed)
    now = time.time() if now is None else now
    return max(0.0, when - now)


def backoff_delay(attempt, base=0.5, cap=30.0, retry_after=None, rng=random):
    """Delay before retry number ``attempt`` (1-based).

    Full jitter on an exponential ceiling; a server's Retry-After is a floor
    (plus up to 10% jitter so parallel clients do not return in lockstep).
    """
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    delay = rng.uniform(ceiling / 2.0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after + rng.uniform(0, max(0.05, retry_after * 0.1)))
    return delay


def _not_sent(exc):
    """True when a connection error certainly happened before the request was sent."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    text = repr(exc)
    markers = ('NewConnectionError', 'Connection refused', 'Name or service not known', 'nodename nor servname',
               'Temporary failure in name resolution', 'No route to host')
    return any(marker in text for marker in markers)


class JsonSession(object):
    """A retrying JSON client bound to one base URL.

    ``service`` names the remote system in messages ("the Vercel API");
    ``describe_error(status, data, method, path)`` returns the one-line
    message for an error answer (the client knows its vendor's error bodies);
    ``url_hint`` / ``tls_hint`` name the options to fix in connection errors.
    """

    def __init__(self, base_url, headers=None, timeout=30, retries=4, validate_certs=True, ca_path=None,
                 service='the API', describe_error=None, url_hint='api_url', tls_hint='ca_path',
                 backoff_base=0.5, backoff_cap=30.0, retry_after_cap=120.0, sleep=time.sleep, user_agent=None):
        if not re.match(r'^https?://[^/?#\s]+', base_url or ''):
            raise HttpError('%s %r is not an http(s) URL; use e.g. https://api.example.com' % (url_hint, base_url))
        self.base_url = base_url.rstrip('/')
        self.timeout, self.retries, self.sleep = timeout, max(0, int(retries)), sleep
        self.service, self.describe_error, self.url_hint, self.tls_hint = service, describe_error, url_hint, tls_hint
        self.backoff_base, self.backoff_cap, self.retry_after_cap = backoff_base, backoff_cap, retry_after_cap
        self.session = requests.Session()
        self.session.headers.update({'Accept': 'application/json',
                                     'User-Agent': user_agent or 'pourtrait.ops'})
        self.session.headers.update(headers or {})
        # Passed with every request: a session-level setting loses to REQUESTS_CA_BUNDLE.
        self.verify = ca_path if (validate_certs and ca_path) else bool(validate_certs)
        self.session.verify = self.verify
        self.validate_certs = validate_certs
        self.log = []  # (method, path, status or exception name, seconds) per attempt

    # -- helpers -----------------------------------------------------------
    def _timeouts(self):
        return (min(10.0, float(self.timeout)), float(self.timeout))

    def url(self, path):
        if path.startswith('http://') or path.startswith('https://'):
            return path
        return self.base_url + '/' + path.lstrip('/')

    @staticmethod
    def _decode(resp):
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            return None

    def _error_message(self, status, data, method, path, attempts):
        msg = None
        if self.describe_error is not None:
            msg = self.describe_error(status, data, method, path)
        if not msg:
            msg = '%s %s: %s answered HTTP %s' % (method, path, self.service, status)
        if status in RETRY_STATUSES and attempts > 1:
            if 'raise retries' in msg:
                msg = '%s (still failing after %d attempts)' % (msg, attempts)
            else:
                msg = '%s (still failing after %d attempts; wait and rerun, or raise retries)' % (msg, attempts)
        return msg

    def _connection_message(self, exc, method, path, attempts):
        target = self.url(path).split('?')[0]
        if isinstance(exc, requests.exceptions.SSLError):
            return ('TLS verification of %s failed (%s); set %s to the CA bundle that signed its certificate, '
                    'or validate_certs=false for a test server' % (self.base_url, _short_reason(exc), self.tls_hint))
        if isinstance(exc, requests.exceptions.Timeout):
            what = 'timed out'
            fix = 'check the network, or raise timeout'
        elif _not_sent(exc):
            what = 'could not be reached'
            fix = 'check %s and the network' % self.url_hint
        else:
            # it was reached, then dropped the connection before answering, each time
            what = 'kept dropping the connection'
            fix = 'the service or a proxy is failing; run the task again, or check its status page'
        return ('%s %s: %s at %s %s after %d attempt%s (%s); %s'
                % (method, path, self.service, target, what, attempts, '' if attempts == 1 else 's',
                   _short_reason(exc), fix))

    def _wait(self, attempt, retry_after=None):
        if retry_after is not None:
            retry_after = min(retry_after, self.retry_after_cap)
        self.sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap, retry_after))

    # -- the call ----------------------------------------------------------
    def request(self, method, path, params=None, json=None, idempotent=None, ok=None, reconcile=None,
                timeout=None):
        """Send one logical request, retrying where that is safe.

        ``ok``: statuses returned instead of raised (default: any 2xx).
        ``idempotent``: defaults by method (GET, HEAD, OPTIONS, PUT, DELETE).
        ``reconcile()``: for non-idempotent calls, called when the outcome is
        unknown; return a Response (the change happened) or None (it did not,
        so sending again is safe). Without it such a call is not repeated.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        attempts = 0
        max_attempts = self.retries + 1
        while True:
            attempts += 1
            started = time.time()
            try:
                resp = self.session.request(method, self.url(path), params=params, json=json,
                                            timeout=timeout or self._timeouts(), verify=self.verify)
            except requests.exceptions.SSLError as exc:
                self.log.append((method, path, 'SSLError', time.time() - started))
                raise HttpError(self._connection_message(exc, method, path, attempts), method=method, path=path,
                                attempts=attempts)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                self.log.append((method, path, type(exc).__name__, time.time() - started))
                if not idempotent and not _not_sent(exc):
                    done = self._reconcile(reconcile, method, path, attempts, 'the connection failed (%s)'
                                           % _short_reason(exc))
                    if done is not None:
                        return done
                if attempts >= max_attempts:
                    raise HttpError(self._connection_message(exc, method, path, attempts), method=method,
                                    path=path, attempts=attempts)
                self._wait(attempts)
                continue
            status = resp.status_code
            data = self._decode(resp)
            self.log.append((method, path, status, time.time() - started))
            if (ok is not None and status in ok) or (ok is None and 200 <= status < 300):
                return Response(status, data, resp.headers, attempts)
            if status in RETRY_STATUSES and attempts < max_attempts:
                if not idempotent and (status != 429 or reconcile is not None):
                    # A 5xx after a POST: the change may or may not have happened. A 429 means it did
                    # not, by contract; still, where the state can be re-read, it is read first.
                    done = self._reconcile(reconcile, method, path, attempts, 'HTTP %s' % status)
                    if done is not None:
                        return done
                retry_after = parse_retry_after(resp.headers.get('Retry-After'))
                if retry_after is None or retry_after <= self.retry_after_cap:
                    self._wait(attempts, retry_after)
                    continue
            code = None
            if isinstance(data, dict) and isinstance(data.get('error'), dict):
                code = data['error'].get('code')
            raise HttpError(self._error_message(status, data, method, path, attempts), status=status, code=code,
                            body=data, attempts=attempts, method=method, path=path)

    def _reconcile(self, reconcile, method, path, attempts, why):
        if reconcile is None:
            raise HttpError('%s %s: the outcome is unknown (%s) and repeating it blindly could apply the change '
                            'twice; check the state in %s before running again'
                            % (method, path, why, self.service), method=method, path=path, attempts=attempts)
        done = reconcile()
        if done is None:
            return None
        if not isinstance(done, Response):
            done = Response(200, done, attempts=attempts)
        done.attempts = attempts
        done.reconciled = True
        return done

    def get(self, path, params=None, **kwargs):
        return self.request('GET', path, params=params, **kwargs).data

    def close(self):
        self.session.close()


def bearer_session(vendor, env_prefix, api_url, token, **kwargs):
    """The JsonSession of a vendor's API: the token as a bearer, messages naming <PREFIX>_API_URL and
    <PREFIX>_CA_PATH."""
    return JsonSession(api_url, headers={'Authorization': 'Bearer %s' % token},
                       url_hint='api_url (%s_API_URL)' % env_prefix, tls_hint='ca_path (%s_CA_PATH)' % env_prefix,
                       user_agent='pourtrait.ops (%s)' % vendor, **kwargs)


def _short_reason(exc):
    """A short, secret-free reason for a connection error."""
    text = str(exc)
    for pattern in (r'\[Errno -?\d+\] ([^\'")]+)', r'(certificate verify failed[^\'"(]*)',
                    r'(Read timed out)', r'(Connection aborted)', r'(Connection reset by peer)',
                    r'(timed out)', r'(RemoteDisconnected[^\'")]*)'):
        match = re.search(pattern, text)
        if match:
            return one_line(match.group(1))[:120]
    return type(exc).__name__


class ApiModule(OpsModule):
    """Base of the modules that talk to an API through JsonSession (vercel_*, supabase_*; see OpsModule): the
    client, built on first use. A vendor base implements ``shared_argument_spec()``, ``make_client(params)``
    and ``preflight()`` (checks that need no API call); a module may set ``needs_project``.
    """

    needs_project = True
    libraries = ((requests, 'requests', REQUESTS_IMPORT_ERROR),)
    _client = None

    def make_client(self, params):
        raise NotImplementedError

    @property
    def client(self):
        if self._client is None:
            self._client = self.make_client(self.params)
        return self._client

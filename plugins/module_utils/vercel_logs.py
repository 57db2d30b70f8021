# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a Vercel deployment's runtime logs and build events, bounded.

``GET /v1/projects/{projectId}/deployments/{deploymentId}/runtime-logs`` answers
``application/stream+json``: one JSON object a line, and a live stream stays open (the CLI
stops following after 5 minutes). It is read here line by line with a line limit and a
deadline that bounds every socket read, never to its end; the caller learns why the reading
stopped (``limit``, ``deadline``, ``until`` - a line past the window's end -, ``caught_up`` -
the window ended before the read began and the stream went quiet -, or ``end``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import time

from ansible_collections.pourtrait.ops.plugins.module_utils.http import backoff_delay, parse_retry_after
from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import VercelError, describe_vercel_error, iso_ms

STATUS_RE = re.compile(r'\A[1-5](\d\d|xx)\Z', re.IGNORECASE)
QUIET_S = 1.0
RETRY_STATUSES = (429, 500, 502, 503, 504)


def parse_status_filters(values):
    """``['5xx', '404']`` -> the same, checked: a class (``5xx``) or a code (``500``)."""
    out = []
    for value in values or []:
        text = str(value).strip().lower()
        if not STATUS_RE.match(text):
            raise VercelError('status_code=%r is not a status code; use a code such as 500 or a class such as 5xx '
                              'or 4xx' % str(value)[:20])
        out.append(text)
    return out


def status_matches(code, filters):
    if not filters:
        return True
    if code is None:
        return False
    text = str(int(code))
    return any(text == f or (f.endswith('xx') and text[0] == f[0]) for f in filters)


def line_matches(line, flt):
    """Whether a runtime log line passes the filters ``flt`` {since, until, levels, status, path, request_id,
    contains}."""
    stamp = line.get('timestampInMs')
    if flt.get('since') is not None and (stamp is None or stamp < flt['since']):
        return False
    if flt.get('until') is not None and (stamp is None or stamp > flt['until']):
        return False
    if flt.get('levels') and line.get('level') not in flt['levels']:
        return False
    if not status_matches(line.get('responseStatusCode'), flt.get('status')):
        return False
    if flt.get('path') and not str(line.get('requestPath') or '').startswith(flt['path']):
        return False
    if flt.get('request_id') and flt['request_id'] not in (line.get('requestId'), line.get('rowId')):
        return False
    if flt.get('contains') and flt['contains'] not in str(line.get('message') or ''):
        return False
    return True


def line_view(line):
    return dict(time=iso_ms(line.get('timestampInMs')), timestamp_ms=line.get('timestampInMs'), level=line.get('level'),
                status=line.get('responseStatusCode'), method=line.get('requestMethod'), path=line.get('requestPath'),
                domain=line.get('domain'), source=line.get('source'), message=line.get('message'),
                truncated_message=bool(line.get('messageTruncated')), row_id=line.get('rowId'),
                request_id=line.get('requestId'))


def _socket(resp):
    try:
        return resp.raw.connection.sock
    except AttributeError:
        return None


def _open(client, path, params, deadline):
    """The streaming response (status 200), retrying 429/5xx and connection errors while time remains."""
    import requests
    http = client.http
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - time.time()
        try:
            resp = http.session.get(http.url(path), params=client.scope(params), stream=True, verify=http.verify,
                                    headers={'Accept': 'application/stream+json'},
                                    timeout=(min(10.0, max(0.1, remaining)), max(0.1, remaining)))
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            if attempt > http.retries or time.time() >= deadline:
                raise VercelError('GET %s: the Vercel API could not be read before the deadline (%s); check api_url '
                                  'and the network, or raise deadline' % (path.split('?')[0], type(exc).__name__))
            time.sleep(min(backoff_delay(attempt, http.backoff_base, http.backoff_cap), max(0, deadline - time.time())))
            continue
        if resp.status_code == 200:
            return resp
        try:
            data = json.loads(resp.content.decode('utf-8') or 'null')
        except ValueError:
            data = None
        resp.close()
        wait = parse_retry_after(resp.headers.get('Retry-After'))
        delay = backoff_delay(attempt, http.backoff_base, http.backoff_cap, wait)
        if resp.status_code in RETRY_STATUSES and attempt <= http.retries and time.time() + delay < deadline:
            time.sleep(delay)
            continue
        raise VercelError(describe_vercel_error(resp.status_code, data, 'GET', path), status=resp.status_code)


def read_stream(client, path, params, limit, deadline_s, keep=None, until_ms=None):
    """Read ``application/stream+json`` from ``path``: (kept lines, lines read, why it stopped).

    Stops at ``limit`` kept lines, at ``deadline_s`` seconds (every socket read is bounded by what is left), at a
    line newer than ``until_ms``, or at the stream's end. ``keep(line)`` chooses the lines returned.
    """
    import requests
    started = time.time()
    deadline = started + deadline_s
    past_window = until_ms is not None and until_ms < started * 1000
    resp = _open(client, path, params, deadline)
    sock = _socket(resp)
    kept, seen, buffer, stopped = [], 0, b'', 'end'
    chunks = resp.iter_content(chunk_size=None)
    try:
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                stopped = 'deadline'
                break
            if sock is not None:
                sock.settimeout(min(remaining, QUIET_S) if past_window else remaining)
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout, OSError):
                stopped = 'caught_up' if past_window and deadline - time.time() > 0 else 'deadline'
                break
            buffer += chunk
            *lines, buffer = buffer.split(b'\n')
            for raw in lines:
                if not raw.strip():
                    continue
                try:
                    line = json.loads(raw.decode('utf-8'))
                except ValueError:
                    continue
                seen += 1
                if until_ms is not None and (line.get('timestampInMs') or 0) > until_ms:
                    stopped = 'until'
                    break
                if keep is None or keep(line):
                    kept.append(line)
                    if len(kept) >= limit:
                        stopped = 'limit'
                        break
            if stopped != 'end':
                break
    finally:
        resp.close()
    return kept, seen, stopped


def build_events(client, deployment_id, since_ms=None, until_ms=None, limit=100):
    """The deployment's build events (oldest first), as {time, type, level, text}."""
    data = client.get('/v3/deployments/%s/events' % deployment_id,
                      params=dict(builds=1, follow=0, direction='forward', limit=limit,
                                  since=int(since_ms) if since_ms else None, until=int(until_ms) if until_ms else None),
                      not_found='deployment %r not found; check deployment (vercel_deployment_info lists them)'
                      % deployment_id)
    out = []
    for event in data or []:
        payload = event.get('payload') or event
        out.append(dict(time=iso_ms(event.get('created') or payload.get('date')), type=event.get('type'),
                        level=event.get('level') or ('error' if event.get('type') in ('stderr', 'fatal') else 'info'),
                        text=payload.get('text')))
    return out

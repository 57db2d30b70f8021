"""Runtime logs and build events in the Vercel stand-in (composed into ``VercelService`` as a mixin).

=========================================================  ==========================================
call                                                       notes
=========================================================  ==========================================
GET /v1/projects/{projectId}/deployments/{deploymentId}/runtime-logs
                                                           ``application/stream+json``: one JSON object
                                                           a line (``level, message, rowId, source,
                                                           timestampInMs, domain, messageTruncated,
                                                           requestMethod, requestPath,
                                                           responseStatusCode``); the lines kept so far,
                                                           then new ones as the app writes them; the
                                                           stream stays open ``runtime_logs_open_s``
                                                           (timing, default 300 s as the CLI's 5
                                                           minutes), so a client must read with a
                                                           deadline and a line limit
GET /v3/deployments/{idOrUrl}/events                       build events (``since, until, limit`` (-1:
                                                           all), ``direction`` forward|backward,
                                                           ``statusCode``, ``name``, ``builds``);
                                                           ``follow=1`` streams them as
                                                           ``application/stream+json`` until the build
                                                           is over
=========================================================  ==========================================

The app stand-in writes one runtime log line per request it serves (not for the ones the firewall
stopped, which never reach a function): level ``error`` for a 5xx, ``warning`` for a 4xx, ``info``
otherwise, source ``serverless``, message ``<METHOD> <path> <status>`` plus the error text.
Build events are derived from the deployment's own times and state (clone, install, build, then
``Build Completed`` or the failing command on stderr).

Admin (under ``/_sandbox/vercel``): ``POST /runtime_logs`` ``{deployment: uid, lines: [{level, message,
requestPath, requestMethod, responseStatusCode, source, timestampInMs | offset_s}]}`` adds lines.
"""

import hashlib
import json
import re
import time

from tests.sandbox.standin import HttpProblem, Response, json_response, now_ms, route

RUNTIME_FIELDS = ('level', 'message', 'rowId', 'source', 'timestampInMs', 'domain', 'messageTruncated',
                  'requestMethod', 'requestPath', 'responseStatusCode')
LEVELS = ('error', 'warning', 'info')
SOURCES = ('delimiter', 'edge-function', 'edge-middleware', 'serverless', 'request')
MESSAGE_LIMIT = 4096
STREAM_TICK_S = 0.1
KEEP_LINES = 20000


def _bad(message):
    return HttpProblem(400, 'bad_request', message)


def _number(query, name):
    value = query.get(name)
    if value is None or value == '':
        return None
    if not re.match(r'^-?\d+(\.\d+)?$', value):
        raise _bad('Invalid request: `%s` should be number.' % name)
    return float(value)


class VercelLogs(object):
    """Mixin of VercelService: runtime logs and build events (``self.model``, ``self.hub`` from the service)."""

    def logs_reset(self):
        self.runtime_logs = []  # {seq, deploymentId, line}

    def add_runtime_line(self, dep_uid, domain, fields):
        """Append one line for deployment ``dep_uid`` (the model's lock is held by the caller or taken here)."""
        with self.model.lock:
            seq = self.runtime_logs[-1]['seq'] + 1 if self.runtime_logs else 1
            message = str(fields.get('message', ''))
            line = {'level': fields.get('level', 'info'), 'message': message[:MESSAGE_LIMIT],
                    'rowId': hashlib.sha1(('%s:%d' % (dep_uid, seq)).encode()).hexdigest()[:24],
                    'source': fields.get('source', 'serverless'),
                    'timestampInMs': int(fields.get('timestampInMs') or now_ms()), 'domain': domain,
                    'messageTruncated': len(message) > MESSAGE_LIMIT,
                    'requestMethod': fields.get('requestMethod', 'GET'), 'requestPath': fields.get('requestPath', '/'),
                    'responseStatusCode': int(fields.get('responseStatusCode', 200))}
            self.runtime_logs.append({'seq': seq, 'deploymentId': dep_uid, 'line': line})
            del self.runtime_logs[:-KEEP_LINES]  # a long sandbox session keeps the newest lines only
            return line

    def record_app_request(self, dep_uid, domain, method, path, status, detail=None):
        level = 'error' if status >= 500 else 'warning' if status >= 400 else 'info'
        message = '%s %s %d' % (method, path, status)
        if detail:
            message += ' - %s' % detail
        self.add_runtime_line(dep_uid, domain, {'level': level, 'message': message, 'requestMethod': method,
                                                'requestPath': path, 'responseStatusCode': status})

    # -- runtime logs ---------------------------------------------------------------------------
    @route('GET', '/v1/projects/{projectId}/deployments/{deploymentId}/runtime-logs')
    def runtime_logs_route(self, request, scope, projectId, deploymentId):
        self._project(scope, projectId)
        dep = self._deployment(scope, deploymentId)
        open_s = float(self.model.timings.get('runtime_logs_open_s', 300.0))
        stream = self._runtime_stream(dep['uid'], time.time() + open_s)
        return Response(200, None, content_type='application/stream+json', stream=stream)

    def _runtime_stream(self, dep_uid, until):
        last = 0
        while True:
            with self.model.lock:
                fresh = [e for e in self.runtime_logs if e['seq'] > last]
            for entry in fresh:
                last = entry['seq']
                if entry['deploymentId'] == dep_uid:
                    yield (json.dumps(entry['line']) + '\n').encode('utf-8')
            if time.time() >= until:
                return
            yield None
            time.sleep(STREAM_TICK_S)

    # -- build events ---------------------------------------------------------------------------
    def build_events(self, dep):
        """The build's events, oldest first, from the deployment's times and state."""
        start = dep['buildingAt']
        if not start or dep['state'] in ('QUEUED', 'INITIALIZING'):
            return []
        sha = (dep['meta'].get('githubCommitSha') or '')[:7]
        build = 'bld_' + hashlib.sha1(dep['uid'].encode()).hexdigest()[:9]
        steps = [('stdout', 'Running build in Washington, D.C., USA (East) - iad1', None),
                 ('stdout', 'Cloning github.com/pourtrait/pourtrait (Branch: %s, Commit: %s)'
                  % (dep['meta'].get('githubCommitRef', 'main'), sha), None),
                 ('command', 'Running "npm install"', None),
                 ('command', 'Running "npm run build"', None)]
        if dep['state'] == 'READY':
            steps += [('stdout', 'Build Completed in /vercel/output', None), ('stdout', 'Deployment completed', None)]
        elif dep['state'] == 'ERROR':
            steps += [('stderr', 'Error: Command "npm run build" exited with 1', 'error'), ('exit', '', 'error')]
        elif dep['state'] == 'CANCELED':
            steps += [('stdout', 'The Deployment has been canceled.', 'warning')]
        end = dep['ready'] or max(start, now_ms())
        events = []
        for i, (kind, text, level) in enumerate(steps):
            at = int(start + (end - start) * i / max(1, len(steps) - 1))
            event = {'created': at, 'date': at, 'deploymentId': dep['uid'],
                     'id': hashlib.sha1(('%s:%d' % (dep['uid'], i)).encode()).hexdigest()[:20],
                     'info': {'type': 'build', 'name': build, 'entrypoint': '.'},
                     'serial': '%d-%d' % (at, i), 'text': text, 'type': kind}
            if level:
                event['level'] = level
            events.append(event)
        return events

    def _filter_events(self, request, events):
        q = request.query
        since, until, limit = _number(q, 'since'), _number(q, 'until'), _number(q, 'limit')
        direction = q.get('direction', 'forward')
        if direction not in ('forward', 'backward'):
            raise _bad('Invalid request: `direction` should be equal to one of the allowed values "backward", '
                       '"forward".')
        for name in ('follow', 'builds', 'delimiter'):
            if q.get(name) not in (None, '', '0', '1'):
                raise _bad('Invalid request: `%s` should be equal to one of the allowed values 0, 1.' % name)
        if since is not None:
            events = [e for e in events if e['created'] >= since]
        if until is not None:
            events = [e for e in events if e['created'] <= until]
        if q.get('name'):
            events = [e for e in events if e['info']['name'] == q['name']]
        status = q.get('statusCode')
        if status:
            events = [e for e in events if 'statusCode' in e and _status_matches(e['statusCode'], status)]
        if direction == 'backward':
            events = list(reversed(events))
        if limit is not None and limit >= 0:
            events = events[:int(limit)]
        return events

    @route('GET', '/v3/deployments/{idOrUrl}/events')
    def deployment_events(self, request, scope, idOrUrl):
        dep = self._deployment(scope, idOrUrl)
        events = self._filter_events(request, self.build_events(dep))
        if request.query.get('follow') != '1':
            return json_response(events)
        return Response(200, None, content_type='application/stream+json',
                        stream=self._events_stream(request, dep['uid'], events))

    def _events_stream(self, request, dep_uid, first):
        sent = set()
        for event in first:
            sent.add(event['id'])
            yield (json.dumps(event) + '\n').encode('utf-8')
        until = time.time() + float(self.model.timings.get('runtime_logs_open_s', 300.0))
        while time.time() < until:
            with self.model.lock:
                self.model.advance()
                dep = self.model.by_uid(dep_uid)
                events = self._filter_events(request, self.build_events(dep))
                over = dep['state'] in ('READY', 'ERROR', 'CANCELED')
            for event in events:
                if event['id'] not in sent:
                    sent.add(event['id'])
                    yield (json.dumps(event) + '\n').encode('utf-8')
            if over:
                return
            yield None
            time.sleep(STREAM_TICK_S)

    def logs_admin(self, request, subpath, body):
        if subpath == '/runtime_logs' and request.method == 'POST':
            dep = self.model.by_id_or_url(body.get('deployment') or '')
            if dep is None:
                raise HttpProblem(404, 'not_found', 'no deployment %s' % body.get('deployment'))
            added = []
            for fields in body.get('lines') or []:
                fields = dict(fields)
                if 'offset_s' in fields:
                    fields['timestampInMs'] = now_ms() + int(float(fields.pop('offset_s')) * 1000)
                if fields.get('level', 'info') not in LEVELS or fields.get('source', 'serverless') not in SOURCES:
                    raise _bad('level must be one of %s and source one of %s' % (LEVELS, SOURCES))
                added.append(self.add_runtime_line(dep['uid'], dep['url'], fields))
            return json_response({'lines': added}, status=201)
        if subpath == '/runtime_logs' and request.method == 'GET':
            return json_response({'lines': [dict(e['line'], deploymentId=e['deploymentId'])
                                            for e in self.runtime_logs]})
        return None


def _status_matches(code, wanted):
    wanted = str(wanted).lower()
    if re.match(r'^[1-5]xx$', wanted):
        return str(int(code))[0] == wanted[0]
    return str(int(code)) == wanted

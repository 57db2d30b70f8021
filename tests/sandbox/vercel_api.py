"""The Vercel REST API stand-in: a stateful model of one account, served by serve.py.

What it speaks (real paths, version prefixes, field names, status codes, error
bodies ``{"error": {"code", "message"}}``, ``until``/``pagination.next``
pagination, ``teamId``/``slug`` scoping; ``Authorization: Bearer <token>`` on
every call, the token being 24 letters/digits):

=========================================================  ==========================================
call                                                       notes
=========================================================  ==========================================
GET  /v2/user                                              ``{user: {id, username, defaultTeamId..}}``
GET  /v1/teams, /v2/teams, /teams                          ``{teams: [...], pagination}``
GET  /teams/{id}, /v1/teams/{id}, /v2/teams/{id}           id or slug; 404 unknown, 403 not a member
GET  /v8|v9/projects/{idOrName}                            ``targets.production``, ``latestDeployments``,
                                                           ``autoAssignCustomDomains``, ``lastAliasRequest``
GET  /v5|v6/deployments                                    ``projectId, target, state (CSV), limit,
                                                           until, since, sha, rollbackCandidate,
                                                           meta-<k>``; items carry ``uid``
GET  /v11|v12|v13/deployments/{idOrUrl}                    ``id``; team-owned ones carry ``team``
POST /v13/deployments (``forceNew``)                       ``name`` + ``gitSource`` or ``deploymentId``
PATCH /v12/deployments/{id}/cancel                         QUEUED/BUILDING -> CANCELED, else 400
POST /v10/projects/{projectId}/promote/{deploymentId}      201 (empty body); 409 already live;
                                                           400 not READY / not production
POST /v1|v9/projects/{projectId}/rollback/{deploymentId}   201 (empty body); 400 not production,
                                                           422 not READY, 409 already live,
                                                           402 Hobby beyond one step
PATCH .../rollback/{deploymentId}/update-description       200
GET  /v1|v9/projects/{id}/rollback/aliases, .../promote/aliases   ``failedOnly=true`` (promote: v9 in
                                                           vercel_cli_routes.py)
GET  /v6..v10/projects/{id}/env                            ``decrypt``, ``gitBranch``; ``{envs, pagination}``
POST /v7..v10/projects/{id}/env (``upsert=true``)          object or array -> 201 ``{created, failed}``;
                                                           conflict: 400 ``ENV_CONFLICT``
GET  /v1/projects/{id}/env/{envId}                         decrypted value (sensitive: never)
PATCH /v9|v10/projects/{id}/env/{envId}                    409 ``existing_key_and_target`` on clash
DELETE /v9|v10/projects/{id}/env/{envId}                   returns the removed variable
GET  /v4/aliases?projectId=                                production aliases
=========================================================  ==========================================

The firewall (``/v1/security/...``) is in vercel_security.py; runtime logs and build events in
vercel_logs.py (both mixins of VercelService, with their admin paths).

Errors: 401 ``forbidden``/"Not authorized" (``invalidToken``/``missingToken``) for a
missing or wrong token; 403 ``forbidden`` for a team the user is not in; 404
``not_found`` for an unknown id or a resource outside the requested scope (a
team-owned project asked for without ``teamId`` is not found, as on Vercel).

A deployment snapshots the project's env vars when it is created, as a Vercel
build does: the variables whose ``target`` covers the deployment's target
(``production``, else ``preview``), key -> value. Changing a variable later
changes no existing deployment; a new build (or a redeploy) picks it up, and an
instant rollback serves the old build's snapshot. A redeploy (``deploymentId``)
keeps its source's health profile (same code) unless ``next_builds`` says otherwise. The app stand-in reads the
snapshot (``MAINTENANCE_MODE``: see app.py); the admin state lists it per
deployment as ``env``.

Time passes: a deployment is QUEUED for ``queued_s``, BUILDING for
``building_s``, then READY (or ERROR when it was seeded / queued to fail). A
READY production build is aliased to production (``readySubstate`` PROMOTED)
while the project's ``autoAssignCustomDomains`` is on; while it is off
(after a rollback) it stays STAGED and unaliased. Rollback and promote are
jobs: ``lastAliasRequest.jobStatus`` is ``pending`` for ``job_pending_s``,
``in-progress`` for ``job_running_s``, then ``succeeded`` (production moves) or
``failed`` (queued to fail; production stays, the aliases are listed as
failed). A rollback turns ``autoAssignCustomDomains`` off at once; a promote
turns it on when it succeeds. State advances lazily on every request.

Admin paths (under ``/_sandbox/vercel``; see serve.py for the hub-level ones):

* ``GET   /state``                   the whole model (``deployments[]`` with ``app_base_url``, ``health``)
* ``PATCH /project``                 ``{plan: hobby|pro, autoAssignCustomDomains: bool}``
* ``POST  /deployments``             seed one: ``{target: production|preview, state: READY|ERROR|QUEUED|
  BUILDING|CANCELED, health: healthy|broken|slow|errors, created_offset_s: -3600 (or createdAt: ms),
  sha (meta.githubCommitSha), meta: {}, live: bool (aliased to production now), fail: bool (a
  QUEUED/BUILDING seed ends in ERROR), env: {KEY: value} (its env snapshot; default: the project's
  variables for its target now)}`` -> the deployment (``uid, url, app_base_url, ...``). A READY
  production seed that is not live counts as a former production deployment (rollback history, in
  creation order).
* ``PATCH /deployments/{uid}``       ``{health}``
* ``POST  /next_builds``             ``{fail: bool, health: str, count: 1}``: outcome of the next builds
  created through ``POST /v13/deployments``
* ``POST  /next_jobs``               ``{fail: bool, count: 1}``: outcome of the next rollback/promote jobs
* reset options (``POST /_sandbox/reset {"vercel": {...}}``): ``owner`` (team|personal),
  ``plan`` (hobby|pro), ``deployments`` (how many READY production builds, default 3).
"""

import base64
import datetime
import hashlib
import random
import re
import string
import threading
import time

from tests.sandbox.standin import (HttpProblem, ModelService, Response, Router, error_body, json_response, now_ms,
                                   route)
from tests.sandbox.vercel_cli_routes import VercelCliRoutes
from tests.sandbox.vercel_logs import VercelLogs
from tests.sandbox.vercel_security import VercelSecurity

TOKEN_RE = re.compile(r'^[A-Za-z0-9]{24}$')
ENV_KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
HEALTHS = ('healthy', 'broken', 'slow', 'errors')
STATES = ('QUEUED', 'INITIALIZING', 'BUILDING', 'READY', 'ERROR', 'CANCELED')
ENV_TYPES = ('system', 'secret', 'encrypted', 'plain', 'sensitive')
ENV_TARGETS = ('production', 'preview', 'development')
DEFAULT_TIMINGS = {'queued_s': 0.2, 'building_s': 0.3, 'job_pending_s': 0.1, 'job_running_s': 0.2,
                   'runtime_logs_open_s': 300.0}
REGION = 'iad1'


def _alnum(rng, length, alphabet=string.ascii_letters + string.digits):
    return ''.join(rng.choice(alphabet) for _i in range(length))


def _iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000.0, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def _bad(message, code='bad_request', **extra):
    return HttpProblem(400, code, message, **extra)


def _json_body(request, kind=None):
    """The request's JSON body; 400 as Vercel answers when it is not JSON (or, with ``kind=dict``, not an object)."""
    try:
        body = request.json()
    except ValueError:
        raise _bad('Invalid JSON body.')
    if kind is dict and not isinstance(body, dict):
        raise _bad('Invalid request: body should be an object.')
    return body


def _not_found(message, code='not_found'):
    return HttpProblem(404, code, message)


class VercelModel(object):
    """The account: user, team, one project, its deployments, env vars and alias jobs."""

    def __init__(self, token, timings=None):
        self.lock = threading.RLock()
        self.token = token
        self.timings = dict(DEFAULT_TIMINGS, **(timings or {}))
        self.app_url = None
        self.seed = random.SystemRandom().randrange(1 << 30)
        self.rng = random.Random(self.seed)
        self.reset()

    # -- seeding -----------------------------------------------------------------------------
    def reset(self, options=None):
        options = dict(options or {})
        owner = options.get('owner', 'team')
        plan = options.get('plan', 'pro')
        count = int(options.get('deployments', 3))
        if owner not in ('team', 'personal'):
            raise _bad("reset option 'owner' must be team or personal")
        if plan not in ('hobby', 'pro'):
            raise _bad("reset option 'plan' must be hobby or pro")
        with self.lock:
            # ids derive from the seed: the same user, team and project after every reset
            rng = self.rng = random.Random(self.seed)
            t0 = now_ms() - 30 * 86400 * 1000
            self.user = {'id': _alnum(rng, 24), 'username': 'oncall', 'email': 'oncall@pourtrait.app',
                         'name': 'Pourtrait On-call', 'createdAt': t0}
            self.team = {'id': 'team_' + _alnum(rng, 24), 'slug': 'pourtrait-team', 'name': 'Pourtrait',
                         'createdAt': t0, 'updatedAt': t0}
            self.user['defaultTeamId'] = self.team['id']
            team_owned = owner == 'team'
            self.project = {'id': 'prj_' + _alnum(rng, 28), 'name': 'pourtrait', 'plan': plan,
                            'team_owned': team_owned,
                            'accountId': self.team['id'] if team_owned else self.user['id'],
                            'createdAt': t0, 'updatedAt': t0, 'autoAssignCustomDomains': True,
                            'autoAssignCustomDomainsUpdatedBy': 'system',
                            'lastAliasRequest': None, 'rollbackDescription': None,
                            'domains': ['pourtrait.app', 'www.pourtrait.app'],
                            'alias_created': t0}
            self.deployments = []
            self.production = None
            self.history = []
            self.job = None
            self.job_aliases = {'rollback': [], 'promote': []}
            self.next_builds = []
            self.next_jobs = []
            self.env = []
            for i in range(count):
                self.seed_deployment({'target': 'production', 'state': 'READY',
                                      'created_offset_s': -3600 * (24 * (count - 1 - i) + 1),
                                      'live': i == count - 1})
            for key, value, kind, targets in (
                    ('NEXT_PUBLIC_SUPABASE_URL', 'https://abcdefghijklmnopqrst.supabase.co', 'plain',
                     ['production', 'preview', 'development']),
                    ('DATABASE_URL', 'postgresql://postgres:sandbox@db.example.invalid:5432/postgres', 'encrypted',
                     ['production', 'preview']),
                    ('OPENAI_API_KEY', 'sk-sandbox-' + _alnum(rng, 20), 'sensitive', ['production'])):
                self._add_env({'key': key, 'value': value, 'type': kind, 'target': targets}, t0)
            for dep in self.deployments:  # seeded before the variables existed: built with them
                dep['env'] = self.env_snapshot(dep['target'])

    def seed_deployment(self, spec):
        spec = dict(spec or {})
        allowed = {'target', 'state', 'health', 'created_offset_s', 'createdAt', 'sha', 'live', 'fail', 'meta', 'env'}
        unknown = set(spec) - allowed
        if unknown:
            raise _bad('unknown deployment seed fields: %s' % ', '.join(sorted(unknown)))
        target = spec.get('target', 'production')
        if target in ('preview', None):
            target = None
        elif target not in ('production', 'staging'):
            raise _bad("seed 'target' must be production or preview")
        state = spec.get('state', 'READY')
        if state not in STATES:
            raise _bad("seed 'state' must be one of %s" % ', '.join(STATES))
        health = spec.get('health', 'healthy')
        if health not in HEALTHS:
            raise _bad("seed 'health' must be one of %s" % ', '.join(HEALTHS))
        live = bool(spec.get('live', False))
        env = spec.get('env')
        if env is not None and (not isinstance(env, dict) or any(not isinstance(v, str) for v in env.values())):
            raise _bad("seed 'env' must be an object of strings")
        if live and (state != 'READY' or target != 'production'):
            raise _bad('only a READY production deployment can be live')
        with self.lock:
            now = now_ms()
            if spec.get('createdAt') is not None:
                created = int(spec['createdAt'])
            else:
                created = now + int(float(spec.get('created_offset_s', -3600)) * 1000)
            sha = spec.get('sha') or hashlib.sha1(_alnum(self.rng, 16).encode()).hexdigest()
            meta = dict(spec.get('meta') or {})
            meta.setdefault('githubCommitSha', sha)
            meta.setdefault('githubCommitRef', 'main')
            meta.setdefault('githubOrg', 'pourtrait')
            meta.setdefault('githubRepo', 'pourtrait')
            meta.setdefault('githubCommitMessage', 'seeded deployment')
            dep = self._new_deployment(created, target, meta, health, source='git',
                                       git={'type': 'github', 'repoId': 123456789, 'ref': 'main', 'sha': sha})
            if env is not None:
                dep['env'] = dict(env)
            if state in ('QUEUED', 'BUILDING', 'INITIALIZING'):
                # builds from now on: queued_s / building_s count from the seeding moment
                start = now / 1000.0
                dep['state'] = state
                dep['queued_until'] = start + (self.timings['queued_s'] if state != 'BUILDING' else 0)
                dep['build_until'] = dep['queued_until'] + self.timings['building_s']
                if state == 'BUILDING':
                    dep['buildingAt'] = now
                dep['fail'] = bool(spec.get('fail'))
            else:
                dep['state'] = state
                dep['buildingAt'] = created + 2000
                if state in ('READY', 'ERROR', 'CANCELED'):
                    dep['ready'] = created + 60000
                if state == 'ERROR':
                    dep['errorCode'] = 'BUILD_FAILED'
                    dep['errorMessage'] = 'Command "npm run build" exited with 1'
                if state == 'CANCELED':
                    dep['errorMessage'] = 'The Deployment has been canceled.'
                if state == 'READY' and target == 'production':
                    dep['promoted'] = True
                    dep['aliasAssigned'] = dep['ready']
            self.deployments.append(dep)
            if state == 'READY' and target == 'production':
                if live:
                    self.history = [u for u in self.history if u != dep['uid']] + [dep['uid']]
                    self.production = dep['uid']
                else:
                    self._insert_history(dep)
            return self.admin_view(dep)

    def _insert_history(self, dep):
        """A seeded former production deployment goes into the history in creation order, before the live one."""
        live = self.production
        older = [u for u in self.history if u != live]
        older.append(dep['uid'])
        older.sort(key=lambda u: self.by_uid(u)['created'])
        self.history = older + ([live] if live else [])

    def _new_deployment(self, created, target, meta, health, source, git):
        rng = self.rng
        scope = self.team['slug'] if self.project['team_owned'] else self.user['username']
        suffix = _alnum(rng, 9, string.ascii_lowercase + string.digits)
        return {'uid': 'dpl_' + _alnum(rng, 28), 'name': self.project['name'],
                'url': '%s-%s-%s.vercel.app' % (self.project['name'], suffix, scope),
                'created': created, 'buildingAt': None, 'ready': None, 'state': 'QUEUED', 'target': target,
                'meta': meta, 'gitSource': git, 'health': health, 'fail': False, 'promoted': False,
                'aliasAssigned': None, 'aliasError': None, 'errorCode': None, 'errorMessage': None,
                'source': source, 'queued_until': None, 'build_until': None,
                'env': self.env_snapshot(target)}

    def env_snapshot(self, target):
        """The project's variables a build for ``target`` sees: key -> value."""
        wanted = 'production' if target == 'production' else 'preview'
        return dict((e['key'], e['plain_value']) for e in self.env
                    if wanted in e['target'] and not e.get('gitBranch'))

    def by_uid(self, uid):
        for dep in self.deployments:
            if dep['uid'] == uid:
                return dep
        return None

    def by_id_or_url(self, key):
        key = re.sub(r'^https?://', '', key or '').rstrip('/')
        for dep in self.deployments:
            if key in (dep['uid'], dep['url']):
                return dep
        return None

    # -- time ----------------------------------------------------------------------------------
    def advance(self):
        """Apply every transition whose time has come, in time order."""
        with self.lock:
            now = time.time()
            while True:
                events = []
                for dep in self.deployments:
                    if dep['state'] in ('QUEUED', 'INITIALIZING') and dep['queued_until'] is not None:
                        events.append((dep['queued_until'], 0, 'building', dep))
                    elif dep['state'] == 'BUILDING' and dep['build_until'] is not None:
                        events.append((dep['build_until'], 1, 'built', dep))
                if self.job and self.job['status'] in ('pending', 'in-progress'):
                    when = self.job['start_at'] if self.job['status'] == 'pending' else self.job['done_at']
                    events.append((when, 2, 'job', self.job))
                due = [e for e in events if e[0] <= now]
                if not due:
                    return
                when, _order, kind, obj = min(due, key=lambda e: (e[0], e[1]))
                if kind == 'building':
                    obj['state'] = 'BUILDING'
                    obj['buildingAt'] = int(when * 1000)
                elif kind == 'built':
                    self._finish_build(obj, int(when * 1000))
                else:
                    self._step_job(int(when * 1000))

    def _finish_build(self, dep, at):
        dep['ready'] = at
        if dep['fail']:
            dep['state'] = 'ERROR'
            dep['errorCode'] = 'BUILD_FAILED'
            dep['errorMessage'] = 'Command "npm run build" exited with 1'
            return
        dep['state'] = 'READY'
        if dep['target'] != 'production':
            dep['aliasAssigned'] = at
            return
        if self.project['autoAssignCustomDomains']:
            dep['promoted'] = True
            dep['aliasAssigned'] = at
            self._make_live(dep['uid'])
        # else: STAGED, not aliased, until someone promotes it

    def _make_live(self, uid):
        self.production = uid
        self.history.append(uid)
        dep = self.by_uid(uid)
        dep['promoted'] = True
        if not dep['aliasAssigned']:
            dep['aliasAssigned'] = now_ms()

    def _step_job(self, at):
        job = self.job
        lar = self.project['lastAliasRequest']
        if job['status'] == 'pending':
            job['status'] = 'in-progress'
            lar['jobStatus'] = 'in-progress'
            return
        aliases = self.job_aliases[job['type']]
        if job['fail']:
            job['status'] = lar['jobStatus'] = 'failed'
            for item in aliases:
                item['status'] = 'failed'
            return
        job['status'] = lar['jobStatus'] = 'succeeded'
        for item in aliases:
            item['status'] = 'succeeded'
        self._make_live(job['to'])
        if job['type'] == 'promote':
            self.project['autoAssignCustomDomains'] = True
            self.project['autoAssignCustomDomainsUpdatedBy'] = self.user['id']
        self.project['updatedAt'] = at

    def _start_job(self, kind, dep):
        now = time.time()
        fail = self.next_jobs.pop(0) if self.next_jobs else False
        if self.job and self.job['status'] in ('pending', 'in-progress'):
            self.job['status'] = 'skipped'  # superseded by the new request
        requested = int(now * 1000)
        self.job = {'type': kind, 'from': self.production, 'to': dep['uid'], 'status': 'pending', 'fail': fail,
                    'start_at': now + self.timings['job_pending_s'],
                    'done_at': now + self.timings['job_pending_s'] + self.timings['job_running_s']}
        self.project['lastAliasRequest'] = {'fromDeploymentId': self.production or '', 'toDeploymentId': dep['uid'],
                                            'jobStatus': 'pending', 'requestedAt': requested, 'type': kind}
        self.job_aliases[kind] = [{'alias': {'alias': domain, 'deploymentId': dep['uid']},
                                   'id': 'alias_' + _alnum(self.rng, 24), 'status': 'pending'}
                                  for domain in self.production_aliases()]

    def production_aliases(self):
        scope = self.team['slug'] if self.project['team_owned'] else self.user['username']
        return list(self.project['domains']) + ['%s-%s.vercel.app' % (self.project['name'], scope)]

    # -- rendering -----------------------------------------------------------------------------
    def app_base_url(self, dep):
        return '%s/_d/%s' % (self.app_url, dep['url']) if self.app_url else None

    def substate(self, dep):
        if dep['state'] != 'READY' or dep['target'] != 'production':
            return None
        return 'PROMOTED' if dep['promoted'] else 'STAGED'

    def is_rollback_candidate(self, dep):
        return dep['state'] == 'READY' and dep['target'] == 'production'

    def _creator(self):
        return {'uid': self.user['id'], 'username': self.user['username'], 'email': self.user['email']}

    def _inspector(self, dep):
        scope = self.team['slug'] if self.project['team_owned'] else self.user['username']
        return 'https://vercel.com/%s/%s/%s' % (scope, self.project['name'], dep['uid'][4:])

    def _alias_list(self, dep):
        return self.production_aliases() if dep['promoted'] else []

    def list_item(self, dep):
        item = {'uid': dep['uid'], 'name': dep['name'], 'projectId': self.project['id'], 'url': dep['url'],
                'created': dep['created'], 'createdAt': dep['created'], 'source': dep['source'],
                'state': dep['state'], 'readyState': dep['state'], 'type': 'LAMBDAS',
                'creator': self._creator(), 'inspectorUrl': self._inspector(dep), 'meta': dict(dep['meta']),
                'target': dep['target'], 'aliasAssigned': dep['aliasAssigned'], 'aliasError': dep['aliasError'],
                'isRollbackCandidate': self.is_rollback_candidate(dep)}
        return self._optional(item, dep, buildingAt='buildingAt', ready='ready', errorCode='errorCode',
                              errorMessage='errorMessage')

    def _optional(self, out, dep, **fields):
        """Add the fields (out name -> dep key) and readySubstate that the API leaves out when empty."""
        fields['readySubstate'] = None
        for name, key in fields.items():
            value = self.substate(dep) if key is None else dep[key]
            if value:
                out[name] = value
        return out

    def full(self, dep):
        """GET /v13/deployments/{idOrUrl}: the owner's view (public and private fields)."""
        owner = self.team['id'] if self.project['team_owned'] else self.user['id']
        out = {'id': dep['uid'], 'name': dep['name'], 'url': dep['url'], 'projectId': self.project['id'],
               'ownerId': owner, 'createdAt': dep['created'], 'createdIn': REGION,
               'buildingAt': dep['buildingAt'] or dep['created'], 'bootedAt': dep['created'],
               'readyState': dep['state'], 'status': dep['state'], 'target': dep['target'],
               'type': 'LAMBDAS', 'version': 2, 'public': False, 'plan': self.project['plan'],
               'regions': [REGION], 'meta': dict(dep['meta']), 'source': dep['source'],
               'alias': self._alias_list(dep), 'aliasAssigned': bool(dep['aliasAssigned']),
               'aliasError': dep['aliasError'], 'aliasAssignedAt': dep['aliasAssigned'],
               'creator': {'uid': self.user['id'], 'username': self.user['username']},
               'inspectorUrl': self._inspector(dep), 'build': {'env': []}, 'env': [],
               'isInConcurrentBuildsQueue': False, 'isInSystemBuildsQueue': False, 'buildSkipped': False,
               'projectSettings': {'framework': 'nextjs', 'buildCommand': None, 'devCommand': None,
                                   'installCommand': None, 'outputDirectory': None},
               'routes': None, 'gitSource': dict(dep['gitSource']) if dep['gitSource'] else None,
               'errorMessage': dep['errorMessage']}
        if out['gitSource'] is None:
            del out['gitSource']
        self._optional(out, dep, ready='ready', errorCode='errorCode')
        if self.project['team_owned']:
            out['team'] = {'id': self.team['id'], 'name': self.team['name'], 'slug': self.team['slug']}
        return out

    def target_view(self, dep):
        """The deployment-like objects in a project's targets.production and latestDeployments."""
        out = {'id': dep['uid'], 'name': dep['name'], 'url': dep['url'], 'createdAt': dep['created'],
               'createdIn': REGION, 'creator': self._creator(), 'deploymentHostname': dep['url'][:-len('.vercel.app')],
               'plan': self.project['plan'], 'private': True, 'readyState': dep['state'], 'type': 'LAMBDAS',
               'userId': self.user['id'], 'target': dep['target'], 'meta': dict(dep['meta']),
               'alias': self._alias_list(dep), 'aliasAssigned': dep['aliasAssigned'],
               'aliasError': dep['aliasError'], 'requestedAt': dep['created'],
               'teamId': self.team['id'] if self.project['team_owned'] else None}
        return self._optional(out, dep, buildingAt='buildingAt', readyAt='ready')

    def project_view(self):
        proj = self.project
        prod = self.by_uid(self.production) if self.production else None
        latest = sorted(self.deployments, key=lambda d: -d['created'])[:10]
        out = {'id': proj['id'], 'name': proj['name'], 'accountId': proj['accountId'],
               'createdAt': proj['createdAt'], 'updatedAt': proj['updatedAt'], 'framework': 'nextjs',
               'nodeVersion': '22.x', 'directoryListing': False, 'live': False, 'paused': False,
               'resourceConfig': {'functionDefaultRegions': [REGION]},
               'defaultResourceConfig': {'functionDefaultRegions': [REGION]},
               'autoAssignCustomDomains': proj['autoAssignCustomDomains'],
               'autoAssignCustomDomainsUpdatedBy': proj['autoAssignCustomDomainsUpdatedBy'],
               'lastAliasRequest': dict(proj['lastAliasRequest']) if proj['lastAliasRequest'] else None,
               'lastRollbackTarget': None,
               'targets': {'production': self.target_view(prod) if prod else None},
               'latestDeployments': [self.target_view(d) for d in latest
                                     if d['state'] in ('BUILDING', 'ERROR', 'INITIALIZING', 'QUEUED', 'READY',
                                                       'CANCELED')],
               'link': {'type': 'github', 'org': 'pourtrait', 'repo': 'pourtrait', 'repoId': 123456789,
                        'productionBranch': 'main', 'gitCredentialId': 'cred_' + proj['id'][4:20],
                        'deployHooks': [], 'createdAt': proj['createdAt']}}
        if proj['rollbackDescription']:
            out['rollbackDescription'] = dict(proj['rollbackDescription'])
        return out

    def env_view(self, env, decrypt=False):
        out = dict((k, v) for k, v in env.items() if k != 'plain_value')
        if env['type'] == 'plain' or (decrypt and env['type'] in ('encrypted', 'secret')):
            out['value'] = env['plain_value']
            out['decrypted'] = env['type'] != 'plain'
        elif env['type'] == 'sensitive':
            out['value'] = ''
            out['decrypted'] = False
        else:
            digest = hashlib.sha256(('sandbox:' + env['plain_value']).encode()).digest()
            out['value'] = base64.b64encode(digest).decode()
            out['decrypted'] = False
        return out

    def admin_view(self, dep):
        item = self.list_item(dep)
        item.update({'app_base_url': self.app_base_url(dep), 'health': dep['health'],
                     'live': dep['uid'] == self.production, 'sha': dep['meta'].get('githubCommitSha'),
                     'env': dict(dep.get('env') or {})})
        return item

    def state(self):
        with self.lock:
            self.advance()
            return {'token': self.token, 'user': dict(self.user), 'team': dict(self.team),
                    'project': self.project_view(), 'plan': self.project['plan'],
                    'team_owned': self.project['team_owned'], 'production': self.production,
                    'history': list(self.history), 'timings': dict(self.timings),
                    'deployments': [self.admin_view(d) for d in sorted(self.deployments, key=lambda d: -d['created'])],
                    'env': [self.env_view(e, decrypt=True) for e in self.env],
                    'job': dict(self.job) if self.job else None,
                    'next_builds': list(self.next_builds), 'next_jobs': list(self.next_jobs)}

    # -- env vars ------------------------------------------------------------------------------
    def _add_env(self, item, at):
        env = {'id': _alnum(self.rng, 16), 'key': item['key'], 'plain_value': item['value'],
               'type': item['type'], 'target': list(item['target']), 'configurationId': None,
               'createdAt': at, 'updatedAt': at, 'createdBy': self.user['id'], 'updatedBy': None}
        if item.get('gitBranch'):
            env['gitBranch'] = item['gitBranch']
        if item.get('comment') is not None:
            env['comment'] = item['comment']
        self.env.append(env)
        return env

    def env_clash(self, key, targets, branch, skip_id=None):
        for env in self.env:
            if env['id'] == skip_id or env['key'] != key or env.get('gitBranch') != branch:
                continue
            if set(env['target']) & set(targets):
                return env
        return None


def validate_env_item(item, partial=False):
    """Check one env var object of a create (or, with partial, an edit) body; raise 400 on error."""
    if not isinstance(item, dict):
        raise _bad('Invalid request: each environment variable must be an object.')
    fields = ('key', 'value', 'type', 'target', 'gitBranch', 'comment', 'customEnvironmentIds')
    unknown = set(item) - set(fields)
    if unknown:
        raise _bad('Invalid request: should NOT have additional property `%s`.' % sorted(unknown)[0])
    if not partial:
        for name in ('key', 'value', 'type'):
            if name not in item:
                raise _bad('Invalid request: missing required property `%s`.' % name)
        if 'target' not in item and 'customEnvironmentIds' not in item:
            raise _bad('Invalid request: missing required property `target`.')
    if 'key' in item and (not isinstance(item['key'], str) or not ENV_KEY_RE.match(item['key'])):
        raise _bad('Invalid request: `key` must contain only letters, digits and underscores, and not start '
                   'with a digit.')
    if 'value' in item and not isinstance(item['value'], str):
        raise _bad('Invalid request: `value` should be string.')
    if 'type' in item and item['type'] not in ENV_TYPES:
        raise _bad('Invalid request: `type` should be equal to one of the allowed values "%s".'
                   % '", "'.join(ENV_TYPES))
    if 'target' in item:
        targets = item['target'] if isinstance(item['target'], list) else [item['target']]
        if not targets or any(t not in ENV_TARGETS for t in targets):
            raise _bad('Invalid request: `target` should be an array of "production", "preview", "development".')
        item['target'] = targets
    if item.get('gitBranch') and item.get('target') is not None and item['target'] != ['preview']:
        raise _bad('Invalid request: `gitBranch` can only be used with target "preview".')
    if 'comment' in item and item['comment'] is not None and len(str(item['comment'])) > 500:
        raise _bad('Invalid request: `comment` should NOT be longer than 500 characters.')
    return item


class VercelService(VercelCliRoutes, VercelSecurity, VercelLogs, ModelService):
    """The HTTP face of :class:`VercelModel`; mixins add the official CLI's extra calls (vercel_cli_routes.py),
    the firewall (vercel_security.py) and the runtime logs and build events (vercel_logs.py)."""

    name = 'vercel'
    timing_names = tuple(DEFAULT_TIMINGS)

    def __init__(self, token, timings=None):
        ModelService.__init__(self, VercelModel(token, timings))
        self.default_timings = dict(self.model.timings)
        self.router = Router.of(self)
        self.security_reset()
        self.logs_reset()

    def set_app_url(self, url):
        self.model.app_url = url

    # -- Service interface ---------------------------------------------------------------------
    def reset(self, options=None):
        self.model.timings = dict(self.default_timings)
        self.model.reset(options)
        self.security_reset()
        self.logs_reset()

    def handle(self, request):
        handler, params = self.router.match(request.method, request.raw_path)
        if handler is None:
            if params:
                return Response(405, error_body('method_not_allowed', 'Method %s is not allowed on %s.'
                                                % (request.method, request.path)), headers={'Allow': ', '.join(params)})
            return self.not_found()
        self._authenticate(request)
        with self.model.lock:
            self.model.advance()
            scope = self._scope(request)
            return handler(request, scope, **params)

    def _authenticate(self, request):
        header = request.headers.get('Authorization') or ''
        if not header:
            raise HttpProblem(401, 'forbidden', 'The request is missing an authentication token',
                              missingToken=True)
        scheme, _sep, token = header.partition(' ')
        token = token.strip()
        if scheme.lower() != 'bearer' or not TOKEN_RE.match(token) or token != self.model.token:
            raise HttpProblem(401, 'forbidden', 'Not authorized', invalidToken=True)

    def _scope(self, request):
        """None for the personal account, else the team id; 403 for a team the user is not in."""
        team_id, slug = request.query.get('teamId'), request.query.get('slug')
        team = self.model.team
        if team_id and team_id == self.model.user['id']:
            return None  # the personal account's own id (the vercel CLI sends it for a project linked to a user)
        if team_id:
            if team_id != team['id']:
                raise HttpProblem(403, 'forbidden', 'Not authorized: you are not a member of the team "%s".' % team_id)
            return team['id']
        if slug:
            if slug != team['slug']:
                raise HttpProblem(403, 'forbidden', 'Not authorized: you are not a member of the team "%s".' % slug)
            return team['id']
        return None

    def _project(self, scope, id_or_name):
        model = self.model
        proj = model.project
        if id_or_name not in (proj['id'], proj['name']):
            raise _not_found('Project not found.')
        if (scope is not None) != proj['team_owned']:
            raise _not_found('Project not found.')
        return proj

    def _deployment(self, scope, key, message='The deployment could not be found.'):
        dep = self.model.by_id_or_url(key)
        if dep is None or (scope is not None) != self.model.project['team_owned']:
            raise _not_found(message)
        return dep

    # -- user and teams ------------------------------------------------------------------------
    def _team_view(self):
        team = self.model.team
        return {'id': team['id'], 'slug': team['slug'], 'name': team['name'], 'avatar': None, 'description': None,
                'creatorId': self.model.user['id'], 'createdAt': team['createdAt'], 'updatedAt': team['updatedAt'],
                'stagingPrefix': 'pourtrait-team',
                'membership': {'confirmed': True, 'role': 'OWNER', 'createdAt': team['createdAt'],
                               'created': team['createdAt'], 'uid': self.model.user['id']}}

    @route('GET', '/v2/user')
    def get_user(self, request, scope):
        user = self.model.user
        return json_response({'user': {
            'id': user['id'], 'username': user['username'], 'email': user['email'], 'name': user['name'],
            'avatar': None, 'defaultTeamId': user['defaultTeamId'], 'createdAt': user['createdAt'],
            'softBlock': None, 'billing': None, 'resourceConfig': {}, 'stagingPrefix': user['username'],
            'hasTrialAvailable': False}})

    @route('GET', '/{v:v1/|v2/|}teams')
    def list_teams(self, request, scope, **_params):
        return json_response({'teams': [self._team_view()], 'pagination': {'count': 1, 'next': None, 'prev': None}})

    @route('GET', '/{v:v1/|v2/|}teams/{teamId}')
    def get_team(self, request, scope, teamId, **_params):
        team = self.model.team
        if teamId not in (team['id'], team['slug']):
            if teamId.startswith('team_'):
                raise HttpProblem(403, 'forbidden', 'Not authorized: you are not a member of the team "%s".' % teamId)
            raise _not_found('Team not found.', code='not_found')
        return json_response(self._team_view())

    # -- projects ------------------------------------------------------------------------------
    @route('GET', '/{v:v8|v9}/projects/{idOrName}')
    def get_project(self, request, scope, idOrName):
        self._project(scope, idOrName)
        return json_response(dict(self.model.project_view(), security=self.security_view()))

    # -- deployments ---------------------------------------------------------------------------
    @route('GET', '/{v:v5|v6}/deployments')
    def list_deployments(self, request, scope):
        model = self.model
        q = request.query
        deps = list(model.deployments)
        if (scope is not None) != model.project['team_owned']:
            deps = []
        if q.get('projectId'):
            self._project(scope, q['projectId'])
        if q.get('app') and q['app'] != model.project['name']:
            deps = []
        if q.get('target'):
            wanted = q['target']
            deps = [d for d in deps if (d['target'] or 'preview') == wanted]
        if q.get('state'):
            states = set(s.strip().upper() for s in q['state'].split(',') if s.strip())
            deps = [d for d in deps if d['state'] in states]
        if q.get('sha'):
            deps = [d for d in deps if d['meta'].get('githubCommitSha') == q['sha']]
        if 'rollbackCandidate' in q:
            want = q['rollbackCandidate'].lower() == 'true'
            deps = [d for d in deps if model.is_rollback_candidate(d) == want]
        for key, value in q.items():
            if key.startswith('meta-'):
                deps = [d for d in deps if d['meta'].get(key[5:]) == value]
        try:
            limit = int(float(q.get('limit', 20)))
            until = int(float(q['until'])) if q.get('until') else None
            since = int(float(q['since'])) if q.get('since') else None
        except ValueError:
            raise _bad('Invalid request: `limit`, `until` and `since` should be numbers.')
        if limit < 1 or limit > 100:
            raise _bad('Invalid request: `limit` should be between 1 and 100.')
        if until is not None:
            deps = [d for d in deps if d['created'] < until]
        if since is not None:
            deps = [d for d in deps if d['created'] > since]
        deps.sort(key=lambda d: -d['created'])
        page, more = deps[:limit], len(deps) > limit
        pagination = {'count': len(page), 'next': page[-1]['created'] if page and more else None,
                      'prev': page[0]['created'] if page else None}
        return json_response({'deployments': [model.list_item(d) for d in page], 'pagination': pagination})

    @route('GET', '/{v:v11|v12|v13}/deployments/{idOrUrl}')
    def get_deployment(self, request, scope, idOrUrl):
        return json_response(self.model.full(self._deployment(scope, idOrUrl)))

    @route('POST', '/v13/deployments')
    def create_deployment(self, request, scope):
        model = self.model
        body = _json_body(request, dict)
        name = body.get('name')
        if not name or not isinstance(name, str):
            raise _bad("Invalid request: should have required property 'name'.", code='bad_request')
        project_ref = body.get('project') or name
        self._project(scope, project_ref)
        target = body.get('target')
        if target not in (None, 'production', 'staging', 'preview'):
            raise _bad('Invalid request: `target` should be "production", "staging" or omitted.')
        if target == 'preview':
            target = None
        meta = body.get('meta') or {}
        if not isinstance(meta, dict) or any(not isinstance(v, str) for v in meta.values()):
            raise _bad('Invalid request: `meta` should be an object of strings.')
        if body.get('deploymentId'):
            source_dep = self._deployment(scope, body['deploymentId'],
                                          message='The deployment %s could not be found.' % body['deploymentId'])
            git = dict(source_dep['gitSource']) if source_dep['gitSource'] else None
            new_meta = dict(source_dep['meta'])
            new_meta.update(meta)
            new_meta['action'] = 'redeploy'
            new_meta['originalDeploymentId'] = source_dep['uid']
            source = 'redeploy'
        elif body.get('gitSource'):
            git = body['gitSource']
            if not isinstance(git, dict) or git.get('type') != 'github':
                raise _bad('Invalid request: `gitSource.type` should be "github".', code='invalid_git_source')
            if not git.get('ref'):
                raise _bad("Invalid request: `gitSource` should have required property 'ref'.",
                           code='invalid_git_source')
            if not git.get('repoId') and not (git.get('org') and git.get('repo')):
                raise _bad("Invalid request: `gitSource` needs `repoId` or `org` and `repo`.",
                           code='invalid_git_source')
            sha = git.get('sha') or hashlib.sha1(_alnum(model.rng, 16).encode()).hexdigest()
            git = {'type': 'github', 'repoId': git.get('repoId') or 123456789, 'ref': git['ref'], 'sha': sha}
            new_meta = {'githubCommitSha': sha, 'githubCommitRef': git['ref'], 'githubOrg': 'pourtrait',
                        'githubRepo': 'pourtrait', 'githubCommitMessage': 'deploy %s' % sha[:7]}
            new_meta.update(meta)
            source = 'api-trigger-git-deploy'
        elif body.get('files'):
            raise _bad('File uploads are not supported by the sandbox; use gitSource or deploymentId.')
        else:
            raise _bad('Invalid request: provide `gitSource` or `deploymentId` (or `files`).', code='missing_files')
        outcome = model.next_builds.pop(0) if model.next_builds else {}
        now = time.time()
        # a redeploy rebuilds the same code: it is as healthy (or broken) as its source unless queued otherwise
        default_health = source_dep['health'] if body.get('deploymentId') else 'healthy'
        dep = model._new_deployment(int(now * 1000), target, new_meta, outcome.get('health', default_health),
                                    source=source, git=git)
        dep['fail'] = bool(outcome.get('fail'))
        dep['queued_until'] = now + model.timings['queued_s']
        dep['build_until'] = dep['queued_until'] + model.timings['building_s']
        model.deployments.append(dep)
        model.advance()
        return json_response(model.full(dep))

    @route('PATCH', '/v12/deployments/{id}/cancel')
    def cancel_deployment(self, request, scope, id):  # noqa: A002 - the API's name
        dep = self._deployment(scope, id)
        if dep['state'] not in ('QUEUED', 'INITIALIZING', 'BUILDING'):
            raise _bad('Cannot cancel a deployment in state %s: only queued or building deployments can be canceled.'
                       % dep['state'], code='deployment_not_cancelable')
        dep['state'] = 'CANCELED'
        dep['ready'] = now_ms()
        dep['errorMessage'] = 'The Deployment has been canceled.'
        dep['queued_until'] = dep['build_until'] = None
        return json_response(self.model.full(dep))

    # -- promote and rollback --------------------------------------------------------------------
    def _alias_target(self, scope, project_id, deployment_id):
        proj = self._project(scope, project_id)
        dep = self._deployment(scope, deployment_id)
        return proj, dep

    @route('POST', '/v10/projects/{projectId}/promote/{deploymentId}')
    def promote(self, request, scope, projectId, deploymentId):
        model = self.model
        _proj, dep = self._alias_target(scope, projectId, deploymentId)
        if dep['target'] != 'production':
            raise _bad('Deployment %s is not a production deployment: build it for production with '
                       'POST /v13/deployments {deploymentId, target: "production"} instead.' % dep['uid'],
                       code='deployment_not_production')
        if dep['state'] != 'READY':
            raise _bad('Deployment %s is not ready (state %s).' % (dep['uid'], dep['state']),
                       code='deployment_not_ready')
        if self._is_live(dep):
            raise HttpProblem(409, 'conflict', 'Deployment %s is already the current production deployment.'
                              % dep['uid'])
        model._start_job('promote', dep)
        return Response(201, None)

    def _is_live(self, dep):
        model = self.model
        job = model.job
        if job and job['status'] in ('pending', 'in-progress'):
            return job['to'] == dep['uid']
        return model.production == dep['uid']

    @route('POST', '/{v:v1|v9}/projects/{projectId}/rollback/{deploymentId}')
    def rollback(self, request, scope, projectId, deploymentId):
        model = self.model
        _proj, dep = self._alias_target(scope, projectId, deploymentId)
        if dep['target'] != 'production':
            raise _bad('Deployment %s is not a production deployment and cannot be a rollback target.' % dep['uid'],
                       code='deployment_not_production')
        if dep['state'] != 'READY':
            raise HttpProblem(422, 'deployment_not_ready', 'Deployment %s is not ready (state %s) and cannot be a '
                              'rollback target.' % (dep['uid'], dep['state']))
        if self._is_live(dep):
            raise HttpProblem(409, 'conflict', 'Deployment %s is already the current production deployment.'
                              % dep['uid'])
        description = request.query.get('description')
        if description is not None and len(description) > 250:
            raise _bad('Invalid request: `description` should NOT be longer than 250 characters.')
        if model.project['plan'] == 'hobby':
            previous = self._previous_production()
            if dep['uid'] != previous:
                raise HttpProblem(402, 'payment_required',
                                  'Hobby plans can only roll back to the previous production deployment (%s). '
                                  'Upgrade to Pro to roll back further.' % (previous or 'none'))
        model._start_job('rollback', dep)
        model.project['autoAssignCustomDomains'] = False
        model.project['autoAssignCustomDomainsUpdatedBy'] = model.user['id']
        if description is not None:
            model.project['rollbackDescription'] = {'userId': model.user['id'], 'username': model.user['username'],
                                                    'description': description, 'createdAt': now_ms()}
        return Response(201, None)

    def _previous_production(self):
        model = self.model
        current = model.production
        for uid in reversed(model.history):
            if uid != current:
                return uid
        return None

    @route('PATCH', '/{v:v1|v9}/projects/{projectId}/rollback/{deploymentId}/update-description')
    def rollback_description(self, request, scope, projectId, deploymentId):
        model = self.model
        self._alias_target(scope, projectId, deploymentId)
        try:
            body = request.json() or {}
        except ValueError:
            raise _bad('Invalid JSON body.')
        description = body.get('description')
        if not isinstance(description, str) or len(description) > 250:
            raise _bad('Invalid request: `description` should be a string of at most 250 characters.')
        model.project['rollbackDescription'] = {'userId': model.user['id'], 'username': model.user['username'],
                                                'description': description, 'createdAt': now_ms()}
        return json_response({})

    def _alias_listing(self, request, scope, project_id, kind, flat):
        self._project(scope, project_id)
        items = self.model.job_aliases[kind]
        if request.flag('failedOnly'):
            items = [i for i in items if i['status'] == 'failed']
        if flat:
            items = [{'alias': i['alias']['alias'], 'id': i['id'], 'status': i['status']} for i in items]
        else:
            items = [dict(i, alias=dict(i['alias'])) for i in items]
        return json_response({'aliases': items, 'pagination': {'count': len(items), 'next': None, 'prev': None}})

    @route('GET', '/{v:v1|v9}/projects/{projectId}/rollback/aliases')
    def rollback_aliases(self, request, scope, projectId):
        return self._alias_listing(request, scope, projectId, 'rollback', flat=False)

    @route('GET', '/{v:v1|v10}/projects/{projectId}/promote/aliases')  # /v9 (nested): vercel_cli_routes.py
    def promote_aliases(self, request, scope, projectId):
        return self._alias_listing(request, scope, projectId, 'promote', flat=True)

    # -- env vars ------------------------------------------------------------------------------
    @route('GET', '/{v:v6|v7|v8|v9|v10}/projects/{idOrName}/env')
    def list_env(self, request, scope, idOrName):
        model = self.model
        self._project(scope, idOrName)
        envs = list(model.env)
        target = request.query.get('target')  # not in the spec, but `vercel env ls <target>` filters with it
        if target:
            envs = [e for e in envs if target in e['target']]
        if request.query.get('customEnvironmentId') or request.query.get('customEnvironmentSlug'):
            envs = []  # the sandbox project has no custom environment
        branch = request.query.get('gitBranch')
        if branch:
            envs = [e for e in envs if not e.get('gitBranch') or e.get('gitBranch') == branch]
        decrypt = request.flag('decrypt')
        items = [model.env_view(e, decrypt=decrypt) for e in envs]
        return json_response({'envs': items, 'pagination': {'count': len(items), 'next': None, 'prev': None}})

    @route('POST', '/{v:v7|v8|v9|v10}/projects/{idOrName}/env')
    def create_env(self, request, scope, idOrName):
        model = self.model
        self._project(scope, idOrName)
        body = _json_body(request)
        single = isinstance(body, dict)
        items = [body] if single else body
        if not isinstance(items, list) or not items:
            raise _bad('Invalid request: body should be an environment variable object or a non-empty array.')
        for item in items:
            validate_env_item(item)
        upsert = request.flag('upsert')
        created, failed = [], []
        now = now_ms()
        for item in items:
            clash = model.env_clash(item['key'], item['target'], item.get('gitBranch'))
            if clash is not None and upsert and set(clash['target']) == set(item['target']):
                clash.update({'plain_value': item['value'], 'type': item['type'], 'updatedAt': now,
                              'updatedBy': model.user['id']})
                if 'comment' in item:
                    clash['comment'] = item['comment']
                created.append(model.env_view(clash))
                continue
            if clash is not None:
                err = {'code': 'ENV_CONFLICT',
                       'message': 'A variable with the name `%s` already exists for the target %s on branch %s'
                                  % (item['key'], ','.join(sorted(set(clash['target']) & set(item['target']))),
                                     item.get('gitBranch') or 'undefined'),
                       'key': item['key'], 'envVarId': clash['id'], 'envVarKey': clash['key'],
                       'target': list(item['target'])}
                if item.get('gitBranch'):
                    err['gitBranch'] = item['gitBranch']
                if single:
                    return Response(400, {'error': err})
                failed.append({'error': err})
                continue
            created.append(model.env_view(model._add_env(item, now)))
        model.project['updatedAt'] = now
        return Response(201, {'created': created[0] if single else created, 'failed': failed})

    def _env(self, env_id):
        for env in self.model.env:
            if env['id'] == env_id:
                return env
        raise _not_found('Environment Variable %s not found.' % env_id)

    @route('GET', '/v1/projects/{idOrName}/env/{id}')
    def get_env(self, request, scope, idOrName, id):  # noqa: A002
        self._project(scope, idOrName)
        return json_response(self.model.env_view(self._env(id), decrypt=True))

    @route('PATCH', '/{v:v9|v10}/projects/{idOrName}/env/{id}')
    def edit_env(self, request, scope, idOrName, id):  # noqa: A002
        model = self.model
        self._project(scope, idOrName)
        env = self._env(id)
        body = _json_body(request, dict)
        validate_env_item(body, partial=True)
        key = body.get('key', env['key'])
        targets = body.get('target', env['target'])
        branch = body.get('gitBranch', env.get('gitBranch')) or None
        clash = model.env_clash(key, targets, branch, skip_id=env['id'])
        if clash is not None:
            raise HttpProblem(409, 'existing_key_and_target', 'A variable with the name `%s` already exists for the '
                              'target %s.' % (key, ','.join(sorted(set(clash['target']) & set(targets)))),
                              key=key, envVarId=clash['id'])
        if 'value' in body:
            env['plain_value'] = body['value']
        for field in ('key', 'type', 'target', 'comment'):
            if field in body:
                env[field] = body[field]
        if 'gitBranch' in body:
            if body['gitBranch']:
                env['gitBranch'] = body['gitBranch']
            else:
                env.pop('gitBranch', None)
        env['updatedAt'] = now_ms()
        env['updatedBy'] = model.user['id']
        return json_response(model.env_view(env))

    @route('DELETE', '/{v:v9|v10}/projects/{idOrName}/env/{id}')
    def delete_env(self, request, scope, idOrName, id):  # noqa: A002
        model = self.model
        self._project(scope, idOrName)
        env = self._env(id)
        model.env.remove(env)
        return json_response(model.env_view(env))

    # -- aliases -------------------------------------------------------------------------------
    @route('GET', '/v4/aliases')
    def list_aliases(self, request, scope):
        model = self.model
        if request.query.get('projectId'):
            self._project(scope, request.query['projectId'])
        elif (scope is not None) != model.project['team_owned']:
            return json_response({'aliases': [], 'pagination': {'count': 0, 'next': None, 'prev': None}})
        items = []
        if model.production:
            created = model.project['alias_created']
            for i, domain in enumerate(model.production_aliases()):
                items.append({'alias': domain, 'deploymentId': model.production, 'projectId': model.project['id'],
                              'uid': 'alias_' + hashlib.sha1(domain.encode()).hexdigest()[:24],
                              'created': _iso(created + i), 'createdAt': created + i,
                              'updatedAt': model.project['updatedAt']})
        domain = request.query.get('domain')
        if domain:
            items = [a for a in items if a['alias'] == domain or a['alias'].endswith('.' + domain)]
        return json_response({'aliases': items, 'pagination': {'count': len(items), 'next': None, 'prev': None}})

    # -- admin ---------------------------------------------------------------------------------
    def admin(self, request, subpath):
        model = self.model
        method = request.method
        body = request.json() if request.body.strip() else {}
        with model.lock:
            model.advance()
            extra = self.security_admin(request, subpath, body) or self.logs_admin(request, subpath, body)
            if extra is not None:
                return extra
            if subpath == '/state' and method == 'GET':
                return json_response(model.state())
            if subpath == '/project' and method == 'PATCH':
                unknown = set(body) - {'plan', 'autoAssignCustomDomains'}
                if unknown:
                    raise _bad('unknown project settings: %s' % ', '.join(sorted(unknown)))
                if 'plan' in body:
                    if body['plan'] not in ('hobby', 'pro'):
                        raise _bad("plan must be 'hobby' or 'pro'")
                    model.project['plan'] = body['plan']
                if 'autoAssignCustomDomains' in body:
                    model.project['autoAssignCustomDomains'] = bool(body['autoAssignCustomDomains'])
                return json_response(model.project_view())
            if subpath == '/deployments' and method == 'POST':
                return json_response(model.seed_deployment(body), status=201)
            found = re.match(r'^/deployments/([^/]+)$', subpath)
            if found and method == 'PATCH':
                dep = model.by_id_or_url(found.group(1))
                if dep is None:
                    raise _not_found('no deployment %s' % found.group(1))
                if body.get('health') not in HEALTHS:
                    raise _bad('health must be one of %s' % ', '.join(HEALTHS))
                dep['health'] = body['health']
                return json_response(model.admin_view(dep))
            if subpath == '/next_builds' and method == 'POST':
                if body.get('health', 'healthy') not in HEALTHS:
                    raise _bad('health must be one of %s' % ', '.join(HEALTHS))
                for _i in range(int(body.get('count', 1))):
                    model.next_builds.append({'fail': bool(body.get('fail')), 'health': body.get('health', 'healthy')})
                return json_response({'next_builds': model.next_builds})
            if subpath == '/next_jobs' and method == 'POST':
                for _i in range(int(body.get('count', 1))):
                    model.next_jobs.append(bool(body.get('fail')))
                return json_response({'next_jobs': model.next_jobs})
        return ModelService.admin(self, request, subpath)

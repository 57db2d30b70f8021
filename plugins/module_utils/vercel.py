# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vercel REST client and the base class of the ``vercel_*`` modules.

The client speaks the documented API (https://api.vercel.com; only the base
URL differs for a stand-in), scopes every call to the team, follows
pagination, never repeats a non-idempotent POST blindly (it re-reads the
project or the deployment list first) and turns every error into one line
that says what failed and what to do.

``VercelModule`` holds the shared options; a module declares its own options
and implements ``run()`` (read, compare, then act).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re
import time

from ansible.module_utils.basic import env_fallback
from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, check_shape
from ansible_collections.pourtrait.ops.plugins.module_utils.http import (
    ApiModule, HttpError, Response, bearer_session, http_argument_spec, one_line, parse_user_time,
)

DEFAULT_API_URL = 'https://api.vercel.com'
TOKEN_RE = re.compile(r'\A[A-Za-z0-9]{24}\Z')
READY = 'READY'
BUILD_STATES = ['QUEUED', 'INITIALIZING', 'BUILDING', 'READY', 'ERROR', 'CANCELED', 'DELETED']
FINAL_JOB_STATES = ('succeeded', 'failed', 'skipped')
# Plain production variable the security_incident role writes after a secret rotation (ISO 8601 UTC): older
# builds carry the rotated secret, so vercel_rollback refuses them unless forced.
ROTATION_ENV_KEY = 'POURTRAIT_SECRET_ROTATED_AT'
PAUSED_NOTE = ('domain auto-assignment is now paused: new production builds stay STAGED until one is promoted '
               '(vercel_promote, or vercel_deployment which promotes explicitly)')


class VercelError(OpsError):
    """A failure the user can act on; the message is one line."""


def vercel_argument_spec():
    """The options every vercel_* module accepts (doc fragment pourtrait.ops.vercel)."""
    return http_argument_spec(
        DEFAULT_API_URL, 'VERCEL',
        api_token=dict(type='str', no_log=True, aliases=['token'], fallback=(env_fallback, ['VERCEL_TOKEN'])),
        team_id=dict(type='str', aliases=['team'], fallback=(env_fallback, ['VERCEL_TEAM_ID'])),
        project=dict(type='str', fallback=(env_fallback, ['VERCEL_PROJECT'])))


def check_token(token):
    """Raise a one-line error (never echoing the token) unless it has Vercel's shape."""
    check_shape(token, TOKEN_RE, 'no Vercel token: set api_token or the VERCEL_TOKEN environment variable (create one '
                'at https://vercel.com/account/tokens)',
                'the Vercel token is malformed (%d characters; expected 24 letters and digits); check api_token / '
                'VERCEL_TOKEN for stray quotes, spaces or a newline' % len(token or ''), VercelError)


def iso_ms(value):
    """ISO 8601 UTC text of a millisecond epoch (None stays None)."""
    if value in (None, ''):
        return None
    stamp = datetime.datetime.fromtimestamp(float(value) / 1000.0, tz=datetime.timezone.utc)
    return stamp.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (stamp.microsecond // 1000)


def parse_time_ms(value, option='not_before'):
    """Epoch milliseconds from an ISO 8601 time, or epoch seconds / milliseconds."""
    return parse_user_time(value, option, 'epoch', VercelError, per_second=1000)


def host_of(id_or_url):
    """A deployment reference as the API takes it: an id, or a bare hostname."""
    ref = (id_or_url or '').strip()
    ref = re.sub(r'^https?://', '', ref)
    return ref.split('/')[0]


def summarize_deployment(dep):
    """The fields a user needs from a list item (``uid``) or a v13 deployment (``id``)."""
    if not dep:
        return None
    meta = dep.get('meta') or {}
    git = dep.get('gitSource') or {}
    url = dep.get('url')
    return dict(
        id=dep.get('uid') or dep.get('id'),
        url=('https://%s' % url) if url and not url.startswith('http') else url,
        name=dep.get('name'),
        project_id=dep.get('projectId'),
        state=dep.get('readyState') or dep.get('state'),
        ready_substate=dep.get('readySubstate'),
        target=dep.get('target'),
        created=dep.get('created') or dep.get('createdAt'),
        created_at=iso_ms(dep.get('created') or dep.get('createdAt')),
        ready=dep.get('ready'),
        sha=meta.get('githubCommitSha') or git.get('sha'),
        ref=meta.get('githubCommitRef') or git.get('ref'),
        alias=dep.get('alias') or [],
        alias_assigned=bool(dep.get('aliasAssigned')),
        alias_error=dep.get('aliasError'),
        error_code=dep.get('errorCode'),
        error_message=dep.get('errorMessage'),
        is_rollback_candidate=dep.get('isRollbackCandidate'),
        inspector_url=dep.get('inspectorUrl'),
        creator=(dep.get('creator') or {}).get('username'),
    )


def summarize_alias_request(req):
    if not req:
        return None
    return dict(type=req.get('type'), job_status=req.get('jobStatus'),
                from_deployment_id=req.get('fromDeploymentId'), to_deployment_id=req.get('toDeploymentId'),
                requested_at=iso_ms(req.get('requestedAt')), requested_ms=req.get('requestedAt'))


def describe_vercel_error(status, data, method, path):
    """One line per Vercel error answer: what failed and what to do."""
    err = (data or {}).get('error') if isinstance(data, dict) else None
    err = err if isinstance(err, dict) else {}
    code = err.get('code') or ''
    api_msg = one_line(err.get('message') or '')[:200]
    said = (' (Vercel: %s)' % api_msg) if api_msg else ''
    where = '%s %s' % (method, path.split('?')[0])
    if status == 401:
        return '401: the Vercel token was rejected; check VERCEL_TOKEN (api_token) and that the token has not expired'
    if status == 402:
        return ('402: the Vercel plan does not allow this%s; Hobby plans roll back only one step (use target=previous) '
                '- otherwise upgrade the team to Pro' % said)
    if status == 403:
        if 'hobby' in api_msg.lower() or 'plan' in api_msg.lower():
            return ('403: the Vercel plan does not allow this%s; Hobby plans roll back only one step '
                    '(use target=previous) - otherwise upgrade the team to Pro' % said)
        return ('403: the Vercel token may not access this team or project (%s)%s; check team_id (VERCEL_TEAM_ID) '
                'and the token\'s scope' % (where, said))
    if status == 404:
        return '404: not found (%s)%s; check project (VERCEL_PROJECT), team_id and the ids given' % (where, said)
    if status == 429:
        limit = err.get('limit') or {}
        reset = ''
        if limit.get('reset'):
            reset = ' (the limit resets at %s)' % iso_ms(float(limit['reset']) * (1000 if limit['reset'] < 1e11 else 1))
        return '429: Vercel rate limit hit on %s%s; wait and rerun, or raise retries' % (where, reset)
    if status >= 500:
        return ('%s: the Vercel API failed on %s%s; check https://www.vercel-status.com and rerun'
                % (status, where, said))
    return '%s: Vercel refused %s: %s%s; check the module options' % (status, where, code or 'error', said)


class VercelClient(object):
    """Typed calls to the Vercel REST API, scoped to one team."""

    def __init__(self, token, team=None, api_url=DEFAULT_API_URL, validate_certs=True, ca_path=None, timeout=30,
                 retries=4, sleep=time.sleep):
        check_token(token)
        self.team = team
        self.http = bearer_session('vercel', 'VERCEL', api_url or DEFAULT_API_URL, token, timeout=timeout,
                                   retries=retries, validate_certs=validate_certs, ca_path=ca_path, sleep=sleep,
                                   service='the Vercel API', describe_error=describe_vercel_error)

    # -- plumbing ----------------------------------------------------------
    def scope(self, params=None):
        """Query parameters plus the team scope (``teamId`` for ids, ``slug`` otherwise)."""
        query = dict((k, v) for k, v in (params or {}).items() if v is not None)
        if self.team:
            if self.team.startswith('team_'):
                query['teamId'] = self.team
            else:
                query['slug'] = self.team
        return query

    def call(self, method, path, params=None, body=None, not_found=None, **kwargs):
        try:
            return self.http.request(method, path, params=self.scope(params), json=body, **kwargs)
        except HttpError as exc:
            if exc.status == 404 and not_found:
                raise VercelError(not_found, status=404)
            if exc.status == 403 and exc.code in ('forbidden', 'team_unauthorized', 'not_authorized') and self.team \
                    and 'plan' not in str(exc).lower() and 'hobby' not in str(exc).lower():
                raise VercelError('403: the Vercel token has no access to team %s; check team_id (VERCEL_TEAM_ID) '
                                  'and that the token belongs to a member of that team' % self.team, status=403)
            raise VercelError(str(exc), status=exc.status, code=exc.code)

    def get(self, path, params=None, not_found=None):
        return self.call('GET', path, params=params, not_found=not_found).data

    # -- projects ----------------------------------------------------------
    def project(self, id_or_name):
        if not id_or_name:
            raise VercelError('no Vercel project: set project or the VERCEL_PROJECT environment variable')
        return self.get('/v9/projects/%s' % id_or_name, params={'rollbackInfo': 'true'},
                        not_found='project %r not found%s; check project (VERCEL_PROJECT) and team_id (VERCEL_TEAM_ID)'
                        % (id_or_name, (' in team %s' % self.team) if self.team else ''))

    @staticmethod
    def live_id(project):
        prod = ((project or {}).get('targets') or {}).get('production') or {}
        return prod.get('id')

    # -- deployments -------------------------------------------------------
    def list_deployments(self, project_id, target=None, state=None, limit=20, until=None, since=None,
                         rollback_candidate=None):
        """Up to ``limit`` deployments, newest first, following ``pagination.next``.

        Returns (deployments, pagination of the last page).
        """
        found = []
        pagination = {}
        while len(found) < limit:
            page = min(100, limit - len(found))
            data = self.get('/v6/deployments', params=dict(
                projectId=project_id, target=target, limit=page, until=until, since=since,
                state=','.join(state) if state else None,
                rollbackCandidate=None if rollback_candidate is None else str(bool(rollback_candidate)).lower()))
            items = (data or {}).get('deployments') or []
            found.extend(items)
            pagination = (data or {}).get('pagination') or {}
            until = pagination.get('next')
            if not items or not until:
                break
        return found[:limit], pagination

    def deployment(self, id_or_url, not_found=None):
        ref = host_of(id_or_url)
        return self.get('/v13/deployments/%s' % ref,
                        not_found=not_found or ('deployment %r not found; check the id or URL '
                                                '(vercel_deployment_info lists them)' % id_or_url))

    def create_deployment(self, body, force_new=False, project_id=None):
        """POST /v13/deployments once; a lost answer is reconciled through the deployment list."""
        started_ms = int(time.time() * 1000) - 60000
        tag = body.setdefault('meta', {}).setdefault('pourtraitRequestId', '%x' % int(time.time() * 1e6))

        def reconcile():
            items, _pag = self.list_deployments(project_id or body.get('name'), limit=20, since=started_ms)
            for item in items:
                if (item.get('meta') or {}).get('pourtraitRequestId') == tag:
                    return Response(200, self.deployment(item.get('uid') or item.get('id')))
            return None

        return self.call('POST', '/v13/deployments', params={'forceNew': '1' if force_new else None}, body=body,
                         reconcile=reconcile).data

    def cancel_deployment(self, dep_id):
        return self.call('PATCH', '/v12/deployments/%s/cancel' % dep_id, idempotent=True).data

    def _alias_job_reconcile(self, project_id, dep_id, kind, started_ms):
        def reconcile():
            proj = self.project(project_id)
            req = proj.get('lastAliasRequest') or {}
            if req.get('toDeploymentId') == dep_id and req.get('type') == kind \
                    and (req.get('requestedAt') or 0) >= started_ms:
                return Response(201, {'reconciled': True})
            if self.live_id(proj) == dep_id:
                return Response(201, {'reconciled': True})
            return None
        return reconcile

    def rollback(self, project_id, dep_id, description=None):
        started_ms = int(time.time() * 1000) - 5000
        return self.call('POST', '/v1/projects/%s/rollback/%s' % (project_id, dep_id),
                         params={'description': description}, body={}, ok=(200, 201, 202, 409),
                         reconcile=self._alias_job_reconcile(project_id, dep_id, 'rollback', started_ms))

    def promote(self, project_id, dep_id):
        started_ms = int(time.time() * 1000) - 5000
        return self.call('POST', '/v10/projects/%s/promote/%s' % (project_id, dep_id), body={}, ok=(200, 201, 202, 409),
                         reconcile=self._alias_job_reconcile(project_id, dep_id, 'promote', started_ms))

    def failed_aliases(self, project_id, kind='rollback'):
        try:
            data = self.get('/v9/projects/%s/%s/aliases' % (project_id, kind), params={'failedOnly': 'true'})
        except VercelError:
            return []
        return [(a.get('alias') or {}).get('alias') for a in (data or {}).get('aliases') or []]

    def wait_alias_job(self, project_id, dep_id, kind, wait_timeout, poll_interval, sleep=time.sleep):
        """Poll the project until the alias job to ``dep_id`` finishes; returns (project, job status)."""
        deadline = time.time() + wait_timeout
        while True:
            proj = self.project(project_id)
            req = proj.get('lastAliasRequest') or {}
            if req.get('toDeploymentId') == dep_id and req.get('jobStatus') in FINAL_JOB_STATES:
                return proj, req.get('jobStatus')
            if not req and self.live_id(proj) == dep_id:
                return proj, 'succeeded'
            if time.time() >= deadline:
                raise VercelError('the %s job to %s is still %s after %ss; check the project in the Vercel dashboard '
                                  '- running again is safe (it will not repeat a finished %s)'
                                  % (kind, dep_id, req.get('jobStatus') or 'pending', wait_timeout, kind))
            sleep(poll_interval)

    # -- environment variables --------------------------------------------
    def list_env(self, project_id, decrypt=True):
        data = self.get('/v10/projects/%s/env' % project_id, params={'decrypt': 'true' if decrypt else 'false'})
        if isinstance(data, list):
            return data
        return (data or {}).get('envs') or []

    def create_env(self, project_id, body, reconcile=None):
        data = self.call('POST', '/v10/projects/%s/env' % project_id, body=body, reconcile=reconcile).data
        failed = (data or {}).get('failed') or []
        if failed:
            first = failed[0].get('error') or {}
            raise VercelError('Vercel refused to create env var %s: %s; remove the conflicting variable or change '
                              'its target' % (body.get('key'), one_line(first.get('message') or first.get('code'))))
        created = (data or {}).get('created')
        if isinstance(created, list):
            created = created[0] if created else None
        return created

    def update_env(self, project_id, env_id, body):
        return self.call('PATCH', '/v9/projects/%s/env/%s' % (project_id, env_id), body=body, idempotent=True).data

    def delete_env(self, project_id, env_id):
        try:
            return self.call('DELETE', '/v9/projects/%s/env/%s' % (project_id, env_id)).data
        except VercelError as exc:
            if exc.extra.get('status') == 404:
                return None
            raise


class VercelModule(ApiModule):
    """Base for vercel_* modules (see ApiModule): the Vercel options and client; ``project()`` reads the
    project named by O(project)."""

    @classmethod
    def shared_argument_spec(cls):
        return vercel_argument_spec()

    def make_client(self, params):
        return VercelClient(params['api_token'], team=params['team_id'], api_url=params['api_url'],
                            validate_certs=params['validate_certs'], ca_path=params['ca_path'],
                            timeout=params['timeout'], retries=params['retries'])

    def project(self):
        return self.client.project(self.params['project'])

    def preflight(self):
        if self.needs_project and not self.params.get('project'):
            raise VercelError('no Vercel project: set project or the VERCEL_PROJECT environment variable')


def wait_for_deployment(client, dep_id, wait_timeout, poll_interval, cancel_on_timeout=False, sleep=time.sleep,
                        need_alias=True):
    """Poll a deployment until READY (and aliased, or STAGED) or a failure; returns the v13 deployment."""
    deadline = time.time() + wait_timeout
    while True:
        dep = client.deployment(dep_id)
        state = dep.get('readyState')
        if state == READY:
            if dep.get('aliasError'):
                err = dep['aliasError']
                raise VercelError('deployment %s is READY but assigning its domains failed: %s; fix the domain and '
                                  'promote it with vercel_promote' % (dep_id, one_line(err.get('message') or err)),
                                  deployment=summarize_deployment(dep))
            if not need_alias or dep.get('aliasAssigned') or dep.get('readySubstate') == 'STAGED' \
                    or dep.get('target') != 'production':
                return dep
        elif state in ('ERROR', 'CANCELED', 'DELETED'):
            why = dep.get('errorMessage') or dep.get('errorCode') or state
            raise VercelError('deployment %s ended %s: %s; see %s, fix the build and deploy again'
                              % (dep_id, state, one_line(why), dep.get('inspectorUrl') or 'the Vercel dashboard'),
                              deployment=summarize_deployment(dep))
        if time.time() >= deadline:
            if cancel_on_timeout and state != READY:
                client.cancel_deployment(dep_id)
                raise VercelError('deployment %s was still %s after %ss and has been canceled; raise wait_timeout '
                                  'or check the build' % (dep_id, state, wait_timeout),
                                  deployment=summarize_deployment(dep), canceled=True)
            raise VercelError('deployment %s is still %s after %ss; it keeps building - wait with '
                              'vercel_deployment_info, or set cancel_on_timeout' % (dep_id, state, wait_timeout),
                              deployment=summarize_deployment(dep))
        sleep(poll_interval)


def rollback_base(client, project):
    """The deployment ``previous`` is counted from.

    Normally the live one. Right after a successful rollback (auto-assignment
    paused, the last alias job a rollback to the live deployment) it is the
    deployment that was rolled back from, so running the same rollback again
    changes nothing instead of stepping back once more.
    """
    live = client.live_id(project)
    prod = (project.get('targets') or {}).get('production') or {}
    req = project.get('lastAliasRequest') or {}
    if req.get('type') == 'rollback' and req.get('jobStatus') == 'succeeded' and req.get('toDeploymentId') == live \
            and not project.get('autoAssignCustomDomains', True) and req.get('fromDeploymentId'):
        try:
            return client.deployment(req['fromDeploymentId'])
        except VercelError:
            pass
    return prod


def candidate_problem(dep, project_id, not_before_ms=None, exclude_refs=None):
    """Why a deployment is no rollback target (one line), or None."""
    dep_id = dep.get('uid') or dep.get('id')
    url = host_of(dep.get('url') or '')
    state = dep.get('readyState') or dep.get('state')
    created = dep.get('created') or dep.get('createdAt') or 0
    if project_id and dep.get('projectId') and dep.get('projectId') != project_id:
        return 'deployment %s belongs to another project (%s); name a deployment of this project' % (
            dep_id, dep.get('projectId'))
    if state != READY:
        return ('deployment %s is %s, not READY; only READY production builds can be rollback targets - pick another '
                '(vercel_deployment_info lists rollback_candidates)' % (dep_id, state))
    if dep.get('target') != 'production':
        return ('deployment %s is a %s build, not production; it cannot be a rollback target - promote it with '
                'vercel_promote rebuild=true instead' % (dep_id, dep.get('target') or 'preview'))
    refs = set(host_of(r) for r in (exclude_refs or []))
    if dep_id in refs or (url and url in refs):
        return ('deployment %s is in the exclude list (unsafe, e.g. built before a secret rotation); pick another '
                'target' % dep_id)
    if not_before_ms and created < not_before_ms:
        return ('deployment %s was built at %s, before not_before %s (unsafe after the secret rotation); pick a newer '
                'target' % (dep_id, iso_ms(created), iso_ms(not_before_ms)))
    if dep.get('isRollbackCandidate') is False:
        return 'deployment %s is not a rollback candidate for Vercel; pick another target' % dep_id
    return None


def rotation_floor(client, project):
    """Epoch ms of the last secret rotation recorded on the project, or None.

    The ``security_incident`` role writes it as the plain production variable
    ``POURTRAIT_SECRET_ROTATED_AT`` (ISO 8601 UTC): the creation time of the
    first build without the rotated secret. The project JSON's ``env`` is used
    when it holds the variable with a readable value; otherwise one list call
    (without decryption) reads it.
    """
    def mine(envs):
        return [e for e in envs or [] if isinstance(e, dict) and e.get('key') == ROTATION_ENV_KEY
                and not e.get('gitBranch') and 'production' in (e.get('target') or ['production'])]

    def readable(env):
        return env.get('value') not in (None, '') and (env.get('type') == 'plain' or env.get('decrypted') is True)

    found = mine(project.get('env')) if isinstance(project.get('env'), list) else []
    if not found or not all(readable(e) for e in found):
        try:
            found = mine(client.list_env(project['id'], decrypt=False))
        except VercelError as exc:
            raise VercelError('%s - reading %s (the secret rotation guard) failed; rerun, or set '
                              'respect_rotation=false to skip the guard' % (exc, ROTATION_ENV_KEY), **exc.extra)
    floor = None
    for env in found:
        value = env.get('value')
        if not readable(env):
            value = (client.get('/v1/projects/%s/env/%s' % (project['id'], env['id'])) or {}).get('value')
        try:
            stamp = parse_time_ms(value, option=ROTATION_ENV_KEY)
        except VercelError:
            stamp = None
        if stamp is None:
            raise VercelError('%s=%r on project %s is not a time; set it to the rotation time (ISO 8601 UTC such as '
                              '2026-01-31T14:00:00Z) with vercel_env, or set respect_rotation=false'
                              % (ROTATION_ENV_KEY, one_line(value or '')[:40], project.get('name') or project['id']))
        floor = stamp if floor is None else max(floor, stamp)
    return floor


def rollback_candidates(client, project, not_before=None, exclude=None, limit=100):
    """READY production rollback candidates older than the rollback base, newest first (list items)."""
    base = rollback_base(client, project)
    base_created = base.get('createdAt') or base.get('created')
    not_before_ms = parse_time_ms(not_before)
    items, _pag = client.list_deployments(project['id'], target='production', state=[READY], limit=limit,
                                          until=base_created)
    base_id = base.get('id') or base.get('uid')
    return [d for d in items if (d.get('uid') or d.get('id')) != base_id
            and (not base_created or (d.get('created') or 0) < base_created)
            and candidate_problem(d, project['id'], not_before_ms, exclude) is None]

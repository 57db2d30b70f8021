"""The calls of the official ``vercel`` CLI that our modules do not make, for the Vercel stand-in.

``vercel ls``, ``inspect``, ``rollback [status]``, ``promote [status]`` and ``env ls|add|rm`` (npm
``vercel`` 50.44.0) use the paths of vercel_api.py plus these, which :class:`VercelCliRoutes` adds to
``VercelService`` (a mixin: it uses the service's ``model``, ``_project``, ``_deployment`` and
``_alias_listing``):

=========================================================  ==========================================
call                                                       notes
=========================================================  ==========================================
GET  /v11/deployments/{idOrUrl}/builds                     ``{builds: [...]}``: one zero-config Next.js
                                                           build per deployment (``vercel inspect``
                                                           prints its outputs; not in the public spec)
GET  /projects/{idOrName}/custom-environments,             ``{accountLimit: {total}, environments: []}``
GET  /v9/projects/{idOrName}/custom-environments           (``vercel env ls``/``add``; the sandbox project
                                                           has no custom environment)
GET  /v9/projects/{projectId}/promote/aliases              ``failedOnly=true&limit=20``: the aliases of the
                                                           last promote job, each ``{alias: {alias,
                                                           deploymentId}, id, status}`` as the CLI reads
                                                           them after a failed promote (``/v1`` and ``/v10``
                                                           answer the spec's flat ``alias`` string)
=========================================================  ==========================================

A build's ``readyState`` follows its deployment's (QUEUED, BUILDING, READY, ERROR, CANCELED), its
``output`` lists the app's functions (``/health`` and the monitoring endpoints the app stand-in
serves) and static files once the build is READY, and its id is derived from the deployment's, so
it is the same on every call. How to point one's own CLI at the sandbox: README, "The sandbox".
"""

import hashlib

from tests.sandbox.standin import json_response, route

REGION = 'iad1'
# what the app stand-in serves (tests/sandbox/app.py), as a Next.js build outputs it
FUNCTIONS = ('api/health', 'api/monitoring/errors', 'api/monitoring/performance')
STATIC_FILES = (('index.html', 5120), ('_next/static/chunks/main.js', 88064), ('favicon.ico', 15086))
CUSTOM_ENVIRONMENT_LIMIT = {'hobby': 0, 'pro': 1}


def _digest(*parts):
    return hashlib.sha1(':'.join(parts).encode('utf-8')).hexdigest()


def build_view(dep):
    """The one build of deployment ``dep`` (a model deployment), as ``GET /v11/deployments/{id}/builds``
    lists it."""
    state = dep['state']
    created = dep['created']
    out = {'id': 'bld_' + _digest('build', dep['uid'])[:20], 'deploymentId': dep['uid'],
           'entrypoint': 'package.json', 'readyState': state,
           'createdAt': created, 'scheduledAt': created, 'createdIn': REGION, 'use': '@vercel/next',
           'config': {'zeroConfig': True}, 'output': []}
    if dep.get('ready'):
        out['readyStateAt'] = dep['ready']
    elif dep.get('buildingAt'):
        out['readyStateAt'] = dep['buildingAt']
    if state != 'READY':
        return out
    out['deployedAt'] = dep['ready']
    for path in FUNCTIONS:
        out['output'].append({'type': 'lambda', 'path': path, 'digest': _digest(dep['uid'], path), 'mode': 0o100755,
                              'size': 1048576, 'lambda': {'functionName': path.replace('/', '-'),
                                                          'deployedTo': [REGION], 'memorySize': 1024,
                                                          'timeout': 10}})
    for path, size in STATIC_FILES:
        out['output'].append({'type': 'file', 'path': path, 'digest': _digest(dep['uid'], path), 'mode': 0o100644,
                              'size': size})
    return out


class VercelCliRoutes(object):
    """Routes of the official CLI, mixed into ``VercelService`` (see the module docstring)."""

    @route('GET', '/v11/deployments/{idOrUrl}/builds')
    def list_builds(self, request, scope, idOrUrl):
        dep = self._deployment(scope, idOrUrl)
        return json_response({'builds': [build_view(dep)]})

    @route('GET', '/{v:v9/|}projects/{idOrName}/custom-environments')
    def list_custom_environments(self, request, scope, idOrName, **_params):
        proj = self._project(scope, idOrName)
        return json_response({'accountLimit': {'total': CUSTOM_ENVIRONMENT_LIMIT.get(proj['plan'], 1)},
                              'environments': []})

    @route('GET', '/v9/projects/{projectId}/promote/aliases')
    def promote_aliases_nested(self, request, scope, projectId):
        return self._alias_listing(request, scope, projectId, 'promote', flat=False)

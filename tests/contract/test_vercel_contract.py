"""Contract tests: every answer the Vercel stand-in gives, for each operation our modules use, validated
against that operation's response schema in Vercel's own OpenAPI spec (../shared/specs/vercel-openapi.json).

Beyond schema validity, each success body may only use field names the spec declares for it (the
spec rarely sets additionalProperties: false, so a misspelt field would otherwise pass).

Two things the spec cannot check, asserted from FACTS.md instead:
* error answers carry no schema in the spec: they must be ``{"error": {"code", "message"}}`` with a
  status the spec lists for the operation (or 401/404/429/5xx, which every call can get);
* the spec predates the rollback path: its behaviour (201, 400/402/409/422, the job in
  ``lastAliasRequest``, the failed-alias listing) is asserted as FACTS.md describes it.

Vercel's generated spec uses ``oneOf`` for unions whose alternatives overlap (no
``additionalProperties: false``): a full deployment matches both the "public" and the "public and
private" alternative, ``{envs, pagination}`` matches two list shapes, one alternative is a bare
``{"type": "object"}``. Where that happens the test validates against the alternative the answer
claims to be (named per case), and otherwise reads ``oneOf`` as ``anyOf``. Likewise ``nullable: true``
is honoured on enums and on type-less unions (``target`` of a preview, ``aliasAssigned`` before the
aliases are assigned), which the API answers ``null`` for although OAS 3.0.3 reads it only beside a
plain ``type``.
"""

import copy
import json
import os
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPECS = os.path.join(ROOT, '..', 'shared', 'specs')
SPEC_PATH = os.path.join(SPECS, 'vercel-openapi.json')
GENERIC_STATUSES = {401, 404, 429, 500, 502, 503}

ERROR_SCHEMA = {
    'type': 'object', 'required': ['error'], 'additionalProperties': False,
    'properties': {'error': {'type': 'object', 'required': ['code', 'message'], 'additionalProperties': True,
                             'properties': {'code': {'type': 'string', 'minLength': 1},
                                            'message': {'type': 'string', 'minLength': 1}}}}}


def load_spec(path):
    """The vendor's OpenAPI spec at ``path``; the test is skipped, saying why, where ../shared/specs is absent."""
    if not os.path.isdir(SPECS) or not os.path.exists(path):
        pytest.skip('the vendor specs folder %s is absent (it lives beside the repository, in ../shared/specs)'
                    % os.path.normpath(SPECS))
    with open(path) as handle:
        return json.load(handle)


@pytest.fixture(scope='module')
def spec():
    return load_spec(SPEC_PATH)


def _resolve(spec, node):
    while isinstance(node, dict) and '$ref' in node:
        target = spec
        for part in node['$ref'][2:].split('/'):
            target = target[part.replace('~1', '/').replace('~0', '~')]
        node = target
    return node


def _one_of_as_any_of(node):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out['anyOf' if key == 'oneOf' else key] = _one_of_as_any_of(value)
        if out.get('nullable') is True and ('enum' in out or 'type' not in out):
            # OAS 3.0.3 lets nullable act only together with a plain type; the spec's authors mark the
            # fields the API answers null for (target of a preview, aliasAssigned before aliasing)
            out.pop('nullable')
            return {'anyOf': [out, {'enum': [None]}]}
        return out
    if isinstance(node, list):
        return [_one_of_as_any_of(v) for v in node]
    return node


def response_schema(spec, path, method, status, alternative=None):
    """The JSON schema of one documented response (None when the spec gives no content for it)."""
    op = spec['paths'][path][method.lower()]
    assert str(status) in op['responses'], '%s %s: status %s is not documented' % (method, path, status)
    content = op['responses'][str(status)].get('content')
    if not content:
        return None
    schema = _resolve(spec, content['application/json']['schema'])
    if alternative is not None:
        schema = _resolve(spec, schema['oneOf'][alternative])
    return schema


def validate(spec, body, schema, where):
    from openapi_schema_validator import OAS30Validator, oas30_format_checker
    root = _one_of_as_any_of(copy.deepcopy(schema))
    root['components'] = _one_of_as_any_of(spec['components'])
    errors = sorted(OAS30Validator(root, format_checker=oas30_format_checker).iter_errors(body),
                    key=lambda e: list(e.absolute_path))
    messages = ['%s at %s: %s' % (where, '/'.join(str(p) for p in e.absolute_path), e.message[:300])
                for e in errors[:10]]
    assert not messages, '\n'.join(messages)
    extra = undeclared(spec, body, schema, where)
    assert not extra, 'fields the spec does not declare: %s' % extra


def undeclared(spec, body, schema, where):
    """Keys of ``body`` that the schema (or every alternative of it) does not declare."""
    schema = _resolve(spec, schema)
    if not isinstance(schema, dict):
        return []
    for key in ('oneOf', 'anyOf'):
        if key in schema:
            best = None
            for alt in schema[key]:
                found = undeclared(spec, body, alt, where)
                if best is None or len(found) < len(best):
                    best = found
            return best or []
    out = []
    if isinstance(body, dict) and 'properties' in schema and schema.get('additionalProperties') in (None, False):
        for key, value in body.items():
            if key not in schema['properties']:
                out.append('%s.%s' % (where, key))
            else:
                out += undeclared(spec, value, schema['properties'][key], '%s.%s' % (where, key))
    elif isinstance(body, dict) and isinstance(schema.get('additionalProperties'), dict):
        for key, value in body.items():
            out += undeclared(spec, value, schema['additionalProperties'], '%s.%s' % (where, key))
    elif isinstance(body, list) and 'items' in schema:
        for i, value in enumerate(body):
            out += undeclared(spec, value, schema['items'], '%s[%d]' % (where, i))
    return out


def check(spec, result, path, method, status, alternative=None):
    """The answer has the expected status and matches the documented response of that status."""
    code, body, _headers = result
    assert code == status, (method, path, code, body)
    if status >= 400:
        documented = spec['paths'][path][method.lower()]['responses']
        assert str(status) in documented or status in GENERIC_STATUSES, \
            '%s %s answered %s, which the spec does not list' % (method, path, status)
        validate(spec, body, ERROR_SCHEMA, '%s %s %s' % (method, path, status))
        return body
    schema = response_schema(spec, path, method, status, alternative)
    if schema is None:
        assert body in (None, '', {}), body
        return body
    validate(spec, body, schema, '%s %s %s' % (method, path, status))
    return body


def wait(vercel, predicate, timeout=5.0):
    return vercel.wait_for(predicate, timeout=timeout)


def project(vercel):
    return vercel.api('GET', '/v9/projects/%s' % vercel.project_id)


def git_deploy(vercel, target='production'):
    body = {'name': vercel.project_name, 'gitSource': {'type': 'github', 'org': 'pourtrait', 'repo': 'pourtrait',
                                                       'ref': 'main'}}
    if target:
        body['target'] = target
    return vercel.api('POST', '/v13/deployments', body)


# -- user and teams ------------------------------------------------------------------------------
def test_user_and_teams(spec, vercel):
    check(spec, vercel.api('GET', '/v2/user', team=False), '/v2/user', 'GET', 200)
    check(spec, vercel.api('GET', '/v2/user', team=False, token='Z' * 24), '/v2/user', 'GET', 401)
    for path in ('/v2/teams', '/v1/teams', '/teams'):
        check(spec, vercel.api('GET', path, team=False), '/v2/teams', 'GET', 200)
    for path in ('/v2/teams/%s', '/teams/%s'):
        check(spec, vercel.api('GET', path % vercel.team_id, team=False), '/v2/teams/{teamId}', 'GET', 200)
    check(spec, vercel.api('GET', '/teams/team_%s' % ('q' * 24), team=False), '/v2/teams/{teamId}', 'GET', 403)
    check(spec, vercel.api('GET', '/teams/no-such-team', team=False), '/v2/teams/{teamId}', 'GET', 404)


# -- projects ------------------------------------------------------------------------------------
def test_project_in_every_state(spec, vercel):
    op = ('/v9/projects/{idOrName}', 'GET')
    check(spec, project(vercel), *op, status=200)
    check(spec, vercel.api('GET', '/v9/projects/pourtrait', params={'rollbackInfo': 'true'}), *op, status=200)
    previous = vercel.deployments()[1]
    vercel.api('POST', '/v1/projects/%s/rollback/%s' % (vercel.project_id, previous['uid']),
               params={'description': 'contract'})
    body = check(spec, project(vercel), *op, status=200)
    assert body['lastAliasRequest']['jobStatus'] in ('pending', 'in-progress')
    wait(vercel, lambda v: project(v)[1]['lastAliasRequest']['jobStatus'] == 'succeeded')
    vercel.seed_deployment(state='QUEUED', created_offset_s=0)
    vercel.seed_deployment(state='ERROR', created_offset_s=-1)
    body = check(spec, project(vercel), *op, status=200)
    assert body['rollbackDescription']['description'] == 'contract' and body['autoAssignCustomDomains'] is False
    check(spec, vercel.api('GET', '/v9/projects/nope'), *op, status=404)
    check(spec, vercel.api('GET', '/v9/projects/pourtrait', params={'teamId': 'team_other'}), *op, status=403)
    check(spec, vercel.api('GET', '/v9/projects/pourtrait', token='Q' * 24), *op, status=401)
    vercel.reset(owner='personal', plan='hobby')
    check(spec, project(vercel), *op, status=200)


# -- deployments ---------------------------------------------------------------------------------
def test_list_deployments(spec, vercel):
    op = ('/v6/deployments', 'GET')
    vercel.seed_deployment(target='preview', created_offset_s=-5)
    vercel.seed_deployment(state='ERROR', created_offset_s=-6)
    vercel.seed_deployment(state='BUILDING', created_offset_s=-7)
    vercel.seed_deployment(state='CANCELED', created_offset_s=-8)
    body = check(spec, vercel.api('GET', '/v6/deployments', params={'projectId': vercel.project_id, 'limit': 4}),
                 *op, status=200)
    assert body['pagination']['next'] is not None
    body = check(spec, vercel.api('GET', '/v6/deployments', params={'until': body['pagination']['next']}),
                 *op, status=200)
    assert body['pagination']['next'] is None
    check(spec, vercel.api('GET', '/v6/deployments', params={'limit': 0}), *op, status=400)
    check(spec, vercel.api('GET', '/v6/deployments', params={'teamId': 'team_other'}), *op, status=403)
    check(spec, vercel.api('GET', '/v6/deployments', params={'projectId': 'nope'}), *op, status=404)


def test_get_create_cancel_deployment(spec, vercel):
    get = ('/v13/deployments/{idOrUrl}', 'GET')
    # the owner's view: "public and private information", the first alternative of the oneOf
    for dep in vercel.deployments():
        check(spec, vercel.api('GET', '/v13/deployments/%s' % dep['uid']), *get, status=200, alternative=0)
    check(spec, vercel.api('GET', '/v13/deployments/dpl_nope'), *get, status=404)
    check(spec, vercel.api('GET', '/v13/deployments/dpl_nope', params={'teamId': 'team_x'}), *get, status=403)

    create = ('/v13/deployments', 'POST')
    created = check(spec, git_deploy(vercel), *create, status=200)
    check(spec, vercel.api('GET', '/v13/deployments/%s' % created['url']), *get, status=200, alternative=0)
    redeploy = check(spec, vercel.api('POST', '/v13/deployments', {'name': 'pourtrait', 'target': 'production',
                                                                   'deploymentId': created['id']}),
                     *create, status=200)
    check(spec, vercel.api('POST', '/v13/deployments', {'name': 'pourtrait'}), *create, status=400)
    check(spec, vercel.api('POST', '/v13/deployments', {'target': 'production'}), *create, status=400)
    check(spec, vercel.api('POST', '/v13/deployments', {'name': 'nope', 'deploymentId': created['id']}),
          *create, status=404)

    cancel = ('/v12/deployments/{id}/cancel', 'PATCH')
    canceled = check(spec, vercel.api('PATCH', '/v12/deployments/%s/cancel' % redeploy['id']), *cancel, status=200)
    assert canceled['readyState'] == 'CANCELED'
    check(spec, vercel.api('GET', '/v13/deployments/%s' % redeploy['id']), *get, status=200, alternative=0)
    check(spec, vercel.api('PATCH', '/v12/deployments/%s/cancel' % redeploy['id']), *cancel, status=400)
    check(spec, vercel.api('PATCH', '/v12/deployments/dpl_nope/cancel'), *cancel, status=404)
    vercel.next_build(fail=True)
    failed = check(spec, git_deploy(vercel, target=None), *create, status=200)
    wait(vercel, lambda v: v.api('GET', '/v13/deployments/%s' % failed['id'])[1]['readyState'] == 'ERROR')
    check(spec, vercel.api('GET', '/v13/deployments/%s' % failed['id']), *get, status=200, alternative=0)
    wait(vercel, lambda v: v.api('GET', '/v13/deployments/%s' % created['id'])[1]['readyState'] == 'READY')
    check(spec, vercel.api('GET', '/v13/deployments/%s' % created['id']), *get, status=200, alternative=0)


# -- promote (in the spec) and rollback (FACTS.md) -------------------------------------------------
def test_promote(spec, vercel):
    op = ('/v10/projects/{projectId}/promote/{deploymentId}', 'POST')
    path = '/v10/projects/%s/promote/%%s' % vercel.project_id
    live, older = vercel.deployments()[0], vercel.deployments()[1]
    preview = vercel.seed_deployment(target='preview', created_offset_s=-5)
    check(spec, vercel.api('POST', path % live['uid'], {}), *op, status=409)
    check(spec, vercel.api('POST', path % preview['uid'], {}), *op, status=400)
    check(spec, vercel.api('POST', path % older['uid'], {}, params={'teamId': 'team_x'}), *op, status=403)
    check(spec, vercel.api('POST', path % older['uid'], {}, token='W' * 24), *op, status=401)
    check(spec, vercel.api('POST', path % older['uid'], {}), *op, status=201)
    wait(vercel, lambda v: project(v)[1]['lastAliasRequest']['jobStatus'] == 'succeeded')
    listing = ('/v1/projects/{projectId}/promote/aliases', 'GET')
    body = check(spec, vercel.api('GET', '/v1/projects/%s/promote/aliases' % vercel.project_id), *listing,
                 status=200, alternative=1)
    assert body['aliases'] and all(a['status'] == 'succeeded' for a in body['aliases'])
    check(spec, vercel.api('GET', '/v1/projects/%s/promote/aliases' % vercel.project_id,
                           params={'failedOnly': 'true'}), *listing, status=200, alternative=1)
    check(spec, vercel.api('GET', '/v1/projects/nope/promote/aliases'), *listing, status=404)


def test_rollback_behaves_as_facts_describe(spec, vercel):
    """The spec predates the rollback path: FACTS.md is the contract."""
    base = '/v1/projects/%s/rollback/%%s' % vercel.project_id
    live, previous, oldest = vercel.deployments()
    preview = vercel.seed_deployment(target='preview', created_offset_s=-5)
    building = vercel.seed_deployment(state='BUILDING', created_offset_s=-6)
    vercel.set_timings(building_s=30)
    for uid, status in ((preview['uid'], 400), (building['uid'], 422), (live['uid'], 409)):
        code, body, _hdrs = vercel.api('POST', base % uid)
        assert code == status, (uid, code, body)
        validate(spec, body, ERROR_SCHEMA, 'rollback %s' % status)
    vercel.set_plan('hobby')
    code, body, _hdrs = vercel.api('POST', base % oldest['uid'])
    assert code == 402 and body['error']['code'] and body['error']['message']
    vercel.set_plan('pro')
    requested = time.time() * 1000
    code, body, _hdrs = vercel.api('POST', base % oldest['uid'], params={'description': 'why'})
    assert code == 201 and body is None
    lar = project(vercel)[1]['lastAliasRequest']
    assert lar['type'] == 'rollback' and lar['toDeploymentId'] == oldest['uid']
    assert lar['fromDeploymentId'] == live['uid'] and lar['requestedAt'] >= requested - 5
    wait(vercel, lambda v: project(v)[1]['lastAliasRequest']['jobStatus'] == 'succeeded')
    assert project(vercel)[1]['autoAssignCustomDomains'] is False
    code, body, _hdrs = vercel.api('PATCH', (base % oldest['uid']) + '/update-description', {'description': 'more'})
    assert code == 200 and project(vercel)[1]['rollbackDescription']['description'] == 'more'
    code, body, _hdrs = vercel.api('GET', '/v9/projects/%s/rollback/aliases' % vercel.project_id,
                                   params={'failedOnly': 'true'})
    assert code == 200 and body == {'aliases': [], 'pagination': {'count': 0, 'next': None, 'prev': None}}
    code, body, _hdrs = vercel.api('GET', '/v9/projects/%s/rollback/aliases' % vercel.project_id)
    assert body['aliases'] and set(body['aliases'][0]) == {'alias', 'id', 'status'}
    assert set(body['aliases'][0]['alias']) == {'alias', 'deploymentId'}


# -- env vars ------------------------------------------------------------------------------------
def test_env_vars(spec, vercel):
    pid = vercel.project_id
    listing = ('/v10/projects/{idOrName}/env', 'GET')
    # {envs, pagination}: the second alternative
    check(spec, vercel.api('GET', '/v10/projects/%s/env' % pid), *listing, status=200, alternative=1)
    check(spec, vercel.api('GET', '/v10/projects/%s/env' % pid, params={'decrypt': 'true', 'gitBranch': 'main'}),
          *listing, status=200, alternative=1)
    check(spec, vercel.api('GET', '/v10/projects/%s/env' % pid, token='E' * 24), *listing, status=401)
    create = ('/v10/projects/{idOrName}/env', 'POST')
    new = {'key': 'CONTRACT', 'value': 'v', 'type': 'encrypted', 'target': ['production', 'preview']}
    one = check(spec, vercel.api('POST', '/v10/projects/%s/env' % pid, new), *create, status=201)
    check(spec, vercel.api('POST', '/v10/projects/%s/env' % pid, new, params={'upsert': 'true'}), *create,
          status=201)
    many = check(spec, vercel.api('POST', '/v10/projects/%s/env' % pid,
                                  [new, dict(new, key='BRANCHED', target=['preview'], gitBranch='feature')]),
                 *create, status=201)
    assert len(many['failed']) == 1 and len(many['created']) == 1
    check(spec, vercel.api('POST', '/v10/projects/%s/env' % pid, new), *create, status=400)
    check(spec, vercel.api('POST', '/v10/projects/%s/env' % pid, dict(new, type='weird')), *create, status=400)
    env_id = one['created']['id']
    check(spec, vercel.api('GET', '/v1/projects/%s/env/%s' % (pid, env_id)),
          '/v1/projects/{idOrName}/env/{id}', 'GET', 200)
    check(spec, vercel.api('GET', '/v1/projects/%s/env/nope' % pid), '/v1/projects/{idOrName}/env/{id}', 'GET', 404)
    edit = ('/v9/projects/{idOrName}/env/{id}', 'PATCH')
    check(spec, vercel.api('PATCH', '/v9/projects/%s/env/%s' % (pid, env_id), {'value': 'w', 'comment': 'c'}),
          *edit, status=200)
    check(spec, vercel.api('PATCH', '/v9/projects/%s/env/%s' % (pid, env_id), {'key': 'DATABASE_URL'}),
          *edit, status=409)
    check(spec, vercel.api('PATCH', '/v9/projects/%s/env/%s' % (pid, env_id), {'nope': 1}), *edit, status=400)
    check(spec, vercel.api('PATCH', '/v9/projects/%s/env/nope' % pid, {'value': 'x'}), *edit, status=404)
    remove = ('/v9/projects/{idOrName}/env/{id}', 'DELETE')
    check(spec, vercel.api('DELETE', '/v9/projects/%s/env/%s' % (pid, env_id)), *remove, status=200)
    check(spec, vercel.api('DELETE', '/v9/projects/%s/env/%s' % (pid, env_id)), *remove, status=404)


# -- aliases and faults --------------------------------------------------------------------------
def test_aliases(spec, vercel):
    op = ('/v4/aliases', 'GET')
    body = check(spec, vercel.api('GET', '/v4/aliases', params={'projectId': vercel.project_id}), *op, status=200)
    assert body['aliases']
    check(spec, vercel.api('GET', '/v4/aliases', params={'projectId': 'nope'}), *op, status=404)


def test_rate_limited_and_server_errors_have_the_documented_bodies(spec, vercel):
    vercel.set_faults(rate=1.0, kinds=['429'], retry_after='3')
    code, body, headers = vercel.api('GET', '/v6/deployments')
    assert code == 429 and headers['Retry-After'] == '3'
    limit_schema = copy.deepcopy(ERROR_SCHEMA)
    limit_schema['properties']['error']['required'].append('limit')
    limit_schema['properties']['error']['properties']['limit'] = {
        'type': 'object', 'required': ['remaining', 'reset', 'resetMs', 'total'],
        'properties': dict((k, {'type': 'integer'}) for k in ('remaining', 'reset', 'resetMs', 'total'))}
    validate(spec, body, limit_schema, '429')
    assert body['error']['code'] == 'rate_limited'
    for kind in ('500', '502', '503'):
        vercel.set_faults(rate=1.0, kinds=[kind])
        check(spec, vercel.api('GET', '/v6/deployments'), '/v6/deployments', 'GET', int(kind))

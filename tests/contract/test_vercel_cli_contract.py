"""Contract tests of the stand-in's answers to the calls only the official ``vercel`` CLI makes (see
tests/sandbox/vercel_cli_routes.py), against Vercel's OpenAPI spec where it has the path, else against what
FACTS.md and the CLI's own types (``Build``, the promote aliases it reads) say."""

import pytest

from tests.contract.test_vercel_contract import ERROR_SCHEMA, SPEC_PATH, check, load_spec, validate

BUILD_SCHEMA = {  # the CLI's Build type (internals/types of vercel 50.44.0): what `vercel inspect` reads
    'type': 'object', 'required': ['id', 'deploymentId', 'entrypoint', 'readyState', 'output'],
    'properties': {
        'id': {'type': 'string', 'pattern': '^bld_'}, 'deploymentId': {'type': 'string'},
        'entrypoint': {'type': 'string'}, 'use': {'type': 'string'}, 'createdIn': {'type': 'string'},
        'readyState': {'enum': ['INITIALIZING', 'BUILDING', 'UPLOADING', 'DEPLOYING', 'READY', 'ARCHIVED', 'ERROR',
                                'QUEUED', 'CANCELED']},
        'readyStateAt': {'type': 'integer'}, 'scheduledAt': {'type': 'integer'}, 'createdAt': {'type': 'integer'},
        'deployedAt': {'type': 'integer'},
        'config': {'type': 'object', 'additionalProperties': False,
                   'properties': {'distDir': {'type': 'string'}, 'forceBuildIn': {'type': 'string'},
                                  'reuseWorkPathFrom': {'type': 'string'}, 'zeroConfig': {'type': 'boolean'}}},
        'output': {'type': 'array', 'items': {
            'type': 'object', 'required': ['path', 'digest', 'mode'], 'additionalProperties': False,
            'properties': {'type': {'enum': ['lambda', 'file']}, 'path': {'type': 'string'},
                           'digest': {'type': 'string'}, 'mode': {'type': 'integer'}, 'size': {'type': 'integer'},
                           'lambda': {'type': 'object', 'required': ['functionName', 'deployedTo'],
                                      'properties': {'functionName': {'type': 'string'},
                                                     'deployedTo': {'type': 'array', 'items': {'type': 'string'}},
                                                     'memorySize': {'type': 'integer'},
                                                     'timeout': {'type': 'integer'}}}}}}},
    'additionalProperties': False}


@pytest.fixture(scope='module')
def spec():
    return load_spec(SPEC_PATH)


def test_custom_environments(spec, vercel):
    op = ('/v9/projects/{idOrName}/custom-environments', 'GET')
    for path in ('/v9/projects/%s/custom-environments', '/projects/%s/custom-environments'):
        body = check(spec, vercel.api('GET', path % vercel.project_id), *op, status=200)
        assert body == {'accountLimit': {'total': 1}, 'environments': []}
    check(spec, vercel.api('GET', '/projects/nope/custom-environments'), *op, status=404)
    check(spec, vercel.api('GET', '/projects/%s/custom-environments' % vercel.project_id, team=False), *op, status=404)
    check(spec, vercel.api('GET', '/projects/%s/custom-environments' % vercel.project_id, token='C' * 24), *op,
          status=401)


def test_env_calls_as_the_cli_makes_them(spec, vercel):
    pid = vercel.project_id
    listing = ('/v10/projects/{idOrName}/env', 'GET')
    body = check(spec, vercel.api('GET', '/v10/projects/%s/env' % pid,
                                  params={'target': 'development', 'source': 'vercel-cli:env:ls'}),
                 *listing, status=200, alternative=1)
    assert [e['key'] for e in body['envs']] == ['NEXT_PUBLIC_SUPABASE_URL']
    body = check(spec, vercel.api('GET', '/v10/projects/%s/env' % pid, params={'customEnvironmentId': 'env_x'}),
                 *listing, status=200, alternative=1)
    assert body['envs'] == []
    created = check(spec, vercel.api('POST', '/v10/projects/%s/env' % pid,
                                     {'type': 'encrypted', 'key': 'CLI_ADDED', 'value': 'v', 'target': ['production']}),
                    '/v10/projects/{idOrName}/env', 'POST', 201)['created']
    remove = ('/v9/projects/{idOrName}/env/{id}', 'DELETE')  # the CLI deletes with /v10, the spec has /v9
    check(spec, vercel.api('DELETE', '/v10/projects/%s/env/%s' % (pid, created['id'])), *remove, status=200)
    check(spec, vercel.api('DELETE', '/v10/projects/%s/env/%s' % (pid, created['id'])), *remove, status=404)


def test_builds_as_the_cli_reads_them(spec, vercel):
    live = vercel.live()
    for key in (live['uid'], live['url']):
        code, body, _headers = vercel.api('GET', '/v11/deployments/%s/builds' % key)
        assert code == 200 and set(body) == {'builds'} and len(body['builds']) == 1, (code, body)
        validate(spec, body['builds'][0], BUILD_SCHEMA, 'builds of a READY deployment')
        assert body['builds'][0]['deploymentId'] == live['uid'] and body['builds'][0]['output']
    building = vercel.seed_deployment(state='BUILDING', created_offset_s=-2)
    vercel.set_timings(building_s=30)
    code, body, _headers = vercel.api('GET', '/v11/deployments/%s/builds' % building['uid'])
    validate(spec, body['builds'][0], BUILD_SCHEMA, 'builds of a BUILDING deployment')
    assert body['builds'][0]['readyState'] == 'BUILDING' and body['builds'][0]['output'] == []
    code, body, _headers = vercel.api('GET', '/v11/deployments/dpl_nope/builds')
    assert code == 404
    validate(spec, body, ERROR_SCHEMA, 'builds 404')


def test_v9_promote_aliases_are_nested_as_the_cli_reads_them(spec, vercel):
    older = vercel.deployments()[1]
    vercel.next_job(fail=True)
    code, _body, _headers = vercel.api('POST', '/v10/projects/%s/promote/%s' % (vercel.project_id, older['uid']), {})
    assert code == 201
    vercel.wait_for(lambda v: v.project()['lastAliasRequest']['jobStatus'] == 'failed')
    code, body, _headers = vercel.api('GET', '/v9/projects/%s/promote/aliases' % vercel.project_id,
                                      params={'failedOnly': 'true', 'limit': '20'})
    assert code == 200 and body['pagination']['next'] is None and body['aliases']
    for item in body['aliases']:
        assert set(item) == {'alias', 'id', 'status'} and item['status'] == 'failed'
        assert set(item['alias']) == {'alias', 'deploymentId'} and item['alias']['deploymentId'] == older['uid']
    # /v1 keeps the spec's flat answer
    check(spec, vercel.api('GET', '/v1/projects/%s/promote/aliases' % vercel.project_id),
          '/v1/projects/{projectId}/promote/aliases', 'GET', 200, alternative=1)

"""Unit tests of plugins/module_utils/vercel.py and app.py: token shape, times, references, error
messages, rollback-candidate rules and the verification verdict rules (pure logic; the HTTP side
is covered by test_http.py and the integration tests against the stand-in)."""

import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils import app  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils import vercel as v  # noqa: E402

GOOD_TOKEN = 'A' * 12 + '0123456789ab'


# -- token -------------------------------------------------------------------------------------
def test_token_shape_is_checked_without_echoing_it():
    v.check_token(GOOD_TOKEN)
    bad = 'secret-value-with-dash!!'
    with pytest.raises(v.VercelError) as info:
        v.check_token(bad)
    assert bad not in str(info.value) and '24 letters and digits' in str(info.value)
    with pytest.raises(v.VercelError) as info:
        v.check_token(GOOD_TOKEN + '\n')
    assert 'VERCEL_TOKEN' in str(info.value) and '\n' not in str(info.value)
    with pytest.raises(v.VercelError) as info:
        v.check_token(None)
    assert 'VERCEL_TOKEN' in str(info.value)


def test_client_refuses_a_malformed_token_before_any_call():
    with pytest.raises(v.VercelError):
        v.VercelClient('short', api_url='http://127.0.0.1:9')


def test_team_scope_uses_team_id_or_slug():
    assert v.VercelClient(GOOD_TOKEN, team='team_abc').scope({'a': 1, 'b': None}) == {'a': 1, 'teamId': 'team_abc'}
    assert v.VercelClient(GOOD_TOKEN, team='pourtrait-team').scope() == {'slug': 'pourtrait-team'}
    assert v.VercelClient(GOOD_TOKEN).scope({'x': 'y'}) == {'x': 'y'}


# -- times and references ------------------------------------------------------------------------
def test_parse_time_ms_accepts_iso_and_epochs():
    assert v.parse_time_ms('2026-01-31T14:00:00Z') == 1769868000000
    assert v.parse_time_ms('2026-01-31T15:00:00+01:00') == 1769868000000
    assert v.parse_time_ms('1769868000') == 1769868000000
    assert v.parse_time_ms(1769868000000) == 1769868000000
    assert v.parse_time_ms(None) is None
    with pytest.raises(v.VercelError) as info:
        v.parse_time_ms('yesterday')
    assert 'ISO 8601' in str(info.value)


def test_iso_ms_round_trip():
    assert v.iso_ms(1769868000123) == '2026-01-31T14:00:00.123Z'
    assert v.iso_ms(None) is None


def test_host_of_takes_ids_and_urls():
    assert v.host_of('dpl_abc') == 'dpl_abc'
    assert v.host_of('https://pourtrait-x.vercel.app/some/path') == 'pourtrait-x.vercel.app'
    assert v.host_of(' pourtrait-x.vercel.app ') == 'pourtrait-x.vercel.app'


def test_summarize_takes_list_items_and_full_deployments():
    item = v.summarize_deployment({'uid': 'dpl_1', 'url': 'a.vercel.app', 'state': 'READY', 'created': 1000,
                                   'target': 'production', 'meta': {'githubCommitSha': 'abc'}})
    full = v.summarize_deployment({'id': 'dpl_1', 'url': 'a.vercel.app', 'readyState': 'READY', 'createdAt': 1000,
                                   'target': 'production', 'gitSource': {'sha': 'abc'}})
    for key in ('id', 'url', 'state', 'created', 'sha', 'target'):
        assert item[key] == full[key]
    assert item['url'] == 'https://a.vercel.app'


# -- error messages ----------------------------------------------------------------------------
@pytest.mark.parametrize('status,body,fragments', [
    (401, {'error': {'code': 'forbidden', 'message': 'Not authorized'}},
     ['401: the Vercel token was rejected', 'check VERCEL_TOKEN']),
    (402, {'error': {'code': 'payment_required', 'message': 'Hobby plans can only roll back to the previous'}},
     ['402', 'Hobby', 'target=previous']),
    (403, {'error': {'code': 'forbidden', 'message': 'you are not a member of the team'}}, ['403', 'team_id']),
    (404, {'error': {'code': 'not_found', 'message': 'Project not found.'}}, ['404', 'VERCEL_PROJECT']),
    (429, {'error': {'code': 'rate_limited', 'limit': {'reset': 1769868000}}}, ['429', 'rate limit', '2026-01-31']),
    (502, None, ['502', 'vercel-status']),
    (400, {'error': {'code': 'bad_request', 'message': 'bad\nthing'}}, ['400', 'bad_request', 'bad thing']),
])
def test_error_messages_say_what_failed_and_what_to_do(status, body, fragments):
    msg = v.describe_vercel_error(status, body, 'GET', '/v9/projects/pourtrait?teamId=x')
    assert '\n' not in msg
    for fragment in fragments:
        assert fragment in msg, msg


# -- rollback candidates -------------------------------------------------------------------------
def dep(**kw):
    base = dict(uid='dpl_a', url='a.vercel.app', state='READY', target='production', created=2000, projectId='prj_1')
    base.update(kw)
    return base


def test_candidate_rules():
    assert v.candidate_problem(dep(), 'prj_1') is None
    assert 'not READY' in v.candidate_problem(dep(state='ERROR'), 'prj_1')
    assert 'preview build' in v.candidate_problem(dep(target=None), 'prj_1')
    assert 'another project' in v.candidate_problem(dep(projectId='prj_2'), 'prj_1')
    assert 'exclude list' in v.candidate_problem(dep(), 'prj_1', exclude_refs=['https://a.vercel.app'])
    assert 'exclude list' in v.candidate_problem(dep(), 'prj_1', exclude_refs=['dpl_a'])
    assert 'before not_before' in v.candidate_problem(dep(created=1000), 'prj_1', not_before_ms=1500)
    assert v.candidate_problem(dep(created=1500), 'prj_1', not_before_ms=1500) is None
    assert 'not a rollback candidate' in v.candidate_problem(dep(isRollbackCandidate=False), 'prj_1')


# -- health and verification ---------------------------------------------------------------------
class Answer(app.ProbeResult):
    def __init__(self, status, body):
        import json
        super(Answer, self).__init__(status, {}, json.dumps(body).encode(), {})


def test_health_names_the_unhealthy_services():
    ok = app.evaluate_health(Answer(200, {'status': 'healthy', 'services': {'database': 'healthy', 'ai': 'healthy'}}))
    assert ok[0] is True
    bad = app.evaluate_health(Answer(503, {'status': 'unhealthy', 'services': {'database': 'unhealthy', 'ai': 'healthy',
                                                                               'imageProcessing': 'down'}}))
    assert bad[0] is False and bad[3] == ['database (unhealthy)', 'imageProcessing (down)']
    assert 'database (unhealthy)' in bad[4] and 'status unhealthy' in bad[4]
    missing = app.evaluate_health(Answer(200, {'status': 'healthy', 'services': {}}), required_services=['database'])
    assert missing[0] is False and 'database (missing)' in missing[4]
    listed = app.evaluate_health(Answer(200, {'status': 'healthy', 'services': [{'name': 'db', 'status': 'ok'}]}))
    assert listed[0] is True and listed[2] == {'db': 'ok'}


def test_first_number_finds_nested_fields():
    data = {'requestCount': 900, 'responseTime': {'avg': 95, 'p95': 220}}
    assert app.first_number(data, app.LATENCY_FIELDS['p95']) == 220
    assert app.first_number(data, app.REQUEST_COUNT_FIELDS) == 900
    assert app.first_number({'x': True}, ('x',)) is None

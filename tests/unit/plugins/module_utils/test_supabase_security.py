"""Unit tests of plugins/module_utils/supabase_security.py: splitting and merging log windows, the password and
DATABASE_URL checks (never echoing a secret), and the retry behaviour of the key calls against the scripted
HTTP server of test_http.py."""

import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link
from tests.unit.plugins.module_utils.test_http import Sleeps, server  # noqa: F401 pylint: disable=unused-import

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils import supabase as s  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils import supabase_security as sec  # noqa: E402

TOKEN = 'sbp_' + '0123456789abcdef' * 2 + '01234567'
REF = 'abcdefghijklmnopqrst'
KEY_ID = '22222222-2222-4222-8222-222222222222'
DAY = 86400


def test_split_window_covers_it_in_pieces_of_at_most_a_day():
    assert sec.split_window(0, 3600) == [(0, 3600)]
    assert sec.split_window(0, DAY) == [(0, DAY)]
    assert sec.split_window(0, 2.5 * DAY) == [(0, DAY), (DAY, 2 * DAY), (2 * DAY, 2.5 * DAY)]
    assert sec.split_window(10, 10) == [(10, 10)]


def test_merge_rows_drops_duplicates_and_orders_by_timestamp():
    a = [{'id': 'x', 'timestamp': 3}, {'id': 'y', 'timestamp': 1}]
    b = [{'id': 'x', 'timestamp': 3}, {'id': 'z', 'timestamp': 2}]
    assert [r['id'] for r in sec.merge_rows([a, b])] == ['x', 'z', 'y']
    assert [r['id'] for r in sec.merge_rows([a, b], 'asc')] == ['y', 'z', 'x']
    counts = [{'n': 1}, {'n': 1}, {'n': 2}]  # no id, no timestamp: equal rows once, order kept
    assert sec.merge_rows([counts]) == [{'n': 1}, {'n': 2}]


def test_iso_ms():
    assert sec.iso_ms(0) == '1970-01-01T00:00:00.000Z'
    assert sec.iso_ms(1.5) == '1970-01-01T00:00:01.500Z'


def test_password_rules_never_echo_the_value():
    sec.check_password('A' * 16, 16)
    sec.check_password('abc-DEF_012.345~x', 16)
    for bad in ('short', 'has a space in it ok', 'quote"quote"quote"', 'slash/slash/slash/x', 'at@at@at@at@at@at'):
        with pytest.raises(s.SupabaseError) as info:
            sec.check_password(bad, 16)
        assert bad not in str(info.value)
    generated = sec.generate_password(40)
    assert len(generated) == 40 and generated.isalnum() and generated != sec.generate_password(40)


TARGET = dict(host='db.%s.supabase.co' % REF, port=5432, user='postgres', dbname='postgres')


def test_app_url_must_point_at_the_target():
    sec.check_app_url('postgresql://postgres:pw@db.%s.supabase.co:5432/postgres' % REF, TARGET, REF)
    sec.check_app_url('postgres://postgres:pw@DB.%s.supabase.co/postgres?sslmode=require' % REF, TARGET, REF)
    sec.check_app_url('postgresql://postgres.%s:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres' % REF,
                      TARGET, REF)
    for url in ('postgresql://postgres:s3cr3t@db.other.supabase.co:5432/postgres',
                'postgresql://postgres:s3cr3t@db.%s.supabase.co:5432/other' % REF,
                'postgresql://postgres:s3cr3t@db.%s.supabase.co:6543/postgres' % REF,
                'postgresql://app:s3cr3t@db.%s.supabase.co:5432/postgres' % REF,
                'postgresql://postgres.zzzzzzzzzzzzzzzzzzzz:s3cr3t@aws-0.pooler.supabase.com:6543/postgres',
                'mysql://postgres:s3cr3t@db.%s.supabase.co/postgres' % REF, 'not a url s3cr3t'):
        with pytest.raises(s.SupabaseError) as info:
            sec.check_app_url(url, TARGET, REF)
        assert 's3cr3t' not in str(info.value) and '\n' not in str(info.value)


def client(server, **kwargs):  # noqa: F811
    kwargs.setdefault('retries', 2)
    return s.SupabaseClient(TOKEN, api_url=server.url, sleep=Sleeps(), **kwargs)


def test_a_delete_whose_answer_was_lost_counts_as_done(server):  # noqa: F811
    path = '/v1/projects/%s/api-keys/%s' % (REF, KEY_ID)
    server.add('DELETE', path, (503, {'message': 'Service Unavailable'}, {}), (404, {'message': 'API key not found'}, {}))
    sec.delete_api_key(client(server), REF, KEY_ID, True, 'leaked')
    sent = [r for r in server.log if r[1].split('?')[0] == path]
    assert len(sent) == 2


def test_a_delete_of_an_unknown_key_is_one_line(server):  # noqa: F811
    path = '/v1/projects/%s/api-keys/%s' % (REF, KEY_ID)
    server.add('DELETE', path, (404, {'message': 'API key not found'}, {}))
    with pytest.raises(s.SupabaseError) as info:
        sec.delete_api_key(client(server), REF, KEY_ID, True)
    assert str(info.value).startswith('404: no API key with id %s' % KEY_ID)


def test_a_lost_create_answer_is_settled_by_listing_not_a_second_post(server):  # noqa: F811
    path = '/v1/projects/%s/api-keys' % REF
    server.add('POST', path, (502, {'message': 'Bad Gateway'}, {}), (201, {'name': 'twice'}, {}))
    server.add('GET', path, (200, [{'id': KEY_ID, 'name': 'app_server', 'type': 'secret', 'api_key': 'sb_secret_x'}],
                             {}))
    made = sec.create_api_key(client(server), REF, 'secret', 'app_server', reveal=True)
    assert made['id'] == KEY_ID
    assert len([r for r in server.log if r[0] == 'POST']) == 1


def test_a_logs_sql_error_is_one_line(server):  # noqa: F811
    path = '/v1/projects/%s/analytics/endpoints/logs.all' % REF
    server.add('GET', path, (200, {'error': {'code': 400, 'message': 'Unrecognized name: nope\nat [1:8]',
                                             'status': 'INVALID_ARGUMENT', 'errors': []}}, {}))
    with pytest.raises(s.SupabaseError) as info:
        sec.query_logs(client(server), REF, 'select nope from edge_logs', 0, 60)
    assert 'Unrecognized name: nope' in str(info.value) and '\n' not in str(info.value)

"""Unit tests of plugins/module_utils/vercel_logs.py: status filters and the runtime-log line filter (the streaming
read is covered by the integration tests against the stand-in's open stream)."""

import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils import vercel_logs as logs  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import VercelError  # noqa: E402

LINE = {'level': 'error', 'message': 'GET /api/wines 503 - db down', 'rowId': 'row1', 'source': 'serverless',
        'timestampInMs': 1000, 'domain': 'pourtrait.app', 'messageTruncated': False, 'requestMethod': 'GET',
        'requestPath': '/api/wines', 'responseStatusCode': 503}


def test_status_filters():
    assert logs.parse_status_filters(['5xx', '500', '4XX', 404]) == ['5xx', '500', '4xx', '404']
    assert logs.parse_status_filters(None) == []
    for bad in ('5x', '600', 'error', '50', '5xxx'):
        with pytest.raises(VercelError, match="status_code=.* is not a status code"):
            logs.parse_status_filters([bad])
    assert logs.status_matches(503, ['5xx']) and logs.status_matches(500, ['500'])
    assert not logs.status_matches(404, ['5xx', '500']) and logs.status_matches(404, ['5xx', '4xx'])
    assert logs.status_matches(None, []) and not logs.status_matches(None, ['5xx'])


@pytest.mark.parametrize('flt, keep', [
    ({}, True),
    ({'since': 1000, 'until': 1000}, True),
    ({'since': 1001}, False),
    ({'until': 999}, False),
    ({'levels': ['error']}, True),
    ({'levels': ['info', 'warning']}, False),
    ({'status': ['5xx']}, True),
    ({'status': ['500']}, False),
    ({'path': '/api/'}, True),
    ({'path': '/health'}, False),
    ({'request_id': 'row1'}, True),
    ({'request_id': 'row2'}, False),
    ({'contains': 'db down'}, True),
    ({'contains': 'timeout'}, False),
])
def test_line_matches(flt, keep):
    assert logs.line_matches(LINE, flt) is keep


def test_line_view():
    view = logs.line_view(LINE)
    assert view['time'] == '1970-01-01T00:00:01.000Z' and view['status'] == 503 and view['row_id'] == 'row1'
    assert view['request_id'] is None and view['path'] == '/api/wines'

"""Unit tests of postgres_retention's value handling (named *_values so the basename does not
clash with tests/integration/plugins/modules/test_postgres_retention.py under pytest's
default import mode)."""

import datetime
import decimal
import sys
import uuid

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.modules import postgres_retention as mod  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError  # noqa: E402


@pytest.mark.parametrize('value, expected', [
    (None, None),
    (decimal.Decimal('640'), 640),
    (decimal.Decimal('2.50'), 2.5),
    (datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), '2026-01-02T03:04:05+00:00'),
    (datetime.date(2026, 1, 2), '2026-01-02'),
    (datetime.timedelta(minutes=2), 120.0),
    (uuid.UUID(int=1), '00000000-0000-0000-0000-000000000001'),
    (memoryview(b'\x01\xff'), '01ff'),
    ([decimal.Decimal('1'), {'at': datetime.date(2026, 1, 2)}], [1, {'at': '2026-01-02'}]),
])
def test_json_safe(value, expected):
    assert mod.json_safe(value) == expected


@pytest.mark.parametrize('value, expected', [
    (True, 'true'), (False, 'false'), (3, '3'), (1.5, '1.5'), ('warn', 'warn'), (None, None),
])
def test_match_values_are_sent_as_text(value, expected):
    assert mod.match_value('col', value) == expected


@pytest.mark.parametrize('value', [[1], {'a': 1}])
def test_match_rejects_structures(value):
    with pytest.raises(PgModuleError) as info:
        mod.match_value('read', value)
    assert str(info.value).startswith('match: the value of "read" must be a string, number, boolean or null')

"""Unit tests of postgres_terminate's candidate bookkeeping (named *_session so the basename does
not clash with tests/integration/plugins/modules/test_postgres_terminate.py)."""

import datetime
import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.modules import postgres_terminate as mod  # noqa: E402

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
T1 = T0 + datetime.timedelta(seconds=1)
T2 = T0 + datetime.timedelta(seconds=2)


def session(state, query='SELECT pg_sleep(600)', duration=612.4):
    # pid, usename, datname, application_name, client_addr, state, query, backend_start, query_start,
    # state_change, duration
    return mod.Session((42, 'app', 'postgres', 'web', '10.0.0.7', state, query, T0, T1, T1, duration))


@pytest.mark.parametrize('seconds, threshold, expected', [
    (612.4, 300, '612s'), (1.4, 1, '1.4s'), (2.9, 1, '2s'), (300.7, 300, '300.7s'),
])
def test_duration_shows_a_decimal_only_when_whole_seconds_would_not_exceed_the_threshold(seconds, threshold, expected):
    assert mod._fmt_duration(seconds, threshold) == expected


def test_query_is_cut_to_200_characters():
    long_query = 'SELECT ' + 'x' * 500
    assert session('active', query=long_query).as_dict()['query'] == long_query[:200]
    assert session('active', query=None).as_dict()['query'] == ''


@pytest.mark.parametrize('row, same', [
    ((42, T0, T1, T2, 'active'), True),                          # still the same query
    ((42, T0, T2, T2, 'active'), False),                         # a new query started
    ((42, T0, T1, T2, 'idle'), False),                           # the query ended
    ((42, T0, T1, T2, 'idle in transaction (aborted)'), False),  # cancelled inside a transaction
    ((42, T2, T1, T2, 'active'), False),                         # pid reused by a new backend
])
def test_active_session_is_the_same_only_while_running_the_same_query(row, same):
    assert session('active').same_as(row) is same


@pytest.mark.parametrize('row, same', [
    ((42, T0, T1, T1, 'idle in transaction'), True),
    ((42, T0, T1, T2, 'idle in transaction'), False),  # did something in between
    ((42, T0, T2, T2, 'active'), False),
])
def test_idle_transaction_is_the_same_while_untouched(row, same):
    assert session('idle in transaction').same_as(row) is same

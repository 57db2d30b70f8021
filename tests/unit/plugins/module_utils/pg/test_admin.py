"""Unit tests of plugins/module_utils/pg/admin.py: databases and their sessions (against a recording fake
connection; tests/integration runs them against PostgreSQL)."""

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import admin
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError
from tests.unit.plugins.module_utils.pg.helpers import FakeConn


def test_existing_databases_asks_once_for_all_names():
    conn = FakeConn(answers=[[('a',), ('c',)]])
    assert admin.existing_databases(conn, ['a', 'b', 'c']) == {'a', 'c'}
    assert conn.executed == [('SELECT datname FROM pg_catalog.pg_database WHERE datname = ANY(%s)', (['a', 'b', 'c'],))]


def test_database_exists():
    assert admin.database_exists(FakeConn(answers=[[('app',)]]), 'app') is True
    assert admin.database_exists(FakeConn(answers=[[]]), 'app') is False


def test_signal_backend_sends_only_the_two_signals():
    conn = FakeConn(answers=[[(True,)], [(False,)]])
    assert admin.signal_backend(conn, 42) is True
    assert admin.signal_backend(conn, 43, 'pg_cancel_backend') is False
    assert conn.executed == [('SELECT pg_catalog.pg_terminate_backend(%s)', (42,)),
                             ('SELECT pg_catalog.pg_cancel_backend(%s)', (43,))]
    with pytest.raises(ValueError):
        admin.signal_backend(conn, 44, 'pg_reload_conf')


def test_terminate_sessions_ends_each_and_waits_until_they_are_gone():
    sessions = [(11, 'u', 'app'), (12, 'u', 'app')]
    conn = FakeConn(answers=[sessions, [(True,)], [(True,)], [sessions[1]], []])
    assert admin.terminate_sessions(conn, 'app') == 2
    signalled = [params for query, params in conn.executed if 'pg_terminate_backend' in query]
    assert signalled == [(11,), (12,)]


def test_terminate_sessions_says_when_they_come_back():
    conn = FakeConn()
    conn.answers = [[(11, 'u', 'app')], [(True,)]] + [[(13, 'u', 'app')]] * 100
    with pytest.raises(PgModuleError, match='did not end within 0s after pg_terminate_backend; check for a pooler'):
        admin.terminate_sessions(conn, 'app', timeout=0)

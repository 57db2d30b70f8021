"""Unit tests of plugins/module_utils/pg/verify.py: the parts of a dump's verification that need no server."""

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import verify
from tests.unit.plugins.module_utils.pg.helpers import FakeConn


def test_without_pg_restore_verify_none_lists_no_tables():
    assert verify.list_toc_quiet(None, '/nowhere.dump', {}) == []


def test_a_missing_or_broken_dump_lists_no_tables_with_verify_none(tmp_path):
    assert verify.list_toc_quiet('/bin/false', str(tmp_path / 'x.dump'), {}) == []


def test_only_scratch_databases_of_gone_sessions_are_dropped(monkeypatch):
    dropped = []
    monkeypatch.setattr(verify, 'drop_database', lambda conn, name, force=False: dropped.append((name, force)))
    conn = FakeConn(answers=[[('pourtrait_verify_123_0123abcd',), ('pourtrait_verify_9_notahexid',)]])
    assert verify.drop_stale_scratch_databases(conn) == ['pourtrait_verify_123_0123abcd']
    assert dropped == [('pourtrait_verify_123_0123abcd', True)]

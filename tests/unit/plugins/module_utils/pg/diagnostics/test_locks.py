"""Unit tests of plugins/module_utils/pg/diagnostics/locks.py: the blocking tree."""

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics.locks import blocking_tree, root_pids


def s(pid, *blocked_by, **extra):
    return dict(pid=pid, blocked_by=list(blocked_by), **extra)


def shape(tree):
    """(pid, [children shapes]) for comparing trees."""
    return (tree['pid'], [shape(c) for c in tree['children']])


def test_no_sessions_no_tree():
    assert blocking_tree([]) == []


def test_root_blocker_with_a_chain_and_a_sibling():
    # 10 holds a row lock; 11 waits for 10; 12 waits for 11 (queued behind it); 13 waits for 10.
    trees = blocking_tree([s(10, state='idle in transaction'), s(11, 10), s(12, 11), s(13, 10)])
    assert [shape(t) for t in trees] == [(10, [(11, [(12, [])]), (13, [])])]
    root = trees[0]
    assert root['state'] == 'idle in transaction' and root['blocked_count'] == 3
    assert root['children'][0]['blocked_count'] == 1
    assert root_pids(trees) == [10]


def test_roots_blocking_most_come_first():
    trees = blocking_tree([s(1), s(2, 1), s(5), s(6, 5), s(7, 5)])
    assert [t['pid'] for t in trees] == [5, 1]
    assert [t['blocked_count'] for t in trees] == [2, 1]


def test_a_waiter_with_two_blockers_is_under_each():
    trees = blocking_tree([s(1), s(2), s(3, 1, 2)])
    assert [shape(t) for t in trees] == [(1, [(3, [])]), (2, [(3, [])])]


def test_a_blocker_not_in_the_rows_is_still_a_root():
    # The blocker's own row may be missing (it ended between the two reads, or it is a prepared transaction: 0).
    trees = blocking_tree([s(8, 0), s(9, 4)])
    assert [shape(t) for t in trees] == [(0, [(8, [])]), (4, [(9, [])])]
    assert root_pids(trees) == [4]


def test_a_cycle_has_a_root_and_ends():
    trees = blocking_tree([s(21, 22), s(22, 21), s(23, 22)])
    assert len(trees) == 1
    root = trees[0]
    assert root['pid'] == 21
    assert shape(root) == (21, [(22, [(23, [])])])

"""Unit tests of plugins/module_utils/pg/workers.py: work on N threads."""

import threading

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.workers import parallel_map, run_threads


def test_parallel_map_keeps_the_order_of_the_items():
    assert parallel_map(lambda x: x * x, range(50), 4) == [x * x for x in range(50)]
    assert parallel_map(lambda x: x, [], 4) == []


def test_parallel_map_raises_the_first_failure():
    def func(x):
        if x == 7:
            raise ValueError('item 7')
        return x

    with pytest.raises(ValueError, match='item 7'):
        parallel_map(func, range(20), 3)


def test_run_threads_runs_the_target_on_each_thread_and_waits():
    seen = []
    lock = threading.Lock()

    def target():
        with lock:
            seen.append(threading.current_thread().name)

    run_threads(target, 3)
    assert len(seen) == 3 and len(set(seen)) == 3

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Work on N threads: hashing files and reading tables (hashlib, ISA-L and libpq release the GIL)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading


def run_threads(target, count):
    """Run ``target()`` on ``count`` threads and wait for all of them."""
    threads = [threading.Thread(target=target) for dummy in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def parallel_map(func, items, workers):
    """Apply func to each item on up to ``workers`` threads (hashlib and libpq release the GIL)."""
    items = list(items)
    results = [None] * len(items)
    errors = []
    lock = threading.Lock()
    queue = list(enumerate(items))

    def worker():
        while True:
            with lock:
                if not queue or errors:
                    return
                index, item = queue.pop(0)
            try:
                results[index] = func(item)
            except Exception as exc:  # pylint: disable=broad-except  # re-raised in the caller
                with lock:
                    errors.append(exc)
                return

    run_threads(worker, max(1, min(workers, len(items))))
    if errors:
        raise errors[0]
    return results

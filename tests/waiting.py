"""One way for tests to wait for a condition: poll it, bounded in time."""

import time


def poll(predicate, timeout=10.0, interval=0.05, what='condition', fail=True):
    """Call ``predicate()`` until it returns something truthy and return that value. At ``timeout`` seconds:
    AssertionError naming ``what`` (or, with ``fail=False``, the last falsy value, for the caller to assert)."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            if fail:
                raise AssertionError('%s not met within %.1f s' % (what, timeout))
            return value
        time.sleep(interval)

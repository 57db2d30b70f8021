"""Fixtures of the reliability tests: two stand-in processes of their own.

The shared ``vercel`` fixture resets the one session stand-in, so it serves one
playbook run at a time. The fault runs here go two at a time (one per core),
each against its own tests/sandbox/serve.py: ``standin_pool`` starts two on
free ports (no PostgreSQL: only the Vercel API and the app are used) and
stops them at the end of the session.
"""

import shutil

import pytest

from tests.fixtures_standins import VercelSandbox, start_standins

WORKERS = 2


class Worker(VercelSandbox):
    """A VercelSandbox bound to its own serve.py; ``fresh()`` resets it for the next run.
    ``reports_dir``: where the runbook_report callback writes the reports of the playbook runs
    (POURTRAIT_REPORTS_DIR), instead of the checkout's reports/."""

    def __init__(self, standins, reports_dir):
        self.standins = standins
        self.reports_dir = reports_dir
        super(Worker, self).__init__(standins, standins.admin('POST', '/reset', {}))

    def fresh(self, **options):
        self.reset(**options)
        return self


@pytest.fixture(scope='session')
def standin_pool(tmp_path_factory):
    started = []
    reports_dir = str(tmp_path_factory.mktemp('reports'))
    try:
        for _i in range(WORKERS):
            started.append(start_standins())
        yield [Worker(s, reports_dir) for s in started]
    finally:
        for standins in started:
            standins.stop()
            shutil.rmtree(standins.state_dir, ignore_errors=True)


@pytest.fixture
def sandbox(standin_pool):
    """One of the pool's stand-ins, reset to the default state (for the one-at-a-time bad-input runs)."""
    return standin_pool[0].fresh()

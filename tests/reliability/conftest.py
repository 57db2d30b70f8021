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


def run_on_workers(runs, workers, play):
    """Run every item of ``runs`` (in order) with ``play(worker, run)``, one at a time per worker, all workers
    at once; returns ({run: outcome}, seconds)."""
    import queue
    import threading
    import time
    todo = queue.Queue()
    for run in runs:
        todo.put(run)
    results = {}
    lock = threading.Lock()

    def worker(sandbox):
        while True:
            try:
                run = todo.get_nowait()
            except queue.Empty:
                return
            outcome = play(sandbox, run)
            with lock:
                results[run] = outcome

    threads = [threading.Thread(target=worker, args=(w,)) for w in workers]
    started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.time() - started


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


# -- shared by test_secret_audit.py, test_bad_input.py and test_concurrency.py ----------------------

def playbook_env(*parts):
    """The environment of one ``ansible-playbook`` run (tests/helpers.py ``playbook_env``: the test process's
    without libpq settings, credentials or Ansible settings of the developer's shell, the checkout's Ansible
    settings), then ``parts`` (dicts) in order."""
    from tests import helpers
    return helpers.playbook_env(*parts)


def playbook_argv(name, *args, inventory='production'):
    """``ansible-playbook -i inventory/<inventory> playbooks/<name>.yml <args>`` (name may be a path)."""
    from tests import helpers
    return helpers.playbook_command(name, *args, inventory=inventory)[0]


def vars_file(directory, name, variables):
    """Write extra vars to a JSON file (``-e @file``: values kept out of ansible-playbook's argv)."""
    import json
    import os
    path = os.path.join(str(directory), name + '.vars.json')
    with open(path, 'w') as handle:
        json.dump(variables, handle)
    return '@' + path


TAIL = 40


def tail(output, lines=TAIL):
    """The last ``lines`` lines of a playbook's output, for a failure message."""
    return '\n'.join(output.splitlines()[-lines:])


class RunOutcome(object):
    """What one fault run left behind, read from the stand-ins right after it (faults off). A suite's subclass
    adds the state it reads and says what the run was (``head()``)."""

    calls_label = 'API calls'

    def __init__(self, run):
        self.run = run
        self.rc = None
        self.output = ''
        self.seconds = 0.0
        self.injected = 0
        self.log = []
        self.before = None
        self.health = None

    def head(self):
        raise NotImplementedError

    def calls(self):
        """The API calls of the run, one word each: method, path, status or fault."""
        return ' '.join('%s %s:%s' % (r['method'], r['path'].split('?')[0], r['faulted'] or r['status'])
                        for r in self.log)

    def where(self):
        return '%s\n%s: %s\nlast %d lines of the playbook output:\n%s' % (
            self.head(), self.calls_label, self.calls(), TAIL, tail(self.output))

"""The security runbook (``playbooks/security_incident.yml``, phases contain + rotate) against failing APIs.

Like the rotation in test_runbook_faults.py: ``RUNS`` runs from a fresh stand-in state, with 30% of the Vercel and
Supabase Management API calls failing (429 with Retry-After, 500, 502, 503, dropped connections, hangs; half the
runs with the fault before the call is processed, half after it). Each run contains (an IP blocked at the edge with
an expiry, a rate limit on a path) and rotates the app's Supabase secret key (a new key, the app's variable, a
rebuild, verification, then the old key deleted as compromised).

Each run either completes - the IP blocked once, one rate-limit rule, one new key that the live build uses, the
old key deleted as compromised - or fails with one ``fatal:`` line, leaving production healthy and never on a
deleted key. No change is requested twice (the request log: every POST processed once, no DELETE applied again
after its answer reached the client; the firewall's PATCHes, several actions on one path, are checked in the
firewall's state instead: one entry per IP and rule), and no key value is printed.

(The database password rotation is not in this matrix: these stand-ins run without a database; its failure
paths are covered in tests/integration/test_security_incident.py.)
"""

import collections
import shutil
import time

import pytest

from tests.fixtures_standins import SupabaseSandbox, start_standins
from tests.reliability.conftest import RunOutcome, Worker, run_on_workers
from tests.reliability.test_runbook_faults import (CONNECTIONS, FAULT_KINDS, FAULT_RATE, HANG_S, count_posts,
                                                   fatal_message, repeated_changes, run_playbook, settled_log)
from tests.reliability.test_vercel_faults import meets_a_fault

RUNS = 4
EXTRA_WORKERS = 2
HOSTILE = '203.0.113.50'
ENV_KEY = 'SUPABASE_SERVICE_ROLE_KEY'
VARS = {'security_incident_poll_interval': 0.1, 'security_incident_health_interval': 0.2,
        'security_incident_verify_interval': 0.2, 'security_incident_verify_count': 2,
        'security_incident_health_wait_timeout': 10, 'security_incident_rollback_poll_interval': 0.1,
        'security_incident_phases': ['contain', 'rotate'], 'security_incident_reason': 'INC-fault',
        'security_incident_block_ips': [HOSTILE], 'security_incident_block_expires_in': '1h',
        'security_incident_rate_limit': {'path': '/api/auth', 'limit': 20, 'window': '60s'},
        'security_incident_api_key_name': 'app_server_fault', 'security_incident_api_key_revoke': 'app_server'}

Run = collections.namedtuple('Run', 'playbook index seed when')
SEEDS = [s for s in range(6000, 6000 + 10 * RUNS) if meets_a_fault(s, first=5, kinds=tuple(FAULT_KINDS))]
SI_RUNS = [Run('security_incident', i, SEEDS[i], 'before' if i % 2 == 0 else 'after') for i in range(RUNS)]


def run_id(run):
    return 'security_incident-%02d-seed%d-%s' % (run.index, run.seed, run.when)


class Outcome(RunOutcome):
    def __init__(self, run):
        RunOutcome.__init__(self, run)
        self.state = self.firewall = self.keys = None
        self.old_key = None

    def head(self):
        return '%s (%d faults injected, %.1f s)' % (run_id(self.run), self.injected, self.seconds)

    def live(self):
        return [d for d in self.state['vercel']['deployments'] if d['live']][0]


def play(worker, run):
    outcome = Outcome(run)
    started = time.time()
    try:
        state = worker.admin('POST', '/reset', {})
        worker._load_ids(state['vercel'])
        supabase = SupabaseSandbox(worker.standins, state)
        status, key, _headers = supabase.api('POST', '/v1/projects/{ref}/api-keys',
                                             {'type': 'secret', 'name': 'app_server'}, params={'reveal': 'true'})
        assert status == 201, key
        outcome.old_key = key['api_key']
        status, body, _headers = worker.api('POST', '/v10/projects/%s/env' % worker.project_id,
                                            body={'key': ENV_KEY, 'value': key['api_key'], 'type': 'encrypted',
                                                  'target': ['production', 'preview']})
        assert status == 201 and not body['failed'], body
        worker.seed_deployment(live=True, created_offset_s=-120)
        env = dict(worker.env, POURTRAIT_REPORTS_DIR=worker.reports_dir)
        env.update(supabase.env)
        env.pop('SUPABASE_CA_PATH', None)
        outcome.before = worker.live()['uid']
        worker.clear_requests()
        worker.admin('POST', '/faults', {'rate': FAULT_RATE, 'kinds': FAULT_KINDS, 'seed': run.seed, 'when': run.when,
                                         'hang_s': HANG_S, 'services': ['vercel', 'supabase']})
        outcome.rc, outcome.output = run_playbook('security_incident', env, dict(CONNECTIONS, **VARS), None)
        outcome.injected = worker.faults()['injected']
        worker.clear_faults()
        outcome.log = settled_log(worker, outcome.injected)
        outcome.state = worker.admin('GET', '/state')
        outcome.firewall = worker.firewall()
        outcome.keys = worker.admin('GET', '/supabase/api_keys')
        outcome.health = worker.app('/health')
    except Exception as exc:  # noqa: BLE001 - reported by the run's own test, not lost in a thread
        outcome.output += '\n(test harness error: %r)' % (exc,)
    outcome.seconds = time.time() - started
    return outcome


@pytest.fixture(scope='module')
def si_outcomes(standin_pool):
    extra = []
    try:
        for _i in range(EXTRA_WORKERS):
            extra.append(start_standins())
        workers = list(standin_pool) + [Worker(s, standin_pool[0].reports_dir) for s in extra]
        results, _seconds = run_on_workers(SI_RUNS, workers, play)
    finally:
        for standins in extra:
            standins.stop()
            shutil.rmtree(standins.state_dir, ignore_errors=True)
    return results


@pytest.mark.parametrize('run', SI_RUNS, ids=run_id)
def test_security_incident_contain_and_rotate_under_faults(si_outcomes, run):
    outcome = si_outcomes[run]
    assert outcome.state is not None, outcome.where()
    assert outcome.rc in (0, 2), 'run %s ended rc %s: %s' % (run_id(run), outcome.rc, outcome.where())
    assert 'Traceback' not in outcome.output, outcome.where()
    assert outcome.injected > 0, 'no fault was injected: %s' % outcome.where()
    status, body, _headers = outcome.health
    assert status == 200 and body['status'] == 'healthy', outcome.where()
    keys = outcome.keys['keys']
    new = [k for k in keys if k['name'] == 'app_server_fault']
    for secret in [outcome.old_key] + [k['api_key'] for k in new]:
        assert secret not in outcome.output, 'a key was printed: %s' % outcome.where()
    blocks = [ip for ip in outcome.firewall['config'].get('ips', []) if ip['ip'] == HOSTILE]
    rules = outcome.firewall['config'].get('rules', [])
    deleted = [d for d in outcome.keys['deleted'] if d['name'] == 'app_server']
    live = outcome.live()
    creates = count_posts(outcome.log, '/v13/deployments', run.when)
    assert len(blocks) <= 1 and len(rules) <= 1 and len(new) <= 1 and len(deleted) <= 1, outcome.where()
    if outcome.rc == 0:
        assert len(blocks) == 1 and blocks[0]['action'] == 'deny' and len(rules) == 1, outcome.where()
        assert len(new) == 1 and live['env'][ENV_KEY] == new[0]['api_key'], outcome.where()
        assert [(d['was_compromised'], d['reason']) for d in deleted] == [(True, 'INC-fault')], outcome.where()
        assert creates == 1, 'the stand-in processed %d deployment creates: %s' % (creates, outcome.where())
    else:
        fatal_message(outcome.output)
        assert creates <= 1, outcome.where()
        # never on a deleted key: the old key goes only once the live build uses the new one
        if deleted:
            assert new and live['env'][ENV_KEY] == new[0]['api_key'], outcome.where()
        else:
            assert live['env'][ENV_KEY] in [outcome.old_key] + [k['api_key'] for k in new], outcome.where()
    log = [e for e in outcome.log if not e['path'].startswith('/v1/security/firewall/config')]
    problems = repeated_changes(log, run.when, {})
    assert problems == [], '%s: %s' % (problems, outcome.where())


def test_most_security_incident_runs_completed(si_outcomes):
    """The retries carry most runs through (a run may fail cleanly when one call fails five times in a row), and
    both APIs were faulted."""
    done = [o for o in si_outcomes.values() if o.rc == 0]
    assert len(done) >= RUNS // 2, 'only %d of %d runs completed' % (len(done), RUNS)
    services = collections.Counter(e.get('service') or e['path'].split('/')[1] for o in si_outcomes.values()
                                   for e in o.log if e['faulted'])
    assert len(services) >= 2, services

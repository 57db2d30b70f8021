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

The database password rotation (``DB_RUNS`` more runs, the same faults): the Supabase stand-in of each run gets a
real database (``PUT /_sandbox/supabase/database``: its ``PATCH .../database/password`` runs ALTER ROLE there) whose
role is a throwaway login role of the session's PostgreSQL (tests/db_roles.py, never the server's ``postgres``), and
the app's DATABASE_URL in the Vercel stand-in uses that role. Half the runs are ``security_incident.yml`` (contain:
an IP blocked; rotate: the database password), half ``rotate_db_password.yml``. Each either completes - the new
password connects and the old one does not, DATABASE_URL in Vercel holds the working password and the live
(rebuilt) production was built with it, the role's old session ended - or fails with one ``fatal:`` line leaving
DATABASE_URL in Vercel on a password that connects and production on a credential that works. The password is
PATCHed at most once per value (once more only to put the old one back), DATABASE_URL is written at most once
(once more only to put it back), one rebuild; no password (old, new, nor a URL holding one) in the output or in
the run reports.
"""

import collections
import os
import re
import shutil
import sys
import time
import urllib.parse

import psycopg2
import pytest

from tests.conftest import fresh_database
from tests.db_roles import scratch_login_role
from tests.fixtures_standins import SupabaseSandbox, start_standins
from tests.integration.test_security_incident import replace_env
from tests.reliability.conftest import RunOutcome, Worker, run_on_workers
from tests.reliability.test_runbook_faults import (CONNECTIONS, FAULT_KINDS, FAULT_RATE, HANG_S, applied, count_posts,
                                                   fatal_message, repeated_changes, run_playbook, settled_log)
from tests.reliability.test_vercel_faults import meets_a_fault

RUNS = 4
DB_RUNS = 4
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
DB_SEEDS = [s for s in range(7000, 7000 + 10 * DB_RUNS) if meets_a_fault(s, first=5, kinds=tuple(FAULT_KINDS))]
# (index // 2) % 2: each playbook gets both fault timings
DB_RUNS_LIST = [Run('security_incident_db' if (i // 2) % 2 == 0 else 'rotate_db_password', i, DB_SEEDS[i],
                    'before' if i % 2 == 0 else 'after') for i in range(DB_RUNS)]
DB_URL_KEY = 'DATABASE_URL'
PASSWORD_PATH = re.compile(r'^/v1/projects/[^/]+/database/password$')


def run_id(run):
    return '%s-%02d-seed%d-%s' % (run.playbook, run.index, run.seed, run.when)


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


# -- the database password rotation -----------------------------------------------------------------------------

DB_VARS = {'security_incident_poll_interval': 0.1, 'security_incident_health_interval': 0.2,
           'security_incident_verify_interval': 0.2, 'security_incident_verify_count': 2,
           'security_incident_health_wait_timeout': 10, 'security_incident_rollback_poll_interval': 0.1,
           'security_incident_reason': 'INC-fault-db', 'security_incident_db_sslmode': 'disable',
           'security_incident_db_verify_timeout': 3}


def password_of(url):
    """The (decoded) password of a postgresql:// URL, or None."""
    return urllib.parse.unquote(urllib.parse.urlsplit(url).password or '') or None if url else None


def connects(port, role, password, dbname):
    if not password:
        return False
    try:
        psycopg2.connect(host='127.0.0.1', port=port, user=role, password=password, dbname=dbname,
                         connect_timeout=5).close()
        return True
    except psycopg2.OperationalError:
        return False


class DbOutcome(Outcome):
    """What a database password rotation run left: besides the Vercel state, what connected (checked while the
    throwaway role still existed) and every password the run saw."""

    def __init__(self, run):
        Outcome.__init__(self, run)
        self.role = self.old_password = self.vercel_url = None
        self.old_connects = self.vercel_connects = self.live_connects = None
        self.old_session_alive = None
        self.secrets = []

    def head(self):
        return '%s role %s (%d faults injected, %.1f s)' % (run_id(self.run), self.role, self.injected, self.seconds)


def session_alive(conn):
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT 1')
        return True
    except psycopg2.Error:
        return False


def play_db(worker, run, database):
    outcome = DbOutcome(run)
    started = time.time()
    server = database.server
    try:
        state = worker.admin('POST', '/reset', {})
        worker._load_ids(state['vercel'])
        supabase = SupabaseSandbox(worker.standins, state)
        with scratch_login_role(server, database.name, prefix='faultdb_') as (role, password, url):
            outcome.role, outcome.old_password = role, password
            outcome.secrets = [password, urllib.parse.quote(password, safe='')]
            supabase.set_database(url)
            # a session of the old password, idle in transaction (what postgres_terminate ends; it leaves plain idle
            # pooled connections alone)
            old_session = psycopg2.connect(url)
            try:
                with old_session.cursor() as cur:
                    cur.execute('SELECT 1')
                replace_env(worker, DB_URL_KEY, url)
                worker.seed_deployment(live=True, created_offset_s=-120)
                env = dict(worker.env, POURTRAIT_REPORTS_DIR=worker.reports_dir, SUPABASE_DB_HOST='127.0.0.1',
                           SUPABASE_DB_PORT=str(server.port), DATABASE_URL=database.url)
                env.update(supabase.env)
                env.pop('SUPABASE_CA_PATH', None)
                variables = dict(CONNECTIONS, **DB_VARS)
                variables.update(security_incident_db_user=role, security_incident_db_name=database.name)
                playbook = run.playbook
                if playbook == 'security_incident_db':
                    playbook = 'security_incident'
                    variables.update(security_incident_phases=['contain', 'rotate'],
                                     security_incident_rotate_db_password=True,
                                     security_incident_block_ips=[HOSTILE], security_incident_block_expires_in='1h')
                outcome.before = worker.live()['uid']
                worker.clear_requests()
                worker.admin('POST', '/faults', {'rate': FAULT_RATE, 'kinds': FAULT_KINDS, 'seed': run.seed,
                                                 'when': run.when, 'hang_s': HANG_S,
                                                 'services': ['vercel', 'supabase']})
                outcome.rc, outcome.output = run_playbook(playbook, env, variables, None)
                outcome.injected = worker.faults()['injected']
                worker.clear_faults()
                outcome.log = settled_log(worker, outcome.injected)
                outcome.state = worker.admin('GET', '/state')
                outcome.firewall = worker.firewall()
                outcome.health = worker.app('/health')
                outcome.vercel_url = worker.env_value(DB_URL_KEY)
                live_url = outcome.live()['env'].get(DB_URL_KEY)
                for seen in (outcome.vercel_url, live_url):
                    if seen and password_of(seen) != password:
                        outcome.secrets += [password_of(seen), seen]
                outcome.old_connects = connects(server.port, role, password, database.name)
                outcome.vercel_connects = connects(server.port, role, password_of(outcome.vercel_url), database.name)
                outcome.live_connects = connects(server.port, role, password_of(live_url), database.name)
                outcome.old_session_alive = session_alive(old_session)
            finally:
                old_session.close()
                supabase.set_database(None)
    except Exception as exc:  # noqa: BLE001 - reported by the run's own test, not lost in a thread
        outcome.output += '\n(test harness error: %r)' % (exc,)
    outcome.seconds = time.time() - started
    return outcome


@pytest.fixture(scope='module')
def fault_db(pg_server):
    """The database the throwaway roles of the rotation runs log in to."""
    with fresh_database(pg_server, 't_secfault_') as database:
        yield database


@pytest.fixture(scope='module')
def si_outcomes(standin_pool, fault_db):
    """Every run (the key rotations and the database password rotations) on four stand-ins at once."""
    extra = []

    def one(worker, run):
        return play(worker, run) if run in SI_RUNS else play_db(worker, run, fault_db)

    try:
        for _i in range(EXTRA_WORKERS):
            extra.append(start_standins())
        workers = list(standin_pool) + [Worker(s, standin_pool[0].reports_dir) for s in extra]
        runs = [run for pair in zip(DB_RUNS_LIST, SI_RUNS) for run in pair]
        results, seconds = run_on_workers(runs, workers, one)
    finally:
        for standins in extra:
            standins.stop()
            shutil.rmtree(standins.state_dir, ignore_errors=True)
    sys.stderr.write('%d security incident fault runs in %.1f s: %s\n' % (
        len(results), seconds, ', '.join('%s rc=%s faults=%d %.0fs' % (run_id(r), o.rc, o.injected, o.seconds)
                                         for r, o in sorted(results.items()))))
    return results


def assert_ran_and_healthy(outcome, run):
    """What every fault run must show: it ran, ended rc 0 or 2 without a traceback, met faults, and production
    answers healthy afterwards."""
    assert outcome.state is not None, outcome.where()
    assert outcome.rc in (0, 2), 'run %s ended rc %s: %s' % (run_id(run), outcome.rc, outcome.where())
    assert 'Traceback' not in outcome.output, outcome.where()
    assert outcome.injected > 0, 'no fault was injected: %s' % outcome.where()
    status, body, _headers = outcome.health
    assert status == 200 and body['status'] == 'healthy', outcome.where()


@pytest.mark.parametrize('run', SI_RUNS, ids=run_id)
def test_security_incident_contain_and_rotate_under_faults(si_outcomes, run):
    outcome = si_outcomes[run]
    assert_ran_and_healthy(outcome, run)
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
    done = [o for r, o in si_outcomes.items() if r in SI_RUNS and o.rc == 0]
    assert len(done) >= RUNS // 2, 'only %d of %d runs completed' % (len(done), RUNS)
    services = collections.Counter(e.get('service') or e['path'].split('/')[1] for r, o in si_outcomes.items()
                                   if r in SI_RUNS for e in o.log if e['faulted'])
    assert len(services) >= 2, services


def applied_writes(log, when, method, pattern):
    """The requests matching ``method`` and ``pattern`` (the path without its query) the stand-in acted on."""
    return [e for e in log if not e['admin'] and e['method'] == method and applied(e, when)
            and pattern.match(re.sub(r'\?.*', '', e['path']))]


@pytest.mark.parametrize('run', DB_RUNS_LIST, ids=run_id)
def test_db_password_rotation_under_faults(si_outcomes, run):
    outcome = si_outcomes[run]
    assert_ran_and_healthy(outcome, run)
    for secret in outcome.secrets:
        assert secret not in outcome.output, 'a password was printed: %s' % outcome.where()
    live = outcome.live()
    creates = count_posts(outcome.log, '/v13/deployments', run.when)
    env_path = re.compile(r'^/v9/projects/[^/]+/env/[^/]+$')
    db_env_id = [e['id'] for e in outcome.state['vercel']['env'] if e['key'] == DB_URL_KEY]
    url_writes = [e for e in applied_writes(outcome.log, run.when, 'PATCH', env_path)
                  if e['path'].split('?')[0].rsplit('/', 1)[1] in db_env_id]
    password_writes = applied_writes(outcome.log, run.when, 'PATCH', PASSWORD_PATH)
    # the app is always on a credential that works: DATABASE_URL in Vercel and the live build's connect
    assert outcome.vercel_connects, 'DATABASE_URL in Vercel does not connect: %s' % outcome.where()
    assert outcome.live_connects, 'the live build\'s DATABASE_URL does not connect: %s' % outcome.where()
    assert creates <= 1, 'the stand-in processed %d deployment creates: %s' % (creates, outcome.where())
    if run.playbook == 'security_incident_db':
        blocks = [ip for ip in outcome.firewall['config'].get('ips', []) if ip['ip'] == HOSTILE]
        assert len(blocks) <= 1, outcome.where()
    if outcome.rc == 0:
        assert not outcome.old_connects, 'the old password still connects: %s' % outcome.where()
        assert password_of(outcome.vercel_url) != outcome.old_password, outcome.where()
        assert live['uid'] != outcome.before and live['env'][DB_URL_KEY] == outcome.vercel_url, outcome.where()
        assert creates == 1, outcome.where()
        assert not outcome.old_session_alive, 'the old session was not ended: %s' % outcome.where()
        assert len(url_writes) == 1, outcome.where()
        if run.playbook == 'security_incident_db':
            assert len(blocks) == 1 and blocks[0]['action'] == 'deny', outcome.where()
        changes = 1
    else:
        fatal_message(outcome.output)
        # put back (or never changed): the old password works again, else the new one is where the app reads it
        restored = 'The old password was put back' in outcome.output
        changes = 2 if restored else 1
        assert len(url_writes) <= changes, outcome.where()
    # each password set once (once more to put the old one back); a repeat is only a retry of a call whose answer
    # was lost (the module's own retries of the same PATCH)
    answered = [e for e in password_writes if not e['faulted']]
    assert len(answered) <= changes, '%d password changes answered: %s' % (len(answered), outcome.where())
    answered_urls = [e for e in url_writes if not e['faulted']]
    assert len(answered_urls) <= changes, outcome.where()
    log = [e for e in outcome.log if not e['path'].startswith('/v1/security/firewall/config')
           and not PASSWORD_PATH.match(e['path'].split('?')[0]) and e not in url_writes]
    problems = repeated_changes(log, run.when, {})
    assert problems == [], '%s: %s' % (problems, outcome.where())


def test_most_db_rotations_completed(si_outcomes):
    done = [o for r, o in si_outcomes.items() if r in DB_RUNS_LIST and o.rc == 0]
    assert len(done) >= DB_RUNS // 2, 'only %d of %d database password rotations completed' % (len(done), DB_RUNS)
    # (the Supabase side of this rotation is one call, the PATCH: 30% faults reach it in some runs only; a PATCH
    # whose answers are all lost, before or after the change, is tested in
    # tests/integration/plugins/modules/test_supabase_db_password.py)
    faulted = [e for r, o in si_outcomes.items() if r in DB_RUNS_LIST for e in o.log if e['faulted']]
    assert faulted, 'no fault reached the database password rotations'


def test_no_password_or_key_in_the_run_reports(si_outcomes, standin_pool):
    """The runbook reports of every run (Markdown and JSON, written by the runbook_report callback) hold no
    password, key or URL with a password."""
    secrets = set()
    for run, outcome in si_outcomes.items():
        secrets.update(s for s in getattr(outcome, 'secrets', []) if s)
        if run in SI_RUNS and outcome.old_key:
            secrets.add(outcome.old_key)
            secrets.update(k['api_key'] for k in (outcome.keys or {}).get('keys', [])
                           if k['name'] == 'app_server_fault')
    reports_dir = standin_pool[0].reports_dir
    texts = []
    for entry in sorted(os.listdir(reports_dir)):
        if not os.path.isfile(os.path.join(reports_dir, entry)):
            continue
        with open(os.path.join(reports_dir, entry), errors='replace') as handle:
            texts.append((entry, handle.read()))
    assert texts, 'no run report was written to %s' % reports_dir
    for entry, text in texts:
        for secret in secrets:
            assert secret not in text, 'a secret is in the run report %s' % entry

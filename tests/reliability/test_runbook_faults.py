"""Reliability of the maintenance window and the secret rotation against failing APIs and a cut database connection.

Part 1, faults: ``playbooks/maintenance_window.yml`` and ``playbooks/rotate_secret.yml`` each run
``RUNS_PER_PLAYBOOK`` times from a fresh stand-in state, with 30% of the API calls failing: 429 (Retry-After
1), 500, 502, 503, dropped connections and hangs (the stand-in holds the request ``HANG_S`` seconds, then
drops it; the modules' request timeout is set below it through ``pourtrait_vercel`` / ``pourtrait_supabase``,
the dicts the playbooks hand to every module with module_defaults, so a hang is a read timeout the retries
handle). The maintenance window talks to the Vercel API only; the rotation to the Vercel API and, lifting a
network ban, to the Supabase Management API: both are faulted. Every run has its own seed (one that faults at
least one of the first calls); half the runs use ``when='before'`` (a faulted call is not processed), half
``when='after'`` (it is processed, then its answer is replaced by the error or lost).

Each run either completes correctly - the window opened (one build with MAINTENANCE_MODE=true went live) and
CLOSED again (MAINTENANCE_MODE=false, production rebuilt without it and healthy); the key rotated to its new
value, the old one kept as <key>_PREVIOUS for the rotation build and dropped before the final build,
POURTRAIT_SECRET_ROTATED_AT recorded, one rebuild per phase - or fails with one ``fatal:`` line whose message is
one line, leaving production as it was (the window closed, the key's old build still live and healthy). In
both cases the request log shows no change requested twice: every change POST processed once, and no PATCH or
DELETE of a resource applied twice while its first answer reached the client (a repeat is only a retry of a
call whose answer was lost).

Part 2, a database connection cut in the middle: a maintenance window whose task is the weekly
``db_maintenance`` (ANALYZE) on a real PostgreSQL database; another session holds a lock the ANALYZE waits
for, and the test terminates the module's backend (found by its application_name) from a third session
while it waits. The maintenance task fails, the window is closed anyway, the play fails with one line, production
is healthy without the maintenance page, no session of ours is left, and the next window runs the maintenance
whole. (ANALYZE changes no data: tables analyzed before the cut stay analyzed, which is harmless.) The line
names the cut: postgres_maintenance stops at the table whose connection was cut and says which tables it did not
touch. (rotate_secret touches the database only in
its optional session clean-up, postgres_terminate, which ends other sessions and changes no data.)

The runs mostly wait (Retry-After, backoff, hangs, build polls), so they go six at a time, each on its own
serve.py: the two of ``standin_pool`` (tests/reliability/conftest.py) and four this module starts; the database
cut runs among them. A module-scoped fixture runs them all once; every run is then checked by its own test, so a
failure names the run, its seed and fault timing, its API calls and the playbook's last lines.
"""

import collections
import json
import os
import re
import shutil
import sys
import threading
import time

import pytest

from tests import helpers
from tests.conftest import ROOT, fresh_database
from tests.fixtures_standins import SupabaseSandbox, start_standins
from tests.reliability.conftest import RunOutcome, TAIL, Worker, run_on_workers, tail
from tests.reliability.test_vercel_faults import meets_a_fault

INVENTORY = os.path.join(ROOT, 'inventory', 'production')
FAULT_KINDS = ['429', '500', '502', '503', 'reset', 'hang']
FAULT_RATE = 0.3
HANG_S = 2.5
# the modules' request timeout (seconds): below HANG_S, so a hang ends in a read timeout and a retry
REQUEST_TIMEOUT = 1
# The runs mostly wait (backoff, Retry-After, hangs, build polls): besides the two workers of standin_pool,
# this module starts EXTRA_WORKERS stand-ins of its own so that six runs go at once.
EXTRA_WORKERS = 4
RUNS_PER_PLAYBOOK = 8

KEY = 'STRIPE_SECRET_KEY'
PREVIOUS = KEY + '_PREVIOUS'
MARKER = 'POURTRAIT_SECRET_ROTATED_AT'
OLD = 'sk_live_OLDfault7c1e9a0b2d4f'
NEW = 'sk_live_NEWfault5f3b8e2a9c1d'
BANNED = '203.0.113.10'

CONNECTIONS = {'pourtrait_vercel': {'timeout': REQUEST_TIMEOUT}, 'pourtrait_supabase': {'timeout': REQUEST_TIMEOUT}}
WINDOW_VARS = {'maintenance_window_poll_interval': 0.1, 'maintenance_window_health_interval': 0.2,
               'maintenance_window_health_wait_timeout': 10, 'maintenance_window_reason': 'fault run'}
ROTATE_VARS = {'security_incident_poll_interval': 0.1, 'security_incident_health_interval': 0.2,
               'security_incident_verify_interval': 0.2, 'security_incident_verify_count': 2,
               'security_incident_health_wait_timeout': 10, 'security_incident_rollback_poll_interval': 0.1,
               'security_incident_unban_ips': [BANNED], 'security_incident_key': KEY,
               'security_incident_new_value': NEW}
QUICK_ROLE = '- name: A quick maintenance step\n  ansible.builtin.debug:\n    msg: done\n'


# -- running one playbook ---------------------------------------------------------------------------

def run_playbook(name, env, extra_vars, workdir, roles_dir=None, timeout=300):
    """``ansible-playbook -i inventory/production playbooks/<name>.yml -e @vars.json``; (rc, stdout + stderr).
    The vars go through a 0600 file (the new secret value must not sit in argv)."""
    roles = {'ANSIBLE_ROLES_PATH': '%s:%s' % (roles_dir, os.path.join(ROOT, 'roles'))} if roles_dir else {}
    result = helpers.run_playbook(name, inventory=INVENTORY, extra_vars=extra_vars, env=[env, roles], timeout=timeout)
    return result.rc, result.output


def fatal_message(output):
    """The message that ended a failed play: its last ``fatal:`` line (earlier ones were rescued), one line."""
    fatal = [line for line in output.splitlines() if line.startswith('fatal: ')]
    assert fatal, 'no fatal: line:\n%s' % tail(output)
    assert ' => {' in fatal[-1], fatal[-1]
    msg = json.loads(fatal[-1].split(' => ', 1)[1])['msg']
    assert '\n' not in msg and len(msg) < 1500, 'not one line: %r' % msg
    return msg


# -- the request log ---------------------------------------------------------------------------------

def settled_log(worker, injected):
    """The request log once every injected fault is in it (a hang is logged when it ends, HANG_S after it began)."""
    deadline = time.time() + HANG_S + 5
    while True:
        log = worker.admin('GET', '/requests')['requests']
        if sum(1 for r in log if r['faulted']) >= injected or time.time() > deadline:
            # in the order the requests came in (the log is in the order they ended)
            return sorted(log, key=lambda r: r['time'])
        time.sleep(0.2)


def is_read(entry):
    """Calls that change nothing although sent as POST (Supabase reads its bans with POST .../retrieve)."""
    return entry['method'] == 'GET' or entry['path'].endswith('/network-bans/retrieve')


def applied(entry, when):
    """The stand-in acted on the request: not faulted before processing, not refused."""
    if entry['faulted']:
        return when == 'after'
    return entry['status'] is not None and entry['status'] < 400


def repeated_changes(log, when, posts_expected):
    """Changes requested twice: POSTs processed more often than ``posts_expected`` (path -> count, default 1),
    PATCH/DELETE applied again after an applied one whose answer reached the client."""
    problems = []
    posts = collections.Counter()
    answered = collections.Counter()
    for entry in sorted(log, key=lambda e: e['time']):
        if entry['admin'] or is_read(entry) or entry['method'] not in ('POST', 'PATCH', 'DELETE', 'PUT'):
            continue
        key = '%s %s' % (entry['method'], re.sub(r'\?.*', '', entry['path']))
        if entry['method'] == 'POST':
            posts[key] += applied(entry, when)
            continue
        if applied(entry, when):
            if answered[key]:
                problems.append('%s applied again after its answer was delivered' % key)
            if not entry['faulted']:
                answered[key] += 1
    for key, count in posts.items():
        allowed = posts_expected.get(key.split(' ', 1)[1], 1)
        if count > allowed:
            problems.append('%s processed %d times (expected at most %d)' % (key, count, allowed))
    return problems


def count_posts(log, path, when):
    return sum(1 for e in log if e['method'] == 'POST' and e['path'] == path and applied(e, when))


# -- the runs ----------------------------------------------------------------------------------------

Run = collections.namedtuple('Run', 'playbook index seed when')


def runs_for(playbook, seed_base):
    # seeds whose fault draws hit one of the first five calls, which every run makes
    seeds = [s for s in range(seed_base, seed_base + 10 * RUNS_PER_PLAYBOOK)
             if meets_a_fault(s, first=5, kinds=tuple(FAULT_KINDS))]
    return [Run(playbook, i, seeds[i], 'before' if i % 2 == 0 else 'after') for i in range(RUNS_PER_PLAYBOOK)]


WINDOW_RUNS = runs_for('maintenance_window', 3000)
ROTATE_RUNS = runs_for('rotate_secret', 4000)


def run_id(run):
    return '%s-%02d-seed%d-%s' % (run.playbook, run.index, run.seed, run.when)


class Outcome(RunOutcome):
    """What one run left behind, read from the stand-ins right after it (faults off)."""

    def __init__(self, run):
        RunOutcome.__init__(self, run)
        self.state = None
        self.bans = None

    def head(self):
        return '%s (%d faults injected, %.1f s)' % (run_id(self.run), self.injected, self.seconds)

    def deployments(self, **match):
        return [d for d in self.state['vercel']['deployments']
                if all(d['meta'].get(k) == v for k, v in match.items())]

    def env_entries(self, key):
        return [e for e in self.state['vercel']['env'] if e['key'] == key]

    def live(self):
        return [d for d in self.state['vercel']['deployments'] if d['live']][0]


def play(worker, run, workdir):
    outcome = Outcome(run)
    started = time.time()
    try:
        state = worker.admin('POST', '/reset', {})
        worker._load_ids(state['vercel'])
        supabase = SupabaseSandbox(worker.standins, state)
        env = dict(worker.env, POURTRAIT_REPORTS_DIR=worker.reports_dir)
        extra = dict(CONNECTIONS)
        roles_dir = None
        if run.playbook == 'rotate_secret':
            status, body, _headers = worker.api('POST', '/v10/projects/%s/env' % worker.project_id,
                                                body={'key': KEY, 'value': OLD, 'type': 'encrypted',
                                                      'target': ['production', 'preview']})
            assert status == 201 and not body['failed'], body
            worker.seed_deployment(live=True, created_offset_s=-120)
            supabase.set_bans([BANNED, '198.51.100.7'])
            env.update(supabase.env)
            env.pop('SUPABASE_CA_PATH', None)
            extra.update(ROTATE_VARS)
        else:
            roles_dir = os.path.join(str(workdir), 'roles')
            extra.update(WINDOW_VARS, maintenance_window_tasks=[{'role': 'quick_step'}])
        outcome.before = worker.live()['uid']
        worker.clear_requests()
        worker.admin('POST', '/faults', {'rate': FAULT_RATE, 'kinds': FAULT_KINDS, 'seed': run.seed, 'when': run.when,
                                         'hang_s': HANG_S, 'services': ['vercel', 'supabase']})
        outcome.rc, outcome.output = run_playbook(run.playbook, env, extra, workdir, roles_dir=roles_dir)
        outcome.injected = worker.faults()['injected']
        worker.clear_faults()
        outcome.log = settled_log(worker, outcome.injected)
        outcome.state = worker.admin('GET', '/state')
        outcome.health = worker.app('/health')
        outcome.bans = supabase.bans()
    except Exception as exc:  # noqa: BLE001 - reported by the run's own test, not lost in a thread
        outcome.output += '\n(test harness error: %r)' % (exc,)
    outcome.seconds = time.time() - started
    return outcome


@pytest.fixture(scope='module')
def cut_db(pg_server):
    """A fresh database cloned from the seeded template, for the database cut (module scope: it runs inside
    runbook_outcomes)."""
    with fresh_database(pg_server, 't_cut_') as database:
        yield database


@pytest.fixture(scope='module')
def runbook_outcomes(standin_pool, cut_db, tmp_path_factory):
    """Every fault run and the database cut, on six stand-ins at once; {run: Outcome} (CUT: CutOutcome)."""
    workdir = tmp_path_factory.mktemp('runbook-faults')
    role = workdir / 'roles' / 'quick_step' / 'tasks'
    role.mkdir(parents=True)
    (role / 'main.yml').write_text('---\n' + QUICK_ROLE)
    # the longest job first, then the playbooks interleaved
    runs = [CUT] + [run for pair in zip(WINDOW_RUNS, ROTATE_RUNS) for run in pair]

    def one(sandbox, run):
        return play_cut(sandbox, cut_db, workdir) if run is CUT else play(sandbox, run, workdir)

    extra = []
    try:
        for _i in range(EXTRA_WORKERS):
            extra.append(start_standins())
        workers = list(standin_pool) + [Worker(s, standin_pool[0].reports_dir) for s in extra]
        results, seconds = run_on_workers(runs, workers, one)
    finally:
        for standins in extra:
            standins.stop()
            shutil.rmtree(standins.state_dir, ignore_errors=True)
    sys.stderr.write('%d runbook fault runs in %.1f s: %s\n' % (
        len(results), seconds,
        ', '.join('%s rc=%s %.0fs' % (run_id(r), o.rc, o.seconds) for r, o in sorted(results.items()) if r is not CUT)))
    for run, outcome in sorted(results.items()):
        if outcome.rc and run is not CUT:
            last = [line for line in outcome.output.splitlines() if line.startswith('fatal: ')][-1:]
            sys.stderr.write('%s failed cleanly: %s\n' % (run_id(run), ''.join(last)[:600]))
    return results


def check_common(outcome):
    assert outcome.state is not None, outcome.where()
    assert outcome.rc in (0, 2), 'run %s ended rc %s: %s' % (run_id(outcome.run), outcome.rc, outcome.where())
    assert 'Traceback' not in outcome.output, outcome.where()
    assert outcome.injected > 0, 'no fault was injected: %s' % outcome.where()
    if outcome.rc != 0:
        fatal_message(outcome.output)
    status, body, _headers = outcome.health
    assert status == 200 and body['status'] == 'healthy', 'production /health answered %s %s: %s' % (
        status, body, outcome.where())


@pytest.mark.parametrize('run', WINDOW_RUNS, ids=run_id)
def test_maintenance_window_under_faults(runbook_outcomes, run):
    outcome = runbook_outcomes[run]
    check_common(outcome)
    # always closed: the variable off, the live build made without the maintenance page
    mode = [e['value'] for e in outcome.env_entries('MAINTENANCE_MODE')]
    live = outcome.live()
    assert live['env'].get('MAINTENANCE_MODE') != 'true', outcome.where()
    on_builds = [d for d in outcome.deployments(pourtraitProcedure='maintenance_window')
                 if d['env'].get('MAINTENANCE_MODE') == 'true']
    off_builds = [d for d in outcome.deployments(pourtraitProcedure='maintenance_window')
                  if d['env'].get('MAINTENANCE_MODE') == 'false']
    creates = count_posts(outcome.log, '/v13/deployments', run.when)
    if outcome.rc == 0:
        assert mode == ['false'], outcome.where()
        assert 'Task 1/1 quick_step: done' in outcome.output, outcome.where()
        assert len(on_builds) == 1 and on_builds[0]['uid'] in outcome.state['vercel']['history'], outcome.where()
        assert len(off_builds) == 1 and live['uid'] == off_builds[0]['uid'], outcome.where()
        assert creates == 2, 'the stand-in processed %d deployment creates: %s' % (creates, outcome.where())
    else:
        # failed: production as it was - maintenance mode off (or never set), no maintenance build live
        assert mode in ([], ['false']), outcome.where()
        assert len(on_builds) <= 1 and len(off_builds) <= 1 and creates <= 2, outcome.where()
        if on_builds and on_builds[0]['uid'] in outcome.state['vercel']['history']:
            assert off_builds and live['uid'] == off_builds[0]['uid'], outcome.where()
        else:
            assert live['uid'] == outcome.before, outcome.where()
    problems = repeated_changes(outcome.log, run.when, {'/v13/deployments': 2})
    assert problems == [], '%s: %s' % (problems, outcome.where())


@pytest.mark.parametrize('run', ROTATE_RUNS, ids=run_id)
def test_rotate_secret_under_faults(runbook_outcomes, run):
    outcome = runbook_outcomes[run]
    check_common(outcome)
    for secret in (OLD, NEW):
        assert secret not in outcome.output, 'a secret was printed: %s' % outcome.where()
    key = outcome.env_entries(KEY)
    assert len(key) == 1, outcome.where()
    builds = outcome.deployments(pourtraitProcedure='security_incident')
    rotation = [d for d in builds if d['meta'].get('pourtraitPhase') == 'rotation']
    final = [d for d in builds if d['meta'].get('pourtraitPhase') == 'final']
    live = outcome.live()
    creates = count_posts(outcome.log, '/v13/deployments', run.when)
    assert len(outcome.env_entries(PREVIOUS)) <= 1 and len(outcome.env_entries(MARKER)) <= 1, outcome.where()
    if outcome.rc == 0:
        assert key[0]['value'] == NEW, outcome.where()
        assert outcome.env_entries(PREVIOUS) == [], 'the overlap copy was not dropped: %s' % outcome.where()
        assert len(rotation) == 1 and len(final) == 1, 'builds: %s: %s' % (
            [(d['uid'], d['meta'].get('pourtraitPhase')) for d in builds], outcome.where())
        assert rotation[0]['env'][KEY] == NEW and rotation[0]['env'][PREVIOUS] == OLD, outcome.where()
        assert final[0]['env'][KEY] == NEW and PREVIOUS not in final[0]['env'], outcome.where()
        assert live['uid'] == final[0]['uid'], outcome.where()
        assert len(outcome.env_entries(MARKER)) == 1, outcome.where()
        assert creates == 2, 'the stand-in processed %d deployment creates: %s' % (creates, outcome.where())
        assert BANNED not in outcome.bans, outcome.where()
        assert 'Dropped %s (the old value) only after the new value was verified' % PREVIOUS in outcome.output
    else:
        # failed: the leaked value is never written back, nothing was dropped before a verified build, and
        # production is on the build it was on (or on the verified rotation build, when the final one failed)
        assert key[0]['value'] in (OLD, NEW), outcome.where()
        assert len(rotation) <= 1 and len(final) <= 1 and creates <= 2, outcome.where()
        assert live['uid'] in [outcome.before] + [d['uid'] for d in rotation], outcome.where()
        if live['uid'] == outcome.before:
            assert live['env'][KEY] == OLD, outcome.where()
        if not rotation or rotation[0]['uid'] not in outcome.state['vercel']['history']:
            assert outcome.env_entries(MARKER) == [], 'a rotation time was recorded: %s' % outcome.where()
        if outcome.env_entries(PREVIOUS) == [] and rotation:
            # dropped only once the rotation build was live and verified (the rotation time recorded)
            assert rotation[0]['uid'] in outcome.state['vercel']['history'] and outcome.env_entries(MARKER), (
                'the old value was dropped before a verified build: %s' % outcome.where())
    problems = repeated_changes(outcome.log, run.when, {
        '/v13/deployments': 2,
        # two variables created: the overlap copy and the rotation time
        '/v10/projects/%s/env' % outcome.state['vercel']['project']['id']: 2})
    assert problems == [], '%s: %s' % (problems, outcome.where())


def test_every_fault_kind_was_met_and_most_runs_completed(runbook_outcomes):
    """The seeds above meet every fault kind, on both playbooks, and in most runs the retries carry the run
    through (a run may fail cleanly when one call fails five times in a row: 0.3^5 per call)."""
    kinds = collections.Counter()
    for run, outcome in runbook_outcomes.items():
        if run is CUT:
            continue
        for entry in outcome.log:
            if entry['faulted']:
                kinds[(outcome.run.playbook, entry['faulted'])] += 1
    for playbook in ('maintenance_window', 'rotate_secret'):
        for kind in FAULT_KINDS:
            assert kinds[(playbook, kind)] > 0, 'no %s fault met %s: %s' % (kind, playbook, dict(kinds))
        done = [o for r, o in runbook_outcomes.items() if r is not CUT and r.playbook == playbook and o.rc == 0]
        assert len(done) >= RUNS_PER_PLAYBOOK // 2, '%s: only %d runs completed' % (playbook, len(done))


# -- part 2: a database connection cut in the middle ---------------------------------------------------

CUT = Run('maintenance_window', 99, 0, 'cut')
NEVER_ANALYZED = "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = 'public' AND last_analyze IS NULL"
WAITING = ("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'pourtrait.ops/postgres_maintenance%' "
           "AND wait_event_type = 'Lock' AND datname = current_database()")
OURS = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pourtrait.ops/%' AND datname = current_database()"


class CutOutcome(object):
    """The window whose database connection was cut, then the next window."""

    def __init__(self):
        self.rc = self.rc_next = None
        self.output = self.output_next = ''
        self.cut = []
        self.before = self.state = self.health = self.health_next = None
        self.creates = None
        self.ours_after = self.never_analyzed = self.mode_next = None
        self.error = None

    def where(self):
        return '%s\nfirst run, last %d lines:\n%s\nnext run, last %d lines:\n%s' % (
            self.error or '', TAIL, tail(self.output), TAIL, tail(self.output_next))


def play_cut(worker, db, workdir):
    """Run a window whose weekly db_maintenance waits on a lock held by another session, end its backend from a
    third session while it waits, then run the next window."""
    outcome = CutOutcome()
    blocker = None
    try:
        worker.fresh()
        outcome.before = worker.live()['uid']
        tables = [r[0] for r in db.query("SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'")]
        blocker = db.connect(autocommit=False)
        # ANALYZE needs SHARE UPDATE EXCLUSIVE: it waits here until the test cuts it
        blocker.cursor().execute('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE' % ', '.join('public.' + t for t in tables))
        tasks = [{'role': 'db_maintenance', 'name': 'weekly database maintenance',
                  'vars': {'db_maintenance_schedule': 'weekly', 'db_maintenance_report': False,
                           'db_maintenance_lock_timeout': '2min'}}]
        env = dict(worker.env, POURTRAIT_REPORTS_DIR=worker.reports_dir, **db.env)
        extra = dict(CONNECTIONS, maintenance_window_tasks=tasks, **WINDOW_VARS)
        result = {}
        thread = threading.Thread(target=lambda: result.update(out=run_playbook('maintenance_window', env, extra, workdir)))
        thread.start()
        try:
            deadline = time.time() + 120
            while not outcome.cut and time.time() < deadline and thread.is_alive():
                outcome.cut = db.query(WAITING)
                time.sleep(0.1)
            if outcome.cut:
                # from another session: end our own module's backend in the middle of its step
                db.query('SELECT pg_terminate_backend(%s)', (outcome.cut[0][0],))
        finally:
            blocker.rollback()
            blocker.close()
            blocker = None
            thread.join(300)
        outcome.rc, outcome.output = result['out']
        outcome.state = worker.admin('GET', '/state')
        outcome.health = worker.app('/health')
        outcome.creates = len(worker.requests(method='POST', path_prefix='/v13/deployments'))
        outcome.ours_after = db.scalar(OURS)
        # the next window finds nothing left open and runs the maintenance whole
        outcome.rc_next, outcome.output_next = run_playbook('maintenance_window', env, extra, workdir)
        outcome.never_analyzed = db.scalar(NEVER_ANALYZED)
        outcome.mode_next = worker.env_value('MAINTENANCE_MODE')
        outcome.health_next = worker.app('/health')
    except Exception as exc:  # noqa: BLE001 - reported by the test, not lost in a thread
        outcome.error = '(test harness error: %r)' % (exc,)
        if blocker is not None:
            blocker.close()
    return outcome


def test_maintenance_window_with_its_database_connection_cut(runbook_outcomes):
    """The weekly db_maintenance inside the window loses its connection (pg_terminate_backend from another
    session) while its ANALYZE waits for a lock: the play fails with one line naming the maintenance task, the
    window is closed anyway (MAINTENANCE_MODE=false, production rebuilt without the page, healthy), no session
    of ours is left, and the next window runs the maintenance whole."""
    outcome = runbook_outcomes[CUT]
    assert outcome.error is None, outcome.where()
    assert outcome.cut, 'the maintenance task never waited on the lock: %s' % outcome.where()
    assert outcome.rc == 2, outcome.where()
    assert 'Traceback' not in outcome.output, outcome.where()
    msg = fatal_message(outcome.output)
    assert msg.startswith('Maintenance task 1/1 (weekly database maintenance) failed at '), msg
    assert 'The window was closed: MAINTENANCE_MODE=false' in msg, msg
    mode = [e['value'] for e in outcome.state['vercel']['env'] if e['key'] == 'MAINTENANCE_MODE']
    assert mode == ['false'], outcome.where()
    live = [d for d in outcome.state['vercel']['deployments'] if d['live']][0]
    assert live['uid'] != outcome.before and live['env'].get('MAINTENANCE_MODE') == 'false', live
    status, body, _headers = outcome.health
    assert status == 200 and body['status'] == 'healthy', (status, body)
    assert outcome.creates == 2, outcome.where()
    assert outcome.ours_after == 0, 'a session of ours was left behind: %s' % outcome.where()

    assert outcome.rc_next == 0, outcome.where()
    assert 'A maintenance window was left open' not in outcome.output_next, outcome.where()
    assert 'Task 1/1 weekly database maintenance: done' in outcome.output_next, outcome.where()
    assert outcome.never_analyzed == 0 and outcome.mode_next == 'false', outcome.where()
    status, body, _headers = outcome.health_next
    assert status == 200 and body['status'] == 'healthy', (status, body)


def test_the_cut_is_named_in_the_message(runbook_outcomes):
    msg = fatal_message(runbook_outcomes[CUT].output)
    assert 'terminating connection' in msg or 'connection' in msg.split(' failed at ')[-1].lower(), msg

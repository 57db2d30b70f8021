"""Reliability of the two production playbooks against a failing Vercel API.

Part 1, faults: ``playbooks/rollback.yml`` and ``playbooks/deploy.yml`` each run
20 times (plus 3 each where the one POST is certain to lose its answer, one of them to a hang, and 1 each
with hangs only in 30% of the calls), every run from a fresh stand-in state (a broken release live before
a rollback, a healthy one before a deploy), with 30% of the Vercel API calls
failing: 429 (Retry-After 1), 500, 502, 503 and dropped connections. Every run
has its own fault seed; half the runs use ``when='before'`` (the faulted call
is not processed), half ``when='after'`` (it is processed, then its answer is
replaced by the error or lost - where a naive retry would roll back or build
twice). Every run must succeed, leave production on the expected deployment,
answering healthy, and the stand-in must have processed exactly one rollback
POST (rollback.yml) or exactly one deployment-create POST (deploy.yml).

The 40 runs go two at a time, each worker on its own serve.py (see
conftest.py); a module-scoped fixture runs them all once and every run is then
checked by its own test, so a failure names the run, its seed and its fault
timing and shows the playbook's last 40 lines.

Part 2, bad input at the playbook level: each mistake an on-call engineer can
make (or each outage of the API) ends ``ansible-playbook playbooks/rollback.yml``
with one ``fatal:`` line whose message names the cause and the fix, no
traceback, and production unchanged in the stand-in.

The playbooks run exactly as on-call runs them against production:
``-i inventory/production`` (which keeps no secret), with VERCEL_TOKEN,
VERCEL_TEAM_ID, VERCEL_PROJECT, VERCEL_API_URL and APP_URL in the environment
pointing at the stand-in, and the modules' default retries (4).
"""

import collections
import json
import os
import random
import sys
import time
import uuid

import pytest

from tests import helpers
from tests.conftest import ROOT
from tests.reliability.conftest import RunOutcome, run_on_workers, tail

INVENTORY = os.path.join(ROOT, 'inventory', 'production')
FAULT_KINDS = ['429', '500', '502', '503', 'reset']
FAULT_RATE = 0.3
RUNS_PER_PLAYBOOK = 20
# Hang runs: the stand-in holds a request HANG_S seconds, then drops it; the modules' request timeout
# (pourtrait_vercel.timeout, handed to every vercel_* module by the playbooks' module_defaults) is below it,
# so a hang is a read timeout the retries handle - after a POST, one whose outcome the module reconciles.
HANG_KINDS = ['hang']
HANG_S = 2.5
HANG_VARS = {'pourtrait_vercel': {'timeout': 1}}

# The sandbox inventory's fast timings (inventory/local/group_vars/all/vercel.yml), tighter where a
# fault run allows: the stand-in builds in 0.5 s and finishes a rollback job in 0.3 s.
ROLLBACK_VARS = {'rollback_poll_interval': 0.1, 'rollback_health_wait_timeout': 10, 'rollback_health_interval': 0.2}
DEPLOY_VARS = {'deploy_backup': False, 'deploy_gate_database': False, 'deploy_poll_interval': 0.2,
               'deploy_rollback_poll_interval': 0.1, 'deploy_health_wait_timeout': 5, 'deploy_health_interval': 0.2,
               'deploy_verify_count': 2, 'deploy_verify_interval': 0.2, 'deploy_wait_timeout': 120}


def run_playbook(name, sandbox, extra_vars=None, env=None, timeout=240):
    """``ansible-playbook -i inventory/production playbooks/<name>.yml -e @<vars file>``; (rc, stdout + stderr)."""
    # the stand-in's plain HTTP API: no CA
    stand_in = dict((k, v) for k, v in sandbox.env.items() if k != 'VERCEL_CA_PATH')
    result = helpers.run_playbook(name, inventory=INVENTORY, extra_vars=extra_vars or None, env=[stand_in, env],
                                  reports_dir=sandbox.reports_dir, timeout=timeout)
    return result.rc, result.output


def rollback_posts(sandbox):
    return [r for r in sandbox.requests(method='POST') if '/rollback/' in r['path']]


def create_posts(sandbox):
    return [r for r in sandbox.requests(method='POST') if r['path'].split('?')[0] == '/v13/deployments']


def processed(posts, when):
    """The POSTs the stand-in acted on: with when='before' a faulted call was never processed."""
    return [p for p in posts if not (when == 'before' and p['faulted'])]


# -- part 1: 20 + 20 runs under faults ------------------------------------------------------------

Run = collections.namedtuple('Run', 'playbook index seed when lost kinds', defaults=(None,))


def meets_a_fault(seed, first=6, kinds=tuple(FAULT_KINDS)):
    """True when the stand-in's fault draws for ``seed`` (tests/sandbox/standin.py FaultInjector: one
    random() and one choice() per API call) fault at least one of the first ``first`` calls. Every run
    makes at least six Vercel calls, so a run with such a seed cannot pass without meeting a fault;
    nothing else is selected (runs of faults that outlast the retries are not filtered out)."""
    rng = random.Random(seed)
    hits = 0
    for _i in range(first):
        hits += rng.random() < FAULT_RATE
        rng.choice(kinds)
    return hits > 0


def fault_runs_for(playbook, seed_base):
    seeds = [s for s in range(seed_base, seed_base + 10 * RUNS_PER_PLAYBOOK) if meets_a_fault(s)]
    return [Run(playbook, i, seeds[i], 'before' if i % 2 == 0 else 'after', None) for i in range(RUNS_PER_PLAYBOOK)]


ROLLBACK_RUNS = fault_runs_for('rollback', 1000)
DEPLOY_RUNS = fault_runs_for('deploy', 2000)
# On top of the 20 + 20: the dangerous case made certain - the stand-in processes the one POST, then
# drops the connection or answers 502/503 instead (only that POST is faulted, once).
LOST_ANSWER_RUNS = [Run('rollback', 20, 0, 'after', 'reset'), Run('rollback', 21, 0, 'after', '502'),
                    Run('rollback', 22, 0, 'after', 'hang'),
                    Run('deploy', 20, 0, 'after', 'reset'), Run('deploy', 21, 0, 'after', '503'),
                    Run('deploy', 22, 0, 'after', 'hang')]
# And one run each with hangs only, in 30% of the calls (half before, half after processing).
HANG_RUNS = [Run('rollback', 23, [s for s in range(1500, 1600) if meets_a_fault(s, kinds=HANG_KINDS)][0], 'after',
                 None, 'hang'),
             Run('deploy', 23, [s for s in range(2500, 2600) if meets_a_fault(s, kinds=HANG_KINDS)][0], 'before',
                 None, 'hang')]


def run_id(run):
    if run.lost:
        return '%s-%02d-lost-answer-%s' % (run.playbook, run.index, run.lost)
    return '%s-%02d-seed%d-%s%s' % (run.playbook, run.index, run.seed, run.when, '-hangs' if run.kinds else '')


def set_run_faults(sandbox, run):
    if run.lost:
        sandbox.set_faults(rate=1.0, kinds=[run.lost], seed=0, when='after', methods=['POST'], max_faults=1,
                           hang_s=HANG_S)
    elif run.kinds:
        sandbox.set_faults(rate=FAULT_RATE, kinds=HANG_KINDS, seed=run.seed, when=run.when, hang_s=HANG_S)
    else:
        sandbox.set_faults(rate=FAULT_RATE, kinds=FAULT_KINDS, seed=run.seed, when=run.when)


def run_vars(run, base):
    """The playbook's extra vars: with a request timeout below HANG_S where the run may hang."""
    if run.lost == 'hang' or run.kinds:
        return dict(base, **HANG_VARS)
    return dict(base)


def settle(sandbox, injected):
    """Wait until every injected fault is in the request log (a hang is logged when it ends)."""
    deadline = time.time() + HANG_S + 5
    while sum(1 for r in sandbox.requests() if r['faulted']) < injected and time.time() < deadline:
        time.sleep(0.2)


class Outcome(RunOutcome):
    """What one run left behind, read from the stand-in right after it (faults off)."""

    calls_label = 'Vercel API calls'

    def __init__(self, run):
        RunOutcome.__init__(self, run)
        self.expected = None
        self.live = None
        self.posts = []
        self.other_posts = []
        self.new_deployments = []

    def head(self):
        return '%s (seed %d, when=%s, %d faults injected, %.1f s)' % (
            run_id(self.run), self.run.seed, self.run.when, self.injected, self.seconds)


def play_rollback(sandbox, run, outcome):
    sandbox.fresh()
    outcome.expected = sandbox.live()['uid']
    outcome.before = sandbox.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    set_run_faults(sandbox, run)
    extra = dict(run_vars(run, ROLLBACK_VARS), rollback_reason='reliability run %s' % run_id(run))
    outcome.rc, outcome.output = run_playbook('rollback', sandbox, extra)
    outcome.injected = sandbox.faults()['injected']
    sandbox.clear_faults()
    settle(sandbox, outcome.injected)
    outcome.posts = rollback_posts(sandbox)
    outcome.other_posts = create_posts(sandbox)
    outcome.log = sandbox.requests(service='vercel')


def play_deploy(sandbox, run, outcome):
    sandbox.fresh()
    known = set(d['uid'] for d in sandbox.deployments())
    outcome.before = sandbox.live()['uid']
    sha = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    set_run_faults(sandbox, run)
    extra = dict(run_vars(run, DEPLOY_VARS), deploy_git_sha=sha, deploy_git_ref='main')
    outcome.rc, outcome.output = run_playbook('deploy', sandbox, extra)
    outcome.injected = sandbox.faults()['injected']
    sandbox.clear_faults()
    settle(sandbox, outcome.injected)
    outcome.new_deployments = [d for d in sandbox.deployments() if d['uid'] not in known]
    built = [d for d in outcome.new_deployments if d.get('sha') == sha]
    outcome.expected = built[0]['uid'] if built else '(no build of %s)' % sha
    outcome.posts = create_posts(sandbox)
    outcome.other_posts = rollback_posts(sandbox)
    outcome.log = sandbox.requests(service='vercel')


def play(sandbox, run):
    outcome = Outcome(run)
    started = time.time()
    try:
        (play_rollback if run.playbook == 'rollback' else play_deploy)(sandbox, run, outcome)
        outcome.live = (sandbox.live() or {}).get('uid')
        outcome.health = sandbox.app('/health')
    except Exception as exc:  # noqa: BLE001 - reported by the run's own test, not lost in a thread
        outcome.output += '\n(test harness error: %r)' % (exc,)
    outcome.seconds = time.time() - started
    return outcome


@pytest.fixture(scope='module')
def fault_outcomes(standin_pool):
    """Every fault run, two at a time (one per stand-in); {run: Outcome}."""
    # interleave the playbooks so both workers carry a similar load
    runs = [run for pair in zip(ROLLBACK_RUNS, DEPLOY_RUNS) for run in pair] + LOST_ANSWER_RUNS + HANG_RUNS
    results, seconds = run_on_workers(runs, standin_pool, play)
    sys.stderr.write('%d fault runs in %.1f s; POST answer replaced by a 5xx or lost after it was processed in: %s\n'
                     % (len(results), seconds, ', '.join(run_id(r) for r in lost_post_runs(results))))
    return results


def lost_post_runs(outcomes):
    """The runs where the one POST was processed and its answer then replaced by a 5xx or dropped."""
    return sorted((run for run, outcome in outcomes.items() if run.when == 'after'
                   and any(p['faulted'] in ('500', '502', '503', 'reset', 'hang') for p in outcome.posts)), key=run_id)


def check_common(outcome):
    run = outcome.run
    assert outcome.rc == 0, 'run %s failed (rc %s): %s' % (run_id(run), outcome.rc, outcome.where())
    assert 'Traceback' not in outcome.output, outcome.where()
    assert outcome.injected > 0, 'no fault was injected: %s' % outcome.where()
    assert outcome.live == outcome.expected, 'production points at %s, expected %s: %s' % (
        outcome.live, outcome.expected, outcome.where())
    status, body, _headers = outcome.health
    assert status == 200 and body['status'] == 'healthy' and body['deploymentId'] == outcome.expected, (
        'production /health answered %s %s: %s' % (status, body, outcome.where()))


@pytest.mark.parametrize('run', ROLLBACK_RUNS + [r for r in LOST_ANSWER_RUNS + HANG_RUNS if r.playbook == 'rollback'],
                         ids=run_id)
def test_rollback_playbook_under_faults(fault_outcomes, run):
    outcome = fault_outcomes[run]
    check_common(outcome)
    assert outcome.before != outcome.expected
    done = processed(outcome.posts, run.when)
    assert len(done) == 1, 'the stand-in processed %d rollback POSTs (%s): %s' % (
        len(done), [(p['status'], p['faulted']) for p in outcome.posts], outcome.where())
    assert '/rollback/%s' % outcome.expected in done[0]['path'], done
    assert outcome.other_posts == [], outcome.where()
    assert 'Rolled production back from %s' % outcome.before in outcome.output, outcome.where()


@pytest.mark.parametrize('run', DEPLOY_RUNS + [r for r in LOST_ANSWER_RUNS + HANG_RUNS if r.playbook == 'deploy'],
                         ids=run_id)
def test_deploy_playbook_under_faults(fault_outcomes, run):
    outcome = fault_outcomes[run]
    check_common(outcome)
    done = processed(outcome.posts, run.when)
    assert len(done) == 1, 'the stand-in processed %d deployment-create POSTs (%s): %s' % (
        len(done), [(p['status'], p['faulted']) for p in outcome.posts], outcome.where())
    assert len(outcome.new_deployments) == 1, 'builds created: %s: %s' % (
        [d['uid'] for d in outcome.new_deployments], outcome.where())
    assert outcome.other_posts == [], 'a rollback was sent: %s' % outcome.where()
    assert 'Deployed %s' % outcome.expected in outcome.output, outcome.where()


def test_the_dangerous_faults_were_exercised(fault_outcomes):
    """The runs above include the case a naive retry gets wrong - the one POST processed, then its answer
    replaced by a 5xx or the connection dropped (when='after') - for both playbooks: in the lost-answer
    runs for certain, and among the 30% runs too (the calls before the POST do not depend on timing,
    so with these seeds it is the same runs every time)."""
    random_runs = [r for r in lost_post_runs(fault_outcomes) if not r.lost and not r.kinds]
    hit = collections.Counter(run.playbook for run in random_runs)
    assert hit['rollback'] >= 1 and hit['deploy'] >= 1, [run_id(r) for r in random_runs]
    for run in LOST_ANSWER_RUNS:
        posts = fault_outcomes[run].posts
        assert len(posts) == 1 and posts[0]['faulted'] == run.lost, (run_id(run), posts)


# -- part 2: bad input and outages, at the playbook level -------------------------------------------

def broken_release(sandbox):
    """Fresh state with a broken release live over the healthy one; returns (broken, previous, oldest) uids."""
    previous = sandbox.live()['uid']
    broken = sandbox.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    oldest = sorted(sandbox.deployments(), key=lambda d: d['created'])[0]['uid']
    return broken, previous, oldest


def fatal_message(rc, output):
    """The one-line message of the playbook's single ``fatal:`` line (asserting there is exactly one)."""
    assert rc == 2, 'expected the play to fail (rc 2), got rc %s:\n%s' % (rc, tail(output))
    assert 'Traceback' not in output and 'exception' not in output.lower(), tail(output)
    fatal = [line for line in output.splitlines() if line.startswith('fatal: ')]
    assert len(fatal) == 1, tail(output)
    assert ' => {' in fatal[0], fatal[0]
    result = json.loads(fatal[0].split(' => ', 1)[1])
    msg = result['msg']
    assert '\n' not in msg and len(msg) < 500, msg
    return msg


def assert_unchanged(sandbox, live):
    assert sandbox.live()['uid'] == live
    done = [p for p in rollback_posts(sandbox) if p['status'] is not None and p['status'] < 300]
    assert done == [], done
    assert create_posts(sandbox) == []


BAD_INPUT = [
    # id, how to break the run, fragments the one line must hold (cause and fix)
    ('unknown-project', {'env': {'VERCEL_PROJECT': 'pourtrait-typo'}},
     ["project 'pourtrait-typo' not found", 'check project (VERCEL_PROJECT)']),
    ('unknown-deployment', {'to': 'dpl_doesnotexist1234'},
     ["rollback target 'dpl_doesnotexist1234' not found", 'check the id or URL']),
    ('errored-deployment', {'seed': {'state': 'ERROR', 'created_offset_s': -900}},
     ['is ERROR, not READY', 'only READY production builds can be rollback targets', 'pick another']),
    ('canceled-deployment', {'seed': {'state': 'CANCELED', 'created_offset_s': -900}},
     ['is CANCELED, not READY', 'pick another']),
    ('preview-build', {'seed': {'target': 'preview', 'created_offset_s': -600}},
     ['is a preview build, not production', 'promote it with vercel_promote rebuild=true']),
    ('invalid-token', {'env': {'VERCEL_TOKEN': 'A' * 24}},
     ['401: the Vercel token was rejected', 'check VERCEL_TOKEN']),
    # pasted with its newline
    ('malformed-token', {'env': {'VERCEL_TOKEN': 'B' * 24 + '\n'}},
     ['the Vercel token is malformed (25 characters', 'check api_token / VERCEL_TOKEN for stray quotes, spaces or a newline']),
    ('wrong-team', {'env': {'VERCEL_TEAM_ID': 'team_someoneelse00000000'}},
     ['403', 'team_someoneelse00000000', 'check team_id (VERCEL_TEAM_ID)']),
    ('hobby-plan-limit', {'plan': 'hobby', 'to': 'oldest'},
     ['402', 'Hobby plans roll back only one step', 'use target=previous', 'upgrade the team to Pro']),
    ('rate-limit-outlasts-retries', {'faults': {'rate': 1.0, 'kinds': ['429'], 'retry_after': '1'}},
     ['429: Vercel rate limit hit', 'still failing after 5 attempts', 'wait and rerun, or raise retries']),
    ('rate-limit-retry-after-an-hour', {'faults': {'rate': 1.0, 'kinds': ['429'], 'retry_after': '3600'}},
     ['429: Vercel rate limit hit', 'the limit resets at', 'wait and rerun']),
    ('api-unreachable', {'env': {'VERCEL_API_URL': 'http://127.0.0.1:9'}},
     ['could not be reached after 5 attempts', 'Connection refused', 'check api_url (VERCEL_API_URL) and the network']),
]


@pytest.mark.parametrize('case, breakage, fragments', BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_rollback_playbook_bad_input_is_one_line(sandbox, case, breakage, fragments):
    broken, _previous, oldest = broken_release(sandbox)
    target = breakage.get('to')
    if target == 'oldest':
        target = oldest
    if 'seed' in breakage:
        target = sandbox.seed_deployment(**breakage['seed'])['uid']
    if 'plan' in breakage:
        sandbox.set_plan(breakage['plan'])
    extra = dict(ROLLBACK_VARS, rollback_reason='INC-7: %s' % case)
    if target:
        extra['rollback_to'] = target
    if 'faults' in breakage:
        sandbox.set_faults(**breakage['faults'])
    rc, output = run_playbook('rollback', sandbox, extra, env=breakage.get('env'))
    sandbox.clear_faults()
    msg = fatal_message(rc, output)
    for fragment in fragments:
        assert fragment in msg, 'expected %r in the error of %s: %r' % (fragment, case, msg)
    for secret in (sandbox.token, breakage.get('env', {}).get('VERCEL_TOKEN', '').strip()):
        assert not secret or secret not in output, 'a token was printed'
    assert_unchanged(sandbox, broken)

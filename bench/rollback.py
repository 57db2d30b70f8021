#!/usr/bin/env python
"""Benchmark: the rollback playbook against its floor, with a broken release live.

Uses the running sandbox (``make sandbox-up``), or starts one and stops it
afterwards. Each run resets the Vercel stand-in, seeds a broken production
deployment live over a healthy previous one, then times either

* the playbook: ``ansible-playbook playbooks/rollback.yml`` (inventory/local),
  or
* the floor: a minimal Python script (requests) making the same HTTP calls -
  read the project, list production deployments to find the previous one,
  send the rollback, poll the project until the rollback job has succeeded
  (same poll interval), then GET /health on production until it is healthy.

Runs alternate; the median of each counts. Goal: the playbook adds at most
1.5 s to the floor.

    python bench/rollback.py [--runs N]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SANDBOXCTL = os.path.join(ROOT, 'tests', 'sandbox', 'sandboxctl.py')
ENV_FILE = os.path.join(ROOT, '.sandbox', 'env')
VENV_BIN = os.path.join(ROOT, '.venv', 'bin')
# the project's venv (make setup) when there is one: ansible-playbook, requests, psycopg2
PYTHON = os.path.join(VENV_BIN, 'python') if os.path.exists(os.path.join(VENV_BIN, 'python')) else sys.executable
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(PYTHON), 'ansible-playbook')
COLLECTIONS = os.path.join(ROOT, '.collections')
GOAL_EXTRA_SECONDS = 1.5
# The stand-in's rollback job: pending then running (seconds), and the poll
# interval both sides use (the inventory's rollback_poll_interval).
TIMINGS = {'job_pending_s': 0.1, 'job_running_s': 0.3}
POLL_INTERVAL = 0.25

FLOOR_SCRIPT = r"""
import sys, time
import requests
api, token, team, project, app, poll = sys.argv[1:7]
poll = float(poll)
s = requests.Session()
s.headers['Authorization'] = 'Bearer ' + token
scope = {'teamId': team} if team else {}
proj = s.get('%s/v9/projects/%s' % (api, project), params=scope, timeout=30).json()
live = proj['targets']['production']
# the rotation guard's read (vercel_rollback refuses builds older than the last secret rotation)
s.get('%s/v10/projects/%s/env' % (api, proj['id']), params=scope, timeout=30).raise_for_status()
items = s.get('%s/v6/deployments' % api, timeout=30, params=dict(scope, projectId=proj['id'], target='production',
              state='READY', limit=100, until=live['createdAt'])).json()['deployments']
target = [d for d in items if d['uid'] != live['id'] and d.get('isRollbackCandidate') is not False][0]['uid']
r = s.post('%s/v1/projects/%s/rollback/%s' % (api, proj['id'], target), params=scope, timeout=30)
r.raise_for_status()
while True:
    req = s.get('%s/v9/projects/%s' % (api, proj['id']), params=scope, timeout=30).json().get('lastAliasRequest') or {}
    if req.get('toDeploymentId') == target and req.get('jobStatus') in ('succeeded', 'failed'):
        break
    time.sleep(poll)
assert req['jobStatus'] == 'succeeded', req
while True:
    h = requests.get(app + '/health', timeout=10)
    if h.status_code == 200 and h.json().get('status') == 'healthy':
        break
    time.sleep(poll)
"""


def read_env():
    env = {}
    with open(ENV_FILE) as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith('#') and '=' in line:
                key, _sep, value = line.partition('=')
                env[key] = value
    return env


def sandbox_running():
    return subprocess.run([PYTHON, SANDBOXCTL, 'status'], capture_output=True, check=False).returncode == 0 \
        and os.path.exists(ENV_FILE)


def admin(env, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(env['SANDBOX_ADMIN_URL'] + path, data=data, method=method,
                                 headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read().decode() or 'null')


def seed_broken_release(env):
    """Default state (three healthy production builds), then a broken one live on top; returns the healthy previous."""
    state = admin(env, 'POST', '/reset', {})
    admin(env, 'POST', '/timings', TIMINGS)
    previous = [d for d in state['vercel']['deployments'] if d['live']][0]['uid']
    admin(env, 'POST', '/vercel/deployments', {'health': 'broken', 'live': True, 'created_offset_s': -60})
    return previous


def live_uid(env):
    return [d for d in admin(env, 'GET', '/vercel/state')['deployments'] if d['live']][0]['uid']


def timed(argv, env, cwd=ROOT):
    started = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    elapsed = time.time() - started
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc %d): %s %s' % (os.path.basename(argv[1] if argv[1] != '-c' else argv[0]),
                                                         proc.returncode, proc.stdout[-3000:], proc.stderr[-2000:]))
    return elapsed, proc.stdout


def run(runs=5):
    """Rows for bench/run.py: [{name, seconds, floor_seconds, ratio, goal}]."""
    started_here = False
    if not sandbox_running():
        subprocess.run([PYTHON, SANDBOXCTL, 'up'], check=True, capture_output=True)
        started_here = True
    try:
        sandbox = read_env()
        base_env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('VERCEL_', 'ANSIBLE_')))
        play_env = dict(base_env, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
                        ANSIBLE_NOCOLOR='1')
        playbook = [ANSIBLE_PLAYBOOK, '-i', os.path.join(ROOT, 'inventory', 'local'),
                    os.path.join(ROOT, 'playbooks', 'rollback.yml'), '-e', 'rollback_poll_interval=%s' % POLL_INTERVAL]
        floor = [PYTHON, '-c', FLOOR_SCRIPT, sandbox['VERCEL_API_URL'], sandbox['VERCEL_TOKEN'],
                 sandbox['VERCEL_TEAM_ID'], sandbox['VERCEL_PROJECT'], sandbox['APP_URL'], str(POLL_INTERVAL)]
        play_times, floor_times = [], []
        for index in range(runs + 1):  # the first round warms caches and is not counted
            previous = seed_broken_release(sandbox)
            seconds, out = timed(playbook, play_env)
            if live_uid(sandbox) != previous or 'changed=1' not in out:
                raise RuntimeError('the playbook did not roll back to %s:\n%s' % (previous, out[-3000:]))
            if index:
                play_times.append(seconds)
            previous = seed_broken_release(sandbox)
            seconds = timed(floor, base_env)[0]
            if live_uid(sandbox) != previous:
                raise RuntimeError('the floor script did not roll back to %s' % previous)
            if index:
                floor_times.append(seconds)
        admin(sandbox, 'POST', '/reset', {})
    finally:
        if started_here:
            subprocess.run([PYTHON, SANDBOXCTL, 'down'], check=False, capture_output=True)
    seconds = statistics.median(play_times)
    floor_seconds = statistics.median(floor_times)
    return [dict(name='playbooks/rollback.yml, broken release live', seconds=round(seconds, 3),
                 floor_seconds=round(floor_seconds, 3), ratio=round(seconds / floor_seconds, 2),
                 goal='adds <= %.1f s to the floor' % GOAL_EXTRA_SECONDS,
                 extra_seconds=round(seconds - floor_seconds, 3), ok=seconds - floor_seconds <= GOAL_EXTRA_SECONDS,
                 best_extra_seconds=round(min(play_times) - min(floor_times), 3),
                 runs=dict(playbook=[round(t, 3) for t in play_times], floor=[round(t, 3) for t in floor_times]))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--runs', type=int, default=5, help='timed runs of each side (median counts)')
    options = parser.parse_args(argv)
    row = run(options.runs)[0]
    met = row['extra_seconds'] <= GOAL_EXTRA_SECONDS
    print('playbook %.3f s  (runs %s)' % (row['seconds'], row['runs']['playbook']))
    print('floor    %.3f s  (runs %s)' % (row['floor_seconds'], row['runs']['floor']))
    print('%s: the playbook adds %.3f s to the floor (best runs: %.3f s; ratio %.2f; goal %s) %s'
          % (row['name'], row['extra_seconds'], row['best_extra_seconds'], row['ratio'], row['goal'],
             'OK' if met else 'MISSED'))
    return 0 if met else 1


if __name__ == '__main__':
    sys.exit(main())

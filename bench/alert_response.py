#!/usr/bin/env python
"""Benchmark: a broken release goes live; the alert response (real ansible-rulebook) makes production healthy.

Uses the running sandbox (``make sandbox-up``), or starts one and stops it afterwards. In the same run:

* the rollback's own time: a broken release live over a healthy previous one, then
  ``ansible-playbook playbooks/rollback.yml`` by hand, timed from its start to its end (it ends when production
  answers healthy);
* for reference, ``playbooks/incident.yml -e incident_response_mitigation=rollback
  -e incident_response_mitigate_first=true`` by hand (what the rule runs: the acknowledgement, the rollback, then
  the snapshot), timed from its start until production answers healthy; and the same in the runbook's order for
  people (``incident_response_mitigate_first`` false: the snapshot before the rollback);
* the automatic response: ``ansible-rulebook`` with extensions/eda/rulebooks/alert_response.yml (the monitor
  polling every ``--interval`` seconds) watches healthy production; a broken release goes live (t0); the time
  until production's ``/health`` answers healthy again (polled here every 50 ms) is the measure. Exactly one
  rollback must have been requested.

Goal (issue 14): automatic <= 2 x the monitor's poll interval + the rollback's own time. The row's floor is that
sum, its ratio the measure over it. A last row splits off the engine's share (the automatic time minus the manual
incident.yml's): detection and launching the playbook, against 2 x the poll interval. Runs: ``--runs`` of each
side, medians count (the first manual round warms caches and is not counted). Benchmarks report, they do not fail.

    python bench/alert_response.py [--runs N] [--interval S]
"""

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.helpers import run_playbook  # noqa: E402
from tests.integration.eda.rulebook import Rulebook  # noqa: E402

INTERVAL = 2.0


def _sibling(name):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + '.py')
    spec = importlib.util.spec_from_file_location('bench_' + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sandbox = _sibling('rollback')  # read_env, sandbox_running, admin, seed_broken_release, live_uid, TIMINGS


def healthy(app_url):
    try:
        with urllib.request.urlopen(app_url.rstrip('/') + '/health', timeout=5) as resp:
            return resp.status == 200 and json.loads(resp.read().decode()).get('status') == 'healthy'
    except (OSError, ValueError, urllib.error.URLError):
        return False


def rollback_posts(env):
    """Successful rollback requests the Vercel stand-in served since its log was cleared."""
    items = sandbox.admin(env, 'GET', '/requests?method=POST')['requests']
    return [r for r in items if '/rollback/' in r['path'] and r['status'] is not None and r['status'] < 400]


def watch_health(app_url, started, found, stop):
    """Record in ``found`` the seconds from ``started`` until production answers healthy (polled every 50 ms)."""
    while not stop and not found:
        if healthy(app_url):
            found.append(time.time() - started)
            return
        time.sleep(0.05)


def manual(env, inventory, work, playbook, *args):
    """(seconds of the run, seconds until production answered healthy) of one manual run of ``playbook`` with a
    broken release live (it must roll back), with the inventory and settings the engine's runs get
    (tests/integration/eda/rulebook.py: FAST_GROUP_VARS)."""
    import threading
    previous = sandbox.seed_broken_release(env)
    found, stop = [], []
    started = time.time()
    watcher = threading.Thread(target=watch_health, args=(env['APP_URL'], started, found, stop), daemon=True)
    watcher.start()
    result = run_playbook(playbook, *args, env=[env, {'POURTRAIT_LOCK_PATH': os.path.join(work, 'manual.lock')}],
                          inventory=inventory, reports_dir=os.path.join(work, 'reports'), timeout=300)
    stop.append(True)
    watcher.join(10)
    if result.rc != 0 or sandbox.live_uid(env) != previous or not found:
        raise RuntimeError('%s did not roll back (rc %s): %s' % (playbook, result.rc, result.output[-3000:]))
    return result.elapsed, found[0]


def automatic(env, work, index, interval):
    """Seconds from a broken release going live to production healthy, under the rulebook; (seconds, rollbacks)."""
    state = sandbox.admin(env, 'POST', '/reset', {})
    sandbox.admin(env, 'POST', '/timings', sandbox.TIMINGS)
    previous = [d for d in state['vercel']['deployments'] if d['live']][0]['uid']
    tmp = Path(work) / ('auto-%d' % index)
    tmp.mkdir()
    book = Rulebook(tmp, [env], {'monitor_interval': interval}).start()
    try:
        book.wait_for(lambda: 'app_monitor: healthy' in book.output, 120, 'the monitor\'s first poll')
        sandbox.admin(env, 'DELETE', '/requests')
        sandbox.admin(env, 'POST', '/vercel/deployments', {'health': 'broken', 'live': True, 'created_offset_s': -60})
        went_live = time.time()
        while not healthy(env['APP_URL']) and time.time() - went_live < 300:
            time.sleep(0.05)
        seconds = time.time() - went_live
        if sandbox.live_uid(env) != previous:
            raise RuntimeError('production was not rolled back to %s:\n%s' % (previous, book.output[-3000:]))
        book.wait_for(lambda: [e for e in book.audit() if e['outcome'] in ('finished', 'failed')], 300,
                      'the automatic run to end')
        time.sleep(2 * interval)  # more polls after the rollback: still one
        return seconds, len(rollback_posts(env))
    finally:
        book.stop()


def run(runs=3, interval=INTERVAL):
    """Rows for bench/run.py."""
    started_here = False
    if not sandbox.sandbox_running():
        subprocess.run([sandbox.PYTHON, sandbox.SANDBOXCTL, 'up'], check=True, capture_output=True)
        started_here = True
    work = tempfile.mkdtemp(prefix='pourtrait-bench-eda-')
    try:
        env = sandbox.read_env()
        env['POURTRAIT_WEBHOOK_SECRET'] = 'bench-webhook-secret'
        (Path(work) / 'manual').mkdir()
        inventory = str(Rulebook(Path(work) / 'manual', [env]).tmp_path / 'inventory')  # not started
        rollback_times, incident_times, human_times, auto_times, rollbacks = [], [], [], [], []
        for index in range(runs + 1):
            seconds, _healthy = manual(env, inventory, work, 'rollback')
            if index:
                rollback_times.append(seconds)
        for _index in range(runs):
            incident_times.append(manual(env, inventory, work, 'incident', '-e',
                                         'incident_response_mitigation=rollback', '-e',
                                         'incident_response_severity=P1', '-e',
                                         'incident_response_mitigate_first=true')[1])
            human_times.append(manual(env, inventory, work, 'incident', '-e',
                                      'incident_response_mitigation=rollback', '-e',
                                      'incident_response_severity=P1')[1])
        for index in range(runs):
            seconds, count = automatic(env, work, index, interval)
            auto_times.append(seconds)
            rollbacks.append(count)
        sandbox.admin(env, 'POST', '/reset', {})
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if started_here:
            subprocess.run([sandbox.PYTHON, sandbox.SANDBOXCTL, 'down'], check=False, capture_output=True)
    own = statistics.median(rollback_times)
    seconds = statistics.median(auto_times)
    floor = 2 * interval + own
    incident = statistics.median(incident_times)
    human = statistics.median(human_times)
    return [
        dict(name='playbooks/rollback.yml by hand (the rollback\'s own time)', seconds=round(own, 3),
             floor_seconds=None, ratio=None, goal='reference', ok=None, runs=[round(t, 3) for t in rollback_times]),
        dict(name='playbooks/incident.yml mitigation=rollback by hand, start -> healthy', seconds=round(incident, 3),
             floor_seconds=round(own, 3), ratio=round(incident / own, 2), goal='reference', ok=None,
             runs=[round(t, 3) for t in incident_times]),
        dict(name='  the same in the runbook\'s order for people (snapshot first)', seconds=round(human, 3),
             floor_seconds=round(own, 3), ratio=round(human / own, 2), goal='reference', ok=None,
             runs=[round(t, 3) for t in human_times]),
        dict(name='alert_response.yml: broken release live -> healthy (poll %gs)' % interval,
             seconds=round(seconds, 3), floor_seconds=round(floor, 3), ratio=round(seconds / floor, 2),
             goal='<= 2 x poll + rollback.yml', ok=seconds <= floor and all(c == 1 for c in rollbacks),
             runs=[round(t, 3) for t in auto_times], rollbacks=rollbacks),
        dict(name='  of which the engine (detect + launch): automatic - incident.yml by hand',
             seconds=round(seconds - incident, 3), floor_seconds=round(2 * interval, 3),
             ratio=round((seconds - incident) / (2 * interval), 2), goal='<= 2 x poll',
             ok=seconds - incident <= 2 * interval),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--runs', type=int, default=3, help='timed runs of each side (median counts)')
    parser.add_argument('--interval', type=float, default=INTERVAL, help='the monitor\'s poll interval (s)')
    options = parser.parse_args(argv)
    own, incident, human, auto, engine = run(options.runs, options.interval)
    print('rollback.yml by hand           %.3f s  (runs %s)' % (own['seconds'], own['runs']))
    print('incident.yml rollback by hand  %.3f s to healthy  (runs %s)' % (incident['seconds'], incident['runs']))
    print('  snapshot first (people)      %.3f s to healthy  (runs %s)' % (human['seconds'], human['runs']))
    print('automatic, live -> healthy     %.3f s  (runs %s; rollbacks requested per run %s)'
          % (auto['seconds'], auto['runs'], auto['rollbacks']))
    print('%s: %.3f s against 2 x %gs + %.3f s = %.3f s (ratio %.2f) %s'
          % (auto['name'], auto['seconds'], options.interval, own['seconds'], auto['floor_seconds'], auto['ratio'],
             'OK' if auto['ok'] else 'MISSED'))
    print('the engine\'s share (detection and launch): %.3f s against 2 x %gs (ratio %.2f) %s'
          % (engine['seconds'], options.interval, engine['ratio'], 'OK' if engine['ok'] else 'MISSED'))
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Fault matrix, the last two cells (issue 6): deploy.yml with its database steps, and migrate.yml under API faults.

1. ``playbooks/deploy.yml`` as on-call runs it (``-i inventory/production``, VERCEL_* / APP_URL pointing at a
   stand-in of the pool, DATABASE_URL at a fresh database) with its database steps ON: ``deploy_backup`` (the
   default) takes a verified backup through the db_backup role before anything is built. The database holds a
   table large enough that pg_dump's COPY of it is seen running; from another session the test ends that
   pg_dump backend (``pg_terminate_backend()``, found by its application_name) while it copies. The play fails
   with one line naming the lost connection and what to do; the Vercel stand-in's request log holds no
   deployment-create POST (nothing is built on a failed backup), production still serves what it served, and
   no dump (partial or not) is left in the backup directory. The rerun without the cut takes the backup,
   sends exactly one create POST and leaves production on the new deployment, healthy.

2. ``playbooks/migrate.yml`` with its verification on (the default health_check role: the app's /health, its
   smoke endpoints and the Supabase project's status and services, all on the stand-in) while the stand-in
   injects 429, 5xx, dropped connections and hangs into 30% of the requests of every service (hangs shorter
   than a few seconds, the modules' request timeout below them). Each of three runs (seeds whose faults land on
   the app's /health, on the Supabase API, and on the smoke tests), on a fresh database with three migration
   files, either applies every file exactly once (history, objects, effects) and succeeds, or fails with one
   line while the history and the objects still agree (every file applied once, or - failing before the apply -
   none); after a failure the rerun without faults applies what is left (nothing, when the verification
   failed). migrate.yml changes nothing through an API: its only non-GET request is the ai-chat smoke POST,
   asked at most once per run. With these seeds the faults on /health and on the Supabase API are outlasted by
   the retries; two failed smoke requests fail the verification (the smoke tests are not retried).
"""

import glob
import json
import os
import re
import time
import uuid

import pytest

from tests.fixtures_standins import SupabaseSandbox
from tests.reliability.test_db_faults import (
    DUMP_APP, LOST, VERSIONS, Cutter, backup_entries, bulk_table, exists, migrate_vars, note_column, recorded,
    scratch_databases, sleep_switch, write_migrations)
from tests.reliability.test_vercel_faults import DEPLOY_VARS, create_posts, rollback_posts, run_playbook
from tests.reliability.conftest import tail

FAULT_KINDS = ['429', '500', '502', '503', 'reset', 'hang']
FAULT_RATE = 0.3
HANG_S = 2.5
# seconds one request of the modules may take: below HANG_S, so a hang is a read timeout
REQUEST_TIMEOUT = 1


def final_message(rc, output):
    """The one-line message of the one ``fatal:`` line that ended a failed play. Ansible also prints a ``fatal:``
    line for each failure a role rescued (to say it better): the recap's rescued count says how many."""
    assert rc == 2, 'expected the play to fail (rc 2), got rc %s:\n%s' % (rc, tail(output))
    assert 'Traceback' not in output, tail(output)
    fatal = [line for line in output.splitlines() if line.startswith('fatal: ')]
    recap = re.search(r'^localhost\s+: ok=\d+.*failed=(\d+).*rescued=(\d+)', output, re.M)
    assert recap and recap.group(1) == '1' and len(fatal) == int(recap.group(2)) + 1, tail(output)
    assert ' => {' in fatal[-1], tail(output)
    msg = json.loads(fatal[-1].split(' => ', 1)[1])['msg']
    assert isinstance(msg, str) and '\n' not in msg, 'not one line: %r' % (msg,)
    return msg


def dumps_in(backups, db):
    return sorted(glob.glob(os.path.join(str(backups), db.name + '-*')))


# -- 1. deploy.yml: the connection cut in the middle of its pre-deploy backup -------------------------

def deploy_vars(backups, sha):
    """DEPLOY_VARS' fast timings with the database steps back on (deploy_backup: true is the role default)."""
    variables = dict(DEPLOY_VARS, deploy_git_sha=sha, deploy_git_ref='main', db_backup_dir=str(backups))
    variables.pop('deploy_backup')
    variables.pop('deploy_gate_database')
    return variables


def test_deploy_backup_connection_cut(standin_pool, db, tmp_path):
    sandbox = standin_pool[0].fresh()
    bulk_table(db)
    backups = tmp_path / 'backups'
    live_before, live_sha = sandbox.live()['uid'], sandbox.live()['sha']
    known = set(d['uid'] for d in sandbox.deployments())
    sha = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    variables = deploy_vars(backups, sha)
    database = {'DATABASE_URL': db.url}

    where = "application_name = %s AND datname = %s AND query LIKE 'COPY public.fault_bulk %%'"
    with Cutter(db, where, (DUMP_APP, db.name)) as cutter:
        rc, output = run_playbook('deploy', sandbox, variables, env=database)
    assert len(cutter.cut) == 1 and cutter.cut[0][4].startswith('COPY public.fault_bulk'), (cutter.cut, tail(output))
    message = final_message(rc, output)
    assert message.startswith('Deploy of %s stopped at the gate of the verified backup, before anything was built: '
                              'Backup failed: pg_dump failed ' % sha[:12]), message
    assert LOST.search(message), message
    assert 'No new dump was kept in %s. The connection to PostgreSQL was lost during the backup' % backups in message
    assert message.endswith('the database was only read and is unchanged. Nothing was deployed: production still '
                            'serves %s (%s). Run the deploy again once the database answers (it takes a new backup '
                            'first).' % (live_before, live_sha[:7])), message
    # nothing was built or sent to Vercel that changes anything; production as it was
    assert create_posts(sandbox) == [], create_posts(sandbox)
    assert rollback_posts(sandbox) == []
    assert [r for r in sandbox.requests(service='vercel') if r['method'] != 'GET'] == []
    assert 'Build for production' not in output, tail(output)
    assert sandbox.live()['uid'] == live_before
    assert set(d['uid'] for d in sandbox.deployments()) == known
    # no partial backup: nothing under a final name, no temporary entry, no scratch database
    assert backup_entries(backups) == [], backup_entries(backups)
    assert scratch_databases(db) == []

    sandbox.clear_requests()
    rc, output = run_playbook('deploy', sandbox, variables, env=database)
    assert rc == 0, tail(output)
    posts = create_posts(sandbox)
    assert len(posts) == 1 and posts[0]['status'] is not None and posts[0]['status'] < 300, posts
    new = [d for d in sandbox.deployments() if d['uid'] not in known]
    assert len(new) == 1 and new[0]['sha'] == sha, new
    assert sandbox.live()['uid'] == new[0]['uid']
    assert 'Deployed %s' % new[0]['uid'] in output, tail(output)
    status, body, _headers = sandbox.app('/health')
    assert status == 200 and body['status'] == 'healthy' and body['deploymentId'] == new[0]['uid'], (status, body)
    # the rerun's backup was kept: one dump and its manifest
    dumps = dumps_in(backups, db)
    assert len(dumps) == 2 and dumps[1] == dumps[0] + '.manifest.json', backup_entries(backups)


# -- 2. migrate.yml: 30% faults on the app and the Supabase API ----------------------------------------

# Seeds whose faults land on each kind of request of migrate.yml: its requests are /health (app_health retries
# it until healthy or health_check_wait_timeout), GET /api/wines and POST /api/ai/chat (the smoke tests: a GET
# is asked again after a transient failure, the POST once), then the Supabase project and its services (supabase_project_info retries). One random() and one
# choice() per request (tests/sandbox/standin.py FaultInjector), so with these seeds and no timing in the
# draws the faults are, in order:
MIGRATE_RUNS = [
    # seed, the service whose requests are faulted, how the run ends
    (6034, 'app', 'applied'),  # /health hang, /health 500
    (6017, 'supabase', 'applied'),  # Supabase project 429, project health 500
    (6021, 'app', 'applied'),  # /api/wines 502: a smoke GET is asked again (health_check_smoke_retries)
]


def migrate_fault_vars(directory):
    return migrate_vars(directory, db_migrate_health_check=True, health_check_timeout=REQUEST_TIMEOUT,
                        health_check_wait_timeout=10, health_check_interval=0.2,
                        pourtrait_supabase={'timeout': REQUEST_TIMEOUT})


def settled_log(worker, injected):
    """The request log once every injected fault is in it (a hang is logged when it ends)."""
    deadline = time.time() + HANG_S + 5
    while True:
        log = worker.requests()
        if sum(1 for r in log if r['faulted']) >= injected or time.time() > deadline:
            return log
        time.sleep(0.2)


def calls(log):
    return ' '.join('%s:%s %s:%s' % (r['service'], r['method'], r['path'].split('?')[0], r['faulted'] or r['status'])
                    for r in log)


def assert_all_applied_once(db, where):
    assert recorded(db) == VERSIONS, where
    assert db.query('SELECT file, count(*) FROM public.fault_effects GROUP BY file ORDER BY file') == [
        ('first', 1), ('second', 1), ('third', 1)], where
    assert exists(db, 'public.fault_second') and note_column(db) == 1, where


def assert_none_applied(db, where):
    assert recorded(db) == [], where
    assert not exists(db, 'public.fault_effects') and not exists(db, 'public.fault_second'), where
    assert note_column(db) == 0, where


@pytest.mark.parametrize('seed, faulted, outcome', MIGRATE_RUNS, ids=['seed%d-%s' % (r[0], r[1]) for r in MIGRATE_RUNS])
def test_migrate_under_api_faults(standin_pool, db, tmp_path, seed, faulted, outcome):
    worker = standin_pool[1]
    state = worker.reset()
    supabase = SupabaseSandbox(worker.standins, state)
    directory = write_migrations(tmp_path)
    sleep_switch(db, 0)
    env = dict(supabase.env, DATABASE_URL=db.url)
    env.pop('SUPABASE_CA_PATH')
    worker.set_faults(rate=FAULT_RATE, kinds=FAULT_KINDS, seed=seed, when='before' if seed % 2 else 'after',
                      hang_s=HANG_S, services=['vercel', 'app', 'supabase'])
    rc, output = run_playbook('migrate', worker, migrate_fault_vars(directory), env=env)
    injected = worker.faults()['injected']
    worker.clear_faults()
    log = settled_log(worker, injected)
    where = 'seed %d, %d faults injected\nrequests: %s\n%s' % (seed, injected, calls(log), tail(output))
    assert injected > 0 and set(r['service'] for r in log if r['faulted']) == {faulted}, where
    assert 'Traceback' not in output, where

    # no change requested twice: migrate.yml reads; its one POST is the ai-chat smoke test, asked once
    changes = [r for r in log if r['method'] not in ('GET', 'HEAD')]
    assert [r['path'].split('?')[0] for r in changes] in ([], ['/api/ai/chat']), where
    assert [r for r in log if r['service'] == 'vercel'] == [], where
    assert [r for r in log if r['service'] == 'supabase' and r['method'] != 'GET'] == [], where

    assert (rc == 0) == (outcome == 'applied'), where
    if rc == 0:
        assert 'Apply the pending migrations - %s' % ', '.join(VERSIONS) in output, where
        assert_all_applied_once(db, where)
    else:
        message = final_message(rc, output)
        if recorded(db):
            # the files went in; the verification met a fault it did not outlast
            assert message.startswith('Verification failed at '), where
            assert 'after applying 20260401090000_first.sql, 20260402090000_second.sql, 20260403090000_third.sql' \
                in message, where
            assert_all_applied_once(db, where)
        else:
            assert_none_applied(db, where)
        # the rerun, without faults, applies what is left (nothing, after a failed verification), each file once
        applied = recorded(db) == VERSIONS
        rc, output = run_playbook('migrate', worker, migrate_fault_vars(directory), env=env)
        assert rc == 0, tail(output)
        assert not applied or ('Nothing to apply' in output and 'changed=0' in output), tail(output)
        assert_all_applied_once(db, where)

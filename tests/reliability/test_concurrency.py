"""Concurrency (issue 6): two runs of the same procedure at once cannot both change production.

Each test starts two real ``ansible-playbook -i inventory/production`` processes
at the same moment (credentials in the environment, as on-call runs them):

* two ``rollback.yml`` against a broken release: the stand-in processes
  exactly one rollback POST, production ends on the last good build, and each
  run either succeeds or says production was already rolled back;
* two ``migrate.yml`` on one database with three pending files, the first of
  which holds its transaction for a second: the migration advisory lock
  serialises them - each file's effect is there once, each version has one
  history row, and both runs had listed the three files as pending (so they
  really raced);
* two ``backup.yml`` into the same directory in the same second (the default
  dump name is ``<database>-<UTC second>``): two distinct dumps, each with a
  manifest naming it and a readable table of contents, no partial files.
"""

import glob
import json
import os
import re
import subprocess
import threading
import time

import pytest

from tests.reliability.conftest import playbook_argv, playbook_env, vars_file
from tests.reliability.test_vercel_faults import ROLLBACK_VARS, rollback_posts

PG_BIN = '/usr/lib/postgresql/15/bin'


def run_together(argvs_envs, timeout=180):
    """Start every (argv, env) at once (released by one barrier); [(rc, output, seconds)] in order."""
    results = [None] * len(argvs_envs)
    barrier = threading.Barrier(len(argvs_envs))

    def one(index, argv, env):
        barrier.wait()
        started = time.time()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out = proc.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0]
            out += '\n(killed after %s s)' % timeout
        results[index] = (proc.returncode, out, time.time() - started)

    threads = [threading.Thread(target=one, args=(i, argv, env)) for i, (argv, env) in enumerate(argvs_envs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def tail(output, lines=40):
    return '\n'.join(output.splitlines()[-lines:])


# -- rollback --------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def rollback_pair(standin_pool, tmp_path_factory):
    """Two rollback.yml started at once against a broken release; (sandbox, previous, broken, results, posts)."""
    tmp_path = tmp_path_factory.mktemp('concurrent-rollback')
    sandbox = standin_pool[0].fresh()
    previous = sandbox.live()['uid']
    broken = sandbox.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    # Vercel's rollback job runs 2 s: the second run's POST lands while the first one's job is running
    sandbox.set_timings(job_pending_s=0.1, job_running_s=2.0)
    sandbox.clear_requests()
    env = dict(sandbox.env)
    env.pop('VERCEL_CA_PATH', None)
    env = playbook_env(env, {'POURTRAIT_REPORTS_DIR': str(tmp_path / 'reports')})
    argvs = [playbook_argv('rollback', '-e', vars_file(tmp_path, 'rollback%d' % i, dict(
        ROLLBACK_VARS, rollback_reason='INC-6 concurrent rollback %d' % i))) for i in (1, 2)]
    results = run_together([(argv, env) for argv in argvs])
    live = sandbox.live()['uid']
    health = sandbox.app('/health')
    return dict(previous=previous, broken=broken, results=results, posts=rollback_posts(sandbox), live=live,
                health=health, outputs='\n----\n'.join('rc %s\n%s' % (r[0], tail(r[1])) for r in results))


def test_two_rollbacks_at_once_roll_back_once(rollback_pair):
    pair = rollback_pair
    done = [p for p in pair['posts'] if p['status'] is not None and p['status'] < 400]
    assert len(done) == 1, 'rollback POSTs processed: %s\n%s' % (
        [(p['path'], p['status']) for p in pair['posts']], pair['outputs'])
    assert '/rollback/%s' % pair['previous'] in done[0]['path']
    assert pair['live'] == pair['previous']
    status, body, _headers = pair['health']
    assert status == 200 and body['deploymentId'] == pair['previous'], body
    for rc, output, _seconds in pair['results']:
        assert 'Traceback' not in output, pair['outputs']
        # each run succeeds, or fails with one line saying another run got there first
        if rc != 0:
            fatal = [line for line in output.splitlines() if line.startswith('fatal: ')]
            assert rc == 2 and len(fatal) == 1, pair['outputs']
            assert re.search(r'already|in progress|another', fatal[0]), fatal[0]
    assert any(r[0] == 0 for r in pair['results']), pair['outputs']


def test_two_rollbacks_at_once_only_one_claims_the_change(rollback_pair):
    # With the production lock the second run waits and finds the rollback done; without it, its POST meets the
    # first one's running job (409). Either way exactly one run says it rolled production back.
    pair = rollback_pair
    claims = [r for r in pair['results'] if r[0] == 0 and 'Rolled production back from %s' % pair['broken'] in r[1]]
    assert len(claims) == 1, pair['outputs']


# -- migrate ---------------------------------------------------------------------------------------

MIGRATIONS = {
    '20260201090000_effects.sql': (
        'CREATE TABLE public.concurrency_effects (file text NOT NULL, applied_at timestamptz DEFAULT now());\n'
        "INSERT INTO public.concurrency_effects (file) VALUES ('first');\n"
        'SELECT pg_sleep(1.5);\n'),
    '20260202090000_second.sql': "INSERT INTO public.concurrency_effects (file) VALUES ('second');\n",
    '20260203090000_third.sql': (
        "INSERT INTO public.concurrency_effects (file) VALUES ('third');\n"
        'ALTER TABLE public.wines ADD COLUMN concurrency_note text;\n'),
}


def test_two_migrations_at_once_apply_each_file_once(db, tmp_path):
    migrations = tmp_path / 'migrations'
    migrations.mkdir()
    for name, text in MIGRATIONS.items():
        (migrations / name).write_text(text)
    env = playbook_env({'DATABASE_URL': db.url, 'POURTRAIT_REPORTS_DIR': str(tmp_path / 'reports')})
    variables = dict(db_migrate_dir=str(migrations), db_migrate_backup=False, db_migrate_health_check=False,
                     db_migrate_lock_wait_timeout=60)
    argv = playbook_argv('migrate', '-e', vars_file(tmp_path, 'migrate', variables))
    results = run_together([(argv, env), (argv, env)])
    outputs = '\n----\n'.join('rc %s (%.1f s)\n%s' % (r[0], r[2], tail(r[1])) for r in results)

    rows = db.query('SELECT file, count(*) FROM public.concurrency_effects GROUP BY file ORDER BY file')
    assert rows == [('first', 1), ('second', 1), ('third', 1)], outputs
    history = db.query('SELECT version, count(*) FROM supabase_migrations.schema_migrations '
                       "WHERE version LIKE '202602%%' GROUP BY version ORDER BY version")
    assert history == [('20260201090000', 1), ('20260202090000', 1), ('20260203090000', 1)], outputs
    assert db.scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = 'wines' "
                     "AND column_name = 'concurrency_note'") == 1
    # both had listed the three files as pending: they raced for the lock
    for rc, output, _seconds in results:
        assert 'Apply the pending migrations - 20260201090000, 20260202090000, 20260203090000' in output, outputs
        assert 'Traceback' not in output, outputs
    ok = [r for r in results if r[0] == 0]
    assert ok, outputs
    assert len([r for r in ok if re.search(r'Applied 3 migration', r[1])]) == 1, outputs
    for rc, output, _seconds in results:
        if rc != 0:
            fatal = [line for line in output.splitlines() if line.startswith('fatal: ')]
            assert rc == 2 and len(fatal) == 1 and 'migration lock' in fatal[0], outputs
    # nothing left locked
    assert db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0


# -- backup ----------------------------------------------------------------------------------------

def test_two_backups_at_once_into_one_directory_never_clobber(db, tmp_path):
    backups = tmp_path / 'backups'
    env = playbook_env({'DATABASE_URL': db.url, 'POURTRAIT_REPORTS_DIR': str(tmp_path / 'reports')})
    argv = playbook_argv('backup', '-e', vars_file(tmp_path, 'backup', dict(
        db_backup_dir=str(backups), db_backup_verify='toc', db_backup_format='directory')))
    results = run_together([(argv, env), (argv, env)])
    outputs = '\n----\n'.join('rc %s (%.1f s)\n%s' % (r[0], r[2], tail(r[1])) for r in results)
    assert [r[0] for r in results] == [0, 0], outputs
    assert all('Traceback' not in r[1] for r in results)

    entries = sorted(os.listdir(str(backups)))
    dumps = sorted(glob.glob(str(backups / (db.name + '-*.dir'))))
    assert len(dumps) == 2, entries
    assert not [e for e in entries if 'partial' in e or e.startswith('.')], entries
    # each run reports its own dump
    reported = sorted(set(re.findall(re.escape(str(backups)) + r'/[^\s",]+\.dir', results[0][1]))
                      | set(re.findall(re.escape(str(backups)) + r'/[^\s",]+\.dir', results[1][1])))
    assert reported == dumps, (reported, dumps)
    for dump in dumps:
        with open(dump + '.manifest.json') as handle:
            manifest = json.load(handle)
        assert manifest['name'] == os.path.basename(dump), manifest
        assert manifest['database'] == db.name, manifest
        listing = subprocess.run([os.path.join(PG_BIN, 'pg_restore'), '--list', dump], capture_output=True, text=True,
                                 check=False)
        assert listing.returncode == 0, listing.stderr
        assert 'TABLE DATA public wines' in listing.stdout
    mode = os.stat(dumps[0]).st_mode & 0o777
    assert mode & 0o077 == 0, oct(mode)

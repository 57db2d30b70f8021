"""Secret audit: no run ever prints a secret (issue 6).

Every playbook in playbooks/ (but the demos) runs once at ``-vvvv`` against
the stand-ins and a real PostgreSQL, with distinct canary secrets that each
run really uses:

* the database password: a login role made for this module whose password is
  the canary (created from a SCRAM verifier computed here, so the plain
  password never reaches the server, its logs or pg_stat_statements), handed
  to the playbooks only inside ``DATABASE_URL``; host connections use
  scram-sha-256, so a run that succeeds did log in with it;
* the Vercel and Supabase tokens of the two private stand-ins (random, 24
  letters/digits and ``sbp_`` + 40 hex, handed over in ``VERCEL_TOKEN`` and
  ``SUPABASE_ACCESS_TOKEN``; the stand-ins were started without them in argv);
* the secret path of each stand-in's Slack-style webhook (``SLACK_WEBHOOK_URL``);
* the old and the new value of an encrypted Vercel env var that
  rotate_secret.yml rotates (run with ``--diff``; the new value from a vars
  file, as from a vault);
* the S3 secret key of each stand-in's S3 side (``AWS_SECRET_ACCESS_KEY``,
  random per process; the database runbooks get the bucket and keys as
  .sandbox/env gives them, so backup.yml uploads its dump off-site);
* the client-side encryption private key (RSA, PEM protected by a passphrase,
  two lines of its PEM body are canaries) and its passphrase: backup.yml
  encrypts the off-site copy to the public key, dr_test.yml and restore.yml
  restore that recovery point from the bucket and decrypt it (both from a
  vars file, as from a vault). incident.yml's feature flag is not a canary: it is a
  ``plain`` flag the runbook names on purpose.

Real runs: backup (uploaded off-site, encrypted), dr_test (of the off-site
copy), restore (of that recovery point from the bucket, confirmed), migrate (with
a backup and a SQL check), db_maintenance, performance_triage,
health_check, rollback (with a Supabase point-in-time restore of the
database), deploy, incident (with its webhook messages), maintenance_window
(open and close) and rotate_secret; hotfix runs in check mode (its
real path is deploy's, with smaller gates). backup.yml runs a second time
through ``pourtrait-ops run ... --keep-artifacts`` (ansible-runner).

The canaries must appear in none of: each run's stdout and stderr, the run
reports (POURTRAIT_REPORTS_DIR), the DR log, the backup manifests, any other
file the runs wrote, ansible-runner's artifacts, and the argv of any process
on the machine, sampled every 20 ms from /proc while everything runs (pg_dump
and pg_restore must have been seen, so the sampling is not vacuous; psql is
checked when it runs, but no runbook runs it any more).

The runs go two at a time: the Vercel runbooks against one stand-in, the
database runbooks against the other and the database.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

from tests.conftest import ROOT, TEMPLATE_DB
from tests.reliability.conftest import playbook_argv, playbook_env, vars_file
from tests.reliability.test_vercel_faults import DEPLOY_VARS, ROLLBACK_VARS

MIGRATIONS = os.path.join(ROOT, 'extensions', 'molecule', 'db_migrate', 'files', 'migrations')
CLI = os.path.join(os.path.dirname(sys.executable), 'pourtrait-ops')
SAMPLE_INTERVAL = 0.02


def scram_verifier(password, iterations=4096):
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677)."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac('sha256', password.encode('utf-8'), salt, iterations)
    client_key = hmac.new(salted, b'Client Key', 'sha256').digest()
    server_key = hmac.new(salted, b'Server Key', 'sha256').digest()

    def b64(raw):
        return base64.b64encode(raw).decode('ascii')
    return 'SCRAM-SHA-256$%d:%s$%s:%s' % (iterations, b64(salt), b64(hashlib.sha256(client_key).digest()),
                                          b64(server_key))


class ArgvSampler(object):
    """Reads /proc/<pid>/cmdline of every process every ``interval`` seconds in a thread; keeps each
    distinct argv (as one string, arguments separated by spaces) and counts the sweeps."""

    def __init__(self, interval=SAMPLE_INTERVAL):
        self.interval = interval
        self.seen = set()
        self.sweeps = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name='argv-sampler', daemon=True)

    def _loop(self):
        me = str(os.getpid())
        while not self._stop.is_set():
            for pid in os.listdir('/proc'):
                if not pid.isdigit() or pid == me:
                    continue
                try:
                    with open('/proc/%s/cmdline' % pid, 'rb') as handle:
                        raw = handle.read()
                except OSError:
                    continue
                if raw:
                    self.seen.add(raw.replace(b'\0', b' ').decode('utf-8', 'replace').strip())
            self.sweeps += 1
            self._stop.wait(self.interval)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(10)

    def programs(self):
        """Base names of the first two words of each argv (``python .../ansible-playbook`` counts)."""
        return set(os.path.basename(word) for argv in self.seen for word in argv.split(' ')[:2])


def encryption_keys(passphrase):
    """A fresh RSA key pair for client-side encryption: the public PEM (not a secret) and the private PEM
    protected by ``passphrase``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {'public': private.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
            'private': private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.BestAvailableEncryption(passphrase.encode())).decode()}


class Audit(object):
    def __init__(self, workdir):
        self.workdir = workdir
        self.reports_dir = os.path.join(workdir, 'reports')
        os.makedirs(self.reports_dir)
        self.canaries = {}
        self.runs = {}
        self.artifacts_dir = None
        self.sampler = None
        self.used = {}
        self.errors = []
        self.keys = {}

    def run(self, label, argv, env, timeout=300):
        started = time.time()
        try:
            proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                                  check=False)
            rc, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc, out, err = -1, str(exc.stdout or ''), 'killed after %s s' % timeout
        self.runs[label] = dict(rc=rc, stdout=out, stderr=err, seconds=time.time() - started)
        return self.runs[label]

    def leaks(self, text):
        """The names of the canaries found in ``text`` (str or bytes)."""
        if isinstance(text, bytes):
            return sorted(name for name, value in self.canaries.items() if value.encode('utf-8') in text)
        return sorted(name for name, value in self.canaries.items() if value in text)


def stand_in_env(worker, state):
    info = worker.standins.info
    env = dict(worker.env)
    env.pop('VERCEL_CA_PATH', None)
    env.update(SUPABASE_API_URL=info['supabase_api_url'], SUPABASE_ACCESS_TOKEN=info['supabase_token'],
               SUPABASE_PROJECT_REF=state['supabase']['ref'], SLACK_WEBHOOK_URL=info['webhook_url'])
    return env


def vercel_runs(audit, worker, base_env):
    """rollback (+ PITR), deploy, hotfix (check), incident, maintenance_window, rotate_secret."""
    tmp = audit.workdir

    def fresh():
        state = worker.reset()
        return playbook_env(base_env, stand_in_env(worker, state)), state

    env, state = fresh()
    worker.seed_deployment(health='broken', live=True, created_offset_s=-60)
    recovery = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%SZ')
    audit.run('rollback', playbook_argv('rollback', '-vvvv', '-e', vars_file(tmp, 'rollback', dict(
        ROLLBACK_VARS, rollback_reason='secret audit', rollback_database='pitr',
        rollback_database_recovery_time=recovery, rollback_database_confirm=state['supabase']['ref'],
        rollback_database_poll_interval=0.2, rollback_database_wait_timeout=60))), env)
    audit.used['vercel_calls_rollback'] = len(worker.requests(service='vercel'))
    audit.used['supabase_restores'] = len(worker.admin('GET', '/supabase/restores'))

    env, state = fresh()
    audit.run('deploy', playbook_argv('deploy', '-vvvv', '-e', vars_file(tmp, 'deploy', dict(
        DEPLOY_VARS, deploy_git_sha=uuid.uuid4().hex + uuid.uuid4().hex[:8], deploy_git_ref='main'))), env)

    env, state = fresh()
    audit.run('hotfix', playbook_argv('hotfix', '-vvvv', '--check', '-e', vars_file(tmp, 'hotfix', dict(
        hotfix_git_ref='hotfix/secret-audit', hotfix_poll_interval=0.2))), env)

    env, state = fresh()
    audit.run('incident', playbook_argv('incident', '-vvvv', '-e', vars_file(tmp, 'incident', dict(
        incident_response_severity='P2', incident_response_title='INC-6 secret audit',
        incident_response_verify_count=1, incident_response_verify_interval=0.2,
        incident_response_health_wait_timeout=5))), env)
    audit.used['webhook_messages'] = len(worker.webhook_messages())

    env, state = fresh()
    audit.run('maintenance_window', playbook_argv('maintenance_window', '-vvvv', '-e', vars_file(
        tmp, 'maintenance_window', dict(maintenance_window_reason='secret audit', maintenance_window_poll_interval=0.2,
                                        maintenance_window_tasks=[{'role': 'db_maintenance', 'vars': {
                                            'db_maintenance_schedule': 'weekly', 'db_maintenance_report': False}}],
                                        maintenance_window_health_interval=0.2,
                                        maintenance_window_health_wait_timeout=20))), env)

    env, state = fresh()
    status, body, _headers = worker.api('POST', '/v10/projects/%s/env' % worker.project_id, body={
        'key': 'AUDIT_API_SECRET', 'value': audit.canaries['env value (old)'], 'type': 'encrypted',
        'target': ['production', 'preview']})
    assert status == 201 and not body.get('failed'), body
    worker.seed_deployment(live=True, created_offset_s=-120)
    audit.run('rotate_secret', playbook_argv('rotate_secret', '-vvvv', '--diff', '-e', vars_file(tmp, 'rotate', dict(
        security_incident_key='AUDIT_API_SECRET', security_incident_new_value=audit.canaries['env value (new)'],
        security_incident_reason='secret audit', security_incident_poll_interval=0.1,
        security_incident_health_interval=0.2, security_incident_verify_interval=0.2, security_incident_verify_count=2,
        security_incident_health_wait_timeout=5, security_incident_rollback_poll_interval=0.1))), env)
    audit.used['env_value'] = worker.env_value('AUDIT_API_SECRET')


def s3_env(worker):
    """The bucket and keys of the worker's S3 side, as .sandbox/env gives them (plain HTTP endpoint)."""
    info = worker.standins.info
    return {'AWS_ENDPOINT_URL_S3': info['s3_url'], 'AWS_ACCESS_KEY_ID': info['s3_access_key_id'],
            'AWS_SECRET_ACCESS_KEY': info['s3_secret_access_key'], 'AWS_REGION': info['s3_region'],
            'POURTRAIT_BACKUP_BUCKET': info['s3_bucket']}


def database_runs(audit, worker, base_env, dbname):
    """backup (off-site, encrypted), dr_test and restore (from the bucket, decrypted), migrate, db_maintenance,
    performance_triage, health_check, the CLI."""
    tmp = audit.workdir
    state = worker.reset()
    env = playbook_env(base_env, stand_in_env(worker, state), s3_env(worker))
    backups = os.path.join(tmp, 'backups')
    audit.run('backup', playbook_argv('backup', '-vvvv', '-e', vars_file(tmp, 'backup', dict(
        db_backup_dir=backups, db_backup_verify='restore', db_backup_offsite_public_key=audit.keys['public']))), env)
    bucket = worker.admin('GET', '/s3/state')['buckets'][worker.standins.info['s3_bucket']]
    audit.used['offsite_encrypted_objects'] = len([o for o in bucket['objects'] if o['key'].endswith('.penc')])

    audit.run('dr_test', playbook_argv('dr_test', '-vvvv', '-e', vars_file(tmp, 'dr_test', dict(
        dr_test_dir=os.path.join(tmp, 'dr'), dr_test_log=os.path.join(tmp, 'dr-log.jsonl'),
        dr_test_private_key=audit.keys['private'], dr_test_private_key_passphrase=audit.canaries['key passphrase']))),
        env)

    audit.run('restore', playbook_argv('restore', '-vvvv', '-e', vars_file(tmp, 'restore', dict(
        db_restore_from='s3', db_restore_download_dir=os.path.join(tmp, 'restore-download'),
        db_restore_private_key=audit.keys['private'], db_restore_private_key_passphrase=audit.canaries['key passphrase'],
        db_restore_confirm=dbname, db_restore_safety_backup_dir=os.path.join(tmp, 'pre-restore')))), env)
    # whole-object GETs (200) and ranged ones (206: the download goes in parallel parts)
    audit.used['s3_reads'] = len([r for r in worker.requests(service='s3') if r['method'] == 'GET'
                                  and r['status'] is not None and 200 <= r['status'] < 300])

    migrations = os.path.join(tmp, 'migrations')
    shutil.copytree(MIGRATIONS, migrations)
    audit.run('migrate', playbook_argv('migrate', '-vvvv', '-e', vars_file(tmp, 'migrate', dict(
        db_migrate_dir=migrations, db_backup_dir=os.path.join(tmp, 'migrate-backups'), db_backup_verify='toc',
        # a check that takes 0.3 s (were it run by psql, the argv sampler would see it)
        db_migrate_checks=['SELECT (SELECT count(*) > 0 FROM public.wines) FROM pg_sleep(0.3)'],
        health_check_openai_api_key='', health_check_google_vision_api_key='', health_check_resend_api_key=''))), env)

    audit.run('db_maintenance', playbook_argv('db_maintenance', '-vvvv'), env)
    audit.run('performance_triage', playbook_argv('performance_triage', '-vvvv'), env)
    audit.run('health_check', playbook_argv('health_check', '-vvvv'), env)
    audit.used['supabase_calls_db_side'] = len([r for r in worker.requests(service='supabase')
                                                if r['status'] == 200])

    cli = audit.run('cli backup', [CLI, 'run', 'backup', '-i', 'inventory/production', '--keep-artifacts', '-vvvv',
                                   '-e', vars_file(tmp, 'cli', dict(db_backup_dir=os.path.join(tmp, 'cli-backups'),
                                                                    db_backup_verify='toc'))], env)
    for line in (cli['stdout'] + cli['stderr']).splitlines():
        if line.strip().startswith('artifacts kept in '):
            audit.artifacts_dir = line.strip()[len('artifacts kept in '):].strip()


@pytest.fixture(scope='module')
def audit(pg_server, standin_pool, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp('secret-audit'))
    audit = Audit(workdir)
    suffix = secrets.token_hex(4)
    password = 'pwCanary' + secrets.token_hex(12)
    role, dbname = 'audit_canary_' + suffix, 'audit_' + suffix
    audit.canaries['database password'] = password
    for index, worker in enumerate(standin_pool):
        info = worker.standins.info
        audit.canaries['vercel token %d' % index] = info['token']
        audit.canaries['supabase token %d' % index] = info['supabase_token']
        audit.canaries['webhook secret %d' % index] = info['webhook_url'].rsplit('/', 1)[1]
    audit.canaries['env value (old)'] = 'sk_live_oldCanary' + secrets.token_hex(10)
    audit.canaries['env value (new)'] = 'sk_live_newCanary' + secrets.token_hex(10)
    for index, worker in enumerate(standin_pool):
        audit.canaries['s3 secret key %d' % index] = worker.standins.info['s3_secret_access_key']
    audit.canaries['key passphrase'] = 'ppCanary' + secrets.token_hex(12)
    audit.keys = encryption_keys(audit.canaries['key passphrase'])
    body = [line for line in audit.keys['private'].splitlines() if not line.startswith('-----')]
    audit.canaries['private key (PEM line 1)'] = body[0]
    audit.canaries['private key (PEM line 12)'] = body[11]
    assert all(len(v) >= 20 for v in audit.canaries.values()), audit.canaries
    assert len(set(audit.canaries.values())) == len(audit.canaries)

    pg_server.execute('CREATE ROLE "%s" LOGIN SUPERUSER PASSWORD %%s' % role, params=(scram_verifier(password),))
    # one database per thread: the Vercel runbooks' database steps stay out of the restore's way
    dbnames = [dbname, dbname + '_v']
    for name in dbnames:
        pg_server.create_database(name, template=TEMPLATE_DB)

    def base_env(name):
        return {'DATABASE_URL': 'postgresql://%s:%s@127.0.0.1:%d/%s' % (role, password, pg_server.port, name),
                'POURTRAIT_REPORTS_DIR': audit.reports_dir}

    def guarded(func, *args):
        try:
            func(*args)
        except Exception as exc:  # noqa: BLE001 - reported by the tests, not lost in a thread
            audit.errors.append('%s: %r' % (func.__name__, exc))

    audit.sampler = ArgvSampler().start()
    started = time.time()
    threads = [threading.Thread(target=guarded, args=(vercel_runs, audit, standin_pool[0], base_env(dbnames[1]))),
               threading.Thread(target=guarded, args=(database_runs, audit, standin_pool[1], base_env(dbname), dbname))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        audit.sampler.stop()
    sys.stderr.write('secret audit: %d runs in %.1f s (%s); %d argv sweeps, %d distinct argv\n' % (
        len(audit.runs), time.time() - started, ', '.join('%s %.1fs' % (k, v['seconds']) for k, v in audit.runs.items()),
        audit.sampler.sweeps, len(audit.sampler.seen)))
    try:
        yield audit
    finally:
        if audit.artifacts_dir and audit.artifacts_dir.startswith(tempfile.gettempdir() + os.sep):
            shutil.rmtree(audit.artifacts_dir, ignore_errors=True)
        for name in dbnames:
            pg_server.drop_database(name)
        for row in pg_server.execute("SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                                     "WHERE r.rolname = %s", params=(role,)):
            pg_server.drop_database(row[0])
        pg_server.execute('DROP ROLE IF EXISTS "%s"' % role)


PLAYBOOKS = sorted(os.path.splitext(n)[0] for n in os.listdir(os.path.join(ROOT, 'playbooks'))
                   if n.endswith('.yml') and not n.startswith('demo'))
# the security runbooks are audited by test_security_runbooks_never_print_secrets (their own stand-ins, database and
# Auth API), not by the audit fixture
SECURITY_PLAYBOOKS = ('block_ip', 'contain_account', 'rotate_db_password', 'security_incident')
LABELS = [p for p in PLAYBOOKS if p not in SECURITY_PLAYBOOKS] + ['cli backup']


def test_every_runbook_is_audited():
    """A new playbook must join the audit (vercel_runs / database_runs above)."""
    assert set(PLAYBOOKS) == {'backup', 'db_maintenance', 'deploy', 'dr_test', 'health_check', 'hotfix', 'incident',
                              'maintenance_window', 'migrate', 'performance_triage', 'restore', 'rollback',
                              'rotate_secret'} | set(SECURITY_PLAYBOOKS)


@pytest.mark.parametrize('label', LABELS)
def test_run_used_its_secrets_and_succeeded(audit, label):
    """A run that failed early may never have used a secret: the audit needs every run to succeed."""
    assert not audit.errors, audit.errors
    run = audit.runs[label]
    tail = '\n'.join((run['stdout'] + run['stderr']).splitlines()[-30:])
    assert run['rc'] == 0, '%s failed (rc %s):\n%s' % (label, run['rc'], tail)
    assert 'Traceback' not in run['stdout'] + run['stderr'], tail


@pytest.mark.parametrize('label', LABELS)
def test_no_canary_in_output(audit, label):
    run = audit.runs[label]
    for stream in ('stdout', 'stderr'):
        text = run[stream]
        leaked = audit.leaks(text)
        where = ['%s: ...%s...' % (name, text[max(0, text.find(audit.canaries[name]) - 200):
                                              text.find(audit.canaries[name]) + 60]) for name in leaked]
        assert not leaked, '%s %s (-vvvv) shows %s' % (label, stream, '\n'.join(where))


def test_canaries_were_really_used(audit):
    assert audit.runs['backup']['rc'] == 0  # logged in as the canary role (scram-sha-256 on TCP)
    assert audit.used.get('vercel_calls_rollback', 0) >= 4, audit.used
    assert audit.used.get('supabase_restores') == 1, audit.used
    assert audit.used.get('supabase_calls_db_side', 0) >= 1, audit.used
    assert audit.used.get('webhook_messages', 0) >= 2, audit.used
    assert audit.used.get('env_value') == audit.canaries['env value (new)'], audit.used
    # backup.yml encrypted its off-site copy to the public key; the drill and the restore read it back from the
    # bucket (signed with the S3 secret key) and decrypted it with the private key and its passphrase
    assert audit.used.get('offsite_encrypted_objects', 0) >= 5, audit.used
    assert audit.used.get('s3_reads', 0) >= 2 * audit.used['offsite_encrypted_objects'], audit.used
    with open(os.path.join(audit.workdir, 'dr-log.jsonl')) as handle:
        drill = json.loads(handle.read().splitlines()[-1])
    assert drill['source'] == 'offsite' and drill['result'] == 'passed', drill
    assert 'Restored recovery point ' in audit.runs['restore']['stdout'], audit.runs['restore']['stdout'][-2000:]


def test_no_canary_in_files_the_runs_wrote(audit):
    """Reports, DR log, backup manifests, vars files aside: every file under the audit's directory."""
    reports = list(os.listdir(audit.reports_dir))
    # one report per audited run (the security runbooks report in their own test)
    assert len([n for n in reports if n.endswith('.json')]) >= len(LABELS), reports
    assert os.path.exists(os.path.join(audit.workdir, 'dr-log.jsonl'))
    scanned, leaks = 0, []
    for top, _dirs, files in os.walk(audit.workdir):
        for name in files:
            if name.endswith('.vars.json'):
                continue  # the test's own input
            path = os.path.join(top, name)
            with open(path, 'rb') as handle:
                found = audit.leaks(handle.read())
            scanned += 1
            if found:
                leaks.append('%s: %s' % (os.path.relpath(path, audit.workdir), found))
    assert scanned > len(reports)
    assert not leaks, leaks


def test_no_canary_in_ansible_runner_artifacts(audit):
    assert audit.artifacts_dir and os.path.isdir(audit.artifacts_dir), audit.runs['cli backup']['stdout'][-2000:]
    scanned, leaks = 0, []
    for top, _dirs, files in os.walk(audit.artifacts_dir):
        for name in files:
            path = os.path.join(top, name)
            if not os.path.isfile(path):
                continue  # the env FIFO
            with open(path, 'rb') as handle:
                found = audit.leaks(handle.read())
            scanned += 1
            if found:
                leaks.append('%s: %s' % (os.path.relpath(path, audit.artifacts_dir), found))
    assert scanned >= 3
    assert not leaks, leaks


def test_no_canary_in_any_argv(audit):
    sampler = audit.sampler
    programs = sampler.programs()
    assert sampler.sweeps > 100, sampler.sweeps
    # (psql is not required: no runbook runs it any more - db_migrate's SQL checks use postgres_check)
    for program in ('pg_dump', 'pg_restore', 'ansible-playbook'):
        assert program in programs, 'never saw %s running (seen: %s)' % (program, sorted(programs)[:80])
    leaks = ['%s in: %s' % (audit.leaks(argv), argv[:300]) for argv in sampler.seen if audit.leaks(argv)]
    assert not leaks, leaks


SECURITY_PLAY = '''
- name: Security incident modules (secret audit)
  hosts: localhost
  gather_facts: false
  vars:
    db: &db {db_host: 127.0.0.1, db_port: %(port)d, db_user: %(role)s, db_name: %(dbname)s, db_sslmode: disable}
  tasks:
    - name: A new secret key, its value kept for the next task only
      pourtrait.ops.supabase_api_key: {name: audit_server, type: secret, return_key: true}
      register: new_key
      no_log: true
    - name: Rotate the database password (generated)
      pourtrait.ops.supabase_db_password: {<<: *db, return_password: true}
      register: rotated
      no_log: true
    - name: Keep the generated password where the caller asked (0600)
      ansible.builtin.copy: {content: "{{ rotated.password }}", dest: "%(keep)s", mode: "0600"}
      no_log: true
    - name: Use both (their lengths only)
      ansible.builtin.debug:
        msg: "key {{ new_key.api_key | length }} password {{ rotated.password | length }}"
    - name: Rotate again to a given password (no_log on the option, not on the task)
      pourtrait.ops.supabase_db_password: {<<: *db, password: "{{ audit_given_password }}"}
    - name: Delete the old secret key as compromised
      pourtrait.ops.supabase_api_key: {name: default, state: absent, reason: secret audit}
    - name: Legacy keys off
      pourtrait.ops.supabase_api_key: {legacy_enabled: false}
    - name: Logs of the last hour
      pourtrait.ops.supabase_logs_info: {sql: "select id, timestamp, event_message from auth_logs"}
'''


def test_security_modules_never_print_new_secrets(supabase, pg_server, tmp_path):
    """supabase_api_key / supabase_db_password / supabase_logs_info at -vvvv --diff: neither a created key, nor
    the deleted one, nor a generated or given database password appears in the output."""
    from tests.db_roles import scratch_login_role
    from tests.fixtures_standins import SUPABASE_DATABASE
    old_secret = [k for k in supabase.admin('GET', '/supabase/api_keys')['keys'] if k['type'] == 'secret'][0]
    given = 'givenCanary' + secrets.token_hex(12)
    keep = str(tmp_path / 'new-password')
    with scratch_login_role(pg_server, SUPABASE_DATABASE) as (role, old_password, url):
        supabase.set_database(url)
        try:
            play = tmp_path / 'security.yml'
            play.write_text(SECURITY_PLAY % dict(port=pg_server.port, role=role, dbname=SUPABASE_DATABASE, keep=keep))
            env = playbook_env(supabase.env)
            argv = playbook_argv(str(play), '-vvvv', '--diff', '-e',
                                 vars_file(tmp_path, 'security', {'audit_given_password': given}))
            proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
        finally:
            supabase.set_database(None)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    with open(keep) as handle:
        generated = handle.read()
    new_key = [k for k in supabase.admin('GET', '/supabase/api_keys')['keys'] if k['name'] == 'audit_server'][0]
    canaries = {'new secret key': new_key['api_key'], 'deleted secret key': old_secret['api_key'],
                'generated password': generated, 'given password': given, 'old password': old_password}
    assert len(generated) == 32 and 'key %d password 32' % len(new_key['api_key']) in output
    leaked = sorted(name for name, value in canaries.items() if value in output)
    assert not leaked, leaked


SECURITY_FAST = {'security_incident_poll_interval': 0.1, 'security_incident_health_interval': 0.2,
                 'security_incident_verify_interval': 0.2, 'security_incident_verify_count': 1,
                 'security_incident_health_wait_timeout': 5, 'security_incident_logs_deadline': 2}


def test_security_runbooks_never_print_secrets(vercel, supabase_auth, pg_server, tmp_path):
    """block_ip, contain_account (with a password reset), security_incident (contain, a Supabase key rotation,
    investigate) and rotate_db_password (a generated password) at -vvvv --diff: no database password (old or new),
    API key (old, new, the service_role key), recovery link token nor API token appears in their output, their run
    reports or any process's argv."""
    from tests.db_roles import scratch_login_role
    from tests.fixtures_standins import SUPABASE_DATABASE
    supabase = supabase_auth.supabase
    status, old_key, _headers = supabase.api('POST', '/v1/projects/{ref}/api-keys',
                                             {'type': 'secret', 'name': 'app_server'}, params={'reveal': 'true'})
    assert status == 201, old_key
    vercel.api('POST', '/v10/projects/%s/env' % vercel.project_id, body={
        'key': 'SUPABASE_SERVICE_ROLE_KEY', 'value': old_key['api_key'], 'type': 'encrypted', 'target': ['production']})
    vercel.seed_deployment(live=True, created_offset_s=-120)
    reports = str(tmp_path / 'reports')
    env = playbook_env(vercel.env, supabase.env, supabase_auth.env, {'POURTRAIT_REPORTS_DIR': reports})
    outputs = {}

    def run(name, variables, extra_env=None):
        argv = playbook_argv(name, '-vvvv', '--diff', '-e', vars_file(tmp_path, name, dict(SECURITY_FAST, **variables)))
        proc = subprocess.run(argv, cwd=ROOT, env=dict(env, **(extra_env or {})), capture_output=True, text=True,
                              timeout=300, check=False)
        outputs[name] = proc.stdout + proc.stderr
        assert proc.returncode == 0, outputs[name][-3000:]

    sampler = ArgvSampler().start()
    try:
        run('block_ip', {'security_incident_block_ips': ['127.0.0.2'], 'security_incident_reason': 'audit'})
        assert vercel.app_from('127.0.0.2')[0] == 403 and vercel.app('/health')[0] == 200
        run('contain_account', {'security_incident_users': ['user12@example.com'],
                                'security_incident_users_password_reset': True})
        assert supabase_auth.banned_until('user12@example.com') is not None
        assert supabase_auth.sessions('user12@example.com') == 0
        run('security_incident', {'security_incident_phases': ['contain', 'rotate', 'investigate'],
                                  'security_incident_users': ['user3@example.com'],
                                  'security_incident_users_password_reset': True,
                                  'security_incident_api_key_name': 'app_server_audit',
                                  'security_incident_api_key_revoke': 'app_server'})
        with scratch_login_role(pg_server, SUPABASE_DATABASE, prefix='audit_app_') as (role, old_password, url):
            supabase.set_database(url)
            try:
                for entry in vercel.env_vars():
                    if entry['key'] == 'DATABASE_URL':
                        vercel.api('DELETE', '/v9/projects/%s/env/%s' % (vercel.project_id, entry['id']))
                vercel.api('POST', '/v10/projects/%s/env' % vercel.project_id, body={
                    'key': 'DATABASE_URL', 'value': url, 'type': 'encrypted', 'target': ['production']})
                run('rotate_db_password', {'security_incident_db_user': role, 'security_incident_db_name': SUPABASE_DATABASE,
                                           'security_incident_db_sslmode': 'disable'},
                    {'SUPABASE_DB_HOST': '127.0.0.1', 'SUPABASE_DB_PORT': str(pg_server.port)})
                new_url = vercel.env_value('DATABASE_URL')
            finally:
                supabase.set_database(supabase_auth.db.url)
    finally:
        sampler.stop()
    new_password = new_url.split('://', 1)[1].split('@', 1)[0].split(':', 1)[1]
    new_key = [k for k in supabase.admin('GET', '/supabase/api_keys')['keys'] if k['name'] == 'app_server_audit'][0]
    tokens = supabase_auth.db.query("SELECT email, recovery_token FROM auth.users WHERE email IN "
                                    "('user12@example.com', 'user3@example.com') AND recovery_token <> ''")
    assert len(tokens) == 2, tokens
    canaries = {'old database password': old_password, 'new database password': new_password,
                'old secret key': old_key['api_key'], 'new secret key': new_key['api_key'],
                'service_role key': supabase_auth.service_role_key, 'vercel token': vercel.token,
                'supabase token': supabase.token}
    canaries.update(('recovery token of %s' % email, token) for email, token in tokens)
    assert len(new_password) == 32 and new_password != old_password
    written = ''
    for entry in sorted(os.listdir(reports)):
        with open(os.path.join(reports, entry)) as handle:
            written += handle.read()
    assert written
    for label, text in list(outputs.items()) + [('run reports', written)] + [('argv', '\n'.join(sampler.seen))]:
        leaked = sorted(name for name, value in canaries.items() if value in text)
        assert not leaked, '%s: %s' % (label, leaked)

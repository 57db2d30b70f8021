"""End-to-end: playbooks/backup.yml uploads the verified dump off-site by default once a bucket is configured
(POURTRAIT_BACKUP_BUCKET + AWS_* in the environment, inventory/production), with the app production runs and the
off-site retention; deploy.yml and migrate.yml refuse to go on when the newest off-site recovery point is stale,
and go on when it is fresh. Real PostgreSQL, the S3, Vercel and Supabase stand-ins, a real git repository."""

import datetime
import json
import os
import shutil
import subprocess
import time

from tests.conftest import ROOT
from tests.helpers import run_playbook

SAMPLE = os.path.join(ROOT, 'extensions', 'molecule', 'db_migrate', 'files', 'migrations')
GIT_ENV = {'GIT_AUTHOR_NAME': 'Test', 'GIT_AUTHOR_EMAIL': 't@example.invalid', 'GIT_COMMITTER_NAME': 'Test',
           'GIT_COMMITTER_EMAIL': 't@example.invalid', 'GIT_CONFIG_NOSYSTEM': '1', 'HOME': '/nonexistent'}
DEPLOY_FAST = ['-e', 'deploy_backup=false', '-e', 'deploy_gate_database=false', '-e', 'deploy_poll_interval=0.2',
               '-e', 'deploy_health_wait_timeout=5', '-e', 'deploy_verify_count=1', '-e', 'deploy_verify_interval=0.2',
               '-e', 'deploy_rollback_poll_interval=0.1']


def make_repo(path):
    path.mkdir()
    env = dict(os.environ, **GIT_ENV)
    subprocess.run(['git', '-C', str(path), 'init', '-q', '-b', 'main'], check=True, env=env, capture_output=True)
    commits = []
    for i in range(2):
        (path / 'index.js').write_text('export default %d\n' % i)
        for args in (['add', '-A'], ['commit', '-q', '-m', 'r%d' % i]):
            subprocess.run(['git', '-C', str(path)] + args, check=True, env=env, capture_output=True)
        commits.append(subprocess.run(['git', '-C', str(path), 'rev-parse', 'HEAD'], check=True, env=env,
                                      capture_output=True, text=True).stdout.strip())
    return commits


def iso(hours_ago):
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=hours_ago)
    return when.strftime('%Y-%m-%dT%H:%M:%SZ')


def put_point(s3, database, name, hours_ago):
    client = s3.client()
    base = 'pourtrait/%s/%s/' % (database, name)
    client.put_object(Bucket=s3.bucket, Key=base + 'dump/' + name, Body=b'x')
    client.put_object(Bucket=s3.bucket, Key=base + 'recovery-point.json', Body=json.dumps(
        {'kind': 'recovery_point', 'database': database, 'name': name, 'created': iso(hours_ago),
         'verified': True}).encode())


def fresh_supabase(supabase):
    supabase.set_backups(pitr_enabled=True, backups=[
        {'status': 'COMPLETED', 'is_physical_backup': True, 'inserted_at': int(time.time() - 3 * 3600)}])


def envs(db, s3, vercel=None, supabase=None):
    out = [db.env, s3.env(https=True)]
    if vercel is not None:
        out.append(vercel.env)
    if supabase is not None:
        out.append(supabase.env)
    return out


def test_backup_uploads_with_the_app_and_applies_retention(db, s3, vercel, tmp_path):
    commits = make_repo(tmp_path / 'app')
    dep = vercel.seed_deployment(sha=commits[0], live=True, created_offset_s=-60)
    for i, age in enumerate((72, 96)):
        put_point(s3, db.name, 'old-%d' % i, age)
    result = run_playbook('backup', '-e', 'db_backup_dir=%s' % (tmp_path / 'backups'), '-e', 'db_backup_format=custom',
                          '-e', 'db_backup_verify=toc', '-e', 'db_backup_app_repo_path=%s' % (tmp_path / 'app'),
                          '-e', 'db_backup_offsite_keep=2', env=envs(db, s3, vercel), reports_dir=tmp_path / 'reports')
    out = result.output
    assert result.rc == 0, out
    dump = [p for p in os.listdir(tmp_path / 'backups') if p.endswith('.dump')][0]
    base = 'pourtrait/%s/%s/' % (db.name, dump)
    objects = s3.objects()
    assert {base + 'dump/' + dump, base + 'dump/%s.manifest.json' % dump, base + 'app/app.tar.gz',
            base + 'app/app.json', base + 'recovery-point.json'} <= set(objects), sorted(objects)
    record = json.loads(s3.client().get_object(Bucket=s3.bucket, Key=base + 'recovery-point.json')['Body'].read())
    assert record['verified'] and record['app']['commit'] == commits[0]
    assert record['app']['deployment_id'] == dep['uid'] and 'OPENAI_API_KEY' in record['app']['env_names']
    # retention kept the 2 newest: the new point and old-0
    names = set(k.split('/')[2] for k in s3.objects())
    assert names == {dump, 'old-0'}, names
    assert 'Off-site: s3://%s/%s' % (s3.bucket, base) in out
    # one line: the upload, the app's production runs, the retention
    line = [x for x in out.splitlines() if 'Off-site: s3://' in x]
    assert len(line) == 1 and '\\n' not in line[0], out
    assert ' env var names); retention removed 1 recovery point(s): old-1"' in line[0], line
    assert 'app %s (deployment %s' % (commits[0][:12], dep['uid']) in line[0]
    values = [v['value'] for v in vercel.env_vars() if v.get('value')]
    reports = [open(os.path.join(tmp_path / 'reports', n)).read() for n in os.listdir(tmp_path / 'reports')
               if n.endswith(('.md', '.json'))]
    assert reports and any('backup_app_snapshot' in r for r in reports)
    for secret in [s3.secret_access_key, vercel.token, db.server.password] + values:
        assert secret not in out and not any(secret in r for r in reports)


def test_backup_without_a_bucket_stays_local_and_always_without_one_fails(db, s3, tmp_path):
    env = dict(s3.env(https=True), POURTRAIT_BACKUP_BUCKET='')
    result = run_playbook('backup', '-e', 'db_backup_dir=%s' % (tmp_path / 'b1'), '-e', 'db_backup_format=custom',
                          '-e', 'db_backup_verify=toc', env=[db.env, env])
    assert result.rc == 0 and 'Off-site' not in result.output, result.output
    assert s3.requests() == []
    result = run_playbook('backup', '-e', 'db_backup_dir=%s' % (tmp_path / 'b2'), '-e', 'db_backup_format=custom',
                          '-e', 'db_backup_verify=toc', '-e', 'db_backup_offsite=always', env=[db.env, env])
    assert result.rc != 0
    assert 'Off-site copy failed: no bucket: set bucket or POURTRAIT_BACKUP_BUCKET. The verified dump is kept at %s/' \
        % (tmp_path / 'b2') in result.output, result.output
    assert s3.state()['objects'] == []


def deploy_posts(vercel):
    return [r for r in vercel.requests(method='POST') if r['path'].startswith('/v13/deployments')]


def test_deploy_gate_blocks_a_stale_backup_and_passes_a_fresh_one(db, s3, vercel, supabase):
    fresh_supabase(supabase)
    put_point(s3, db.name, 'rp-stale', 30)
    live = vercel.live()['uid']
    sha = 'cd' * 20
    result = run_playbook('deploy', '-e', 'deploy_git_sha=%s' % sha, '-e', 'deploy_git_ref=main', *DEPLOY_FAST,
                          env=envs(db, s3, vercel, supabase))
    out = result.output
    assert result.rc != 0, out
    assert 'Deploy of %s stopped at the gate of fresh backups, before anything was built' % sha[:12] in out, out
    assert 'the newest verified off-site recovery point rp-stale is 30.0h old, over max_age 26h' in out
    assert 'run playbooks/backup.yml' in out and 'Nothing was deployed: production still serves %s' % live in out
    assert deploy_posts(vercel) == [] and vercel.live()['uid'] == live

    put_point(s3, db.name, 'rp-fresh', 1)
    result = run_playbook('deploy', '-e', 'deploy_git_sha=%s' % sha, '-e', 'deploy_git_ref=main', *DEPLOY_FAST,
                          env=envs(db, s3, vercel, supabase))
    assert result.rc == 0, result.output
    assert len(deploy_posts(vercel)) == 1 and vercel.live()['sha'] == sha
    assert supabase.token not in result.output and s3.secret_access_key not in result.output


def test_migrate_gate_blocks_a_stale_backup_then_applies_with_a_fresh_one(db, s3, supabase, tmp_path):
    shutil.copytree(SAMPLE, tmp_path / 'migrations')
    supabase.set_backups(pitr_enabled=False, backups=[
        {'status': 'COMPLETED', 'is_physical_backup': True, 'inserted_at': int(time.time() - 50 * 3600)}])
    put_point(s3, db.name, 'rp-a', 2)
    args = ['-e', 'db_migrate_dir=%s' % (tmp_path / 'migrations'), '-e', 'db_backup_dir=%s' % (tmp_path / 'backups'),
            '-e', 'db_backup_verify=toc', '-e', 'db_migrate_health_check=false', '-e', 'db_backup_format=custom']
    result = run_playbook('migrate', *args, env=envs(db, s3, supabase=supabase))
    out = result.output
    assert result.rc != 0, out
    assert 'Nothing was changed: the migration of 20260110090000' in out, out
    assert "Supabase's newest COMPLETED backup of %s is 50.0h old, over supabase_max_age 26h" % supabase.project_ref \
        in out
    assert db.scalar("SELECT to_regclass('supabase_migrations.schema_migrations') IS NULL")
    assert not (tmp_path / 'backups').exists()

    fresh_supabase(supabase)
    result = run_playbook('migrate', *args, env=envs(db, s3, supabase=supabase))
    assert result.rc == 0, result.output
    assert 'Applied 3 migration(s)' in result.output
    # the migration's own backup went off-site too (a bucket is configured)
    assert any(k.startswith('pourtrait/%s/%s-' % (db.name, db.name)) and k.endswith('/recovery-point.json')
               for k in s3.objects())


def test_backup_check_mode_says_what_would_go_off_site_and_writes_nothing(db, s3, tmp_path):
    put_point(s3, db.name, 'old-0', 72)
    s3_before = s3.objects()
    s3.admin('DELETE', '/requests')
    result = run_playbook('backup', '--check', '-e', 'db_backup_dir=%s' % (tmp_path / 'backups'),
                          env=envs(db, s3))
    assert result.rc == 0, result.output
    assert 'Would upload %s-' % db.name in result.output and 's3://%s/pourtrait/<database>/' % s3.bucket \
        in result.output, result.output
    assert 'then keep 30 recovery points' in result.output
    assert s3.objects() == s3_before and not (tmp_path / 'backups').exists()
    assert [r for r in s3.requests() if r['method'] in ('PUT', 'POST', 'DELETE')] == []

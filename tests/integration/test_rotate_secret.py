"""playbooks/rotate_secret.yml (the security_incident role) end to end with ansible-playbook against the test's own
Vercel, app and Supabase stand-ins, as on-call runs it against production: inventory/production keeps no secret, the
modules read VERCEL_* / SUPABASE_* / APP_URL from the environment."""

import json
import os
import tempfile

from tests.helpers import run_playbook

KEY = 'STRIPE_SECRET_KEY'
PREVIOUS = KEY + '_PREVIOUS'
MARKER = 'POURTRAIT_SECRET_ROTATED_AT'
OLD = 'sk_live_OLDCANARY7c1e9a0b2d4f'
NEW = 'sk_live_NEWCANARY5f3b8e2a9c1d'
FAST = ['-e', 'security_incident_poll_interval=0.1', '-e', 'security_incident_health_interval=0.2',
        '-e', 'security_incident_verify_interval=0.2', '-e', 'security_incident_verify_count=2',
        '-e', 'security_incident_health_wait_timeout=5', '-e', 'security_incident_rollback_poll_interval=0.1']


def playbook(vercel, *args, new_value=NEW, key=KEY, extra_env=None, name='rotate_secret'):
    """Run the playbook against inventory/production; (rc, stdout + stderr, reports dir contents)."""
    # the value from a vars file (0600, removed after the run), as from a vault: never on the command line
    variables = {'security_incident_key': key, 'security_incident_new_value': new_value}
    with tempfile.TemporaryDirectory(prefix='rot-reports-') as reports:
        result = run_playbook(name, *args, extra_vars=variables if name == 'rotate_secret' else None,
                              env=[vercel.env, extra_env], reports_dir=reports)
        written = ''
        for entry in sorted(os.listdir(reports)):
            if entry.endswith(('.md', '.json')) and not entry.startswith('tmp'):
                with open(os.path.join(reports, entry)) as handle:
                    written += handle.read()
    return result.rc, result.output, written


def add_env(vercel, key, value, kind='encrypted', target=('production', 'preview')):
    status, body, _headers = vercel.api('POST', '/v10/projects/%s/env' % vercel.project_id,
                                        body={'key': key, 'value': value, 'type': kind, 'target': list(target)})
    assert status == 201 and not body['failed'], body


def leaked(vercel):
    """The key in the project, and a live production build made with it (the situation the runbook starts from)."""
    add_env(vercel, KEY, OLD)
    live = vercel.seed_deployment(live=True, created_offset_s=-120)
    assert live['env'][KEY] == OLD
    return live


def env_entries(vercel, key):
    return [e for e in vercel.env_vars() if e['key'] == key]


def assert_no_secret(*texts):
    for text in texts:
        for canary in ('OLDCANARY', 'NEWCANARY'):
            assert canary not in text, 'a secret leaked: %s' % text[max(0, text.find(canary) - 300):text.find(canary) + 100]


def test_rotation_overlap_verify_drop_and_rerun(vercel):
    before = leaked(vercel)
    count = len(vercel.deployments())

    rc, out, reports = playbook(vercel, '--check', *FAST)
    assert rc == 0, out
    assert 'Would keep the old value as %s' % PREVIOUS in out, out
    assert vercel.env_value(KEY) == OLD and env_entries(vercel, PREVIOUS) == []
    assert len(vercel.deployments()) == count and env_entries(vercel, MARKER) == []
    assert_no_secret(out, reports)

    rc, out, reports = playbook(vercel, '-vvvv', *FAST)
    assert rc == 0, out
    assert_no_secret(out, reports)
    assert reports and 'rotate_secret' in reports
    # the new value is set, the overlap copy is gone, the rotation time recorded
    assert vercel.env_value(KEY) == NEW
    assert env_entries(vercel, PREVIOUS) == []
    builds = [d for d in vercel.deployments() if d['meta'].get('pourtraitProcedure') == 'security_incident']
    assert len(builds) == 2, builds
    final, overlap = builds[0], builds[1]
    assert overlap['meta']['pourtraitPhase'] == 'rotation' and final['meta']['pourtraitPhase'] == 'final'
    # the overlap build carried both values; the final one only the new value
    assert overlap['env'][KEY] == NEW and overlap['env'][PREVIOUS] == OLD
    assert final['env'][KEY] == NEW and PREVIOUS not in final['env']
    live = vercel.live()
    assert live['uid'] == final['uid'] and live['uid'] != before['uid']
    status, body, _headers = vercel.app('/health')
    assert status == 200 and body['status'] == 'healthy'
    marker = env_entries(vercel, MARKER)
    assert len(marker) == 1 and marker[0]['type'] == 'plain' and marker[0]['target'] == ['production']
    status, dep, _headers = vercel.api('GET', '/v13/deployments/%s' % final['uid'])
    assert marker[0]['value'].startswith(
        __import__('time').strftime('%Y-%m-%dT%H:%M:%S', __import__('time').gmtime(dep['createdAt'] / 1000.0)))
    assert 'Dropped %s (the old value) only after the new value was verified' % PREVIOUS in out
    assert 'Recorded %s=' % MARKER in out

    # rerun: nothing left to do
    rc, out, reports = playbook(vercel, *FAST)
    assert rc == 0, out
    assert 'changed=0' in out, out
    assert len(vercel.deployments()) == count + 2
    assert_no_secret(out, reports)

    # the rollback runbook now refuses every older build (they carry the old value), unless forced
    rc, out, _reports = playbook(vercel, '-e', 'rollback_poll_interval=0.1', '-e', 'rollback_health_interval=0.2',
                                 name='rollback')
    assert rc != 0, out
    assert 'no rollback target built after the secret rotation at' in out, out
    assert 'set force=true to roll back anyway' in out
    assert vercel.live()['uid'] == final['uid']
    rc, out, _reports = playbook(vercel, '-e', 'rollback_force=true', '-e', 'rollback_poll_interval=0.1',
                                 '-e', 'rollback_health_interval=0.2', name='rollback')
    assert rc == 0, out
    assert vercel.live()['uid'] == overlap['uid']
    assert 'force=true' in out and 'carries the rotated secret' in out


def test_failed_redeploy_keeps_new_value_and_drops_nothing(vercel):
    before = leaked(vercel)
    vercel.next_build(fail=True)
    rc, out, reports = playbook(vercel, *FAST)
    assert rc != 0, out
    assert_no_secret(out, reports)
    assert 'Secret rotation of %s FAILED in the rotation rebuild' % KEY in out, out
    assert '%s keeps its new value (the leaked value is never written back)' % KEY in out
    assert '%s still holds the old value: nothing was dropped' % PREVIOUS in out
    assert 'Production still serves %s' % before['uid'] in out
    # old value kept: the overlap copy is still there, production still serves the pre-rotation build
    assert vercel.env_value(KEY) == NEW
    assert vercel.env_value(PREVIOUS) == OLD
    assert vercel.live()['uid'] == before['uid']
    assert vercel.live()['env'][KEY] == OLD
    assert env_entries(vercel, MARKER) == []

    # the rerun finishes the job
    rc, out, reports = playbook(vercel, *FAST)
    assert rc == 0, out
    assert env_entries(vercel, PREVIOUS) == [] and vercel.env_value(KEY) == NEW
    assert vercel.live()['env'][KEY] == NEW and PREVIOUS not in vercel.live()['env']
    assert env_entries(vercel, MARKER)


def test_unhealthy_rebuild_is_rolled_back(vercel):
    before = leaked(vercel)
    vercel.next_build(health='broken')
    rc, out, _reports = playbook(vercel, *FAST)
    assert rc != 0, out
    assert 'production was rolled back to %s, the build it replaced' % before['uid'] in out, out
    assert vercel.live()['uid'] == before['uid']
    assert vercel.env_value(KEY) == NEW and vercel.env_value(PREVIOUS) == OLD
    assert env_entries(vercel, MARKER) == []


def test_sensitive_key_without_overlap_then_unban_and_end_sessions(vercel, supabase, db):
    # OPENAI_API_KEY is sensitive in the stand-in: its value cannot be read back, so there is no overlap copy
    banned = supabase.bans()
    assert len(banned) >= 2
    before = vercel.live()
    role = 'leaky_%s' % db.name[2:]  # roles are cluster-wide: one per test database
    db.query("CREATE ROLE %s LOGIN PASSWORD 'leaky-pass'" % role)
    import psycopg2
    args = dict(db.server.conn_kwargs(db.name), user=role, password='leaky-pass')
    victim = psycopg2.connect(**args)
    victim.cursor().execute('SELECT 1')  # now idle in transaction
    bystander = db.connect()
    bystander.autocommit = False
    bystander.cursor().execute('SELECT 1')  # the admin role, idle in transaction too: left alone
    try:
        rc, out, reports = playbook(
            vercel, *FAST, '-e', json.dumps({'security_incident_unban_ips': [banned[0]],
                                             'security_incident_terminate_roles': [role],
                                             'security_incident_terminate_databases': [db.name]}),
            key='OPENAI_API_KEY', new_value='sk-NEWCANARY-sensitive-0123456789',
            extra_env=dict(supabase.env, **db.env))
        assert rc == 0, out
        assert 'No overlap copy: Vercel never gives back the value of a sensitive variable' in out, out
        assert env_entries(vercel, 'OPENAI_API_KEY_PREVIOUS') == []
        builds = [d for d in vercel.deployments() if d['meta'].get('pourtraitProcedure') == 'security_incident']
        assert len(builds) == 1 and vercel.live()['uid'] == builds[0]['uid'] != before['uid']
        assert builds[0]['env']['OPENAI_API_KEY'] == 'sk-NEWCANARY-sensitive-0123456789'
        assert env_entries(vercel, MARKER)
        assert_no_secret(out, reports)
        assert supabase.bans() == banned[1:]
        assert 'Supabase network bans: lifted %s' % banned[0] in out
        assert 'Database sessions of %s: ended 1 ' % role in out, out
        assert victim.closed or _dead(victim)
        bystander.cursor().execute('SELECT 1')
    finally:
        for conn in (victim, bystander):
            try:
                conn.close()
            except Exception:  # pylint: disable=broad-except
                pass
        db.query('DROP ROLE IF EXISTS %s' % role)


def _dead(conn):
    try:
        conn.cursor().execute('SELECT 1')
    except Exception:  # pylint: disable=broad-except
        return True
    return False


def test_bad_input_changes_nothing(vercel):
    count = len(vercel.deployments())
    rc, out, _reports = playbook(vercel, *FAST, key='NO_SUCH_KEY')
    assert rc != 0 and 'NO_SUCH_KEY is not a production variable of project pourtrait' in out, out
    rc, out, _reports = playbook(vercel, *FAST, new_value='')
    assert rc != 0 and 'security_incident_new_value' in out, out
    assert len(vercel.deployments()) == count

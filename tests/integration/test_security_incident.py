"""playbooks/security_incident.yml and the small ones (block_ip, contain_account, rotate_db_password) end to end with
ansible-playbook against the test's own Vercel (with the app and its firewall), Supabase (Management API and Auth
admin API) stand-ins and real PostgreSQL, as on-call runs them against production (inventory/production keeps no
secret, the modules read VERCEL_* / SUPABASE_* / DATABASE_URL / APP_URL from the environment). The state is asserted
where a user would see it: the app from a hostile address, SQL, the stand-ins' state."""

import contextlib
import json
import os
import tempfile
import urllib.parse

import psycopg2

from tests.db_roles import scratch_login_role
from tests.fixtures_standins import SUPABASE_DATABASE, http_json
from tests.helpers import run_playbook

HOSTILE = '127.0.0.2'
EMAIL = 'user12@example.com'      # one session, two refresh tokens (one revoked)
MFA_EMAIL = 'user3@example.com'   # two sessions
MARKER = 'POURTRAIT_SECRET_ROTATED_AT'
NEW_DB_PASSWORD = 'NEWDBCANARY-4f7a9c1e2b3d5a6f'
FAST = {'security_incident_poll_interval': 0.1, 'security_incident_health_interval': 0.2,
        'security_incident_verify_interval': 0.2, 'security_incident_verify_count': 1,
        'security_incident_health_wait_timeout': 5, 'security_incident_rollback_poll_interval': 0.1,
        'security_incident_logs_deadline': 2}


def playbook(name, env, variables, *args):
    """(rc, stdout + stderr, the run report's text) of one run against inventory/production."""
    with tempfile.TemporaryDirectory(prefix='sec-reports-') as reports:
        result = run_playbook(name, *args, extra_vars=dict(FAST, **variables), env=env, reports_dir=reports)
        written = ''
        for entry in sorted(os.listdir(reports)):
            if entry.endswith(('.md', '.json')):
                with open(os.path.join(reports, entry)) as handle:
                    written += handle.read()
    return result.rc, result.output, written


def assert_no_secret(secrets, *texts):
    for text in texts:
        for secret in secrets:
            at = text.find(secret)
            assert at < 0, 'a secret leaked: %s' % text[max(0, at - 300):at + 80]


def fatal_line(output):
    lines = [line for line in output.splitlines() if line.startswith('fatal: ')]
    assert lines, output[-3000:]
    return lines[-1]


# -- contain, investigate, recover ------------------------------------------------------------------------------

@contextlib.contextmanager
def idle_in_transaction(url):
    """A session of the role that sits idle in a transaction (what postgres_terminate ends)."""
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute('SELECT 1')  # psycopg2 opened a transaction: idle in transaction from now on
    try:
        yield conn
    finally:
        conn.close()


def test_contain_investigate_then_recover(vercel, supabase_auth, pg_server):
    env = [vercel.env, supabase_auth.supabase.env, supabase_auth.env]
    assert vercel.app_from(HOSTILE) == (200, None)
    contain = {'security_incident_phases': ['contain', 'investigate'], 'security_incident_reason': 'INC-11 stuffing',
               'security_incident_block_ips': [HOSTILE], 'security_incident_block_expires_in': '1h',
               'security_incident_users': [EMAIL, MFA_EMAIL], 'security_incident_since': '2h',
               'security_incident_attack_mode': True, 'security_incident_attack_mode_for': '1h',
               'security_incident_read_network_bans': True}
    with scratch_login_role(pg_server, supabase_auth.db.name, prefix='attacker_') as (role, _password, url):
        contain['security_incident_end_session_roles'] = [role]
        with idle_in_transaction(url) as attacker:
            rc, out, _report = playbook('security_incident', env, contain, '--check')
            assert rc == 0, out
            assert vercel.app_from(HOSTILE) == (200, None)
            assert supabase_auth.banned_until(EMAIL) is None and supabase_auth.sessions(MFA_EMAIL) == 2
            assert supabase_auth.db.scalar('SELECT count(*) FROM pg_stat_activity WHERE usename = %s', (role,)) == 1

            rc, out, report = playbook('security_incident', env, contain)
            assert rc == 0, out
            # blocked at the edge: 403 from the hostile address; everyone else gets the attack-mode challenge
            assert vercel.app_from(HOSTILE)[0] == 403
            assert vercel.app_from('127.0.0.1') == (429, 'challenge')
            assert 'Supabase network bans in force:' in out
            # banned and signed out everywhere, in SQL
            for email in (EMAIL, MFA_EMAIL):
                assert supabase_auth.banned_until(email) is not None
                assert supabase_auth.sessions(email) == 0 and supabase_auth.refresh_tokens(email) == 0
            # the attacker's database session was ended
            assert attacker.closed or supabase_auth.db.scalar(
                'SELECT count(*) FROM pg_stat_activity WHERE usename = %s', (role,)) == 0
            # the evidence was gathered and reported
            assert 'Evidence - Firewall events:' in out and 'Evidence - Auth audit:' in out, out
            assert report
            # the run report times the mitigation by its first containment (no rollback in this run)
            derived = json.JSONDecoder().raw_decode(report)[0]['derived']
            assert derived['time_to_mitigate_s'] > 0, derived
            assert derived['mitigated_by']['task'].startswith('Block at the edge'), derived

            rc, out, _report = playbook('security_incident', env, contain)
            assert rc == 0, out
            assert 'changed=0' in out, out

    # recover: the block is lifted on demand, the ban too
    recover = {'security_incident_phases': ['recover'], 'security_incident_unblock_ips': [HOSTILE],
               'security_incident_unban_users': [EMAIL]}
    rc, out, _report = playbook('security_incident', env, recover)
    assert rc == 0, out
    assert vercel.app_from(HOSTILE) == (200, None) and vercel.app_from('127.0.0.1') == (200, None)
    assert supabase_auth.banned_until(EMAIL) is None and supabase_auth.banned_until(MFA_EMAIL) is not None


# -- rotate: the database password and a Supabase key -----------------------------------------------------------

def replace_env(vercel, key, value, kind='encrypted', target=('production', 'preview')):
    for entry in vercel.env_vars():
        if entry['key'] == key:
            status, body, _headers = vercel.api('DELETE', '/v9/projects/%s/env/%s' % (vercel.project_id, entry['id']))
            assert status == 200, body
    status, body, _headers = vercel.api('POST', '/v10/projects/%s/env' % vercel.project_id,
                                        body={'key': key, 'value': value, 'type': kind, 'target': list(target)})
    assert status == 201 and not body['failed'], body


def connects(port, role, password):
    try:
        psycopg2.connect(host='127.0.0.1', port=port, user=role, password=password, dbname=SUPABASE_DATABASE,
                         connect_timeout=5).close()
        return True
    except psycopg2.OperationalError:
        return False


def api_keys(supabase):
    return supabase.admin('GET', '/supabase/api_keys')


def auth_admin(standins, key):
    """(status, body) of an Auth admin call (``SUPABASE_URL``/auth/v1) with ``key`` alone in ``apikey:``, as an app
    calls it: 404 ``user_not_found`` for the made-up user means the key was taken; 401 that it was refused."""
    url = standins.info['supabase_url'] + '/auth/v1/admin/users/00000000-0000-4000-8000-000000000000'
    status, body, _headers = http_json('GET', url, headers={'apikey': key})
    return status, (body or {}).get('error_code') or (body or {}).get('message')


INVALID_KEY = (401, 'Invalid API key')
KEY_TAKEN = (404, 'user_not_found')


@contextlib.contextmanager
def app_database(vercel, supabase, pg_server):
    """A login role the app uses (its URL in Vercel's DATABASE_URL and the Supabase stand-in's database) and a live
    build made with it."""
    with scratch_login_role(pg_server, SUPABASE_DATABASE, prefix='app_') as (role, password, url):
        supabase.set_database(url)
        try:
            replace_env(vercel, 'DATABASE_URL', url)
            yield dict(role=role, password=password, url=url, port=pg_server.port,
                       env={'SUPABASE_DB_HOST': '127.0.0.1', 'SUPABASE_DB_PORT': str(pg_server.port)},
                       vars={'security_incident_db_user': role, 'security_incident_db_name': SUPABASE_DATABASE,
                             'security_incident_db_sslmode': 'disable', 'security_incident_db_verify_timeout': 3})
        finally:
            supabase.set_database(None)


def test_rotate_db_password_and_supabase_key(vercel, supabase, pg_server, standins):
    status, old_key, _headers = supabase.api('POST', '/v1/projects/{ref}/api-keys',
                                             {'type': 'secret', 'name': 'app_server'}, params={'reveal': 'true'})
    assert status == 201, old_key
    assert auth_admin(standins, old_key['api_key']) == KEY_TAKEN
    replace_env(vercel, 'SUPABASE_SERVICE_ROLE_KEY', old_key['api_key'])
    with app_database(vercel, supabase, pg_server) as app:
        before = vercel.seed_deployment(live=True, created_offset_s=-120)
        count = len(vercel.deployments())
        env = [vercel.env, supabase.env, app['env'], {'DATABASE_URL': pg_server.url(SUPABASE_DATABASE)}]
        variables = dict(app['vars'], security_incident_phases=['rotate'], security_incident_rotate_db_password=True,
                         security_incident_db_password=NEW_DB_PASSWORD,
                         security_incident_api_key_name='app_server_inc11',
                         security_incident_api_key_revoke='app_server', security_incident_reason='INC-11 leak')
        secrets = [NEW_DB_PASSWORD, app['password'], old_key['api_key']]
        with idle_in_transaction(app['url']) as old_session, contextlib.closing(psycopg2.connect(app['url'])) as idle:
            idle.autocommit = True  # a plain idle connection made with the old password (an attacker's, a pool's)
            rc, out, report = playbook('security_incident', env, variables, '--check')
            assert rc == 0, out
            assert connects(app['port'], app['role'], app['password'])
            assert vercel.env_value('DATABASE_URL') == app['url'] and len(vercel.deployments()) == count
            names = [k['name'] for k in api_keys(supabase)['keys'] if k['name'].startswith('app_server')]
            assert names == ['app_server']
            assert_no_secret(secrets, out, report)

            rc, out, report = playbook('security_incident', env, variables)
            assert rc == 0, out
            # the password changed, for real
            assert connects(app['port'], app['role'], NEW_DB_PASSWORD)
            assert not connects(app['port'], app['role'], app['password'])
            old_part = ':%s@' % urllib.parse.quote(app['password'], safe='')
            new_url = app['url'].replace(old_part, ':%s@' % NEW_DB_PASSWORD)
            assert vercel.env_value('DATABASE_URL') == new_url
            # the old session of the role was ended once production ran with the new password
            assert supabase.admin('GET', '/supabase/database_password')['changes']
            assert_ended(old_session)
            assert_ended(idle)  # idle too: it logged in before the rotation
            # the key: a new one in the app's env var, the old one deleted as compromised
            keys = api_keys(supabase)
            new_key = [k for k in keys['keys'] if k['name'] == 'app_server_inc11']
            assert len(new_key) == 1 and vercel.env_value('SUPABASE_SERVICE_ROLE_KEY') == new_key[0]['api_key']
            assert [(d['name'], d['was_compromised'], d['reason']) for d in keys['deleted']] == [
                ('app_server', True, 'INC-11 leak')]
            # seen from outside: the Auth API's gateway refuses the old key at once
            assert auth_admin(standins, old_key['api_key']) == INVALID_KEY
            secrets.append(new_key[0]['api_key'])
            # production was rebuilt (twice: one per rotation), with both new values, and the rotation recorded
            live = vercel.live()
            assert live['uid'] != before['uid'] and len(vercel.deployments()) == count + 2
            assert live['env']['DATABASE_URL'] == new_url
            assert live['env']['SUPABASE_SERVICE_ROLE_KEY'] == new_key[0]['api_key']
            assert vercel.env_value(MARKER)
            assert vercel.app('/health')[0] == 200
            assert_no_secret(secrets, out, report)

        rc, out, report = playbook('security_incident', env, variables)
        assert rc == 0, out
        assert 'changed=0' in out, out
        assert len(vercel.deployments()) == count + 2
        assert_no_secret(secrets, out, report)
    # and takes the new one (an admin call answered by GoTrue, on the project's own database again)
    assert auth_admin(standins, new_key[0]['api_key']) == KEY_TAKEN
    assert auth_admin(standins, old_key['api_key']) == INVALID_KEY


def assert_ended(conn):
    """The session was ended by the server: its next statement fails."""
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT 1')
    except psycopg2.Error:
        return
    raise AssertionError('the old session is still alive')


def test_db_rotation_failing_in_the_redeploy_puts_the_old_credential_back(vercel, supabase, pg_server):
    with app_database(vercel, supabase, pg_server) as app:
        before = vercel.seed_deployment(live=True, created_offset_s=-120)
        vercel.next_build(fail=True)
        env = [vercel.env, supabase.env, app['env'], {'DATABASE_URL': pg_server.url(SUPABASE_DATABASE)}]
        rc, out, report = playbook('rotate_db_password', env, app['vars'])
        assert rc != 0, out
        line = fatal_line(out)
        assert 'Database password rotation of %s FAILED in the rotation rebuild of' % app['role'] in line, line
        assert 'The old password was put back and connects again, DATABASE_URL was put back to the old URL' in line, line
        assert 'rerun ansible-playbook playbooks/rotate_db_password.yml' in line
        assert connects(app['port'], app['role'], app['password'])
        assert vercel.env_value('DATABASE_URL') == app['url']
        assert vercel.live()['uid'] == before['uid']
        assert_no_secret([app['password']], out, report)


def test_db_rotation_whose_new_password_does_not_connect(vercel, supabase, pg_server):
    with app_database(vercel, supabase, pg_server) as app:
        before = vercel.seed_deployment(live=True, created_offset_s=-120)
        count = len(vercel.deployments())
        env = [vercel.env, supabase.env, app['env'], {'DATABASE_URL': pg_server.url(SUPABASE_DATABASE)}]
        # the server does not speak TLS: with sslmode=require no connection with the new password can be made
        variables = dict(app['vars'], security_incident_db_sslmode='require', security_incident_db_verify_timeout=1,
                         security_incident_db_password=NEW_DB_PASSWORD)
        rc, out, report = playbook('rotate_db_password', env, variables)
        assert rc != 0, out
        line = fatal_line(out)
        assert 'connecting with it failed' in line, out[-5000:]
        assert ('The old password was put back but could not be verified by connecting, DATABASE_URL was not touched'
                in line)
        assert 'then rerun ansible-playbook playbooks/rotate_db_password.yml' in line
        assert connects(app['port'], app['role'], app['password'])
        assert not connects(app['port'], app['role'], NEW_DB_PASSWORD)
        assert vercel.env_value('DATABASE_URL') == app['url']
        assert vercel.live()['uid'] == before['uid'] and len(vercel.deployments()) == count
        assert_no_secret([app['password'], NEW_DB_PASSWORD], out, report)


def test_key_rotation_failing_in_the_redeploy_keeps_the_old_key_until_confirmed(vercel, supabase, standins):
    status, old_key, _headers = supabase.api('POST', '/v1/projects/{ref}/api-keys',
                                             {'type': 'secret', 'name': 'app_server'}, params={'reveal': 'true'})
    assert status == 201, old_key
    replace_env(vercel, 'SUPABASE_SERVICE_ROLE_KEY', old_key['api_key'])
    before = vercel.seed_deployment(live=True, created_offset_s=-120)
    vercel.next_build(fail=True)
    env = [vercel.env, supabase.env]
    variables = {'security_incident_phases': ['rotate'], 'security_incident_api_key_name': 'app_server_inc12',
                 'security_incident_api_key_revoke': 'app_server', 'security_incident_reason': 'INC-12'}
    rc, out, report = playbook('security_incident', env, variables)
    assert rc != 0, out
    line = fatal_line(out)
    assert 'Supabase key rotation FAILED in the rotation rebuild of %s failed at' % before['uid'] in line, line
    assert 'the old key app_server was NOT deleted and still works' in line, line
    keys = api_keys(supabase)
    assert keys['deleted'] == [] and vercel.live()['uid'] == before['uid']
    assert vercel.live()['env']['SUPABASE_SERVICE_ROLE_KEY'] == old_key['api_key']
    new_key = [k for k in keys['keys'] if k['name'] == 'app_server_inc12'][0]
    assert_no_secret([old_key['api_key'], new_key['api_key']], out, report)
    assert auth_admin(standins, old_key['api_key']) == KEY_TAKEN  # "still works": as the Auth API sees it

    # the rerun rebuilds (the variable is newer than production) but deletes the old key only once confirmed
    rc, out, _report = playbook('security_incident', env, variables)
    assert rc != 0 and 'rerun with -e security_incident_api_key_env_confirmed=true' in fatal_line(out), out
    assert api_keys(supabase)['deleted'] == []
    assert vercel.live()['env']['SUPABASE_SERVICE_ROLE_KEY'] == new_key['api_key']
    rc, out, _report = playbook('security_incident', env, dict(variables, security_incident_api_key_env_confirmed=True))
    assert rc == 0, out
    assert [(d['name'], d['was_compromised']) for d in api_keys(supabase)['deleted']] == [('app_server', True)]
    assert auth_admin(standins, old_key['api_key']) == INVALID_KEY
    assert auth_admin(standins, new_key['api_key']) == KEY_TAKEN


def test_db_rotation_whose_database_url_write_answers_are_lost_puts_it_back(vercel, supabase, pg_server):
    """Writing DATABASE_URL is done but every answer is lost (five 502s after the change): the rotation fails, the
    old password is put back and so is DATABASE_URL - the app is never left on a URL whose password is gone."""
    with app_database(vercel, supabase, pg_server) as app:
        before = vercel.seed_deployment(live=True, created_offset_s=-120)
        entry = [e for e in vercel.env_vars() if e['key'] == 'DATABASE_URL'][0]
        vercel.set_faults(rate=1.0, kinds=['502'], when='after', methods=['PATCH'], max_faults=5,
                          paths=['/v9/projects/%s/env/%s' % (vercel.project_id, entry['id'])])
        env = [vercel.env, supabase.env, app['env'], {'DATABASE_URL': pg_server.url(SUPABASE_DATABASE)}]
        variables = dict(app['vars'], security_incident_db_password=NEW_DB_PASSWORD)
        rc, out, report = playbook('rotate_db_password', env, variables)
        vercel.clear_faults()
        assert rc != 0, out
        line = fatal_line(out)
        assert 'The old password was put back and connects again, DATABASE_URL was put back to the old URL' in line, line
        assert connects(app['port'], app['role'], app['password'])
        assert vercel.env_value('DATABASE_URL') == app['url']
        assert vercel.live()['uid'] == before['uid']
        assert_no_secret([app['password'], NEW_DB_PASSWORD], out, report)

"""The Evidence and Containment sections of the run report, from playbooks of the real security modules run against
the stand-ins and the real PostgreSQL: what was found (counted, with times), what was blocked, banned, signed out,
rotated and until when, "would" in check mode, and never a password, key value or recovery link - even when a task
asks for one (return_password, return_key, return_recovery_link, with and without no_log)."""

import time

from tests.conftest import run_module
from tests.db_roles import scratch_login_role
from tests.fixtures_standins import SUPABASE_DATABASE
from tests.integration.plugins.callback.test_runbook_report import assert_absent, read_report, run

HOSTILE = '127.0.0.2'
EMAIL = 'user12@example.com'

CONTAIN = """\
- name: Contain and investigate
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Block the stuffer at the edge
      pourtrait.ops.vercel_firewall:
        ip: [{hostile}]
        reason: INC-42 credential stuffing
        requested_by: alice
        expires_in: 2h
    - name: Rate limit the login
      pourtrait.ops.vercel_firewall:
        rate_limit: {{path: /api/login, limit: 10, window: 1m}}
    - name: Attack mode for an hour
      pourtrait.ops.vercel_firewall:
        attack_mode: true
        attack_mode_for: 1h
    - name: Ban and sign out the hit account
      pourtrait.ops.supabase_auth_user:
        users: [{email}]
        banned: true
        ban_duration: 24h
        sign_out: true
        jwt_expiry: 1800
    - name: Firewall events
      pourtrait.ops.vercel_firewall_info:
        since: 1h
    - name: Runtime errors
      pourtrait.ops.vercel_logs_info:
        since: 30m
        status_code: [5xx]
        deadline: 2
    - name: Auth audit
      pourtrait.ops.supabase_auth_audit_info:
        since: 1h
    - name: Supabase logs
      pourtrait.ops.supabase_logs_info:
        sql: select id, timestamp, event_message from edge_logs
        start: "{start}"
        end: "{end}"
"""


def seed_evidence(vercel):
    event = {'action_type': 'deny', 'public_ip': '198.51.100.9', 'count': 40,
             'at_ms': int(time.time() * 1000) - 600 * 1000}
    vercel.admin('POST', '/vercel/firewall/events', event)
    vercel.admin('POST', '/vercel/runtime_logs', {'deployment': vercel.live()['uid'], 'lines': [
        {'level': 'error', 'message': 'db down', 'requestPath': '/api/wines', 'responseStatusCode': 503,
         'offset_s': -60},
        {'level': 'error', 'message': 'db down', 'requestPath': '/api/login', 'responseStatusCode': 500,
         'offset_s': -30}]})


def test_check_mode_says_would_then_the_real_run_says_what_stays_in_force(vercel, supabase, supabase_auth, tmp_path):
    seed_evidence(vercel)
    end = int(time.time())
    playbook = tmp_path / 'security_contain.yml'
    playbook.write_text(CONTAIN.format(hostile=HOSTILE, email=EMAIL, start=end - 3 * 3600, end=end))
    env = [vercel.env, supabase.env, supabase_auth.env]

    planned_dir = tmp_path / 'planned'
    rc, out = run(playbook, planned_dir, env=env, args=['--check'])
    assert rc == 0, out
    assert vercel.firewall()['config']['ips'] == [] and supabase_auth.banned_until(EMAIL) is None
    data, text, _base = read_report(planned_dir, 'security_contain')
    containment = data['containment']
    assert containment['planned'] is True and containment['in_force'] == []
    assert {m['status'] for m in containment['measures']} == {'would'}
    texts = [m['text'] for m in containment['measures']]
    assert texts[0].startswith('would block %s (deny on *, INC-42 credential stuffing) until ' % HOSTILE)
    assert 'would set a rate limit on /api/login (10 requests per 60 s per IP, then rate_limit)' in texts
    assert [t for t in texts if t.startswith('would turn attack challenge mode on for the project until ')]
    assert [t for t in texts if t.startswith('would ban user %s until ' % EMAIL)]
    assert [t for t in texts if t.startswith('would sign out everywhere %s (1 session(s)' % EMAIL)]
    assert '_Check mode: nothing below was done; it is what the run would do._' in text
    assert '| would | would block %s ' % HOSTILE in text

    done_dir = tmp_path / 'done'
    rc, out = run(playbook, done_dir, env=env)
    assert rc == 0, out
    assert vercel.app_from(HOSTILE)[0] == 403
    banned_until = supabase_auth.banned_until(EMAIL)
    assert banned_until is not None and supabase_auth.sessions(EMAIL) == 0
    data, text, _base = read_report(done_dir, 'security_contain')
    tasks = {t['name']: t for t in data['tasks']}
    measures = data['containment']['measures']
    assert {m['status'] for m in measures} == {'done'} and data['containment']['planned'] is False
    block = [m for m in measures if m['kind'] == 'ip_block']
    assert len(block) == 1 and block[0]['target'] == HOSTILE and block[0]['until']
    assert block[0]['at'] == tasks['Block the stuffer at the edge']['end']
    ban = [m for m in measures if m['kind'] == 'user_ban'][0]
    assert ban['target'] == EMAIL and ban['until'].startswith(banned_until.strftime('%Y-%m-%dT%H:%M'))
    sign_out = [m for m in measures if m['kind'] == 'sign_out'][0]
    assert '1 session(s)' in sign_out['detail'] and sign_out['until']
    # what lasts, soonest end first; the rate limit until lifted
    in_force = data['containment']['in_force']
    assert [m['kind'] for m in in_force] == ['sign_out', 'attack_mode', 'ip_block', 'user_ban', 'rate_limit']
    assert in_force[-1]['until'] is None
    assert '- until %s: blocked %s (deny on *, INC-42 credential stuffing)' % (block[0]['until'], HOSTILE) in text
    assert '- until lifted: rate limit set on /api/login' in text
    assert '- until %s: access tokens of %s issued before the sign-out stay valid' % (sign_out['until'], EMAIL) in text

    # evidence: one entry per reader, counted, with the time it was read
    evidence = {e['source']: e for e in data['evidence']}
    assert sorted(evidence) == ['supabase auth audit', 'supabase logs', 'vercel firewall', 'vercel runtime logs']
    firewall = evidence['vercel firewall']
    assert firewall['by_ip'][0] == {'ip': '198.51.100.9', 'count': 40} and firewall['by_action']['deny'] >= 40
    assert firewall['attack_mode']['enabled'] is True and firewall['at'] == tasks['Firewall events']['end']
    logs = evidence['vercel runtime logs']
    assert logs['lines'] == 2 and logs['by_status'] == {'500': 1, '503': 1} and logs['first'] < logs['last']
    audit = evidence['supabase auth audit']
    assert audit['entries'] > 0 and audit['suspicious'] and audit['by_action']
    assert evidence['supabase logs']['rows'] > 0 and evidence['supabase logs']['calls'] == 1
    assert '## Evidence' in text and '   - By IP: 198.51.100.9 40' in text
    assert '   - By status: 500 1, 503 1' in text or '   - By status: 503 1, 500 1' in text
    assert 'db down' not in text  # log messages are not copied
    headings = [line for line in text.splitlines() if line.startswith('## ')]
    assert headings.index('## Containment') < headings.index('## Evidence') < headings.index('## Tasks')
    assert_absent([text, open(_base + '.json').read()], vercel.env['VERCEL_TOKEN'], supabase_auth.service_role_key)


SECRETS = """\
- name: Rotate every credential
  hosts: localhost
  gather_facts: false
  vars:
    scratch_role: {role}
  tasks:
    - name: Rotate the database password
      pourtrait.ops.supabase_db_password:
        db_host: 127.0.0.1
        db_port: {port}
        db_user: "{{{{ scratch_role }}}}"

        db_name: {db}
        db_sslmode: disable
        verify_timeout: 2
        return_password: true
      register: rotated
      no_log: true
    - name: Point the app at the new password
      pourtrait.ops.vercel_env:
        key: DATABASE_URL
        value: "postgresql://{role}:{{{{ rotated.password }}}}@127.0.0.1:{port}/{db}"
        target: [production]
    - name: New server key for the app
      pourtrait.ops.supabase_api_key:
        name: app_server_2026
        type: secret
        return_key: true
      register: server_key
      no_log: true
    - name: A key whose value is asked for without no_log
      pourtrait.ops.supabase_api_key:
        name: ci_2026
        type: secret
        return_key: true
    - name: Delete the leaked key
      pourtrait.ops.supabase_api_key:
        name: old_server
        state: absent
        reason: INC-42 leaked
    - name: Legacy keys off
      pourtrait.ops.supabase_api_key:
        legacy_enabled: false
"""

# the Auth API runs on the test's database, the password rotation on a scratch role's: a playbook each
RECOVERY = """\
- name: Force password resets
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Recovery links for the hit account
      pourtrait.ops.supabase_auth_user:
        users: [{email}]
        password_reset: true
        return_recovery_link: true
      register: links
      no_log: true
    - name: A recovery without a link returned
      pourtrait.ops.supabase_auth_user:
        users: [user13@example.com]
        password_reset: true
"""


def test_no_password_key_or_recovery_link_reaches_the_report(vercel, supabase, supabase_auth, pg_server, tmp_path):
    run_module('supabase_api_key', {'name': 'old_server', 'type': 'secret'}, env=supabase.env)
    with scratch_login_role(pg_server, SUPABASE_DATABASE) as (role, old_password, _url):
        supabase.set_database(_url)  # the password PATCH changes this role; the Auth API keeps the test's database
        try:
            playbook = tmp_path / 'security_rotate.yml'
            playbook.write_text(SECRETS.format(port=pg_server.port, role=role, db=SUPABASE_DATABASE, email=EMAIL))
            reports = tmp_path / 'reports'
            rc, out = run(playbook, reports, env=[vercel.env, supabase.env, supabase_auth.env])
        finally:
            supabase.set_database(supabase_auth.db.url)
        assert rc == 0, out
        recover = tmp_path / 'security_recover.yml'
        recover.write_text(RECOVERY.format(email=EMAIL))
        # the legacy service_role key is off now (the Auth API refuses it, as Supabase's does): the app's new key
        new_key = [k['api_key'] for k in supabase.admin('GET', '/supabase/api_keys')['keys']
                   if k['name'] == 'app_server_2026'][0]
        rc, out = run(recover, reports, env=[vercel.env, supabase.env, supabase_auth.env,
                                             {'SUPABASE_SERVICE_ROLE_KEY': new_key}])
        assert rc == 0, out
        new_url = vercel.env_value('DATABASE_URL')
        new_password = new_url.split(':')[2].split('@')[0]
        assert new_password and new_password != old_password and role in new_url
    keys = dict((k['name'], k['api_key']) for k in supabase.admin('GET', '/supabase/api_keys')['keys'])
    recovery = [supabase_auth.db.scalar('SELECT recovery_token FROM auth.users WHERE email = %s', (email,))
                for email in (EMAIL, 'user13@example.com')]
    assert all(recovery) and keys['app_server_2026'] and keys['ci_2026']

    data, text, base = read_report(reports, 'security_rotate')
    other, other_text, other_base = read_report(reports, 'security_recover')
    texts = [text, open(base + '.json').read(), other_text, open(other_base + '.json').read()]
    assert_absent(texts, new_password, keys['app_server_2026'], keys['ci_2026'], *recovery)
    assert_absent(texts, 'rotated.password', 'action_link', 'recovery_links')
    # ... while the Containment section still says what was rotated, created, deleted, when
    tasks = {t['name']: t for t in data['tasks']}
    measures = dict((m['task'], m) for m in data['containment']['measures'])
    rotated = measures['Rotate the database password']
    assert rotated['kind'] == 'db_password' and rotated['status'] == 'done'
    assert rotated['text'] == 'rotated the database password of %s@127.0.0.1/%s (details hidden: no_log task)' % (
        role, SUPABASE_DATABASE)
    assert rotated['at'] == tasks['Rotate the database password']['end']
    assert tasks['Rotate the database password']['args'] == 'censored'
    assert measures['Point the app at the new password']['text'] == \
        'changed the value of the Vercel env var DATABASE_URL (targets production; in effect after a redeploy)'
    assert measures['New server key for the app']['text'] == \
        'created API key app_server_2026 (details hidden: no_log task)'
    assert measures['A key whose value is asked for without no_log']['text'] == 'created API key ci_2026 (secret)'
    assert measures['Delete the leaked key']['text'] == \
        'deleted API key old_server (secret) (as compromised: INC-42 leaked)'
    assert measures['Legacy keys off']['text'] == 'legacy API keys turned off'
    assert [m['kind'] for m in data['containment']['in_force']] == ['legacy_keys']
    assert '| done | rotated the database password of %s@127.0.0.1/%s' % (role, SUPABASE_DATABASE) in text
    recovered = dict((m['task'], m) for m in other['containment']['measures'])
    assert recovered['Recovery links for the hit account']['text'] == \
        'password recovery requested for %s (details hidden: no_log task)' % EMAIL
    assert recovered['A recovery without a link returned']['text'].startswith(
        'password recovery requested for user13@example.com (requested at ')

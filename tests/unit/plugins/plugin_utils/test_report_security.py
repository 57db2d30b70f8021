"""Unit tests of the run report's Evidence and Containment sections (plugin_utils/report_security.py), from result
dicts shaped as the modules' RETURN docs say, and of how the callback records them (secret fields, no_log)."""

import atexit
import json
import sys
import types

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.callback import runbook_report as rr  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.plugin_utils import report_security as rs  # noqa: E402

FIREWALL_INFO = {
    'changed': False, 'window': {'since': '2026-12-03T10:00:00Z', 'until': '2026-12-03T12:00:00Z'},
    'config': {'version': 7, 'firewall_enabled': True, 'ips': 1, 'rules': 1},
    'ip_blocks': [{'id': 'ip_1', 'ip': '203.0.113.9', 'hostname': '*', 'action': 'deny', 'expires_at': None,
                   'expired': False}],
    'expired': [], 'rules': [],
    'attack_mode': {'enabled': True, 'active_until': '2026-12-03T13:00:00.000Z', 'updated_at': '2026-12-03T11:00Z'},
    'attack_status': [{'ip': '203.0.113.9'}],
    'events': [
        {'start_time': '2026-12-03T10:05:00Z', 'end_time': '2026-12-03T10:10:00Z', 'action': 'deny',
         'host': 'app.example', 'ip': '203.0.113.9', 'count': 120, 'active': True},
        {'start_time': '2026-12-03T10:01:00Z', 'end_time': '2026-12-03T10:20:00Z', 'action': 'challenge',
         'host': 'app.example', 'ip': '198.51.100.4', 'count': 3, 'active': False}],
    'event_counts': {'by_ip': [{'ip': '203.0.113.9', 'count': 120}, {'ip': '198.51.100.4', 'count': 3}],
                     'by_action': {'deny': 120, 'challenge': 3}, 'total': 123},
    'msg': '2 firewall events',
}
LOGS_INFO = {
    'changed': False, 'deployment_id': 'dpl_live', 'count': 3, 'read': 40, 'truncated': False, 'stopped': 'until',
    'window': {'since': '2026-12-03T10:00:00Z', 'until': '2026-12-03T11:00:00Z'},
    'lines': [{'time': '2026-12-03T10:02:00Z', 'level': 'error', 'status': 500, 'path': '/api/login?token=abc',
               'message': 'SECRET-IN-MESSAGE'},
              {'time': '2026-12-03T10:07:00Z', 'level': 'error', 'status': 502, 'path': '/api/login'},
              {'time': '2026-12-03T10:09:00Z', 'level': 'warning', 'status': 500, 'path': '/api/wines'}],
    'counts': {'by_level': {'error': 2, 'warning': 1}, 'by_status': {'500': 2, '502': 1},
               'by_path': {'/api/login?token=abc': 2, '/api/wines': 1}},
}
AUDIT_INFO = {
    'changed': False, 'window': {'since': '2026-12-03T09:00:00Z', 'until': '2026-12-03T12:00:00Z', 'hours': 3},
    'total': 230, 'by_action': {'login': 200, 'user_recovery_requested': 30},
    'by_ip': [{'ip': '203.0.113.9', 'events': 210, 'actors': 40, 'actions': {'login': 210},
               'first': '2026-12-03T10:00:01Z', 'last': '2026-12-03T10:09:59Z'}],
    'by_actor': [{'actor': 'a@example.com', 'actor_id': 'u1', 'events': 9}],
    'sessions_by_ip': [], 'login_bursts': [{'first': 'x', 'last': 'y', 'actors': 40, 'events': 210,
                                            'usernames': ['a@example.com']}],
    'suspicious': [{'ip': '203.0.113.9', 'source': 'audit_log', 'actors': 40, 'events': 210,
                    'first': '2026-12-03T10:00:01Z', 'last': '2026-12-03T10:09:59Z',
                    'reason': '210 events for 40 account(s) from one address, mostly login'}],
    'entries': [{'action': 'login', 'actor_username': 'a@example.com'}], 'truncated': True, 'notes': [],
}
LOGS_ALL = {'changed': False, 'rows': [{'timestamp': 1}], 'count': 1, 'truncated': False, 'calls': 2,
            'windows': [], 'start': '2026-12-01T12:00:00Z', 'end': '2026-12-03T12:00:00Z'}

FIREWALL = {
    'changed': True, 'actions': ['deny 203.0.113.9 on * until 2026-12-03T14:00:00.000Z', "add the rule 'rl login'",
                                 'turn Attack Challenge Mode on until 2026-12-03T13:00:00.000Z'],
    'ip_blocks': [{'id': 'ip_1', 'ip': '203.0.113.9', 'hostname': '*', 'action': 'deny', 'reason': 'INC-42',
                   'by': 'alice', 'expires_at': '2026-12-03T14:00:00.000Z', 'expired': False}],
    'removed_expired': [{'ip': '192.0.2.1', 'hostname': '*', 'expires_at': '2026-12-02T00:00:00.000Z'}],
    'rate_limit': {'id': 'rule_1', 'name': 'rl login', 'active': True, 'action': 'rate_limit',
                   'paths': ['/api/login'], 'rate_limit': {'limit': 10, 'window': 60, 'action': 'deny'}},
    'attack_mode': {'enabled': True, 'active_until': '2026-12-03T13:00:00.000Z', 'updated_at': 'x'},
    'config_version': 8,
}
AUTH_USER = {
    'changed': True, 'access_tokens_valid_until': '2026-12-03T12:30:00Z',
    'users': [{'id': 'u1', 'email': 'a@example.com', 'banned_until_before': None,
               'banned_until': '2026-12-04T12:00:00Z', 'sessions_revoked': 2, 'refresh_tokens_revoked': 3,
               'factors_removed': [{'id': 'f1', 'factor_type': 'totp'}], 'recovery_requested': True,
               'recovery_sent_at': '2026-12-03T12:00:00Z'}],
    'recovery_links': {'a@example.com': 'https://x.supabase.co/auth/v1/verify?token=CANARY-link-1'},
}
DB_PASSWORD = {'changed': True, 'generated': True, 'verified': True, 'sessions_kept': True,
               'target': {'host': 'db.x.supabase.co', 'port': 5432, 'user': 'postgres', 'dbname': 'postgres'},
               'rotated_at': '2026-12-03T12:01:00Z', 'password': 'CANARY-password-2'}
API_KEY = {'changed': True, 'created': True, 'deleted': False, 'legacy_enabled': True, 'api_key': 'CANARY-key-3',
           'key': {'id': 'k1', 'name': 'app_2026', 'type': 'secret', 'prefix': 'sb_secret_ab'}, 'keys': []}


def measures(family, result, args=None):
    record = rs.security_record(family, result, args=args)
    return [rs.measure_text(m, 'done') for m in record['containment']]


def test_firewall_info_evidence_counts_by_ip_and_action_with_times():
    [entry] = rs.security_record('vercel_firewall_info', FIREWALL_INFO)['evidence']
    assert entry['events'] == 123 and entry['by_action'] == {'deny': 120, 'challenge': 3}
    assert entry['by_ip'] == [{'ip': '203.0.113.9', 'count': 120}, {'ip': '198.51.100.4', 'count': 3}]
    assert (entry['first'], entry['last']) == ('2026-12-03T10:01:00Z', '2026-12-03T10:20:00Z')
    assert entry['attack_mode'] == {'enabled': True, 'active_until': '2026-12-03T13:00:00.000Z'}
    assert entry['ip_blocks'] == 1 and entry['anomalies'] == 1 and entry['window'] == FIREWALL_INFO['window']


def test_logs_evidence_counts_lines_and_keeps_no_message_nor_query_string():
    [entry] = rs.security_record('vercel_logs_info', LOGS_INFO)['evidence']
    assert entry['lines'] == 3 and entry['read'] == 40 and entry['by_status'] == {'500': 2, '502': 1}
    assert entry['by_level'] == {'error': 2, 'warning': 1}
    assert entry['by_path'] == {'/api/login': 2, '/api/wines': 1}
    assert (entry['first'], entry['last']) == ('2026-12-03T10:02:00Z', '2026-12-03T10:09:00Z')
    assert 'SECRET-IN-MESSAGE' not in json.dumps(entry) and 'token=abc' not in json.dumps(entry)


def test_audit_and_supabase_logs_evidence():
    [audit] = rs.security_record('supabase_auth_audit_info', AUDIT_INFO)['evidence']
    assert audit['entries'] == 230 and audit['truncated'] is True and audit['login_bursts'] == 1
    assert audit['by_ip'] == [{'ip': '203.0.113.9', 'events': 210, 'actors': 40, 'first': '2026-12-03T10:00:01Z',
                               'last': '2026-12-03T10:09:59Z'}]
    assert audit['suspicious'][0]['reason'].startswith('210 events for 40 account(s)')
    assert 'a@example.com' not in json.dumps(audit)  # no entries nor usernames copied
    [rows] = rs.security_record('supabase_logs_info', LOGS_ALL)['evidence']
    assert rows == {'source': 'supabase logs', 'rows': 1, 'truncated': False, 'calls': 2,
                    'window': {'since': '2026-12-01T12:00:00Z', 'until': '2026-12-03T12:00:00Z'}}


def test_firewall_containment_blocks_rate_limit_attack_mode_with_end_times():
    record = rs.security_record('vercel_firewall', FIREWALL)['containment']
    assert [(m['kind'], m['target'], m['until'], m['changed']) for m in record] == [
        ('ip_block', '203.0.113.9', '2026-12-03T14:00:00.000Z', True),
        ('ip_unblock', '192.0.2.1', None, True),
        ('rate_limit', '/api/login', None, True),
        ('attack_mode', 'the project', '2026-12-03T13:00:00.000Z', True)]
    assert rs.measure_text(record[0], 'done') == \
        'blocked 203.0.113.9 (deny on *, INC-42) until 2026-12-03T14:00:00.000Z'
    assert rs.measure_text(record[0], 'would').startswith('would block 203.0.113.9 ')
    assert rs.measure_text(record[2], 'done') == 'rate limit set on /api/login (10 requests per 60 s per IP, then deny)'
    # a second run changes nothing: the block is still listed, as in force
    again = dict(FIREWALL, changed=False, actions=[], removed_expired=[])
    assert [m['changed'] for m in rs.security_record('vercel_firewall', again)['containment']] == [False, False, False]


def test_auth_user_containment_and_no_recovery_link():
    record = rs.security_record('supabase_auth_user', AUTH_USER)
    texts = [rs.measure_text(m, 'done') for m in record['containment']]
    assert texts == [
        'banned user a@example.com until 2026-12-04T12:00:00Z',
        'signed out everywhere a@example.com (2 session(s), 3 refresh token(s) revoked; access tokens already '
        'issued stay valid until 2026-12-03T12:30:00Z)',
        'removed the MFA factors of a@example.com (totp)',
        'password recovery requested for a@example.com (requested at 2026-12-03T12:00:00Z)']
    assert 'CANARY' not in json.dumps(record)
    assert rs.secret_values(AUTH_USER) == ['https://x.supabase.co/auth/v1/verify?token=CANARY-link-1']


def test_rotations_say_what_and_when_never_the_value():
    assert measures('supabase_db_password', DB_PASSWORD) == [
        'rotated the database password of postgres@db.x.supabase.co/postgres (at 2026-12-03T12:01:00Z, verified; '
        'sessions opened before keep running until ended)']
    assert measures('supabase_api_key', API_KEY) == ['created API key app_2026 (secret)']
    deleted = dict(API_KEY, created=False, deleted=True)
    assert measures('supabase_api_key', deleted, {'reason': 'INC-42 leaked'}) == [
        'deleted API key app_2026 (secret) (as compromised: INC-42 leaked)']
    legacy = {'changed': True, 'created': False, 'deleted': False, 'legacy_enabled': False, 'key': None}
    assert measures('supabase_api_key', legacy) == ['legacy API keys turned off']
    env = {'changed': True, 'value_changed': True, 'redeploy_needed': True, 'removed': [],
           'env': {'key': 'DATABASE_URL', 'target': ['production']}}
    assert measures('vercel_env', env) == [
        'changed the value of the Vercel env var DATABASE_URL (targets production; in effect after a redeploy)']
    for result in (DB_PASSWORD, API_KEY):
        assert 'CANARY' not in json.dumps(rs.security_record(
            'supabase_db_password' if 'password' in result else 'supabase_api_key', result))
    assert rs.secret_values(DB_PASSWORD) == ['CANARY-password-2'] and rs.secret_values(API_KEY) == ['CANARY-key-3']


def test_network_ban_and_terminate():
    ban = {'changed': True, 'banned': ['203.0.113.9', '203.0.113.10'], 'banned_before': ['203.0.113.10'],
           'removed': ['192.0.2.7'], 'not_banned': []}
    record = rs.security_record('supabase_network_ban', ban)['containment']
    assert [(m['kind'], m['target'], m['changed']) for m in record] == [
        ('network_ban', '203.0.113.9', True), ('network_ban', '203.0.113.10', False),
        ('network_unban', '192.0.2.7', True)]
    term = {'changed': True, 'terminated': [41, 42], 'cancelled': [], 'still_running': [],
            'candidates': [{'pid': 41, 'usename': 'app', 'datname': 'postgres', 'outcome': 'terminated'},
                           {'pid': 42, 'usename': 'app', 'datname': 'postgres', 'outcome': 'terminated'}]}
    assert measures('postgres_terminate', term) == [
        'ended database sessions of app on postgres (2 terminated, 0 cancelled)']
    planned = dict(term, terminated=[], candidates=[dict(c, outcome='would stop') for c in term['candidates']])
    assert rs.measure_text(rs.security_record('postgres_terminate', planned)['containment'][0], 'would') == \
        'would end database sessions of app on postgres (2 session(s))'
    assert rs.security_record('postgres_terminate', {'changed': False, 'terminated': [], 'cancelled': []}) is None


def test_other_modules_failed_items_and_loops():
    assert rs.security_record('vercel_rollback', {'changed': True}) is None
    assert rs.security_record('vercel_firewall', {'failed': True, 'msg': 'x'}) is None
    loop = {'changed': True, 'results': [dict(DB_PASSWORD, ansible_loop_var='item'), {'skipped': True}]}
    assert len(rs.security_record('supabase_db_password', loop)['containment']) == 1


def test_censored_results_are_told_from_literal_arguments_only():
    censored = {'changed': True, 'censored': 'hidden'}
    args = rs.safe_args('supabase_db_password', {'db_user': 'postgres', 'db_host': '{{ host }}', 'db_name': 'postgres',
                                                 'password': 'CANARY-4', 'return_password': True})
    assert args == {'db_user': 'postgres', 'db_name': 'postgres'}
    [measure] = rs.security_record('supabase_db_password', censored, censored=True, args=args)['containment']
    assert rs.measure_text(measure, 'done') == \
        'rotated the database password of postgres@?/postgres (details hidden: no_log task)'
    auth = rs.safe_args('supabase_auth_user', {'users': ['a@example.com'], 'password_reset': True, 'sign_out': True,
                                               'return_recovery_link': True})
    texts = [rs.measure_text(m, 'would') for m in
             rs.security_record('supabase_auth_user', censored, censored=True, args=auth)['containment']]
    assert texts == ['would sign out everywhere a@example.com (details hidden: no_log task)',
                     'would request password recovery for a@example.com (details hidden: no_log task)']
    assert rs.security_record('supabase_api_key', dict(censored, changed=False), censored=True) is None
    assert rs.security_record('vercel_logs_info', censored, censored=True) is None


def task(index, name, record, outcome='changed', check_mode=False):
    return dict(index=index, name=name, host='localhost', end='2026-12-03T12:0%d:00.000Z' % index, outcome=outcome,
                check_mode=check_mode, security=record)


def test_build_sections_in_force_until_when_and_check_mode():
    tasks = [
        task(1, 'Block', rs.security_record('vercel_firewall', FIREWALL)),
        task(2, 'Ban', rs.security_record('supabase_auth_user', AUTH_USER)),
        task(3, 'Read', rs.security_record('vercel_firewall_info', FIREWALL_INFO), outcome='ok'),
        task(4, 'Lift', rs.security_record('vercel_firewall', {'changed': True, 'actions': ['unblock 203.0.113.9 on *'],
                                                               'ip_blocks': [], 'attack_mode': {'enabled': False}})),
        task(5, 'Failed', rs.security_record('supabase_db_password', DB_PASSWORD), outcome='failed'),
    ]
    evidence, containment = rs.build_sections(tasks)
    assert [(e['index'], e['task'], e['source'], e['at']) for e in evidence] == [
        (3, 'Read', 'vercel firewall', '2026-12-03T12:03:00.000Z')]
    assert containment['planned'] is False
    assert [(m['index'], m['status'], m['kind']) for m in containment['measures']] == [
        (1, 'done', 'ip_block'), (1, 'done', 'ip_unblock'), (1, 'done', 'rate_limit'), (1, 'done', 'attack_mode'),
        (2, 'done', 'user_ban'), (2, 'done', 'sign_out'), (2, 'done', 'mfa_removed'), (2, 'done', 'recovery'),
        (4, 'done', 'ip_unblock')]
    # the block was lifted by task 4; what lasts is sorted by end time, open-ended last
    assert [(m['kind'], m['until']) for m in containment['in_force']] == [
        ('sign_out', '2026-12-03T12:30:00Z'), ('attack_mode', '2026-12-03T13:00:00.000Z'),
        ('user_ban', '2026-12-04T12:00:00Z'), ('rate_limit', None)]
    assert containment['in_force'][0]['text'] == \
        'access tokens of a@example.com issued before the sign-out stay valid'
    md = '\n'.join(rs.containment_markdown(containment, str) + rs.evidence_markdown(evidence, str))
    assert '| 2 | 2026-12-03T12:02:00.000Z | Ban | done | banned user a@example.com until 2026-12-04T12:00:00Z |' in md
    assert '- until 2026-12-04T12:00:00Z: banned user a@example.com' in md
    assert '- until lifted: rate limit set on /api/login (10 requests per 60 s per IP, then deny)' in md
    assert '   - By IP: 203.0.113.9 120, 198.51.100.4 3' in md and '   - By action: deny 120, challenge 3' in md
    assert '   - Attack challenge mode: on until 2026-12-03T13:00:00.000Z' in md

    _evidence, planned = rs.build_sections(tasks[:2], check_mode=True)
    assert planned['planned'] is True and {m['status'] for m in planned['measures']} == {'would'}
    assert planned['in_force'] == []
    md = '\n'.join(rs.containment_markdown(planned, str))
    assert '_Check mode: nothing below was done' in md and '| would | would block 203.0.113.9 ' in md
    assert rs.containment_markdown(dict(planned=False, measures=[], in_force=[]), str) == []
    assert rs.evidence_markdown([], str) == []


def test_callback_masks_values_asked_for_without_no_log_and_tells_no_log_tasks(tmp_path):
    cb = rr.CallbackModule()
    atexit.unregister(cb._write_interrupted)
    cb._plugin_options = {'enabled': True, 'reports_dir': str(tmp_path / 'reports'), 'postmortem_prefixes': []}
    cb._check_mode = False
    cb.v2_playbook_on_start(types.SimpleNamespace(_file_name='/p/contain.yml'))
    cb.v2_playbook_on_play_start(types.SimpleNamespace(
        get_name=lambda: 'Contain', get_vars=lambda: {},
        get_variable_manager=lambda: types.SimpleNamespace(extra_vars={})))
    runs = [
        ('u1', 'pourtrait.ops.supabase_api_key', {'name': 'app_2026', 'return_key': True}, False,
         dict(API_KEY, msg='created app_2026 (was CANARY-key-3?)')),
        ('u2', 'pourtrait.ops.supabase_db_password', {'db_user': 'postgres', 'return_password': True}, True,
         {'changed': True, 'censored': 'hidden', '_ansible_no_log': True}),
    ]
    for uuid, action, args, no_log, data in runs:
        fake = types.SimpleNamespace(_uuid=uuid, action=action, resolved_action=action, args=args, no_log=no_log,
                                     _role=None, get_name=lambda a=action: a)
        cb.v2_playbook_on_task_start(fake, False)
        cb.v2_runner_on_ok(types.SimpleNamespace(task=fake, host=types.SimpleNamespace(name='localhost'), result=data,
                                                 task_fields={'no_log': no_log}, task_name=action))
    report = cb.build_report(None)
    texts = [m['text'] for m in report['containment']['measures']]
    assert texts == ['created API key app_2026 (secret)',
                     'rotated the database password of postgres@?/? (details hidden: no_log task)']
    assert report['tasks'][0]['msg'] == 'created app_2026 (was %s?)' % rr.MASK
    assert 'CANARY' not in json.dumps(cb.public(report)) + rr.render_markdown(report)
    assert 'security' not in cb.public(report)['tasks'][0]


def test_key_results_of_the_security_modules_hold_no_value():
    key, _msg = rr.extract_key_results('supabase_db_password', DB_PASSWORD)
    assert key == {'target.user': 'postgres', 'target.host': 'db.x.supabase.co', 'rotated_at': '2026-12-03T12:01:00Z',
                   'verified': True}
    key, _msg = rr.extract_key_results('supabase_api_key', API_KEY)
    assert key == {'key.name': 'app_2026', 'key.type': 'secret', 'created': True, 'deleted': False,
                   'legacy_enabled': True}
    key, _msg = rr.extract_key_results('supabase_auth_user', AUTH_USER)
    assert key == {'users[].email': ['a@example.com'], 'access_tokens_valid_until': '2026-12-03T12:30:00Z'}
    assert rr.extract_key_results('vercel_firewall_info', FIREWALL_INFO)[0]['event_counts.total'] == 123

"""supabase_auth_audit_info on the sandbox project's database: the seeded trail holds everyday activity of
users 1-10, a credential-stuffing burst (users 11-22 signed in from 185.220.101.45 within ten minutes, 40-50
minutes ago; the audit entries carry no address, as GoTrue writes them) and an MFA brute force (30
verification attempts on user3 from 203.0.113.99 in the last half hour)."""

from tests.conftest import assert_one_line_error, run_module

STUFFER = '185.220.101.45'
BRUTE = '203.0.113.99'


def audit_info(db, **args):
    return run_module('supabase_auth_audit_info', dict(db.conn_args(), **args))


def test_the_last_hour_names_the_stuffing_and_the_brute_force(db):
    result = audit_info(db, since='1h')
    assert not result['changed'] and not result.get('failed'), result
    assert result['by_action']['login'] >= 12 and result['by_action']['verification_attempted'] == 30
    by_ip = dict((i['ip'], i) for i in result['by_ip'])
    assert by_ip[BRUTE]['events'] == 30 and by_ip[BRUTE]['actors'] == 1
    assert by_ip[BRUTE]['actions'] == {'verification_attempted': 30}
    assert result['sessions_by_ip'][0]['ip'] == STUFFER and result['sessions_by_ip'][0]['users'] == 12
    assert result['sessions_by_ip'][0]['user_agents'] == ['python-requests/2.31.0']
    reasons = [(s['ip'], s['source'], s['reason']) for s in result['suspicious']]
    assert reasons[0] == (STUFFER, 'sessions', '12 accounts signed in from one address (user agent '
                                               'python-requests/2.31.0)')
    assert (None, 'audit_log', '12 accounts signed in within 10 minutes') in reasons
    assert (BRUTE, 'audit_log', '30 events for 1 account(s) from one address, mostly verification_attempted') \
        in reasons
    assert len(result['login_bursts']) == 1 and len(result['login_bursts'][0]['usernames']) == 12
    assert result['msg'].startswith('%d audit entries ' % result['total'])
    assert '3 suspicious: 12 accounts signed in from one address' in result['msg']
    assert any('failed sign-ins are not in the audit trail' in n for n in result['notes'])


def test_everyday_activity_is_not_suspicious(db):
    result = audit_info(db, since='7d', until='2h')
    assert result['total'] > 100 and result['suspicious'] == [] and result['login_bursts'] == []
    assert result['msg'].endswith('nothing suspicious (failed sign-ins are not audited: see auth_logs)')
    assert result['window']['hours'] == 166.0


def test_filters_by_actor_action_and_ip(db):
    mine = audit_info(db, since='2d', actors=['User3@example.com'], actions=['verification_attempted'])
    assert mine['total'] == 30 and mine['by_action'] == {'verification_attempted': 30}
    assert {e['actor_username'] for e in mine['entries']} == {'user3@example.com'}
    by_ip = audit_info(db, since='1h', ips=[STUFFER])
    assert by_ip['total'] == 0 and by_ip['sessions_by_ip'][0]['sessions'] == 12 and by_ip['login_bursts'] == []
    limited = audit_info(db, since='7d', limit=5)
    assert len(limited['entries']) == 5 and limited['truncated']
    stamps = [e['created_at'] for e in limited['entries']]
    assert stamps == sorted(stamps, reverse=True)


def test_new_admin_actions_show_in_the_trail(supabase_auth):
    run_module('supabase_auth_user', supabase_auth.module_args(users=['user5@example.com'], banned=True,
                                                               sign_out=True))
    result = audit_info(supabase_auth.db, since='5m', actions=['user_modified', 'logout'])
    assert result['by_action'] == {'logout': 1, 'user_modified': 1}, result
    assert {e['actor_username'] for e in result['entries']} == {'service_role', 'user5@example.com'}


def test_bad_windows_fail_in_one_line(db):
    assert_one_line_error(audit_info(db, since='1h', until='2h'), 'the window is backwards or empty: since',
                          'swap them')
    assert_one_line_error(audit_info(db, since='30d'), 'longer than max_window 7d; narrow since/until or raise '
                                                       'max_window')
    assert_one_line_error(audit_info(db, since='yesterday'), "since='yesterday' is not a time")
    assert_one_line_error(audit_info(db, ips=['999.1.1.1']), "ips: '999.1.1.1' is not an IP address")
    assert_one_line_error(audit_info(db, max_window='forever'), "max_window='forever' is not a duration")


def test_a_database_without_the_auth_trail_is_named(db):
    db.query('DROP TABLE auth.audit_log_entries')
    assert_one_line_error(audit_info(db), 'the database has no auth.audit_log_entries table')

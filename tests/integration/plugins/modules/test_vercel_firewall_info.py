"""vercel_firewall_info against the Vercel stand-in: the active (or an older) config with the blocks' reasons and
expiries, attack mode, the attack status and the firewall events of a window, counted per IP and action."""

import time

from tests.conftest import assert_one_line_error, run_module
from tests.integration.plugins.modules.test_vercel_firewall import HOSTILE, OTHER, app_get, conn


def test_config_events_and_counts(vercel):
    run_module('vercel_firewall', conn(vercel, ip=[HOSTILE], reason='INC-7', requested_by='bob', expires_in='1d'))
    run_module('vercel_firewall', conn(vercel, ip=[OTHER], action='challenge'))
    for _i in range(3):
        assert app_get(vercel)[0] == 403
    assert app_get(vercel, source=OTHER)[0] == 429
    old = int(time.time() * 1000) - 3 * 3600 * 1000
    vercel.admin('POST', '/vercel/firewall/events', {'action_type': 'deny', 'public_ip': '198.51.100.9', 'count': 40,
                                                     'at_ms': old})
    anomaly = {'projectId': vercel.project_id, 'ownerId': vercel.team_id, 'startTime': old, 'endTime': None,
               'atMinute': old, 'state': 'active', 'affectedHostMap': {}}
    vercel.admin('PUT', '/vercel/firewall/anomalies', [anomaly])

    info = run_module('vercel_firewall_info', conn(vercel, since='1h'))
    assert info['changed'] is False
    assert info['config']['version'] == 3 and info['config']['ip_rules'] == 2 and info['config']['firewall_enabled']
    mine = [b for b in info['ip_blocks'] if b['ip'] == HOSTILE][0]
    assert mine['reason'] == 'INC-7' and mine['by'] == 'bob' and mine['expires_at'] and mine['expired'] is False
    assert info['expired'] == []
    assert info['event_counts']['by_ip'] == [{'ip': HOSTILE, 'count': 3}, {'ip': OTHER, 'count': 1}]
    assert info['event_counts']['by_action'] == {'deny': 3, 'challenge': 1} and info['event_counts']['total'] == 4
    assert info['attack_status'] == [anomaly] and info['attack_mode']['enabled'] is False

    wider = run_module('vercel_firewall_info', conn(vercel, since='4h', gather=['events']))
    assert wider['event_counts']['by_ip'][0] == {'ip': '198.51.100.9', 'count': 40}
    assert 'config' not in wider and 'attack_status' not in wider

    first = run_module('vercel_firewall_info', conn(vercel, config_version='1', gather=['config']))
    assert first['config']['version'] == 1 and first['ip_blocks'] == []


def test_bad_input(vercel):
    assert_one_line_error(run_module('vercel_firewall_info', conn(vercel, config_version='latest')),
                          "config_version='latest' is not a version; use active or a version number")
    assert_one_line_error(run_module('vercel_firewall_info', conn(vercel, config_version='99')),
                          'firewall configuration 99 not found')
    assert_one_line_error(run_module('vercel_firewall_info', conn(vercel, since='1h', until='2h')),
                          'the window is backwards')
    assert_one_line_error(run_module('vercel_firewall_info', conn(vercel, since='60d')), 'longer than 30 days')

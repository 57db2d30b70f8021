"""vercel_firewall against the Vercel and app stand-ins: a block is visible from outside (the app answers 403 to the
blocked address, 200 again once it is lifted), a rate limit answers 429 past its limit, attack mode challenges
everyone; each change once, nothing in check mode, expired blocks lifted by a later run."""

import time

from tests.conftest import assert_one_line_error, run_module

HOSTILE = '127.0.0.2'
OTHER = '127.0.0.3'


def conn(vercel, **extra):
    args = dict(api_token=vercel.token, team_id=vercel.team_id, project=vercel.project_name, api_url=vercel.api_url)
    args.update(extra)
    return args


def app_get(vercel, path='/health', source=HOSTILE):
    """(status, x-vercel-mitigated) of a GET on production from the client address ``source``."""
    return vercel.app_from(source, path)


def firewall(vercel):
    return vercel.firewall()


def writes(vercel):
    return [r for r in vercel.requests(path_prefix='/v1/security') if r['method'] in ('PATCH', 'PUT', 'POST')]


def test_block_is_visible_from_outside_then_lifted(vercel):
    args = conn(vercel, ip=[HOSTILE], reason='INC-42 credential stuffing', requested_by='alice', expires_in='2h')
    assert app_get(vercel) == (200, None)

    planned = run_module('vercel_firewall', args, check_mode=True, diff=True)
    assert planned['changed'] is True and len(planned['actions']) == 1
    assert planned['actions'][0].startswith('deny %s on * until ' % HOSTILE)
    assert planned['diff']['before']['ips'] == [] and planned['diff']['after']['ips'][0]['ip'] == HOSTILE
    assert firewall(vercel)['config']['ips'] == [] and writes(vercel) == []
    assert app_get(vercel) == (200, None)

    done = run_module('vercel_firewall', args, diff=True)
    assert done['changed'] is True, done
    [block] = done['ip_blocks']
    assert block['ip'] == HOSTILE and block['action'] == 'deny' and block['hostname'] == '*'
    assert block['reason'] == 'INC-42 credential stuffing' and block['by'] == 'alice' and not block['expired']
    assert block['expires_at'] and '[by alice; expires ' in block['notes']
    assert app_get(vercel) == (403, 'deny')
    assert app_get(vercel, source=OTHER) == (200, None)

    again = run_module('vercel_firewall', args)
    assert again['changed'] is False and again['actions'] == [], again
    assert again['ip_blocks'][0]['expires_at'] == block['expires_at']  # the expiry a block has is kept
    assert len(writes(vercel)) == 1

    info = run_module('vercel_firewall_info', conn(vercel, since='10m'))
    assert info['event_counts']['by_ip'][0] == {'ip': HOSTILE, 'count': 1}
    assert info['events'][0]['action'] == 'deny' and info['ip_blocks'][0]['by'] == 'alice'

    lifted = run_module('vercel_firewall', conn(vercel, ip=[HOSTILE], state='absent'), diff=True)
    assert lifted['changed'] is True and lifted['actions'] == ['unblock %s on *' % HOSTILE]
    assert lifted['diff']['after']['ips'] == []
    assert app_get(vercel) == (200, None)
    assert run_module('vercel_firewall', conn(vercel, ip=[HOSTILE], state='absent'))['changed'] is False


def test_challenge_action_and_reason_update(vercel):
    args = conn(vercel, ip=[HOSTILE + '/32'], action='challenge', reason='scraping')
    assert run_module('vercel_firewall', args)['changed'] is True
    assert app_get(vercel) == (429, 'challenge')
    [item] = firewall(vercel)['config']['ips']
    assert item['ip'] == HOSTILE and item['action'] == 'challenge'  # /32 is the address itself
    moved = run_module('vercel_firewall', dict(args, action='deny', reason='scraping, then stuffing'))
    assert moved['changed'] is True and moved['actions'][0].startswith('update the deny block of %s' % HOSTILE)
    assert app_get(vercel) == (403, 'deny')
    assert len(firewall(vercel)['config']['ips']) == 1


def test_expired_blocks_are_lifted_by_a_later_run(vercel):
    ends = int(time.time()) + 6
    soon = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(ends))
    made = run_module('vercel_firewall', conn(vercel, ip=[HOSTILE], expires_at=soon, reason='short'))
    assert made['changed'] is True and app_get(vercel) == (403, 'deny')
    # a block without an expiry (or made by hand) is never lifted by expiry
    run_module('vercel_firewall', conn(vercel, ip=[OTHER], reason='for good'))
    time.sleep(max(0, ends + 0.2 - time.time()))
    planned = run_module('vercel_firewall', conn(vercel, state='enforce_expiry'), check_mode=True)
    assert planned['changed'] is True and planned['removed_expired'][0]['ip'] == HOSTILE
    assert app_get(vercel) == (403, 'deny')
    done = run_module('vercel_firewall', conn(vercel, state='enforce_expiry'))
    assert done['changed'] is True and [r['ip'] for r in done['removed_expired']] == [HOSTILE]
    assert app_get(vercel) == (200, None) and app_get(vercel, source=OTHER) == (403, 'deny')
    assert run_module('vercel_firewall', conn(vercel, state='enforce_expiry'))['changed'] is False


def test_rate_limit_rule_enforces_429(vercel):
    args = conn(vercel, rate_limit=dict(path='/api/wines', limit=3, window='1m'))
    done = run_module('vercel_firewall', args, diff=True)
    assert done['changed'] is True and done['rate_limit']['rate_limit'] == {'limit': 3, 'window': 60,
                                                                            'action': 'rate_limit'}
    assert done['diff']['before']['rules'] == [] and done['diff']['after']['rules'][0]['paths'] == ['/api/wines']
    statuses = [app_get(vercel, '/api/wines')[0] for _i in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert app_get(vercel, '/health')[0] == 200  # another path is not limited
    assert app_get(vercel, '/api/wines', source=OTHER)[0] == 200  # per client IP
    assert run_module('vercel_firewall', args)['changed'] is False
    changed = run_module('vercel_firewall', conn(vercel, rate_limit=dict(path='/api/wines', limit=10, window='1m')))
    assert changed['changed'] is True and changed['actions'] == ["update the rule 'rate limit /api/wines'"]
    removed = run_module('vercel_firewall', dict(args, state='absent'))
    assert removed['changed'] is True and firewall(vercel)['config']['rules'] == []


def test_attack_mode_on_with_end_then_off(vercel):
    args = conn(vercel, attack_mode=True, attack_mode_for='1h')
    planned = run_module('vercel_firewall', args, check_mode=True)
    assert planned['changed'] is True and firewall(vercel)['attack']['active'] is False
    done = run_module('vercel_firewall', args, diff=True)
    assert done['changed'] is True and done['attack_mode']['enabled'] is True and done['attack_mode']['active_until']
    assert done['diff']['before']['attack_mode']['enabled'] is False
    assert app_get(vercel) == (429, 'challenge') and app_get(vercel, source=OTHER) == (429, 'challenge')
    assert run_module('vercel_firewall', args)['changed'] is False
    off = run_module('vercel_firewall', conn(vercel, attack_mode=False))
    assert off['changed'] is True and off['attack_mode']['enabled'] is False
    assert app_get(vercel) == (200, None)


def test_bad_input_changes_nothing(vercel):
    cases = [
        (dict(ip=['not-an-ip']), ["ip='not-an-ip' is not an IP address or CIDR range", 'use e.g. 203.0.113.7']),
        (dict(ip=['10.0.0.0/8']), ['ip=10.0.0.0/8 covers 16777216 addresses (wider than /16)', 'set force: true']),
        (dict(ip=['2001:db8::/32']), ['wider than /48', 'set force: true']),
        (dict(ip=['10.1.2.3/24']), ['ip=10.1.2.3/24 has host bits set; use the range 10.1.2.0/24']),
        (dict(ip=[HOSTILE], expires_in='two hours'), ["expires_in='two hours' is not a duration", '30m, 2h or 1d']),
        (dict(rate_limit=dict(path='/api', window='soon')), ["rate_limit.window='soon' is not a duration"]),
        (dict(attack_mode=True, attack_mode_until='2001-01-01T00:00:00Z'), ['attack_mode_until=2001-01-01T00:00:00',
                                                                            'is in the past']),
        (dict(), ['nothing to do: set ip, rate_limit or attack_mode']),
    ]
    for extra, fragments in cases:
        result = run_module('vercel_firewall', conn(vercel, **extra))
        assert_one_line_error(result, *fragments)
    assert writes(vercel) == [] and firewall(vercel)['config']['version'] == 1
    forced = run_module('vercel_firewall', conn(vercel, ip=['10.0.0.0/8'], force=True, hostname='pourtrait.app'))
    assert forced['changed'] is True and app_get(vercel) == (200, None)  # 127.0.0.2 is not in 10/8


def test_lost_answers_never_apply_a_change_twice(vercel):
    """Half the firewall writes are processed, then their answer is lost (a 500 or a dropped connection): the
    module re-reads the configuration instead of repeating a change, and ends with each change made once."""
    vercel.set_faults(rate=0.5, kinds=['500', 'reset'], seed=7, when='after', methods=['PATCH', 'POST'],
                      paths=['/v1/security/'])
    args = conn(vercel, ip=[HOSTILE, OTHER], reason='INC-9', rate_limit=dict(path='/api/wines', limit=50),
                attack_mode=True, attack_mode_for='1h')
    done = run_module('vercel_firewall', args)
    assert done['changed'] is True and len(done['actions']) == 4, done
    assert vercel.faults()['injected'] >= 1
    vercel.clear_faults()
    config = firewall(vercel)['config']
    assert sorted(i['ip'] for i in config['ips']) == [HOSTILE, OTHER] and len(config['rules']) == 1
    assert app_get(vercel)[0] == 403 and firewall(vercel)['attack']['active'] is True
    assert run_module('vercel_firewall', args)['changed'] is False

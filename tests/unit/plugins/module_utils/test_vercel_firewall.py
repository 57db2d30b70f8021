"""Unit tests of plugins/module_utils/vercel_firewall.py: IPs and CIDR ranges, durations, times and windows, the notes
that carry reason / author / expiry, rule bodies and event counts (pure logic)."""

import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils import vercel_firewall as fw  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import VercelError  # noqa: E402

NOW = 1796300000000  # 2026-12-03T12:13:20Z


@pytest.mark.parametrize('given, canonical', [
    ('203.0.113.7', '203.0.113.7'),
    (' 203.0.113.7 ', '203.0.113.7'),
    ('203.0.113.7/32', '203.0.113.7'),
    ('198.51.100.0/24', '198.51.100.0/24'),
    ('10.1.0.0/16', '10.1.0.0/16'),
    ('2001:db8::1', '2001:db8::1'),
    ('2001:DB8:0:0::1/128', '2001:db8::1'),
    ('2001:db8:1::/48', '2001:db8:1::/48'),
])
def test_normalize_ip(given, canonical):
    assert fw.normalize_ip(given) == canonical


@pytest.mark.parametrize('given, fragment', [
    ('not-an-ip', "ip='not-an-ip' is not an IP address or CIDR range"),
    ('256.1.1.1', 'is not an IP address or CIDR range'),
    ('1.2.3.4/33', 'is not an IP address or CIDR range'),
    ('', "ip='' is not an IP address"),
    ('10.1.2.3/24', 'has host bits set; use the range 10.1.2.0/24'),
    ('10.0.0.0/8', 'covers 16777216 addresses (wider than /16)'),
    ('0.0.0.0/0', 'wider than /16'),
    ('2001:db8::/32', 'wider than /48'),
])
def test_normalize_ip_refuses(given, fragment):
    with pytest.raises(VercelError) as err:
        fw.normalize_ip(given)
    assert fragment in str(err.value) and '\n' not in str(err.value)


def test_wide_ranges_need_force():
    assert fw.normalize_ip('10.0.0.0/8', force=True) == '10.0.0.0/8'
    assert fw.normalize_ip('2001:db8::/32', force=True) == '2001:db8::/32'
    with pytest.raises(VercelError, match='set force: true'):
        fw.normalize_ip('172.16.0.0/12')


def test_same_ip():
    assert fw.same_ip('1.2.3.4', '1.2.3.4/32') and fw.same_ip('2001:db8::1', '2001:DB8::1/128')
    assert not fw.same_ip('1.2.3.4', '1.2.3.0/24') and not fw.same_ip('bogus', '1.2.3.4')


@pytest.mark.parametrize('given, seconds', [
    ('30m', 1800), ('2h', 7200), ('1d', 86400), ('1w', 604800), ('45s', 45), ('1h30m', 5400), ('1H', 3600),
    ('90', 90), (' 2 h ', 7200), (None, None), ('', None),
])
def test_parse_duration(given, seconds):
    assert fw.parse_duration(given, 'expires_in') == seconds


@pytest.mark.parametrize('given', ['two hours', '2 hours', '1.5h', '-1h', '0', '0m', 'h', '2y'])
def test_parse_duration_refuses(given):
    with pytest.raises(VercelError) as err:
        fw.parse_duration(given, 'expires_in')
    assert str(err.value).startswith("expires_in=%r is not a duration" % given.strip())


def test_moments_and_windows():
    assert fw.parse_moment_ms('2h', 'since', NOW) == NOW - 7200 * 1000
    assert fw.parse_moment_ms('2026-12-03T12:00:00Z', 'since', NOW) == 1796299200000
    assert fw.parse_moment_ms('1796299200', 'since', NOW) == 1796299200000
    assert fw.parse_window('2h', '1h', now_ms=NOW) == (NOW - 7200000, NOW - 3600000)
    assert fw.parse_window('1h', None, now_ms=NOW) == (NOW - 3600000, None)
    with pytest.raises(VercelError, match='the window is backwards: since .* is after until .*; swap them'):
        fw.parse_window('1h', '2h', now_ms=NOW)
    with pytest.raises(VercelError, match='is longer than 3 days; narrow since/until'):
        fw.parse_window('4d', None, max_seconds=3 * 86400, now_ms=NOW, max_words='3 days')
    with pytest.raises(VercelError, match="since='yesterday' is not a time"):
        fw.parse_window('yesterday', None, now_ms=NOW)


def test_notes_round_trip():
    notes = fw.compose_notes('INC-42 credential stuffing', 'alice', NOW + 7200 * 1000 + 123)
    assert notes == 'INC-42 credential stuffing [by alice; expires 2026-12-03T14:13:20Z; pourtrait.ops]'
    assert fw.parse_notes(notes) == dict(reason='INC-42 credential stuffing', by='alice', expires_ms=NOW + 7200 * 1000)
    assert fw.parse_notes(fw.compose_notes('why', None, None)) == dict(reason='why', by=None, expires_ms=None)
    assert fw.parse_notes(fw.compose_notes(None, 'bob', None)) == dict(reason=None, by='bob', expires_ms=None)
    # brackets in a reason cannot break the form; notes written by hand are all reason
    assert fw.parse_notes(fw.compose_notes('a [b] c', 'x', None))['reason'] == 'a b c'
    assert fw.parse_notes('blocked by hand [ticket 9]') == dict(reason='blocked by hand [ticket 9]', by=None,
                                                                expires_ms=None)
    assert fw.parse_notes(None) == dict(reason=None, by=None, expires_ms=None)
    assert len(fw.compose_notes('x' * 2000, 'alice', NOW)) <= fw.NOTES_LIMIT


def test_ip_view_expiry():
    item = {'id': 'ip_1', 'ip': '1.2.3.4', 'hostname': '*', 'action': 'deny',
            'notes': fw.compose_notes('r', 'a', NOW - 1000)}
    view = fw.ip_view(item, NOW)
    assert view['expired'] is True and view['expires_at'] == '2026-12-03T12:13:19.000Z' and view['by'] == 'a'
    assert fw.ip_view(dict(item, notes='by hand'), NOW)['expired'] is False


def test_rate_limit_rule_and_view():
    rule = fw.rate_limit_rule(dict(path='/api/auth', limit=20, window=60, methods=['post']))
    assert rule['name'] == 'rate limit /api/auth'
    assert rule['conditionGroup'] == [{'conditions': [{'type': 'path', 'op': 'pre', 'value': '/api/auth'},
                                                      {'type': 'method', 'op': 'inc', 'value': ['POST']}]}]
    limit = rule['action']['mitigate']['rateLimit']
    assert limit == {'algo': 'fixed_window', 'window': 60, 'limit': 20, 'keys': ['ip'], 'action': 'rate_limit'}
    view = fw.rule_view(dict(rule, id='rule_1'))
    assert view == dict(id='rule_1', name='rate limit /api/auth', active=True, action='rate_limit', paths=['/api/auth'],
                        rate_limit=dict(limit=20, window=60, action='rate_limit'))
    exact = fw.rate_limit_rule(dict(path='/login', limit=5, window=10, match='exact', name='login'))
    assert exact['name'] == 'login' and exact['conditionGroup'][0]['conditions'][0]['op'] == 'eq'
    assert fw.comparable_rule(dict(rule, id='x', extra=1)) == fw.comparable_rule(rule)


def test_attack_view_and_counts():
    assert fw.attack_view({'attackModeEnabled': True, 'attackModeActiveUntil': NOW - 1}, NOW)['enabled'] is False
    on = fw.attack_view({'attackModeEnabled': True, 'attackModeActiveUntil': None, 'attackModeUpdatedAt': NOW}, NOW)
    assert on == dict(enabled=True, active_until=None, updated_at='2026-12-03T12:13:20.000Z')
    counts = fw.count_events([{'public_ip': 'a', 'action_type': 'deny', 'count': 3},
                              {'public_ip': 'b', 'action_type': 'challenge', 'count': 5},
                              {'public_ip': 'a', 'action_type': 'rate_limit', 'count': 4}])
    assert counts == dict(by_ip=[dict(ip='a', count=7), dict(ip='b', count=5)],
                          by_action={'deny': 3, 'challenge': 5, 'rate_limit': 4}, total=12)

"""supabase_network_ban against the Supabase Management API stand-in: listing, lifting bans
idempotently, check mode, diff and bad input."""

from tests.conftest import assert_one_line_error, run_module


def bans(supabase, check_mode=False, diff=False, **args):
    return run_module('supabase_network_ban', args, check_mode=check_mode, diff=diff, env=supabase.env)


def deletes(supabase):
    return supabase.requests(method='DELETE', path_prefix='/v1/projects/%s/network-bans' % supabase.project_ref)


def banned(supabase):
    found = supabase.bans()
    return sorted(found.get('banned_ipv4_addresses', []) if isinstance(found, dict) else found)


def test_lists_the_banned_addresses(supabase):
    supabase.set_bans(['203.0.113.7', '198.51.100.23', '192.0.2.1'])
    result = bans(supabase)
    assert not result.get('failed') and result['changed'] is False, result
    assert result['banned'] == ['192.0.2.1', '198.51.100.23', '203.0.113.7'] == result['banned_before']
    assert result['removed'] == [] and deletes(supabase) == []


def test_unban_is_idempotent(supabase):
    supabase.set_bans(['203.0.113.7', '198.51.100.23'])
    first = bans(supabase, unban=['203.0.113.7'])
    assert not first.get('failed') and first['changed'] is True, first
    assert first['removed'] == ['203.0.113.7'] and first['banned'] == ['198.51.100.23']
    assert banned(supabase) == ['198.51.100.23']
    sent = deletes(supabase)
    assert len(sent) == 1 and sent[0]['status'] == 200
    again = bans(supabase, unban=['203.0.113.7'])
    assert not again.get('failed') and again['changed'] is False, again
    assert again['not_banned'] == ['203.0.113.7'] and 'nothing to lift' in again['msg']
    assert len(deletes(supabase)) == 1  # nothing sent the second time


def test_only_banned_addresses_are_sent(supabase):
    supabase.set_bans(['203.0.113.7', '198.51.100.23'])
    result = bans(supabase, remove=['198.51.100.23', '192.0.2.55', '198.51.100.23'])
    assert result['changed'] is True and result['removed'] == ['198.51.100.23'], result
    assert result['not_banned'] == ['192.0.2.55']
    assert banned(supabase) == ['203.0.113.7']


def test_check_mode_and_diff(supabase):
    supabase.set_bans(['203.0.113.7', '198.51.100.23'])
    result = bans(supabase, check_mode=True, diff=True, unban=['203.0.113.7'])
    assert result['changed'] is True and result['msg'] == 'would lift the ban on 203.0.113.7', result
    assert result['diff'] == {'before': {'banned_ipv4_addresses': ['198.51.100.23', '203.0.113.7']},
                              'after': {'banned_ipv4_addresses': ['198.51.100.23']}}
    assert banned(supabase) == ['198.51.100.23', '203.0.113.7'] and deletes(supabase) == []
    real = bans(supabase, diff=True, unban=['203.0.113.7'])
    assert real['diff'] == result['diff'] and banned(supabase) == ['198.51.100.23']


def test_invalid_address_is_refused_before_any_call(supabase):
    result = bans(supabase, unban=['203.0.113.7', '10.0.0.300'])
    assert_one_line_error(result, "'10.0.0.300' is not an IPv4 address")
    assert supabase.requests() == []


def test_bans_survive_faults(supabase):
    supabase.set_bans(['203.0.113.7', '198.51.100.23'])
    supabase.set_faults(rate=0.3, kinds=['500', '502', 'reset'], seed=3, when='after')
    result = bans(supabase, unban=['203.0.113.7'], retries=8)
    supabase.clear_faults()
    assert not result.get('failed') and result['changed'] is True, result
    assert banned(supabase) == ['198.51.100.23']

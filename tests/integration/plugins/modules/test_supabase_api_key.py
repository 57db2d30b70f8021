"""supabase_api_key against the Supabase stand-in: create by name (idempotent), delete as compromised with a
reason, the legacy switch, check mode, diff without values, and bad input."""

from tests.conftest import assert_one_line_error, run_module


def api_key(supabase, check_mode=False, diff=False, **args):
    return run_module('supabase_api_key', args, check_mode=check_mode, diff=diff, env=supabase.env)


def admin_keys(supabase):
    return supabase.admin('GET', '/supabase/api_keys')


def changes(supabase):
    return [r for r in supabase.requests() if r['method'] in ('POST', 'DELETE', 'PUT', 'PATCH')]


def test_create_is_idempotent_and_returns_the_value_only_when_asked(supabase):
    first = api_key(supabase, name='app_server_2026', type='secret', description='INC-42', return_key=True)
    assert not first.get('failed') and first['changed'] is True and first['created'] is True, first
    stored = [k for k in admin_keys(supabase)['keys'] if k['name'] == 'app_server_2026']
    assert len(stored) == 1 and stored[0]['type'] == 'secret' and stored[0]['description'] == 'INC-42'
    assert first['api_key'] == stored[0]['api_key'] and first['key']['id'] == stored[0]['id']
    assert all('api_key' not in k for k in first['keys'])
    again = api_key(supabase, name='app_server_2026', type='secret', return_key=True)
    assert not again.get('failed') and again['changed'] is False and 'api_key' not in again, again
    assert 'exists' in again['msg']
    assert len([k for k in admin_keys(supabase)['keys'] if k['name'] == 'app_server_2026']) == 1
    quiet = api_key(supabase, name='browser_2026', type='publishable')
    assert quiet['changed'] is True and 'api_key' not in quiet
    value = [k for k in admin_keys(supabase)['keys'] if k['name'] == 'browser_2026'][0]['api_key']
    assert value not in quiet.stdout


def test_delete_by_name_and_by_id_records_the_compromise(supabase):
    made = api_key(supabase, name='old_server', type='secret')
    gone = api_key(supabase, name='old_server', state='absent', reason='INC-42 leaked')
    assert not gone.get('failed') and gone['changed'] is True and gone['deleted'] is True, gone
    deleted = admin_keys(supabase)['deleted']
    assert deleted[-1] == dict(deleted[-1], id=made['key']['id'], was_compromised=True, reason='INC-42 leaked')
    again = api_key(supabase, name='old_server', state='absent', reason='INC-42 leaked')
    assert not again.get('failed') and again['changed'] is False and 'no key named old_server' in again['msg']
    default_secret = [k for k in admin_keys(supabase)['keys'] if k['type'] == 'secret'][0]
    by_id = api_key(supabase, id=default_secret['id'], state='absent', was_compromised=False)
    assert by_id['changed'] is True and admin_keys(supabase)['deleted'][-1]['was_compromised'] is False


def test_legacy_switch(supabase):
    off = api_key(supabase, legacy_enabled=False)
    assert not off.get('failed') and off['changed'] is True and off['legacy_enabled'] is False, off
    assert admin_keys(supabase)['legacy_enabled'] is False
    assert api_key(supabase, legacy_enabled=False)['changed'] is False
    on = api_key(supabase, legacy_enabled=True)
    assert on['changed'] is True and admin_keys(supabase)['legacy_enabled'] is True


def test_check_mode_changes_nothing_and_diff_has_no_values(supabase):
    before = admin_keys(supabase)
    supabase.admin('DELETE', '/requests')
    result = api_key(supabase, check_mode=True, diff=True, name='new_server', legacy_enabled=False)
    assert result['changed'] is True and result['msg'] == (
        'would create the secret key new_server; turn the legacy anon/service_role keys off'), result
    assert changes(supabase) == [] and admin_keys(supabase) == before
    assert result['diff']['after']['legacy_enabled'] is False
    assert {'name': 'new_server', 'type': 'secret', 'id': None} in result['diff']['after']['keys']
    for key in before['keys']:
        assert key['api_key'] not in result.stdout
    gone = api_key(supabase, check_mode=True, name='default', state='absent')
    assert gone['changed'] is True and 'would delete the key default as compromised' == gone['msg']
    assert admin_keys(supabase) == before


def test_bad_input(supabase):
    missing = api_key(supabase, id='22222222-2222-4222-8222-222222222222', state='absent')
    assert_one_line_error(missing, '404: no API key with id 22222222-2222-4222-8222-222222222222')
    assert_one_line_error(api_key(supabase, id='not-an-id', state='absent'), "id 'not-an-id' is not an API key id")
    assert_one_line_error(api_key(supabase, id='service_role', state='absent'),
                          'legacy service_role key cannot be deleted alone')
    assert_one_line_error(api_key(supabase, name='Bad-Name'), "API key name 'Bad-Name' is not valid")
    clash = api_key(supabase, name='default', type='secret')
    assert clash['changed'] is False  # the default secret key exists
    assert changes(supabase) == []


def test_lost_answers_change_nothing_twice(supabase):
    # the POST is done, its answer replaced by a 502: settled by listing the keys, never a second POST
    supabase.set_faults(rate=1.0, kinds=['502'], when='after', methods=['POST'], max_faults=1)
    made = api_key(supabase, name='after_fault', return_key=True)
    assert not made.get('failed') and made['changed'] is True and made['api_key'].startswith('sb_secret_'), made
    assert len([k for k in admin_keys(supabase)['keys'] if k['name'] == 'after_fault']) == 1
    assert len(supabase.requests(method='POST')) == 1
    # the DELETE is done, its answer lost: the retry's 404 counts as done
    supabase.set_faults(rate=1.0, kinds=['503'], when='after', methods=['DELETE'], max_faults=1)
    gone = api_key(supabase, name='after_fault', state='absent', reason='fault test')
    assert not gone.get('failed') and gone['changed'] is True, gone
    assert [d['name'] for d in admin_keys(supabase)['deleted']] == ['after_fault']

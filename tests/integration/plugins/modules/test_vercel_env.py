"""vercel_env against the Vercel stand-in: values compared where readable, a policy where not, never shown."""

from tests.conftest import assert_one_line_error, run_module

SECRET = 'sk-rotated-0123456789abcdef'


def conn(vercel, **extra):
    args = dict(api_token=vercel.token, team_id=vercel.team_id, project=vercel.project_name, api_url=vercel.api_url)
    args.update(extra)
    return args


def warnings(result):
    """Warning texts (ansible-core 2.19 wraps each in a WarningSummary)."""
    return [w['event']['msg'] if isinstance(w, dict) else w for w in result.get('warnings', [])]


def env_named(vercel, key):
    return [e for e in vercel.env_vars() if e['key'] == key]


def writes(vercel):
    return [r for r in vercel.requests() if r['method'] in ('POST', 'PATCH', 'DELETE')]


def test_create_then_idempotent_then_update_encrypted(vercel):
    args = conn(vercel, key='RECS_API_KEY', value=SECRET, type='encrypted', target=['production', 'preview'])
    planned = run_module('vercel_env', args, check_mode=True, diff=True)
    assert planned['changed'] is True and env_named(vercel, 'RECS_API_KEY') == []
    assert planned['diff']['before'] is None and planned['diff']['after']['value_changed'] is True
    assert SECRET not in planned.stdout

    created = run_module('vercel_env', args, diff=True)
    assert created['changed'] is True and created['env']['id'], created
    assert created['redeploy_needed'] is True and any('new deployment' in w for w in warnings(created))
    [stored] = env_named(vercel, 'RECS_API_KEY')
    assert stored['value'] == SECRET and stored['type'] == 'encrypted'
    assert sorted(stored['target']) == ['preview', 'production']
    assert SECRET not in created.stdout

    again = run_module('vercel_env', args)
    assert again['changed'] is False and again['value_changed'] is False, again

    updated = run_module('vercel_env', dict(args, value=SECRET + 'x', comment='rotated'), diff=True)
    assert updated['changed'] is True and updated['value_changed'] is True
    assert updated['diff']['before']['comment'] is None and updated['diff']['after']['comment'] == 'rotated'
    assert 'value' not in updated['diff']['before'] and SECRET not in updated.stdout
    [stored] = env_named(vercel, 'RECS_API_KEY')
    assert stored['value'] == SECRET + 'x' and stored['comment'] == 'rotated'


def test_plain_value_is_compared(vercel):
    key = 'NEXT_PUBLIC_SUPABASE_URL'
    current = env_named(vercel, key)[0]
    same = run_module('vercel_env', conn(vercel, key=key, value=current['value'], type='plain'))
    assert same['changed'] is False, same
    changed = run_module('vercel_env', conn(vercel, key=key, value='https://zyxwvutsrqponmlkjihg.supabase.co',
                                            type='plain'))
    assert changed['changed'] is True
    assert env_named(vercel, key)[0]['value'] == 'https://zyxwvutsrqponmlkjihg.supabase.co'


def test_sensitive_values_follow_the_policy(vercel):
    key = 'OPENAI_API_KEY'
    before = env_named(vercel, key)[0]
    args = conn(vercel, key=key, value='sk-new-value', type='sensitive', target=['production'])
    kept = run_module('vercel_env', args)
    assert kept['changed'] is False and kept['value_changed'] is None
    assert any('cannot be read back' in w for w in warnings(kept))
    assert env_named(vercel, key)[0]['value'] == before['value'] and writes(vercel) == []

    never = run_module('vercel_env', dict(args, sensitive_update='never', comment='x'))
    assert never['changed'] is False and writes(vercel) == []

    forced = run_module('vercel_env', dict(args, sensitive_update='always'))
    assert forced['changed'] is True and forced['value_changed'] is True
    # a sensitive value is never readable again, even through the sandbox's admin view: check the write
    patches = [w for w in writes(vercel) if w['method'] == 'PATCH' and w['path'].endswith('/' + before['id'])]
    assert len(patches) == 1 and patches[0]['status'] == 200
    assert env_named(vercel, key)[0]['updatedAt'] > before['updatedAt']
    assert 'sk-new-value' not in forced.stdout


def test_absent_removes_and_is_idempotent(vercel):
    args = conn(vercel, key='DATABASE_URL', state='absent')
    planned = run_module('vercel_env', args, check_mode=True)
    assert planned['changed'] is True and env_named(vercel, 'DATABASE_URL')
    removed = run_module('vercel_env', args, diff=True)
    assert removed['changed'] is True and len(removed['removed']) == 1
    assert removed['diff']['after'] == [] and 'postgresql://' not in removed.stdout
    assert env_named(vercel, 'DATABASE_URL') == []
    assert run_module('vercel_env', args)['changed'] is False


def test_bad_input(vercel):
    result = run_module('vercel_env', conn(vercel, key='X', value='1', target=['production'], project='nope'))
    assert_one_line_error(result, "project 'nope' not found")
    result = run_module('vercel_env', conn(vercel, key='bad-key', value='1', target=['production']))
    assert_one_line_error(result, '400', 'key')
    assert writes(vercel) == [] or all(w['status'] >= 400 for w in writes(vercel))

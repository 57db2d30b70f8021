"""Unit tests of the controller-side fast path (plugins/plugin_utils/fast_path.py): the task arguments are
validated exactly as AnsibleModule validates them (each bad input gives the module's own one-line message,
checked against the module run as a process), no_log values never reach the result, and the decision
between the fast path and the module. The playbook runs are in tests/integration/plugins/action/."""

import os
import sys
import types

import pytest

from tests.conftest import COLLECTIONS, assert_one_line_error, ensure_collection_link, run_module

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.plugin_utils import fast_path as fp  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.modules.app_health import AppHealth  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.modules.deployment_verify import DeploymentVerify  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.modules.vercel_deployment import Deployment  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.modules.vercel_rollback import Rollback  # noqa: E402

TOKEN = 'Zq' * 12  # 24 letters: the shape of a Vercel token
ENTRIES = {'vercel_rollback': Rollback, 'vercel_deployment': Deployment, 'app_health': AppHealth,
           'deployment_verify': DeploymentVerify}
NO_VERCEL_ENV = ('VERCEL_TOKEN', 'VERCEL_TEAM_ID', 'VERCEL_PROJECT', 'VERCEL_API_URL', 'VERCEL_CA_PATH')


@pytest.fixture(autouse=True)
def no_vercel_env(monkeypatch):
    for key in NO_VERCEL_ENV:
        monkeypatch.delenv(key, raising=False)


def module_message(name, args):
    """The module's own failure message for ``args`` (run as Ansible runs it, named as a playbook names it)."""
    payload = dict(args, _ansible_module_name='pourtrait.ops.%s' % name)
    result = run_module(name, payload, env={k: v for k, v in os.environ.items() if k.startswith('VERCEL_')})
    assert_one_line_error(result)
    return result['msg']


@pytest.mark.parametrize('name,args,fragment', [
    ('vercel_rollback', dict(project='p', wait_timeout='soon'), "argument 'wait_timeout' is of type"),
    ('vercel_rollback', dict(project='p', targte='previous'),
     'Unsupported parameters for (pourtrait.ops.vercel_rollback) module: targte'),
    ('vercel_rollback', dict(project='p', exclude='dpl_a,dpl_b', retries='many'), "argument 'retries' is of type"),
    ('vercel_deployment', dict(project='p', state='gone'), 'value of state must be one of: present, canceled'),
    ('vercel_deployment', dict(project='p', state='canceled'), 'state is canceled but all of the following are missing'),
    ('vercel_deployment', dict(project='p', deployment='dpl_a', git_ref='main'),
     'parameters are mutually exclusive: deployment|git_ref'),
    # app_health's url is optional since base_url and path (an app URL missing altogether is the module's own
    # one-line error, tests/integration/plugins/modules/test_app_health.py); a missing required suboption:
    ('deployment_verify', dict(base_url='http://x', checks=[dict(name='c', kind='health')]),
     'missing required arguments: path found in checks'),
    ('app_health', dict(url='http://x/health', headers='not a dict'), "argument 'headers' is of type"),
    ('deployment_verify', dict(base_url='http://x', checks=[dict(name='c', kind='bogus', path='/')]),
     'value of kind must be one of: health, error_rate, latency'),
])
def test_bad_input_gives_the_modules_own_one_line_message(name, args, fragment):
    params, _no_log, error = fp.validate(ENTRIES[name], dict(args), 'pourtrait.ops.%s' % name)
    assert error is not None and fragment in error, error
    assert '\n' not in error
    assert error == module_message(name, args)
    result = fp.finish(dict(failed=True, msg=error), [], params, set())
    assert result['failed'] is True and result['msg'] == error


def test_aliases_defaults_and_types_as_the_module_sees_them():
    params, no_log, error = fp.validate(Rollback, dict(token=TOKEN, team='acme', project='p', wait_timeout='30',
                                                       poll_interval='0.5', exclude='dpl_a'), 'vercel_rollback')
    assert error is None
    assert params['api_token'] == TOKEN and params['team_id'] == 'acme'
    assert (params['target'], params['wait'], params['wait_timeout'], params['poll_interval']) == ('previous', True, 30, 0.5)
    assert params['exclude'] == ['dpl_a'] and params['description'] is None
    assert params['api_url'] == 'https://api.vercel.com' and params['retries'] == 4 and params['timeout'] == 30
    assert TOKEN in no_log
    params, _no_log, error = fp.validate(DeploymentVerify, dict(base_url='http://x', checks=[
        dict(name='h', kind='health', path='/health')]), 'deployment_verify')
    assert error is None
    assert params['checks'] == [dict(name='h', kind='health', path='/health', threshold=None, stat='p95', min_requests=0,
                                     critical=False, services=[])]
    assert params['fail_on'] == ['fail', 'inconclusive']


def test_environment_fallbacks_fill_options_and_the_token_counts_as_secret(monkeypatch):
    monkeypatch.setenv('VERCEL_TOKEN', TOKEN)
    monkeypatch.setenv('VERCEL_PROJECT', 'from-env')
    monkeypatch.setenv('VERCEL_API_URL', 'http://127.0.0.1:9')
    params, no_log, error = fp.validate(Rollback, {}, 'vercel_rollback')
    assert error is None
    assert (params['api_token'], params['project'], params['api_url']) == (TOKEN, 'from-env', 'http://127.0.0.1:9')
    assert TOKEN in no_log
    params, _no_log, _error = fp.validate(Rollback, dict(project='given'), 'vercel_rollback')
    assert params['project'] == 'given'
    with fp.task_environment({'VERCEL_PROJECT': 'from-task-environment'}):
        params, _no_log, _error = fp.validate(Rollback, {}, 'vercel_rollback')
    assert params['project'] == 'from-task-environment'
    assert os.environ['VERCEL_PROJECT'] == 'from-env'
    with fp.task_environment({'POURTRAIT_UNSET_BEFORE': 1}):
        assert os.environ['POURTRAIT_UNSET_BEFORE'] == '1'
    assert 'POURTRAIT_UNSET_BEFORE' not in os.environ


def test_no_log_values_never_reach_the_result_warnings_or_messages():
    params, no_log, error = fp.validate(Rollback, dict(api_token=TOKEN, project='p', description='why: ' + TOKEN),
                                        'vercel_rollback')
    assert error is None
    result = fp.finish(dict(changed=True, msg='sent %s' % TOKEN, nested={'t': TOKEN, 'ok': None}, flag=False),
                       ['token %s in a warning' % TOKEN], params, no_log)
    text = repr(result)
    assert TOKEN not in text
    assert result['invocation']['module_args']['api_token'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert result['invocation']['module_args']['description'] == 'why: ********'
    assert result['msg'] == 'sent ********' and result['warnings'] == ['token ******** in a warning']
    assert result['changed'] is True and result['flag'] is False and result['nested']['ok'] is None


def test_the_logic_runs_in_process_and_fails_in_one_line_without_the_token():
    params, no_log, error = fp.validate(Rollback, dict(api_token=TOKEN + 'x', project='p'), 'vercel_rollback')
    assert error is None
    result, warnings = Rollback.execute(params, check_mode=True)
    assert result['failed'] is True and warnings == []
    assert result['msg'].startswith('the Vercel token is malformed (25 characters')
    assert TOKEN not in repr(fp.finish(result, warnings, params, no_log))
    params, _no_log, _error = fp.validate(Rollback, dict(api_token=TOKEN), 'vercel_rollback')
    result, _warnings = Rollback.execute(params)
    assert result == dict(failed=True, msg='no Vercel project: set project or the VERCEL_PROJECT environment variable')
    params, _no_log, _error = fp.validate(DeploymentVerify, dict(base_url='http://127.0.0.1:9', count=0),
                                          'deployment_verify')
    result, _warnings = DeploymentVerify.execute(params)
    assert result == dict(failed=True, msg='count must be at least 1 and interval not negative; fix count/interval')


def test_the_result_has_the_types_of_a_json_answer():
    result = fp.finish(dict(changed=False, states=('READY', 'ERROR'), n=1.5), [], {'a': 1}, set())
    assert result == dict(changed=False, states=['READY', 'ERROR'], n=1.5, invocation={'module_args': {'a': 1}})


# -- the decision ------------------------------------------------------------------------------
class Templar(object):
    @staticmethod
    def template(value):
        return {'{{ ansible_playbook_python }}': sys.executable}.get(value, value)


def action(transport='local', become=False, async_val=0, delegate_to=None):
    """A FastPathAction with just what the decision reads."""
    plugin = fp.FastPathAction.__new__(fp.FastPathAction)
    plugin._connection = types.SimpleNamespace(transport=transport)
    plugin._play_context = types.SimpleNamespace(become=become, remote_addr='localhost')
    plugin._task = types.SimpleNamespace(async_val=async_val, delegate_to=delegate_to, action='pourtrait.ops.x')
    plugin._templar = Templar()
    return plugin


def test_the_fast_path_is_taken_only_on_the_controller_itself():
    python = '{{ ansible_playbook_python }}'
    assert action()._refusal({}) is None
    assert action()._refusal({'ansible_python_interpreter': python}) is None
    assert action()._refusal({'ansible_python_interpreter': 'auto_silent'}) is None
    assert action()._refusal({'pourtrait_controller_fast_path': 'yes'}) is None
    assert action(transport='ssh')._refusal({}) == 'connection ssh, not local'
    assert action(transport='winrm')._refusal({}) == 'connection winrm, not local'
    assert action(become=True)._refusal({}) == 'become is set'
    assert action(async_val=30)._refusal({}) == 'async'
    for off in (False, 'false', 'no', '0', 'off'):
        assert action()._refusal({'pourtrait_controller_fast_path': off}) == 'pourtrait_controller_fast_path is false'
    other = '/opt/other-python/bin/python3'
    assert 'is not the controller' in action()._refusal({'ansible_python_interpreter': other})
    # delegated: the delegated host's variables count
    delegated = {'ansible_python_interpreter': other, 'ansible_delegated_vars': {'localhost': {
        'ansible_python_interpreter': python}}}
    assert action(delegate_to='localhost')._refusal(delegated) is None
    assert 'is not the controller' in action()._refusal(delegated)


def test_same_python_accepts_the_controllers_python_only():
    assert fp.same_python(sys.executable)
    here = os.path.dirname(os.path.abspath(sys.executable))
    for sibling in ('python', 'python3'):
        path = os.path.join(here, sibling)
        if os.path.exists(path) and os.path.realpath(path) == os.path.realpath(sys.executable):
            assert fp.same_python(path)
    assert not fp.same_python('/opt/other-python/bin/python3')
    assert not fp.same_python('/usr/bin/env python3')

"""The controller-side fast path end to end: ansible-playbook runs against the Vercel and app stand-ins.

On localhost (connection local, the controller's Python) the action plugins run the module's logic in the
controller process: ``-vvv`` says so and no AnsiballZ module is built or started. With
``pourtrait_controller_fast_path=false`` (or another interpreter) the module runs as usual. Both ways give
results of the same shape, the same errors, the same check mode (nothing sent), and never print a secret."""

import json
import os
import shutil
import sys

import pytest

from tests.helpers import ensure_collection_link, run_playbook

OFF = ['-e', 'pourtrait_controller_fast_path=false']
HOT_MODULES = ('vercel_rollback', 'app_health', 'vercel_deployment_info', 'vercel_promote', 'vercel_deployment',
               'vercel_env', 'deployment_verify')
INVENTORY = """all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: "%s"
  children:
    elsewhere:
      hosts:
        remote1: {ansible_connection: ssh, ansible_host: 127.0.0.1, ansible_port: 1}
"""


def fast(module):
    return 'pourtrait.ops.%s: running in the controller process (fast path' % module


def play(tmp_path, vercel, tasks, *args, interpreter='{{ ansible_playbook_python }}', hosts='localhost'):
    """Run a one-play playbook of ``tasks`` (YAML text) with -vvv; returns (rc, output, {name: registered})."""
    ensure_collection_link()
    (tmp_path / 'hosts.yml').write_text(INVENTORY % interpreter)
    report = '\n'.join(
        ['    - name: Report', '      ansible.builtin.debug:',
         '        msg: "RESULT {{ dict(%s) | to_json }}"' % ', '.join(
             "%s=%s | default(None)" % (name, name) for name in ('a', 'b', 'c', 'd', 'e', 'f', 'g'))])
    (tmp_path / 'play.yml').write_text('- hosts: %s\n  gather_facts: false\n  tasks:\n%s\n%s\n' % (hosts, tasks, report))
    result = run_playbook(tmp_path / 'play.yml', *args, verbosity=3, inventory=tmp_path / 'hosts.yml',
                          env=[vercel.env, {'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json'}], timeout=180)
    out = result.output
    found = [line.strip()[len('"msg": '):] for line in out.splitlines() if line.strip().startswith('"msg": "RESULT ')]
    assert len(found) == 1, out
    registered = json.loads(json.loads(found[0])[len('RESULT '):])
    return result.rc, out, dict((k, v) for k, v in registered.items() if v is not None)


def shape(value):
    """Keys and value types, recursively: what a playbook can rely on."""
    if isinstance(value, dict):
        return dict((k, shape(v)) for k, v in value.items())
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__ if value is not None else None


def seed_broken_release(vercel):
    previous = vercel.live()['uid']
    broken = vercel.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    return broken, previous


def rollback_posts(vercel):
    return [r for r in vercel.requests(method='POST') if '/rollback/' in r['path']]


ROLLBACK = """    - name: Roll back
      pourtrait.ops.vercel_rollback:
        description: INC-7
        poll_interval: 0.1
      register: a
    - name: Health
      pourtrait.ops.app_health:
        url: "{{ lookup('ansible.builtin.env', 'APP_URL') }}/health"
        wait_timeout: 5
        interval: 0.2
      register: b
"""
ROLLBACK_ONLY = ROLLBACK.split('    - name: Health', maxsplit=1)[0]


def test_rollback_runs_in_the_controller_and_matches_the_module(tmp_path, vercel):
    broken, previous = seed_broken_release(vercel)
    rc, out, fast_result = play(tmp_path, vercel, ROLLBACK)
    assert rc == 0, out
    assert fast('vercel_rollback') in out and fast('app_health') in out, out
    assert 'AnsiballZ' not in out and 'Using module file' not in out, out
    assert vercel.live()['uid'] == previous and len(rollback_posts(vercel)) == 1
    assert vercel.project()['rollbackDescription']['description'] == 'INC-7'
    assert fast_result['a']['changed'] is True and fast_result['a']['job_status'] == 'succeeded'
    assert (fast_result['a']['from']['id'], fast_result['a']['to']['id']) == (broken, previous)
    assert fast_result['b']['healthy'] is True and fast_result['b']['body']['deploymentId'] == previous
    assert '[WARNING]: domain auto-assignment is now paused' in out

    vercel.reset()
    vercel.clear_requests()
    broken, previous = seed_broken_release(vercel)
    rc, out, module_result = play(tmp_path, vercel, ROLLBACK, *OFF)
    assert rc == 0, out
    assert 'pourtrait.ops.vercel_rollback: running the module (pourtrait_controller_fast_path is false)' in out
    assert 'AnsiballZ_vercel_rollback.py' in out and 'AnsiballZ_app_health.py' in out, out
    assert vercel.live()['uid'] == previous and len(rollback_posts(vercel)) == 1
    assert '[WARNING]: domain auto-assignment is now paused' in out

    assert shape(fast_result) == shape(module_result)
    for key in ('changed', 'job_status', 'auto_assign_paused', 'note'):
        assert fast_result['a'][key] == module_result['a'][key], key
    for key in ('changed', 'healthy', 'status', 'services', 'unhealthy_services', 'http_status', 'attempts'):
        assert fast_result['b'][key] == module_result['b'][key], key


def test_check_mode_and_diff_send_nothing(tmp_path, vercel):
    broken, previous = seed_broken_release(vercel)
    rc, out, result = play(tmp_path, vercel, ROLLBACK_ONLY, '--check', '--diff')
    assert rc == 0, out
    assert fast('vercel_rollback') in out and 'AnsiballZ' not in out, out
    assert result['a']['changed'] is True
    assert result['a']['msg'].startswith('would roll production back from %s to %s' % (broken, previous))
    assert result['a']['diff'] == {'before': {'production': broken}, 'after': {'production': previous}}
    assert rollback_posts(vercel) == [] and vercel.live()['uid'] == broken
    rc, out, module_result = play(tmp_path, vercel, ROLLBACK_ONLY, '--check', '--diff', *OFF)
    assert rc == 0 and 'AnsiballZ_vercel_rollback.py' in out, out
    assert module_result['a'] == result['a']
    assert rollback_posts(vercel) == [] and vercel.live()['uid'] == broken


BAD = """    - name: A number that is not one
      pourtrait.ops.vercel_rollback:
        wait_timeout: soon
      register: a
      ignore_errors: true
    - name: The token inside another value
      pourtrait.ops.vercel_rollback:
        target: "dpl_{{ lookup('ansible.builtin.env', 'VERCEL_TOKEN') }}"
      register: b
      ignore_errors: true
    - name: An option and its alias
      pourtrait.ops.vercel_deployment_info:
        token: "{{ lookup('ansible.builtin.env', 'VERCEL_TOKEN') }}"
        api_token: "{{ lookup('ansible.builtin.env', 'VERCEL_TOKEN') }}"
        limit: 2
      register: c
    - name: The task's environment feeds the fallbacks
      pourtrait.ops.vercel_deployment_info:
        limit: 1
      environment:
        VERCEL_PROJECT: no-such-project
      register: d
      ignore_errors: true
    - name: Nothing listens there
      pourtrait.ops.app_health:
        url: http://127.0.0.1:1/health
        wait_timeout: 0
      register: e
      ignore_errors: true
    - name: An unknown option
      pourtrait.ops.deployment_verify:
        base_url: http://127.0.0.1:1
        cheks: []
      register: f
      ignore_errors: true
"""


def test_errors_warnings_and_secrets_are_the_same_both_ways(tmp_path, vercel):
    token = vercel.env['VERCEL_TOKEN']
    rc, out, fast_result = play(tmp_path, vercel, BAD)
    assert rc == 0, out
    assert 'AnsiballZ' not in out, out
    rc, out_module, module_result = play(tmp_path, vercel, BAD, *OFF)
    assert rc == 0, out_module
    assert 'AnsiballZ_vercel_rollback.py' in out_module
    for output in (out, out_module):
        assert token not in output
        assert output.count('[WARNING]: Both option api_token and its alias token are set.') == 1, output
    msgs = dict((k, v.get('msg')) for k, v in fast_result.items())
    assert msgs == dict((k, v.get('msg')) for k, v in module_result.items())
    assert "argument 'wait_timeout' is of type str and we were unable to convert to int" in msgs['a']
    assert msgs['b'] == ("rollback target 'dpl_********' not found in project pourtrait; check the id or URL "
                         "(vercel_deployment_info lists rollback_candidates)")
    assert not fast_result['c'].get('failed') and fast_result['c']['production']['id']
    for output in (out, out_module):  # -vvv shows what the module was given, the token masked
        assert output.count('"api_token": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"') == 4, output
    assert msgs['d'].startswith("project 'no-such-project' not found"), msgs['d']
    assert msgs['e'].startswith('http://127.0.0.1:1/health is not healthy after 1 attempt(s)'), msgs['e']
    assert msgs['f'].startswith('Unsupported parameters for (pourtrait.ops.deployment_verify) module: cheks.')
    for key in 'abdef':
        assert fast_result[key]['failed'] is True and module_result[key]['failed'] is True
        assert shape(fast_result[key]) == shape(module_result[key]), key


EVERY = """    - name: Info
      pourtrait.ops.vercel_deployment_info:
        limit: 2
      register: a
    - name: Promote what is live (nothing to do)
      pourtrait.ops.vercel_promote:
        deployment: "{{ a.production.id }}"
      register: b
    - name: Remove a variable that does not exist
      pourtrait.ops.vercel_env:
        key: POURTRAIT_NOT_THERE
        state: absent
      register: c
    - name: Cancel a finished build
      pourtrait.ops.vercel_deployment:
        state: canceled
        deployment: "{{ a.production.id }}"
      register: d
      ignore_errors: true
    - name: Verify
      pourtrait.ops.deployment_verify:
        base_url: "{{ lookup('ansible.builtin.env', 'APP_URL') }}"
        checks: [{name: health, kind: health, path: /health}]
        count: 1
        interval: 0
      register: e
    - name: Health
      pourtrait.ops.app_health:
        url: "{{ lookup('ansible.builtin.env', 'APP_URL') }}/health"
      register: f
    - name: Rollback in check mode
      pourtrait.ops.vercel_rollback:
      check_mode: true
      register: g
"""


def test_every_hot_module_takes_the_fast_path_on_localhost(tmp_path, vercel):
    live = vercel.live()['uid']
    rc, out, result = play(tmp_path, vercel, EVERY)
    assert rc == 0, out
    for module in HOT_MODULES:
        assert fast(module) in out, module
    assert 'AnsiballZ' not in out, out
    assert result['a']['production']['id'] == live
    assert result['b']['changed'] is False and result['c']['changed'] is False
    assert 'only a queued or building deployment can be canceled' in result['d']['msg']
    assert result['e']['verdict'] == 'pass' and result['f']['healthy'] is True
    assert result['g']['changed'] is True and result['g']['msg'].startswith('would roll production back')
    assert rollback_posts(vercel) == [] and vercel.live()['uid'] == live


def test_delegated_to_localhost_from_a_remote_host_takes_the_fast_path(tmp_path, vercel):
    tasks = """    - name: Health, on the controller
      pourtrait.ops.app_health:
        url: "{{ lookup('ansible.builtin.env', 'APP_URL') }}/health"
      delegate_to: localhost
      register: a
"""
    rc, out, result = play(tmp_path, vercel, tasks, hosts='remote1')
    assert rc == 0, out
    assert fast('app_health') in out and 'AnsiballZ' not in out, out
    assert result['a']['healthy'] is True


@pytest.mark.skipif(not os.path.exists('/usr/bin/python3'), reason='needs a second Python at /usr/bin/python3')
def test_another_interpreter_runs_the_module(tmp_path, vercel):
    other = '/usr/bin/python3'
    if os.path.realpath(other) == os.path.realpath(sys.executable) and shutil.which('python3') == other:
        pytest.skip('the controller runs on /usr/bin/python3 itself')
    tasks = """    - name: Health
      pourtrait.ops.app_health:
        url: "{{ lookup('ansible.builtin.env', 'APP_URL') }}/health"
      register: a
"""
    rc, out, result = play(tmp_path, vercel, tasks, interpreter=other)
    assert rc == 0, out
    assert ('pourtrait.ops.app_health: running the module (ansible_python_interpreter %s is not the controller' % other
            in out), out
    assert 'AnsiballZ_app_health.py' in out
    assert result['a']['healthy'] is True

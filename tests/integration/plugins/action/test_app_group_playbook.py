"""The action group app (meta/runtime.yml): a play sets the app's origin once with module_defaults for
group/pourtrait.ops.app, and app_health and deployment_verify name only their endpoint - in the controller
process (fast path) and as modules."""

import pytest

from tests.integration.plugins.action.test_fast_path_playbooks import OFF, play

GROUP = """    - name: The app is set once for the group
      module_defaults:
        group/pourtrait.ops.app:
          base_url: "{{ lookup('ansible.builtin.env', 'APP_URL') }}/"
          timeout: 5
      block:
        - name: Health, the default path
          pourtrait.ops.app_health:
            wait_timeout: 0
          register: a
        - name: A smoke GET
          pourtrait.ops.app_health:
            path: api/wines
            expect: ok
            status_code: [200]
            wait_timeout: 0
          register: b
        - name: Verify
          pourtrait.ops.deployment_verify:
            checks: [{name: health, kind: health, path: /health}]
            count: 1
            interval: 0
          register: c
        - name: A full URL wins over the group's base_url
          pourtrait.ops.app_health:
            url: http://127.0.0.1:1/health
            wait_timeout: 0
          register: d
          ignore_errors: true
"""


@pytest.mark.parametrize('way', [[], OFF], ids=['fast_path', 'module'])
def test_module_defaults_of_the_app_group(tmp_path, vercel, way):
    rc, out, result = play(tmp_path, vercel, GROUP, *way)
    assert rc == 0, out
    assert result['a']['healthy'] is True and result['a']['url'] == vercel.app_url + '/health', result['a']
    assert result['b']['healthy'] is True and result['b']['url'] == vercel.app_url + '/api/wines', result['b']
    assert result['c']['verdict'] == 'pass', result['c']
    assert result['c']['measurements'][0]['url'] == vercel.app_url + '/health'
    assert result['d']['failed'] is True and '127.0.0.1:1' in result['d']['msg'], result['d']

"""A recovery link asked for with return_recovery_link on a no_log task reaches the registered variable and
nothing else: not the output, not the run report (JSON and Markdown)."""

import sys

from tests.helpers import run_playbook

PLAY = '''
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/pourtrait.ops.supabase_auth:
      supabase_url: "{{ lookup('env', 'SUPABASE_URL') }}"
      service_role_key: "{{ lookup('env', 'SUPABASE_SERVICE_ROLE_KEY') }}"
  tasks:
    - name: Force a password reset, keep the link
      pourtrait.ops.supabase_auth_user:
        users: [user12@example.com]
        password_reset: true
        return_recovery_link: true
      no_log: true
      register: reset
    - name: The link is in the registered variable
      ansible.builtin.assert:
        that: reset.recovery_links['user12@example.com'] is search('/auth/v1/verify[?]token=')
        quiet: true
'''


def test_the_link_stays_in_the_registered_variable(supabase_auth, tmp_path):
    play = tmp_path / 'reset.yml'
    play.write_text(PLAY)
    inventory = tmp_path / 'hosts'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    reports = tmp_path / 'reports'
    result = run_playbook(str(play), inventory=str(inventory), env=supabase_auth.env, reports_dir=str(reports))
    assert result.rc == 0, result.output
    token = supabase_auth.db.scalar("SELECT recovery_token FROM auth.users WHERE email = 'user12@example.com'")
    assert token and token not in result.output
    assert supabase_auth.service_role_key not in result.output
    assert result.report is not None
    for text in (str(result.report), result.report_markdown):
        assert token not in text and supabase_auth.service_role_key not in text

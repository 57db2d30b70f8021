"""tests/helpers.py: how every test runs ansible-playbook (argv, environment, result)."""

import json
import os
import stat

from tests import helpers
from tests.helpers import ROOT


def test_playbook_names_paths_and_fqcns():
    assert helpers.playbook_path('rollback') == os.path.join(ROOT, 'playbooks', 'rollback.yml')
    assert helpers.playbook_path('/x/y.yml') == '/x/y.yml'
    assert helpers.playbook_path('rollback.yml') == 'rollback.yml'          # relative to the run's cwd
    assert helpers.playbook_path('pourtrait.ops.rollback') == 'pourtrait.ops.rollback'
    assert helpers.inventory_path('production') == os.path.join(ROOT, 'inventory', 'production')
    assert helpers.inventory_path('/tmp/hosts.yml') == '/tmp/hosts.yml'
    assert helpers.inventory_path(None) is None


def test_command_line_keeps_extra_vars_out_of_argv(tmp_path):
    argv, path = helpers.playbook_command('rollback', '-e', 'a=1', inventory=None, check=True, diff=True,
                                          verbosity=2, extra_vars={'secret': 'CANARY-1'}, vars_dir=tmp_path)
    assert argv[0] == helpers.ANSIBLE_PLAYBOOK and argv[1] == '-vv'
    assert '-i' not in argv and argv[2] == os.path.join(ROOT, 'playbooks', 'rollback.yml')
    assert argv[3:7] == ['--check', '--diff', '-e', '@' + path] and argv[7:] == ['-e', 'a=1']
    assert 'CANARY-1' not in ' '.join(argv)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as handle:
        assert json.load(handle) == {'secret': 'CANARY-1'}


def test_environment_drops_the_developers_settings(monkeypatch, tmp_path):
    for key, value in (('PGPASSWORD', 'pw'), ('DATABASE_URL', 'postgresql://x'), ('VERCEL_TOKEN', 't'),
                       ('SUPABASE_ACCESS_TOKEN', 's'), ('APP_URL', 'https://app'), ('OPENAI_API_KEY', 'k'),
                       ('ANSIBLE_STDOUT_CALLBACK', 'yaml'), ('POURTRAIT_RUNBOOK_REPORT', 'false'),
                       ('ANSIBLE_CONFIG', '/elsewhere.cfg'), ('MY_OWN', 'kept')):
        monkeypatch.setenv(key, value)
    monkeypatch.setenv('POURTRAIT_REPORTS_DIR', str(tmp_path / 'session-reports'))
    env = helpers.playbook_env({'VERCEL_TOKEN': 'from-test'}, {'A': '1'})
    for key in ('PGPASSWORD', 'DATABASE_URL', 'SUPABASE_ACCESS_TOKEN', 'APP_URL', 'OPENAI_API_KEY',
                'ANSIBLE_STDOUT_CALLBACK', 'POURTRAIT_RUNBOOK_REPORT'):
        assert key not in env, key
    assert env['VERCEL_TOKEN'] == 'from-test' and env['A'] == '1' and env['MY_OWN'] == 'kept'
    assert env['ANSIBLE_CONFIG'] == os.path.join(ROOT, 'ansible.cfg')
    assert env['ANSIBLE_COLLECTIONS_PATH'] == helpers.COLLECTIONS
    assert env['POURTRAIT_REPORTS_DIR'] == str(tmp_path / 'session-reports')   # never the checkout's reports/
    user = helpers.playbook_env(config=False, reports_dir=tmp_path / 'r')
    assert 'ANSIBLE_CONFIG' not in user and 'ANSIBLE_COLLECTIONS_PATH' not in user and 'PYTHONPATH' not in user
    assert user['POURTRAIT_REPORTS_DIR'] == str(tmp_path / 'r')


def test_result_finds_the_run_report(tmp_path):
    result = helpers.PlaybookResult(['ansible-playbook'], 0, 'out', 'err', str(tmp_path), 0.1)
    assert result.output == 'outerr' and result.report is None and result.report_markdown is None
    base = tmp_path / '20260101T000000Z-rollback'
    (tmp_path / (base.name + '.json')).write_text('{"outcome": "succeeded"}')
    (tmp_path / (base.name + '.md')).write_text('# Run report: rollback\n')
    assert result.report == {'outcome': 'succeeded'} and result.report_markdown.startswith('# Run report')
    assert result.report_base == str(base)


def test_the_session_temporary_directory_is_the_tests_own():
    import tempfile
    from tests import conftest
    assert tempfile.gettempdir() == conftest.SESSION_TMP == os.environ['TMPDIR']
    assert os.path.basename(conftest.SESSION_TMP).startswith('pourtrait-tests-')

"""pourtrait-ops in-process: command-line checks (exit 3 and one line, before anything runs), how
runner events become progress lines, the JSON summary and JUnit, the exit code of each outcome, the
split of the environment between ansible-runner and the child, and the FIFO hand-over."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, 'tools', 'pourtrait_ops_cli'))

from pourtrait_ops_cli import cli, execute, project  # noqa: E402
from pourtrait_ops_cli.events import RunRecorder  # noqa: E402
from pourtrait_ops_cli.reports import junit, summary  # noqa: E402


def main(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- command line ---------------------------------------------------------------------------------
@pytest.mark.parametrize('argv, message', [
    (['run', 'nope'], "unknown playbook 'nope'; known playbooks: "),
    (['run', 'rollback', '-i', 'inventory/nope'], 'inventory inventory/nope not found'),
    (['run', 'rollback', '-e', '@'], '-e @ needs a file name'),
    (['run', 'rollback', '-e', 'not a pair'], "-e 'not': expected key=value"),
    (['run', 'rollback', '-e', '9lives=x'], "-e '9lives=x': expected key=value"),
    (['run', 'rollback', '-e', ''], '-e needs key=value, @file or a JSON/YAML mapping'),
    (['run', 'tests/nowhere/x.yml'], 'playbook file tests/nowhere/x.yml not found'),
    (['run'], 'the following arguments are required: PLAYBOOK'),
    (['launch'], "argument command: invalid choice: 'launch'"),
    ([], 'a command is required: list, run or watch'),
    (['run', 'rollback', '--project-dir', '/'], '/ is not a pourtrait.ops checkout'),
])
def test_bad_input_exits_3_with_one_line(capsys, monkeypatch, argv, message):
    monkeypatch.chdir(ROOT)
    code, out, err = main(capsys, *argv)
    assert code == 3  # not argparse's 2: 2 means a task failed
    last = err.strip().splitlines()[-1]
    assert last.startswith('pourtrait-ops: error: ') and message in last, err
    assert 'pourtrait-ops: running' not in out


def test_unknown_playbook_names_the_known_ones(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    _code, _out, err = main(capsys, 'run', 'rollbak')
    known = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, 'playbooks')) if f.endswith('.yml'))
    assert err.strip() == ("pourtrait-ops: error: unknown playbook 'rollbak'; known playbooks: %s "
                           "(see pourtrait-ops list)" % ', '.join(known))


def test_paths_resolve_from_the_current_directory_or_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'inv.yml').write_text('all: {}\n')
    (tmp_path / 'vars.yml').write_text('a: 1\n')
    assert project.resolve_inventory(ROOT, 'inv.yml') == str(tmp_path / 'inv.yml')
    assert project.resolve_inventory(ROOT, 'inventory/production') == os.path.join(ROOT, 'inventory', 'production')
    assert project.resolve_inventory(ROOT, None) is None
    assert project.resolve_playbook(ROOT, 'rollback') == ('rollback', os.path.join(ROOT, 'playbooks', 'rollback.yml'))
    args, names = project.prepare_extra_vars(['@vars.yml', 'a=1 b="two words"', '{"c": 3}'])
    assert args == ['@' + str(tmp_path / 'vars.yml'), 'a=1 b="two words"', '{"c": 3}']
    assert names == ['@' + str(tmp_path / 'vars.yml'), 'a', 'b', '<inline>']


def test_the_checkout_is_found_from_a_subdirectory_or_from_the_installed_package(tmp_path):
    assert project.find_root(cwd=os.path.join(ROOT, 'roles', 'deploy'), environ={}) == ROOT
    # outside any checkout: the one the package was installed from (editable install)
    assert project.find_root(cwd=str(tmp_path), environ={}) == ROOT
    assert project.find_root(cwd=str(tmp_path), environ={'POURTRAIT_OPS_PROJECT_DIR': ROOT}) == ROOT


def test_list(capsys):
    code, out, _err = main(capsys, 'list', '--json')
    assert code == 0
    books = json.loads(out)
    assert [b['name'] for b in books] == sorted(b['name'] for b in books)
    assert {'name': 'rollback', 'path': 'playbooks/rollback.yml',
            'description': 'rollback - the main job when a release is bad.'} in books


def test_a_config_error_still_writes_both_reports(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    code, _out, _err = main(capsys, 'run', 'nope', '--json-summary', str(tmp_path / 'a' / 's.json'),
                            '--junit', str(tmp_path / 'b' / 'j.xml'))
    assert code == 3
    data = json.loads((tmp_path / 'a' / 's.json').read_text())
    assert (data['status'], data['exit_code'], data['tasks']) == ('error', 3, [])
    suite = ET.parse(str(tmp_path / 'b' / 'j.xml')).getroot().find('testsuite')
    assert (suite.get('tests'), suite.get('errors')) == ('1', '1')
    assert suite.find('testcase/error').get('message').startswith("unknown playbook 'nope'")


# -- events, reports, exit codes -------------------------------------------------------------------
def event(kind, task='', host='localhost', role='', uuid=None, **data):
    data.update(task=task, host=host, role=role, task_uuid=uuid or task, play='Deploy',
                task_action=data.pop('action', 'pourtrait.ops.vercel_deployment'))
    return {'event': kind, 'event_data': data}


def replay(events, **kwargs):
    lines = []
    recorder = RunRecorder(lines.append, **kwargs)
    for item in events:
        assert recorder.handle(item) is True  # runner keeps writing its event files
    return recorder, lines


DEPLOY_EVENTS = [
    {'event': 'playbook_on_play_start', 'event_data': {'play': 'Deploy'}},
    event('runner_on_start', 'Build', role='pourtrait.ops.deploy'),
    event('runner_on_ok', 'Build', role='pourtrait.ops.deploy', duration=2.5, res={'changed': True}),
    event('runner_on_start', 'Verify', role='pourtrait.ops.deploy'),
    event('runner_on_failed', 'Verify', role='pourtrait.ops.deploy', duration=1.25,
          res={'msg': 'verdict fail:\n error rate 12% > 5%'}),
    event('runner_on_start', 'Optional', role='pourtrait.ops.deploy'),
    event('runner_on_failed', 'Optional', role='pourtrait.ops.deploy', duration=0.1, ignore_errors=True,
          res={'msg': 'ignored one'}),
    event('runner_on_start', 'Report', action='ansible.builtin.debug'),
    event('runner_on_ok', 'Report', action='ansible.builtin.debug', duration=0.01,
          res={'msg': ['line one', 'token is s3cr3t-value-123']}),
    event('runner_on_start', 'Fail the play'),
    event('runner_on_failed', 'Fail the play', duration=0.02, res={'msg': 'Deploy failed; rolled back'}),
    event('runner_on_start', 'Never finished'),
    {'event': 'playbook_on_stats',
     'event_data': {'ok': {'localhost': 2}, 'changed': {'localhost': 1}, 'failures': {'localhost': 1},
                    'rescued': {'localhost': 1}, 'ignored': {'localhost': 1}}},
]


def test_progress_lines_and_statuses():
    recorder, lines = replay(DEPLOY_EVENTS, redact=lambda t: t.replace('s3cr3t-value-123', '****'))
    text = '\n'.join(lines)
    assert ' START       localhost    deploy : Build' in text
    assert ' CHANGED     localhost    deploy : Build  2.50s' in text
    assert ' FAILED      localhost    deploy : Verify  1.25s - verdict fail: error rate 12% > 5%' in text
    assert ' IGNORED     localhost    deploy : Optional  0.10s - ignored one' in text
    assert '    token is ****' in lines
    assert 's3cr3t' not in text
    # the stats say one failure stood: the earlier one was rescued
    assert [(r.label, r.status) for r in recorder.results] == [
        ('deploy : Build', 'changed'), ('deploy : Verify', 'rescued'), ('deploy : Optional', 'ignored'),
        ('Report', 'ok'), ('Fail the play', 'failed'), ('Never finished', 'running')]
    assert recorder.stats['localhost']['rescued'] == 1


def test_junit_and_summary_of_a_failed_run():
    recorder, _lines = replay(DEPLOY_EVENTS)
    outcome = cli.Outcome(playbook='deploy', playbook_path='playbooks/deploy.yml', inventory='inventory/production')
    status, code, message = cli.classify(2, 'failed', recorder)
    outcome.finish(status, code, message)
    assert (status, code, message) == ('failed', 2, "task 'Fail the play' failed on localhost: Deploy failed; rolled back")
    root = ET.fromstring(ET.tostring(junit(outcome, recorder).getroot()))
    suite = root.find('testsuite')
    assert (suite.get('tests'), suite.get('failures'), suite.get('errors'), suite.get('skipped')) == ('6', '1', '1', '0')
    failure = suite.find("testcase[@name='Fail the play']/failure")
    assert failure.get('message') == 'Deploy failed; rolled back'
    assert suite.find("testcase[@name='Never finished']/error").get('type') == 'interrupted'
    assert 'rescued' in suite.find("testcase[@name='deploy : Verify']/system-out").text
    assert suite.find("testcase[@name='deploy : Build']").get('time') == '2.500'
    data = summary(outcome, recorder)
    assert data['failures'] == [{'host': 'localhost', 'task': 'Fail the play', 'msg': 'Deploy failed; rolled back'}]
    assert data['counts'] == {'changed': 1, 'rescued': 1, 'ignored': 1, 'ok': 1, 'failed': 1, 'running': 1}
    json.dumps(data)


@pytest.mark.parametrize('rc, runner_status, events, expected', [
    (0, 'successful', [], (0, 'ok')),
    (2, 'failed', [event('runner_on_failed', 'T', res={'msg': 'boom'})], (2, 'failed')),
    (8, 'failed', [], (2, 'failed')),
    (4, 'failed', [event('runner_on_unreachable', 'T', res={'msg': 'ssh: refused'})], (3, 'unreachable')),
    (2, 'failed', [event('runner_on_failed', 'T', res={'msg': 'x'}),
                   event('runner_on_unreachable', 'T', host='b', res={'msg': 'y'})], (3, 'unreachable')),
    (1, 'failed', [], (3, 'error')),
    (4, 'failed', [], (3, 'error')),
    (5, 'failed', [], (3, 'error')),
    (254, 'canceled', [], (130, 'interrupted')),
])
def test_exit_codes(rc, runner_status, events, expected):
    recorder, _lines = replay(events)
    status, code, _message = cli.classify(rc, runner_status, recorder, '[ERROR]: the playbook could not be parsed\n')
    assert (code, status) == expected


def test_ansible_error_line_becomes_the_message():
    recorder, _lines = replay([])
    out = 'PLAY [x]\n[ERROR]: couldn\'t resolve module/action \'pourtrait.ops.nope\'.\nOrigin: /x.yml:5:7\n'
    assert cli.classify(4, 'failed', recorder, out)[2] == "couldn't resolve module/action 'pourtrait.ops.nope'."


def test_redactor_masks_credentials_and_url_passwords():
    redact = cli.make_redactor({'VERCEL_TOKEN': 'tok-123456', 'DATABASE_URL': 'postgresql://u:pw-9876@h/db',
                                'HOME': '/root', 'PGPASSWORD': 'abc'})
    assert redact('tok-123456 and pw-9876 at /root') == '******** and ******** at /root'


# -- the environment: runner sees no credential, the child gets everything --------------------------
def test_split_environment_hides_every_caller_variable_but_the_harmless_ones():
    caller = {'PATH': '/bin', 'HOME': '/root', 'VERCEL_TOKEN': 't', 'DATABASE_URL': 'u', 'MY_OWN': 'x',
              'ANSIBLE_CALLBACK_PLUGINS': '/mine'}
    prepared = dict(caller, ANSIBLE_STDOUT_CALLBACK='awx_display', ANSIBLE_CALLBACK_PLUGINS='/mine:/runner',
                    ANSIBLE_CONFIG='/repo/ansible.cfg')
    visible, hidden = execute.split_environment(prepared, caller)
    assert visible == {'PATH': '/bin', 'HOME': '/root', 'ANSIBLE_STDOUT_CALLBACK': 'awx_display',
                       'ANSIBLE_CALLBACK_PLUGINS': '/mine:/runner', 'ANSIBLE_CONFIG': '/repo/ansible.cfg'}
    assert hidden == {'VERCEL_TOKEN': 't', 'DATABASE_URL': 'u', 'MY_OWN': 'x'}


def test_launcher_gets_the_hidden_variables_through_the_fifo_and_runner_settings_win(tmp_path):
    os.chmod(str(tmp_path), 0o700)
    channel = execute.Channel(str(tmp_path), {'VERCEL_TOKEN': 'tok-from-fifo', 'ANSIBLE_STDOUT_CALLBACK': 'mine'})
    env = {'PATH': os.environ['PATH'], 'ANSIBLE_STDOUT_CALLBACK': 'awx_display'}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'pourtrait_ops_cli', 'pourtrait_ops_cli',
                                                        'launcher.py'), channel.path, '/usr/bin/env'],
                          env=env, capture_output=True, text=True, timeout=30, check=False)
    channel.close()
    assert proc.returncode == 0, proc.stderr
    seen = dict(line.split('=', 1) for line in proc.stdout.splitlines() if '=' in line)
    assert seen['VERCEL_TOKEN'] == 'tok-from-fifo'
    assert seen['ANSIBLE_STDOUT_CALLBACK'] == 'awx_display'
    assert not os.path.exists(channel.path)
    assert os.listdir(str(tmp_path)) == []


def test_an_unread_channel_closes_without_hanging(tmp_path):
    channel = execute.Channel(str(tmp_path), {'A': 'b'})
    channel.close()
    assert not os.path.exists(channel.path)


def test_launcher_without_a_channel_says_so(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'pourtrait_ops_cli', 'pourtrait_ops_cli',
                                                        'launcher.py'), str(tmp_path / 'missing'), '/bin/true'],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 5
    assert proc.stderr.startswith('[ERROR]: pourtrait-ops could not pass the environment to ansible-playbook')

"""pourtrait-ops end to end: the console command `make setup` installs into .venv, run as a CI job
would run it - on small test playbooks (tests/integration/cli/playbooks) and on the real deploy
runbook against the Vercel and app stand-ins.

Every run gets canary credentials in its environment; the tests grep ansible-runner's whole
private data dir (kept with --keep-artifacts), the JSON summary, the JUnit XML, the run report and
the printed output for them."""

import glob
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import ROOT, clean_env

HERE = os.path.dirname(os.path.abspath(__file__))
COMMAND = os.path.join(ROOT, '.venv', 'bin', 'pourtrait-ops')
PLAYBOOKS = os.path.join(HERE, 'playbooks')
LOCAL = os.path.join(HERE, 'inventory', 'local.yml')
UNREACHABLE = os.path.join(HERE, 'inventory', 'unreachable.yml')
CANARIES = {
    'CLI_TEST_TOKEN': 'canary-cli-token-6f1d2a9e',
    'SUPABASE_ACCESS_TOKEN': 'sbp_canary0supabase0token0c4f7',
    'PGPASSWORD': 'canary-pg-password-91b3',
    'DATABASE_URL': 'postgresql://postgres:canary-db-url-pw-77aa@127.0.0.1:1/postgres',
    'OPENAI_API_KEY': 'sk-canary-openai-5e0b',
}
PROGRESS = re.compile(r'^\d\d:\d\d:\d\d (START|OK|CHANGED|FAILED|SKIPPED|UNREACHABLE|IGNORED|RESCUED)\s+(\S+)\s+(.*)$')


class Run(object):
    def __init__(self, proc, tmp_path):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.tmp = tmp_path
        self.summary_path = tmp_path / 'out' / 'summary.json'
        self.junit_path = tmp_path / 'out' / 'junit.xml'

    @property
    def output(self):
        return self.stdout + self.stderr

    def summary(self):
        return json.loads(self.summary_path.read_text())

    def junit(self):
        return ET.parse(str(self.junit_path)).getroot()

    def progress(self):
        """[(status, host, rest)] of the progress lines."""
        return [m.groups() for m in (PROGRESS.match(line) for line in self.stdout.splitlines()) if m]

    def data_dirs(self):
        return sorted(glob.glob(str(self.tmp / 'tmp' / 'pourtrait-ops-*')))


def pourtrait_ops(tmp_path, *args, env=None, reports=True, timeout=240):
    """Run the installed console command from the checkout, with canaries in its environment and its temp dir
    (ansible-runner's private data dir) under tmp_path."""
    assert os.access(COMMAND, os.X_OK), '%s is missing: make setup installs it' % COMMAND
    (tmp_path / 'tmp').mkdir(exist_ok=True)
    full_env = clean_env(dict(CANARIES))
    full_env.pop('PYTHONPATH', None)
    full_env.update(TMPDIR=str(tmp_path / 'tmp'), POURTRAIT_REPORTS_DIR=str(tmp_path / 'reports'))
    full_env.update(env or {})
    argv = [COMMAND] + list(args)
    if reports:
        argv += ['--json-summary', str(tmp_path / 'out' / 'summary.json'), '--junit', str(tmp_path / 'out' / 'junit.xml')]
    proc = subprocess.run(argv, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
    return Run(proc, tmp_path)


def assert_no_canary(run, *paths, extra=()):
    """No canary value (nor extra secrets) in any file under paths, in the reports or in the output."""
    secrets = list(CANARIES.values()) + ['canary-db-url-pw-77aa'] + list(extra)
    files = []
    for path in list(paths) + [run.summary_path, run.junit_path]:
        path = str(path)
        if os.path.isdir(path):
            for base, _dirs, names in os.walk(path):
                files.extend(os.path.join(base, n) for n in names)
        elif os.path.exists(path):
            files.append(path)
    assert files
    for name in files:
        if stat.S_ISFIFO(os.stat(name).st_mode):
            raise AssertionError('FIFO left behind: %s' % name)
        with open(name, 'rb') as handle:
            data = handle.read()
        for secret in secrets:
            assert secret.encode() not in data, 'secret %r written to %s' % (secret[:12], name)
    for secret in secrets:
        assert secret not in run.output


@pytest.fixture(scope='module')
def ok_run(tmp_path_factory):
    """One passing run with everything a CI job uses: -e key=value, -e @file, --keep-artifacts, reports."""
    tmp = tmp_path_factory.mktemp('cli-ok')
    (tmp / 'vars.yml').write_text('cli_test_greeting: greetings from a vars file\n')
    sha = hashlib.sha256(CANARIES['CLI_TEST_TOKEN'].encode()).hexdigest()
    return pourtrait_ops(tmp, 'run', os.path.join(PLAYBOOKS, 'cli_ok.yml'), '--inventory', LOCAL,
                         '-e', 'cli_test_token_sha256=%s' % sha, '-e', 'cli_test_dir=%s' % tmp, '-e', '@%s' % (tmp / 'vars.yml'),
                         '--keep-artifacts')


def test_passing_run_exits_0_with_a_progress_line_per_task_start_and_finish(ok_run):
    assert ok_run.rc == 0, ok_run.output
    progress = ok_run.progress()
    tasks = ['Say hello', 'The token reached the play through the environment', 'Change something in check-aware way',
             'Never runs']
    assert [(s, h) for s, h, _rest in progress] == [
        ('START', 'localhost'), ('OK', 'localhost'), ('START', 'localhost'), ('OK', 'localhost'),
        ('START', 'localhost'), ('CHANGED', 'localhost'), ('START', 'localhost'), ('SKIPPED', 'localhost')], ok_run.stdout
    assert [rest for _s, _h, rest in progress[::2]] == tasks
    for _status, _host, rest in progress[1::2]:
        assert re.search(r'  \d+\.\d\ds$', rest), rest  # the duration
    # the extra var from the @file reached the play; the debug message is shown under its task
    assert '    hello from localhost (greetings from a vars file)' in ok_run.stdout
    assert 'pourtrait-ops: cli_ok ok in' in ok_run.stdout and '(exit 0)' in ok_run.stdout
    assert (ok_run.tmp / 'out.txt').read_text() == 'written by the pourtrait-ops tests\n'


def test_passing_run_json_summary(ok_run):
    summary = ok_run.summary()
    assert (summary['status'], summary['exit_code'], summary['ansible_rc']) == ('ok', 0, 0)
    assert summary['playbook'] == 'cli_ok'
    assert summary['playbook_path'] == 'tests/integration/cli/playbooks/cli_ok.yml'
    assert summary['inventory'] == 'tests/integration/cli/inventory/local.yml'
    assert summary['hosts'] == {'localhost': {'ok': 3, 'changed': 1, 'failures': 0, 'skipped': 1, 'unreachable': 0,
                                              'rescued': 0, 'ignored': 0}}
    assert [(t['name'], t['status']) for t in summary['tasks']] == [
        ('Say hello', 'ok'), ('The token reached the play through the environment', 'ok'),
        ('Change something in check-aware way', 'changed'), ('Never runs', 'skipped')]
    assert all(t['duration_s'] >= 0 and t['host'] == 'localhost' for t in summary['tasks'])
    assert summary['failures'] == []
    # variable names only, never values
    assert summary['extra_vars'][:2] == ['cli_test_token_sha256', 'cli_test_dir']
    assert summary['extra_vars'][2].startswith('@') and summary['extra_vars'][2].endswith('vars.yml')


def test_passing_run_junit(ok_run):
    root = ok_run.junit()
    assert root.tag == 'testsuites'
    suite = root.find('testsuite')
    assert (suite.get('tests'), suite.get('failures'), suite.get('errors'), suite.get('skipped')) == ('4', '0', '0', '1')
    cases = suite.findall('testcase')
    assert [c.get('name') for c in cases][0] == 'Say hello'
    assert all(c.get('classname') == 'cli_ok.localhost' and float(c.get('time')) >= 0 for c in cases)
    assert cases[3].find('skipped') is not None
    assert not list(root.iter('failure')) and not list(root.iter('error'))


def test_ansible_runner_files_hold_no_secret_and_the_data_dir_is_private(ok_run):
    dirs = ok_run.data_dirs()
    assert len(dirs) == 1, dirs
    assert stat.S_IMODE(os.stat(dirs[0]).st_mode) == 0o700
    artifacts = os.path.join(dirs[0], 'artifacts', 'run')
    assert os.path.isdir(os.path.join(artifacts, 'job_events')) and os.path.isfile(os.path.join(artifacts, 'command'))
    assert 'artifacts kept in %s' % dirs[0] in ok_run.stdout
    # runner wrote nothing under env/ (envvars, extravars, passwords, cmdline)
    assert not os.path.exists(os.path.join(dirs[0], 'env'))
    # the recorded environment holds runner's settings, the checkout's ansible.cfg, and no credential
    with open(os.path.join(artifacts, 'command')) as handle:
        recorded = json.load(handle)
    assert recorded['env']['ANSIBLE_CONFIG'] == os.path.join(ROOT, 'ansible.cfg')
    assert recorded['cwd'] == ROOT
    assert not set(CANARIES) & set(recorded['env'])
    # ... yet the token reached the play (the assert task compared its sha256) and nothing leaked anywhere
    assert_no_canary(ok_run, dirs[0], ok_run.tmp / 'reports')


def test_check_mode_changes_nothing(tmp_path):
    run = pourtrait_ops(tmp_path, 'run', os.path.join(PLAYBOOKS, 'cli_ok.yml'), '-i', LOCAL, '--check', '--diff',
                        '--limit', 'localhost', '-e', 'cli_test_dir=%s' % tmp_path)
    assert run.rc == 0, run.output
    assert run.progress()[5][:2] == ('CHANGED', 'localhost')  # would change
    assert not (tmp_path / 'out.txt').exists()
    summary = run.summary()
    assert (summary['check'], summary['diff'], summary['limit']) == (True, True, 'localhost')
    # without --keep-artifacts the private data dir is gone
    assert run.data_dirs() == []


def test_failed_task_exits_2_with_a_junit_failure_carrying_the_one_line_message(tmp_path):
    run = pourtrait_ops(tmp_path, 'run', os.path.join(PLAYBOOKS, 'cli_fail.yml'), '-i', LOCAL)
    assert run.rc == 2, run.output
    message = 'Deploy failed and was rolled back: verification failed'
    line = [ln for ln in run.stdout.splitlines() if ' FAILED ' in ln]
    assert len(line) == 2, run.stdout
    assert line[1].endswith(' - ' + message)
    assert ("pourtrait-ops: cli_fail FAILED in" in run.stderr
            and "(exit 2): task 'Fail the play with what happened' failed on localhost: %s" % message in run.stderr)

    suite = run.junit().find('testsuite')
    assert (suite.get('tests'), suite.get('failures'), suite.get('errors')) == ('4', '1', '0')
    failures = [(c.get('name'), c.find('failure')) for c in suite.findall('testcase') if c.find('failure') is not None]
    assert len(failures) == 1
    name, failure = failures[0]
    assert name == 'Fail the play with what happened'
    assert failure.get('message') == message and '\n' not in failure.get('message')
    # the failure a rescue handled is recorded, not counted
    verify = [c for c in suite.findall('testcase') if c.get('name') == 'Verify the release'][0]
    assert 'rescued' in verify.find('system-out').text and verify.find('failure') is None

    summary = run.summary()
    assert (summary['status'], summary['exit_code'], summary['ansible_rc']) == ('failed', 2, 2)
    assert summary['failures'] == [{'host': 'localhost', 'task': 'Fail the play with what happened', 'msg': message}]
    assert summary['hosts']['localhost']['rescued'] == 1
    assert [t['name'] for t in summary['tasks']][-1] == 'Fail the play with what happened'  # 'Never reached' never ran
    assert_no_canary(run)


def test_unreachable_host_exits_3(tmp_path):
    run = pourtrait_ops(tmp_path, 'run', os.path.join(PLAYBOOKS, 'cli_ok.yml'), '-i', UNREACHABLE,
                        '-e', 'cli_test_dir=%s' % tmp_path)  # the copy task connects to the host
    assert run.rc == 3, run.output
    assert re.search(r'^pourtrait-ops: cli_ok UNREACHABLE in [0-9.]+s \(exit 3\): host ghost is unreachable: .+$',
                     run.stderr, re.M), run.stderr
    assert [s for s, _h, _r in run.progress()][-1] == 'UNREACHABLE'
    error = list(run.junit().iter('error'))
    assert len(error) == 1 and error[0].get('type') == 'unreachable'
    assert 'Connection refused' in error[0].get('message') or 'connect' in error[0].get('message')
    assert run.summary()['status'] == 'unreachable'


def test_playbook_ansible_cannot_load_exits_3_with_its_error(tmp_path):
    broken = tmp_path / 'broken.yml'
    broken.write_text('- name: Broken\n  hosts: all\n  tasks:\n    - name: No such module\n'
                      '      pourtrait.ops.no_such_module: {}\n')
    run = pourtrait_ops(tmp_path, 'run', str(broken), '-i', LOCAL)
    assert run.rc == 3, run.output
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith('pourtrait-ops: error: ') and 'no_such_module' in last, run.stderr
    error = list(run.junit().iter('error'))
    assert len(error) == 1 and 'no_such_module' in error[0].get('message')


def test_interrupt_stops_every_process_of_the_run_and_exits_130(tmp_path):
    marker = '41.%d' % os.getpid()  # a sleep no other process runs
    (tmp_path / 'tmp').mkdir()
    env = clean_env(dict(CANARIES))
    env.update(TMPDIR=str(tmp_path / 'tmp'), POURTRAIT_REPORTS_DIR=str(tmp_path / 'reports'))
    proc = subprocess.Popen([COMMAND, 'run', os.path.join(PLAYBOOKS, 'cli_sleep.yml'), '-i', LOCAL,
                             '-e', 'cli_test_sleep=%s' % marker, '--json-summary', str(tmp_path / 's.json')],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def sleeping():
        return subprocess.run(['pgrep', '-f', 'sleep %s' % marker], capture_output=True, text=True,
                              check=False).stdout.split()
    deadline = time.monotonic() + 60
    while not sleeping():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert 'INTERRUPTED' in err and '(exit 130)' in err
    assert json.loads((tmp_path / 's.json').read_text())['status'] == 'interrupted'
    assert sleeping() == []  # the module's own process is gone too, not orphaned
    assert glob.glob(str(tmp_path / 'tmp' / 'pourtrait-ops-*')) == []  # the private data dir is removed


@pytest.mark.parametrize('args, expected', [
    (['run', 'rollbak'], "pourtrait-ops: error: unknown playbook 'rollbak'; known playbooks: backup, "),
    (['run', 'rollback', '--inventory', 'inventory/prod'],
     'pourtrait-ops: error: inventory inventory/prod not found (relative to '),
    (['run', 'rollback', '-e', '@no/such/vars.yml'], 'pourtrait-ops: error: extra vars file '),
    (['run', 'rollback', '--no-such-option'], 'pourtrait-ops: error: unrecognized arguments: --no-such-option'),
])
def test_bad_configuration_exits_3_with_one_line_and_runs_nothing(tmp_path, args, expected):
    run = pourtrait_ops(tmp_path, *args, reports=False)
    assert run.rc == 3, run.output
    assert run.stdout == ''
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), run.stderr
    assert 'Traceback' not in run.stderr
    assert run.data_dirs() == []


def test_bad_configuration_still_writes_the_ci_reports(tmp_path):
    run = pourtrait_ops(tmp_path, 'run', 'rollback', '-i', 'inventory/nowhere')
    assert run.rc == 3
    summary = run.summary()
    assert (summary['status'], summary['exit_code'], summary['tasks']) == ('error', 3, [])
    assert summary['message'].startswith('inventory inventory/nowhere not found')
    error = run.junit().find('testsuite/testcase/error')
    assert error.get('message') == summary['message']


def test_list_shows_every_playbook(tmp_path):
    run = pourtrait_ops(tmp_path, 'list', reports=False)
    assert run.rc == 0, run.output
    names = [line.split()[0] for line in run.stdout.splitlines()]
    expected = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(ROOT, 'playbooks', '*.yml')))
    assert names == expected
    assert 'rollback' in names and 'deploy' in names
    rollback = [line for line in run.stdout.splitlines() if line.startswith('rollback ')][0]
    assert 'the main job when a release is bad' in rollback


def test_failed_deploy_rolls_back_exits_2_and_leaks_no_token(tmp_path, vercel):
    """The CI example's job: the real deploy runbook on inventory/production, credentials only in the environment;
    the new build is broken, verification fails, production goes back to what was live, the job fails."""
    previous = vercel.live()['uid']
    vercel.next_build(health='broken')
    env = dict(vercel.env)
    for key in ('OPENAI_API_KEY', 'GOOGLE_VISION_API_KEY', 'RESEND_API_KEY'):
        env[key] = ''
    run = pourtrait_ops(tmp_path, 'run', 'deploy', '--inventory', 'inventory/production',
                        '-e', 'deploy_git_sha=%s' % ('cd' * 20), '-e', 'deploy_git_ref=main',
                        '-e', 'deploy_backup=false', '-e', 'deploy_gate_database=false',
                        '-e', 'deploy_poll_interval=0.2 deploy_rollback_poll_interval=0.1',
                        '-e', 'deploy_health_wait_timeout=2 deploy_health_interval=0.2',
                        '-e', 'deploy_verify_count=2 deploy_verify_interval=0.2', '--keep-artifacts', env=env)
    assert run.rc == 2, run.output
    assert vercel.live()['uid'] == previous
    statuses = dict((rest.split('  ')[0], status) for status, _host, rest in run.progress() if status != 'START')
    rollback = [name for name in statuses if name.startswith('deploy : Roll production back to %s' % previous)]
    assert rollback and statuses[rollback[0]] in ('OK', 'CHANGED'), run.stdout
    assert statuses['deploy : Fail the play with what happened'] == 'FAILED'

    suite = run.junit().find('testsuite')
    failures = [c for c in suite.findall('testcase') if c.find('failure') is not None]
    assert [c.get('name') for c in failures] == ['deploy : Fail the play with what happened']
    assert '\n' not in failures[0].find('failure').get('message')
    summary = run.summary()
    assert (summary['playbook'], summary['status'], summary['exit_code']) == ('deploy', 'failed', 2)
    assert summary['inventory'] == 'inventory/production'
    # ansible.cfg applied: its callbacks_enabled wrote the run report (to POURTRAIT_REPORTS_DIR)
    assert glob.glob(str(tmp_path / 'reports' / '*-deploy.json')), run.output
    assert_no_canary(run, *(run.data_dirs() + [tmp_path / 'reports']), extra=[vercel.token])

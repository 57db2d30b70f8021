"""End-to-end runs of ansible-playbook with the repo's ansible.cfg (which enables the runbook_report callback):
the report files a run leaves in POURTRAIT_REPORTS_DIR, their structure, timings, outcomes, key results of real
runbooks, the postmortem skeleton of incident playbooks, and that no secret ever reaches them."""

import glob
import json
import os
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime

import pytest

from tests.helpers import ROOT, playbook_command, playbook_env, run_playbook

TOP_KEYS = ['report_version', 'playbook', 'started', 'ended', 'duration_s', 'check_mode', 'outcome', 'incident',
            'derived', 'hosts', 'tasks', 'postmortem', 'trigger', 'evidence', 'containment']
TASK_KEYS = ['index', 'play', 'role', 'name', 'host', 'action', 'start', 'end', 'duration_s', 'outcome', 'changed',
             'check_mode', 'censored', 'args', 'key_results', 'msg']


def run(playbook, reports, env=None, inventory=None, args=()):
    """ansible-playbook from the repo root with the repo's ansible.cfg; returns (rc, output)."""
    result = run_playbook(playbook, *args, inventory=inventory or 'local', env=env, reports_dir=reports,
                          timeout=120)
    return result.rc, result.output


def read_report(reports, name):
    """(json dict, markdown text, base path) of the one report of playbook `name`."""
    found = glob.glob(os.path.join(str(reports), '*-%s.json' % name))
    assert len(found) == 1, os.listdir(str(reports)) if os.path.isdir(str(reports)) else 'no reports dir'
    base = found[0][:-len('.json')]
    stamp = os.path.basename(base)[:-len('-' + name)]
    datetime.strptime(stamp, '%Y%m%dT%H%M%SZ')
    with open(base + '.json') as handle:
        data = json.load(handle)
    with open(base + '.md') as handle:
        text = handle.read()
    for path in (base + '.json', base + '.md'):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(reports)).st_mode) == 0o700
    return data, text, base


def iso(value):
    return datetime.strptime(value, '%Y-%m-%dT%H:%M:%S.%fZ').timestamp()


def assert_times(data):
    starts = []
    for task in data['tasks']:
        start, end = iso(task['start']), iso(task['end'])
        assert start <= end
        assert abs((end - start) - task['duration_s']) < 0.002, task
        assert iso(data['started']) <= start and end <= iso(data['ended'])
        starts.append(start)
    assert starts == sorted(starts)
    assert abs(iso(data['ended']) - iso(data['started']) - data['duration_s']) < 0.002


def assert_absent(texts, *secrets):
    for secret in secrets:
        assert secret
        for text in texts:
            assert secret not in text


INCIDENT = """\
- name: Canary incident
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
    - name: Sleep a little
      ansible.builtin.command: sleep 0.3
      changed_when: false
    - name: Hidden fact
      ansible.builtin.set_fact:
        hidden: CANARY-nolog-1
      no_log: true
    - name: Literal secrets in arguments
      ansible.builtin.set_fact:
        login_password: CANARY-pw-2
        api_token: CANARY-token-3
        headers:
          Authorization: Bearer CANARY-bearer-4
    - name: Read the database with a literal password
      pourtrait.ops.postgres_diagnostics:
        login_host: 127.0.0.1
        login_port: {port}
        login_user: {user}
        login_password: {password}
        db: {db}
        gather_subset: [connections]
    - name: Read the database through a literal URL
      pourtrait.ops.postgres_diagnostics:
        database_url: {url}
        gather_subset: [database]
    - name: Turn the feature flag on
      pourtrait.ops.vercel_env:
        key: FEATURE_NEW_CHECKOUT
        value: CANARY-env-value-5
        target: [production]
        api_token: {token}
        api_url: {api_url}
        project: {project}
        team_id: "{team}"
    - name: A command that fails
      ansible.builtin.command: "false"
      ignore_errors: true
    - name: Never runs
      ansible.builtin.debug:
        msg: never
      when: false
"""


def test_incident_playbook_report_structure_timings_redaction_and_postmortem(db, vercel, tmp_path):
    server = db.server
    token = vercel.env['VERCEL_TOKEN']
    playbook = tmp_path / 'incident_canary.yml'
    playbook.write_text(INCIDENT.format(port=server.port, user=server.user, password=server.password, db=db.name,
                                        url=db.url, token=token, api_url=vercel.env['VERCEL_API_URL'],
                                        project=vercel.env['VERCEL_PROJECT'], team=vercel.env['VERCEL_TEAM_ID']))
    reports = tmp_path / 'reports'
    # the modules get no credential from the environment: only the literal ones in the playbook
    rc, out = run(playbook, reports, env={'VERCEL_TOKEN': '', 'PGPASSWORD': ''})
    assert rc == 0, out
    assert [e['value'] for e in vercel.env_vars() if e['key'] == 'FEATURE_NEW_CHECKOUT'] == ['CANARY-env-value-5']

    data, text, base = read_report(reports, 'incident_canary')
    assert 'Run report: %s.md (and .json)' % base in out
    assert list(data) == TOP_KEYS
    assert data['report_version'] == 1 and data['outcome'] == 'succeeded' and data['check_mode'] is False
    assert data['playbook'] == {'name': 'incident_canary', 'files': [str(playbook)], 'plays': ['Canary incident']}
    assert data['hosts'] == {'localhost': {'ok': 8, 'changed': 2, 'failures': 0, 'unreachable': 0, 'skipped': 1,
                                           'rescued': 0, 'ignored': 1}}
    tasks = {t['name']: t for t in data['tasks']}
    assert [t['name'] for t in data['tasks']] == [
        'Say hello', 'Sleep a little', 'Hidden fact', 'Literal secrets in arguments',
        'Read the database with a literal password', 'Read the database through a literal URL',
        'Turn the feature flag on', 'A command that fails', 'Never runs']
    for task in data['tasks']:
        assert list(task) == TASK_KEYS and task['host'] == 'localhost' and task['play'] == 'Canary incident'
    assert {name: t['outcome'] for name, t in tasks.items()} == {
        'Say hello': 'ok', 'Sleep a little': 'ok', 'Hidden fact': 'ok', 'Literal secrets in arguments': 'ok',
        'Read the database with a literal password': 'ok', 'Read the database through a literal URL': 'ok',
        'Turn the feature flag on': 'changed', 'A command that fails': 'ignored', 'Never runs': 'skipped'}
    assert_times(data)
    assert tasks['Sleep a little']['duration_s'] >= 0.3
    assert tasks['Say hello']['duration_s'] < 0.3

    # actions, arguments, key results
    assert tasks['Sleep a little']['action'] == 'ansible.builtin.command'
    assert tasks['Sleep a little']['args'] == {'_raw_params': 'sleep 0.3'}
    assert tasks['Hidden fact']['args'] == 'censored' and tasks['Hidden fact']['censored'] is True
    assert tasks['Literal secrets in arguments']['args'] == {
        'login_password': '********', 'api_token': '********', 'headers': {'Authorization': '********'}}
    assert tasks['Read the database with a literal password']['args']['login_password'] == '********'
    assert tasks['Read the database with a literal password']['args']['db'] == db.name
    assert tasks['Read the database through a literal URL']['args']['database_url'] == '********'
    flag = tasks['Turn the feature flag on']
    assert flag['action'] == 'pourtrait.ops.vercel_env'
    assert flag['args']['value'] == '********' and flag['args']['api_token'] == '********'
    assert flag['args']['key'] == 'FEATURE_NEW_CHECKOUT'
    assert flag['key_results']['env.key'] == 'FEATURE_NEW_CHECKOUT' and flag['key_results']['value_changed'] is True
    assert tasks['A command that fails']['msg'] == 'non-zero return code'
    assert tasks['A command that fails']['key_results'] == {}     # unknown module: changed/failed/msg only
    # the env var change is a containment measure (never with its value); nothing gathered evidence
    assert data['evidence'] == [] and data['containment']['planned'] is False
    assert [m['text'] for m in data['containment']['measures']] == [
        'changed the value of the Vercel env var FEATURE_NEW_CHECKOUT (targets production; in effect after a '
        'redeploy)']
    assert '| 7 | %s | Turn the feature flag on | done | changed the value of the Vercel env var ' \
        'FEATURE_NEW_CHECKOUT' % flag['end'] in text and '## Evidence' not in text

    # derived times: the feature flag change mitigates; nothing verifies
    derived = data['derived']
    assert derived['mitigated_by'] == {'task': 'Turn the feature flag on', 'host': 'localhost', 'at': flag['end']}
    assert abs(derived['time_to_mitigate_s'] - (iso(flag['end']) - iso(data['started']))) < 0.002
    assert derived['time_to_verify_s'] is None and derived['verified_by'] is None

    # postmortem skeleton, timeline filled in
    assert data['incident'] is True
    # start, the 8 tasks that ran (not the skipped one), end
    assert data['postmortem']['summary'] is None and len(data['postmortem']['timeline']) == 10
    headings = [line for line in text.splitlines() if line.startswith('#')]
    assert headings[:7] == ['# Run report: incident_canary', '## Postmortem', '### Summary', '### Impact',
                            '### Timeline', '### Resolution', '### Action items']
    timeline = text.split('### Timeline')[1].split('### Resolution')[0]
    assert 'localhost: Sleep a little [ansible.builtin.command] - ok in' in timeline
    assert 'localhost: Turn the feature flag on [pourtrait.ops.vercel_env] - changed' in timeline
    assert '- Mitigated at: %s' % flag['end'] in text
    assert 'Never runs' not in timeline

    # the chart: a bar per task, the ignored failure highlighted, none red (nothing failed the run)
    bars = gantt_bars(text)
    assert [line.split(' :')[0] for line in bars] == ['%d. %s' % (t['index'], t['name']) for t in data['tasks']]
    assert ':active, ' in bars[7] and not [line for line in bars if ':crit' in line]

    # no secret in either file (nor its JSON-escaped form)
    texts = [text, open(base + '.json').read()]
    assert_absent(texts, 'CANARY', server.password, token)


def test_rollback_runbook_report_key_results_and_derived_times(vercel, tmp_path):
    previous = vercel.live()['uid']
    broken = vercel.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    reports = tmp_path / 'reports'
    rc, out = run(os.path.join(ROOT, 'playbooks', 'rollback.yml'), reports, env=vercel.env,
                  inventory=os.path.join(ROOT, 'inventory', 'production'),
                  args=['-e', 'rollback_poll_interval=0.1', '-e', 'rollback_health_interval=0.2'])
    assert rc == 0, out
    assert vercel.live()['uid'] == previous
    data, text, base = read_report(reports, 'rollback')
    assert data['incident'] is False and data['postmortem'] is None and '## Postmortem' not in text
    assert_times(data)
    rollback = [t for t in data['tasks'] if t['action'] == 'pourtrait.ops.vercel_rollback']
    assert len(rollback) == 1 and rollback[0]['outcome'] == 'changed' and rollback[0]['role'] == 'pourtrait.ops.rollback'
    assert rollback[0]['key_results']['from.id'] == broken
    assert rollback[0]['key_results']['to.id'] == previous
    assert rollback[0]['key_results']['job_status'] == 'succeeded'
    health = [t for t in data['tasks'] if t['action'] == 'pourtrait.ops.app_health']
    assert len(health) == 1 and health[0]['key_results']['healthy'] is True
    derived = data['derived']
    assert derived['mitigated_by']['task'] == rollback[0]['name']
    assert derived['verified_by']['task'] == health[0]['name']
    assert 0 < derived['time_to_mitigate_s'] < derived['time_to_verify_s'] <= data['duration_s']
    assert '| Time to mitigate | %.2f s (%s) |' % (derived['time_to_mitigate_s'], rollback[0]['name']) in text
    assert '%s | pourtrait.ops.vercel_rollback | changed | from.id=%s, to.id=%s' % (
        rollback[0]['name'], broken, previous) in text
    assert_absent([text, open(base + '.json').read()], vercel.env['VERCEL_TOKEN'])

    # the Mermaid gantt chart: one bar per task, drawn from the recorded start and end
    bars = gantt_bars(text)
    assert len(bars) == len(data['tasks'])
    for line, task in zip(bars, data['tasks']):
        assert line.startswith('%d. ' % task['index']), line
        assert line.split(' :')[1].split(', ')[-2:] == [chart_time(task['start']), chart_time(task['end'])], line
    assert ' :done, ' in bars[rollback[0]['index'] - 1]
    assert not [line for line in bars if ':crit' in line]


def chart_time(iso_text):
    """2026-01-31T13:55:00.123Z -> 2026-01-31 13:55:00.123 (the chart's dateFormat)."""
    return iso_text.replace('T', ' ')[:-1]


def gantt_bars(markdown):
    """The task lines of the one ```mermaid gantt block of a Markdown report."""
    assert markdown.count('```mermaid\ngantt\n') == 1, markdown
    block = markdown.split('```mermaid\n', 1)[1].split('\n```', 1)[0].splitlines()
    assert block[:3] == ['gantt', '    dateFormat YYYY-MM-DD HH:mm:ss.SSS', '    axisFormat %H:%M:%S'], block
    return [line.strip() for line in block if ' :' in line]


def test_backup_runbook_report_has_the_backup_path_and_checksum(db, tmp_path):
    reports = tmp_path / 'reports'
    backups = tmp_path / 'backups'
    rc, out = run(os.path.join(ROOT, 'playbooks', 'backup.yml'), reports, env=db.env,
                  inventory=os.path.join(ROOT, 'inventory', 'production'),
                  args=['-e', 'db_backup_dir=%s' % backups, '-e', 'db_backup_format=custom', '-e', 'db_backup_verify=toc'])
    assert rc == 0, out
    data, text, base = read_report(reports, 'backup')
    dump = [t for t in data['tasks'] if t['action'] == 'pourtrait.ops.postgres_dump']
    assert len(dump) == 1 and dump[0]['outcome'] == 'changed', data['tasks']
    key = dump[0]['key_results']
    assert os.path.isfile(key['path']) and key['path'].startswith(str(backups))
    assert os.path.isfile(key['manifest_path'])
    with open(key['manifest_path']) as handle:
        assert key['sha256'] in handle.read()
    assert key['size'] == os.path.getsize(key['path']) and key['verification.ok'] is True
    assert data['derived']['time_to_mitigate_s'] is None and data['derived']['time_to_verify_s'] is None
    assert '   - path: `%s`' % key['path'] in text and '   - sha256: `%s`' % key['sha256'] in text
    assert_absent([text, open(base + '.json').read()], db.server.password)


TINY = """\
- name: Tiny
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Hello
      ansible.builtin.debug:
        msg: hello
"""


def test_disabled_or_unwritable_never_fails_the_run(tmp_path):
    playbook = tmp_path / 'tiny.yml'
    playbook.write_text(TINY)
    rc, out = run(playbook, tmp_path / 'off', env={'POURTRAIT_RUNBOOK_REPORT': 'false'})
    assert rc == 0, out
    assert not (tmp_path / 'off').exists() and 'Run report' not in out

    blocker = tmp_path / 'a-file'
    blocker.write_text('')
    rc, out = run(playbook, blocker / 'reports')
    assert rc == 0, out
    assert '[WARNING]: runbook_report: could not write the run report to %s' % (blocker / 'reports') in out
    assert 'ok=1' in out


SLOW = """\
- name: Slow runbook
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Quick step
      ansible.builtin.debug:
        msg: started
    - name: Long step
      ansible.builtin.command: sleep 60
      changed_when: false
    - name: Never reached
      ansible.builtin.debug:
        msg: never
"""


def test_a_run_interrupted_with_ctrl_c_still_gets_its_report(tmp_path):
    playbook = tmp_path / 'slow.yml'
    playbook.write_text(SLOW)
    reports = tmp_path / 'reports'
    argv, _vars = playbook_command(playbook, inventory='local')
    environ = playbook_env(reports_dir=reports)
    log = tmp_path / 'out.log'
    with open(str(log), 'w') as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.time() + 60
        while 'TASK [Long step]' not in log.read_text() and time.time() < deadline:
            time.sleep(0.1)
        assert 'TASK [Long step]' in log.read_text(), log.read_text()
        time.sleep(1.0)  # the command is running
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does to the whole foreground group
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert proc.returncode != 0, text
    data, markdown, _base = read_report(reports, 'slow')
    assert data['outcome'] == 'interrupted', data
    outcomes = [(task['name'], task['outcome']) for task in data['tasks']]
    assert outcomes == [('Quick step', 'ok'), ('Long step', 'interrupted')], outcomes
    assert data['tasks'][1]['msg'] == 'interrupted while running'
    assert 'interrupted' in markdown and 'Never reached' not in markdown
    assert_times(data)
    # the chart marks the interrupted task red
    bars = gantt_bars(markdown)
    assert [line.split(' :')[1].split(',')[0] for line in bars] == ['done', 'crit'], bars


@pytest.mark.parametrize('stdout_env', [
    {'ANSIBLE_STDOUT_CALLBACK': 'json'},
    {'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json'},
], ids=['json', 'ansible.posix.json'])
def test_json_stdout_stays_json_the_report_pointer_goes_to_stderr(tmp_path, stdout_env):
    """CI pipes ``ANSIBLE_STDOUT_CALLBACK=json ansible-playbook ...`` into jq: stdout must be JSON alone."""
    playbook = tmp_path / 'tiny.yml'
    playbook.write_text(TINY)
    reports = tmp_path / 'reports'
    argv, _vars = playbook_command(playbook, inventory='local')
    env = playbook_env(stdout_env, reports_dir=reports)
    # ansible-playbook ... | python -m json.tool
    producer = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    consumer = subprocess.run([sys.executable, '-m', 'json.tool'], stdin=producer.stdout, capture_output=True,
                              text=True, timeout=120, check=False)
    producer.stdout.close()
    stderr = producer.stderr.read().decode()
    producer.stderr.close()
    assert producer.wait(timeout=60) == 0, stderr
    assert consumer.returncode == 0, consumer.stderr + consumer.stdout
    parsed = json.loads(consumer.stdout)
    assert parsed['stats']['localhost']['ok'] == 1
    assert [p['play']['name'] for p in parsed['plays']] == ['Tiny']
    # the report was written, and said so on stderr
    data, _text, base = read_report(reports, 'tiny')
    assert data['outcome'] == 'succeeded'
    assert 'Run report: %s.md (and .json)' % base in stderr
    assert 'Run report' not in consumer.stdout


def test_yaml_result_format_keeps_the_report_pointer_off_stdout(tmp_path):
    """ansible-core 2.19's "yaml" output is the default callback with result_format=yaml (community.general's yaml
    callback is deprecated for it): its stdout is the callback's alone; the report pointer is on stderr."""
    playbook = tmp_path / 'tiny.yml'
    playbook.write_text(TINY)
    reports = tmp_path / 'reports'
    result = run_playbook(playbook, inventory='local', reports_dir=reports, timeout=120,
                          env={'ANSIBLE_CALLBACK_RESULT_FORMAT': 'yaml', 'ANSIBLE_STDOUT_CALLBACK': 'default'})
    assert result.rc == 0, result.output
    assert 'msg: hello' in result.stdout, result.stdout      # results as YAML
    assert 'Run report' not in result.stdout
    _data, _text, base = read_report(reports, 'tiny')
    assert 'Run report: %s.md (and .json)' % base in result.stderr

"""Unit tests of the runbook_report callback: redaction, key results, derived times, rendering, writing."""

import atexit
import json
import os
import stat
import sys
import types

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.callback import runbook_report as rr  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.plugin_utils import report_markdown as rmd  # noqa: E402

MASK = rr.MASK


# --- redaction -----------------------------------------------------------------------------------

@pytest.mark.parametrize('name, family, secret', [
    ('api_token', 'vercel_rollback', True),
    ('token', 'vercel_env', True),                 # alias of api_token
    ('access_token', 'supabase_project_info', True),
    ('login_password', 'postgres_dump', True),
    ('password', 'postgres_dump', True),           # alias of login_password
    ('database_url', 'postgres_restore', True),    # holds the password
    ('value', 'vercel_env', True),
    ('SUPABASE_SERVICE_ROLE_KEY', 'command', True),
    ('webhook_url', 'uri', True),
    ('client_secret', 'x', True),
    ('Authorization', 'uri', True),
    ('key', 'vercel_env', False),                  # the variable's name
    ('key', 'apt_key', True),                      # anywhere else: conservative
    ('url', 'app_health', False),                  # shown without credentials
    ('target', 'vercel_rollback', False),
    ('backup_dir', 'postgres_dump', False),
    ('description', 'vercel_rollback', False),
])
def test_secret_names(name, family, secret):
    assert rr.is_secret_name(name, family) is secret


def test_redact_args_masks_secret_names_at_any_depth_and_collects_their_values():
    secrets = set()
    args = {
        'key': 'FEATURE_CHECKOUT', 'value': 'canary-env-value-1', 'api_token': 'canary-token-2',
        'target': ['production'], '_ansible_check_mode': False,
        'nested': {'login_password': 'canary-pw-3', 'db': 'pourtrait', 'list': [{'access_token': 'canary-at-4'}]},
        'headers': {'x-vercel-protection-bypass': 'canary-header-5', 'Accept': 'application/json',
                    'Authorization': 'Bearer canary-header-8'},
        'url': 'https://user:canary-url-6@app.example.com/health?token=canary-q-7#frag',
        'database_url': '{{ lookup("env", "DATABASE_URL") }}',
        'empty_password': '',
    }
    out = rr.redact_args(args, 'vercel_env', secrets)
    assert out == {
        'key': 'FEATURE_CHECKOUT', 'value': MASK, 'api_token': MASK, 'target': ['production'],
        'nested': {'login_password': MASK, 'db': 'pourtrait', 'list': [{'access_token': MASK}]},
        'headers': {'x-vercel-protection-bypass': MASK, 'Accept': MASK, 'Authorization': MASK},
        'url': 'https://app.example.com/health?' + MASK,
        'database_url': MASK,
        'empty_password': '',
    }
    # literal values of clearly secret names are remembered (to be masked anywhere else); template expressions
    # and values that are only redacted out of caution (any header) are not
    assert secrets == {'canary-env-value-1', 'canary-token-2', 'canary-pw-3', 'canary-at-4', 'Bearer canary-header-8'}
    assert 'canary' not in json.dumps(out)
    assert args['value'] == 'canary-env-value-1'  # the task's own args are left alone


@pytest.mark.parametrize('url, shown', [
    ('https://app.example.com/health', 'https://app.example.com/health'),
    ('http://127.0.0.1:8080/api/monitoring/errors', 'http://127.0.0.1:8080/api/monitoring/errors'),
    ('https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXX1234',
     'https://hooks.slack.com/services/T00000000/B00000000/' + MASK),
    ('https://u:p@host/x?sig=abc#f', 'https://host/x?' + MASK),
    ('{{ app_url }}/health', '{{ app_url }}/health'),
])
def test_urls_are_shown_without_credentials(url, shown):
    assert rr.redact_args({'url': url}) == {'url': shown}


def test_role_argument_validation_keeps_only_what_was_provided():
    args = {'argument_spec': {'rollback_to': {'type': 'str'}},
            'provided_arguments': {'rollback_to': 'dpl_1', 'health_check_vercel_token': 'canary-77'}}
    assert rr.redact_args(args, 'validate_argument_spec') == {
        'provided_arguments': {'rollback_to': 'dpl_1', 'health_check_vercel_token': MASK}}


def test_redact_args_of_non_dict_is_empty():
    assert rr.redact_args(None) == {}
    assert rr.redact_args('free form') == {}


@pytest.mark.parametrize('text, expected', [
    ('pg_dump postgresql://app:s3cretpw@db.example.com:5432/postgres',
     'pg_dump postgresql://app:' + MASK + '@db.example.com:5432/postgres'),
    ('curl -H "Authorization: Bearer abcdef123456" https://x', 'curl -H "Authorization: Bearer ' + MASK + '" https://x'),
    ('PGPASSWORD=hunter22 psql -c "select 1"', 'PGPASSWORD=' + MASK + ' psql -c "select 1"'),
    ('VERCEL_TOKEN=abc123xyz vercel ls', 'VERCEL_TOKEN=' + MASK + ' vercel ls'),
    ('mytool --password=hunter22 --db x', 'mytool --password=' + MASK + ' --db x'),
    ('mytool --api-key hunter22 --db x', 'mytool --api-key ' + MASK + ' --db x'),
    ('rolled back from dpl_1 to dpl_2', 'rolled back from dpl_1 to dpl_2'),
])
def test_scrub_masks_free_text_credentials(text, expected):
    assert rr.scrub(text) == expected


def test_scrub_masks_known_secret_values_and_scrub_data_cuts_long_values():
    assert rr.scrub('connected with canary-42 ok', {'canary-42'}) == 'connected with %s ok' % MASK
    data = rr.scrub_data({'msg': 'x' * 5000, 'list': list(range(80)), 'n': 3, 'ok': True, 'none': None})
    assert len(data['msg']) == rr.MAX_STRING + 3
    assert data['list'][-1] == '... 30 more' and len(data['list']) == rr.MAX_ITEMS + 1
    assert (data['n'], data['ok'], data['none']) == (3, True, None)


# --- key results --------------------------------------------------------------------------------

def test_rollback_key_results():
    result = {'changed': True, 'from': {'id': 'dpl_broken', 'url': 'x'}, 'to': {'id': 'dpl_prev'},
              'job_status': 'succeeded', 'duration_s': 1.25, 'auto_assign_paused': True, 'note': 'n',
              'msg': 'rolled production back from dpl_broken to dpl_prev'}
    key, msg = rr.extract_key_results('vercel_rollback', result)
    assert key == {'from.id': 'dpl_broken', 'to.id': 'dpl_prev', 'job_status': 'succeeded', 'duration_s': 1.25,
                   'auto_assign_paused': True}
    assert msg == 'rolled production back from dpl_broken to dpl_prev'


def test_backup_migration_terminate_verify_health_key_results():
    dump = {'path': '/b/db-1.dump', 'manifest_path': '/b/db-1.dump.manifest.json', 'format': 'custom', 'size': 1234,
            'sha256': 'ab' * 32, 'verification': {'method': 'toc', 'ok': True, 'details': {}}, 'removed': [],
            'duration': 0.5, 'command': ['pg_dump']}
    assert rr.extract_key_results('postgres_dump', dump)[0] == {
        'path': '/b/db-1.dump', 'manifest_path': '/b/db-1.dump.manifest.json', 'format': 'custom', 'size': 1234,
        'sha256': 'ab' * 32, 'verification.method': 'toc', 'verification.ok': True, 'removed': [], 'duration': 0.5}
    migration = {'applied': [{'version': '20260101000000', 'name': 'a'}, {'version': '20260102000000'}],
                 'pending': ['20260101000000', '20260102000000'], 'local': ['x']}
    assert rr.extract_key_results('supabase_migration', migration)[0] == {
        'applied[].version': ['20260101000000', '20260102000000'], 'pending': ['20260101000000', '20260102000000']}
    assert rr.extract_key_results('postgres_terminate', {'terminated': [101], 'cancelled': [102], 'candidates': []})[0] \
        == {'terminated': [101], 'cancelled': [102]}
    assert rr.extract_key_results('deployment_verify', {'verdict': 'fail', 'reason': 'errors', 'measurements': []})[0] \
        == {'verdict': 'fail', 'reason': 'errors'}
    assert rr.extract_key_results('app_health', {'healthy': False, 'unhealthy_services': ['database (down)'],
                                                 'body': {'big': 1}})[0] \
        == {'healthy': False, 'unhealthy_services': ['database (down)']}
    # a null intermediate value is simply absent
    assert rr.extract_key_results('supabase_backup_restore', {'kind': 'pitr', 'backup': None})[0] == {'kind': 'pitr'}


def test_fqcn_and_short_names_share_the_table():
    assert rr.action_family('pourtrait.ops.vercel_promote') == 'vercel_promote'
    assert rr.action_family('vercel_promote') == 'vercel_promote'


def test_unknown_modules_give_only_the_message():
    key, msg = rr.extract_key_results('command', {'changed': True, 'stdout': 'secret output', 'rc': 0, 'msg': ''})
    assert (key, msg) == ({}, None)
    key, msg = rr.extract_key_results('debug', {'msg': ['line 1', 'line 2']})
    assert (key, msg) == ({}, 'line 1\nline 2')


def test_loop_results_give_one_entry_per_item():
    result = {'results': [{'terminated': [1], 'item': 'a'}, {'terminated': [], 'cancelled': [2], 'item': 'b'},
                          {'skipped': True}], 'msg': 'All items completed'}
    key, _msg = rr.extract_key_results('postgres_terminate', result)
    assert key == {'items': [{'terminated': [1]}, {'terminated': [], 'cancelled': [2]}]}


# --- derived times ------------------------------------------------------------------------------

def task(action, outcome, end, name=None, **key):
    return {'action': action, 'outcome': outcome, '_end': end, 'name': name or action, 'host': 'localhost',
            'end': 'T%s' % end, 'key_results': key}


def test_time_to_mitigate_is_the_first_successful_mitigation_and_verify_the_last_successful_check():
    tasks = [
        task('pourtrait.ops.vercel_deployment_info', 'ok', 101.0),
        task('pourtrait.ops.vercel_rollback', 'failed', 102.0, 'first try'),
        task('pourtrait.ops.vercel_rollback', 'changed', 105.5, 'rollback'),
        task('pourtrait.ops.app_health', 'ok', 106.0, 'health 1', healthy=True),
        task('vercel_promote', 'changed', 107.0, 'promote'),
        task('pourtrait.ops.deployment_verify', 'ok', 110.0, 'verify', verdict='pass'),
        task('pourtrait.ops.app_health', 'ok', 111.0, 'health bad', healthy=False),
        task('pourtrait.ops.deployment_verify', 'ok', 112.0, 'verify inconclusive', verdict='inconclusive'),
        task('pourtrait.ops.supabase_project_info', 'failed', 113.0, 'supabase'),
    ]
    derived = rr.derive_times(100.0, tasks)
    assert derived['time_to_mitigate_s'] == 5.5
    assert derived['mitigated_by'] == {'task': 'rollback', 'host': 'localhost', 'at': 'T105.5'}
    assert derived['time_to_verify_s'] == 10.0
    assert derived['verified_by']['task'] == 'verify'


def contained(action, end, name, *kinds, **extra):
    measures = [{'kind': kind, 'target': target, 'changed': True} for kind, target in kinds]
    return dict(task(action, 'changed', end, name), security={'evidence': [], 'containment': measures}, **extra)


def test_time_to_mitigate_counts_containment_of_a_security_incident():
    tasks = [
        task('pourtrait.ops.vercel_firewall_info', 'ok', 101.0, 'evidence'),
        contained('pourtrait.ops.vercel_firewall', 102.0, 'lift an old block', ('ip_unblock', '203.0.113.9')),
        contained('pourtrait.ops.supabase_api_key', 103.0, 'new key', ('key_created', 'next (secret)')),
        contained('pourtrait.ops.vercel_firewall', 104.0, 'block', ('ip_block', '198.51.100.7')),
        contained('pourtrait.ops.supabase_auth_user', 106.0, 'ban', ('user_ban', 'eve@example.com')),
    ]
    derived = rr.derive_times(100.0, tasks)
    assert derived['time_to_mitigate_s'] == 4.0 and derived['mitigated_by']['task'] == 'block'
    # a ban planned in check mode is not a mitigation; legacy keys turned off is one, turned on is not
    assert rr.derive_times(100.0, [contained('supabase_auth_user', 101.0, 'ban', ('user_ban', 'eve'),
                                             check_mode=True)])['time_to_mitigate_s'] is None
    assert rr.derive_times(100.0, [contained('supabase_api_key', 101.0, 'on', ('legacy_keys', 'on'))])[
        'time_to_mitigate_s'] is None
    assert rr.derive_times(100.0, [contained('supabase_api_key', 101.5, 'off', ('legacy_keys', 'off'))])[
        'time_to_mitigate_s'] == 1.5
    assert rr.derive_times(100.0, [contained('postgres_terminate', 102.0, 'end', ('sessions_ended', 'of app'))])[
        'mitigated_by']['task'] == 'end'


def test_derived_times_are_null_when_not_applicable():
    assert rr.derive_times(0.0, [task('ansible.builtin.debug', 'ok', 1.0)]) == {
        'time_to_mitigate_s': None, 'mitigated_by': None, 'time_to_verify_s': None, 'verified_by': None}
    # in check mode nothing was mitigated
    derived = rr.derive_times(0.0, [task('vercel_rollback', 'ok', 1.0), task('app_health', 'ok', 2.0)],
                              check_mode=True)
    assert derived['time_to_mitigate_s'] is None and derived['time_to_verify_s'] == 2.0


# --- recording, rendering, writing -------------------------------------------------------------------

class FakeTask:
    def __init__(self, uuid, action, args, no_log=False, name=''):
        self._uuid = uuid
        self.action = self.resolved_action = action
        self.args = args
        self.no_log = no_log
        self._role = None
        self.name = name

    def get_name(self):
        return self.name or self.action


def fake_result(task, data, no_log=False):
    return types.SimpleNamespace(task=task, host=types.SimpleNamespace(name='localhost'), result=data,
                                 task_fields={'no_log': no_log}, task_name=task.get_name())


def callback(tmp_path, **options):
    cb = rr.CallbackModule()
    atexit.unregister(cb._write_interrupted)  # these runs never reach a recap; no report at pytest's exit
    cb._plugin_options = dict({'enabled': True, 'reports_dir': str(tmp_path / 'reports'),
                               'postmortem_prefixes': ['incident', 'security']}, **options)
    cb._check_mode = False
    return cb


def run_tasks(cb, playbook='/p/playbooks/rollback.yml', play_vars=None):
    play = types.SimpleNamespace(get_name=lambda: 'Roll back', get_vars=lambda: play_vars or {},
                                 get_variable_manager=lambda: types.SimpleNamespace(extra_vars={}))
    cb.v2_playbook_on_start(types.SimpleNamespace(_file_name=playbook))
    cb.v2_playbook_on_play_start(play)
    tasks = [
        (FakeTask('u1', 'pourtrait.ops.vercel_rollback', {'target': 'previous', 'api_token': 'CANARY-token-1'},
                  name='Roll back'),
         {'changed': True, 'from': {'id': 'dpl_bad'}, 'to': {'id': 'dpl_good'}, 'job_status': 'succeeded',
          'msg': 'rolled back; token was CANARY-token-1'}, False),
        (FakeTask('u2', 'ansible.builtin.set_fact', {'login_password': 'CANARY-pw-2'}, no_log=True),
         {'censored': "the output has been hidden due to the fact that 'no_log: true' was specified",
          '_ansible_no_log': True, 'changed': False}, True),
        # no_log decided by a template: the result says so
        (FakeTask('u3', 'pourtrait.ops.vercel_env', {'key': 'FLAG', 'env_value_copy': 'CANARY-env-3'},
                  no_log='{{ hide }}'),
         {'censored': 'hidden', '_ansible_no_log': True, 'changed': True}, True),
        (FakeTask('u4', 'pourtrait.ops.app_health', {'url': 'https://app/health', '_raw_params': 'curl https://app/health'},
                  name='Health'),
         {'healthy': True, 'status': 'healthy', 'changed': False}, False),
    ]
    for fake, data, no_log in tasks:
        cb.v2_playbook_on_task_start(fake, False)
        cb.v2_runner_on_start(types.SimpleNamespace(name='localhost'), fake)
        cb.v2_runner_on_ok(fake_result(fake, data, no_log))
    return cb


def test_no_log_tasks_show_censored_args_and_no_results(tmp_path):
    cb = run_tasks(callback(tmp_path))
    report = cb.build_report(None)
    tasks = {t['index']: t for t in report['tasks']}
    assert tasks[1]['args'] == {'target': 'previous', 'api_token': MASK}
    assert tasks[1]['msg'] == 'rolled back; token was ' + MASK    # its redacted value is masked elsewhere too
    assert tasks[1]['key_results'] == {'from.id': 'dpl_bad', 'to.id': 'dpl_good', 'job_status': 'succeeded'}
    for index in (2, 3):
        assert tasks[index]['args'] == 'censored' and tasks[index]['censored'] is True
        assert tasks[index]['key_results'] == {} and tasks[index]['msg'] is None
    assert tasks[3]['outcome'] == 'changed'
    assert report['derived']['mitigated_by']['task'] == 'Roll back'
    assert report['derived']['verified_by']['task'] == 'Health'
    assert report['incident'] is False and report['postmortem'] is None
    text = json.dumps(cb.public(report)) + rr.render_markdown(report)
    assert 'CANARY' not in text
    assert '## Postmortem' not in text


@pytest.mark.parametrize('playbook, play_vars', [
    ('/p/playbooks/incident_response.yml', None),
    ('/p/playbooks/security_incident.yml', None),
    ('/p/playbooks/rollback.yml', {'runbook_report_postmortem': True}),
])
def test_postmortem_skeleton_for_incident_playbooks(tmp_path, playbook, play_vars):
    cb = run_tasks(callback(tmp_path), playbook, play_vars)
    report = cb.build_report(None)
    assert report['incident'] is True
    md = rr.render_markdown(report)
    headings = [line for line in md.splitlines() if line.startswith('#')]
    assert headings[:7] == ['# Run report: %s' % os.path.splitext(os.path.basename(playbook))[0], '## Postmortem',
                            '### Summary', '### Impact', '### Timeline', '### Resolution', '### Action items']
    timeline = report['postmortem']['timeline']
    assert len(timeline) == 6  # start, four tasks, end
    assert timeline[0].endswith(' %s started' % os.path.splitext(os.path.basename(playbook))[0])
    assert timeline[-1].endswith(' run ended: succeeded')
    assert 'localhost: Roll back [pourtrait.ops.vercel_rollback] - changed' in timeline[1]
    assert 'from.id=dpl_bad, to.id=dpl_good' in timeline[1]
    assert all('- %s' % line in md for line in timeline)


def test_write_report_files_are_private_atomic_and_never_overwritten(tmp_path):
    cb = run_tasks(callback(tmp_path))
    report = cb.build_report(None)
    directory = str(tmp_path / 'reports' / 'sub')
    first = cb.write_report(report, directory)
    second = cb.write_report(report, directory)   # same start second, same playbook
    assert second == first + '-1'
    assert oct(stat.S_IMODE(os.stat(directory).st_mode)) == '0o700'
    names = sorted(os.listdir(directory))
    assert len(names) == 4 and not [n for n in names if n.startswith('.')]   # no temporary file left
    for name in names:
        assert oct(stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode)) == '0o600'
    assert os.path.basename(first).endswith('-rollback')
    data = json.load(open(first + '.json'))
    assert [t['index'] for t in data['tasks']] == [1, 2, 3, 4]
    assert not [k for k in data if k.startswith('_')] and '_start' not in data['tasks'][0]
    assert 'censored_results' not in data['tasks'][0]
    assert data['tasks'][3]['args'] == {'url': 'https://app/health', '_raw_params': 'curl https://app/health'}


def test_a_report_that_cannot_be_written_only_warns(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('not a directory')
    warnings = []
    cb = run_tasks(callback(tmp_path, reports_dir=str(blocker / 'reports')))
    cb._display = types.SimpleNamespace(warning=warnings.append, display=lambda msg: None)
    cb.v2_playbook_on_stats(None)   # no exception
    assert len(warnings) == 1 and 'could not write the run report' in warnings[0]


def test_disabled_writes_nothing(tmp_path):
    cb = run_tasks(callback(tmp_path, enabled=False))
    cb.v2_playbook_on_stats(None)
    assert not (tmp_path / 'reports').exists()
    assert cb._tasks == []


def test_the_pointer_to_the_report_goes_to_stderr(tmp_path):
    shown = []
    cb = run_tasks(callback(tmp_path))
    cb._display = types.SimpleNamespace(warning=shown.append,
                                        display=lambda msg, stderr=False: shown.append((msg, stderr)))
    cb.v2_playbook_on_stats(None)
    assert len(shown) == 1 and shown[0][0].startswith('Run report: %s' % (tmp_path / 'reports'))
    assert shown[0][1] is True   # stdout is the stdout callback's (json, yaml) alone


# --- the Mermaid gantt chart ----------------------------------------------------------------------

def gantt_lines(markdown):
    """The lines of the one ```mermaid block of a Markdown report."""
    assert markdown.count('```mermaid') == 1, markdown
    block = markdown.split('```mermaid\n', 1)[1].split('\n```', 1)[0]
    return block.splitlines()


def test_gantt_block_has_one_bar_per_task_with_recorded_times(tmp_path):
    cb = run_tasks(callback(tmp_path))
    report = cb.build_report(None)
    md = rr.render_markdown(report)
    headings = [line for line in md.splitlines() if line.startswith('#')]
    # the no_log vercel_env task changed something: a Containment section (from its literal arguments only)
    assert headings[1:5] == ['## Containment', '### In force after the run', '## Gantt chart', '## Tasks']
    assert '| 3 | %s | pourtrait.ops.vercel_env | done | changed the value of the Vercel env var FLAG ' \
        '(details hidden: no_log task) |' % report['tasks'][2]['end'] in md
    lines = gantt_lines(md)
    assert lines[:4] == ['gantt', '    dateFormat YYYY-MM-DD HH:mm:ss.SSS', '    axisFormat %H:%M:%S',
                         '    section Roll back']
    bars = lines[4:]
    assert len(bars) == len(report['tasks']) == 4
    for line, task in zip(bars, report['tasks']):
        name, data = line.strip().split(' :')
        assert name.startswith('%d. ' % task['index'])
        parts = [p.strip() for p in data.split(',')]
        assert parts[-2:] == [rmd._gantt_time(task['_start']), rmd._gantt_time(task['_end'])]
        # the chart's times are the report's (UTC, to the millisecond)
        assert parts[-2].replace(' ', 'T') + 'Z' == task['start']
        assert parts[-1].replace(' ', 'T') + 'Z' == task['end']
    assert bars[0].strip().startswith('1. Roll back :done, ')
    assert bars[3].strip().startswith('4. Health :done, ')


def test_gantt_marks_failed_unreachable_and_interrupted_tasks_crit():
    tasks = []
    for index, outcome in enumerate(('ok', 'changed', 'failed', 'ignored', 'skipped', 'unreachable', 'interrupted'),
                                    1):
        tasks.append(dict(index=index, play='Play', name='Step %d' % index, host='localhost', outcome=outcome,
                          _start=1000.0 + index, _end=1000.5 + index))
    bars = rmd.render_gantt(dict(tasks=tasks))[5:-2]
    tags = [line.split(' :', 1)[1].split(', ')[0] for line in bars]
    assert tags == ['done', 'done', 'crit', 'active', '1970-01-01 00:16:45.000', 'crit', 'crit']
    assert [line.strip().split(' :')[0] for line in bars] == ['%d. Step %d' % (i, i) for i in range(1, 8)]


def test_gantt_escapes_names_that_would_break_the_chart():
    nasty = 'Deploy: step #2; 100% done %% comment ``` fence {{ x }}\nsecond line'
    tasks = [dict(index=1, play='Play: #1; main', name=nasty, host='web1', outcome='failed', _start=10.0, _end=12.0),
             dict(index=2, play='Play: #1; main', name='title looks like a keyword', host='web2', outcome='ok',
                  _start=12.0, _end=11.0)]
    lines = rmd.render_gantt(dict(tasks=tasks))
    assert lines[0] == '```mermaid' and lines[-2:] == ['```', '']
    body = lines[1:-2]
    assert not [line for line in body if '```' in line]
    section = [line for line in body if line.strip().startswith('section ')]
    assert section == ['    section Play\uA789 \uFF031\uFF1B main']
    bars = body[4:]
    assert len(bars) == 2
    for line in bars:
        name, data = line.strip().split(' :')   # exactly one task/data separator
        for char in ':#;%`{}\n':
            assert char not in name, (char, name)
        assert '#' not in data and ';' not in data
    assert bars[0].strip().startswith('1. Deploy\uA789 step \uFF032\uFF1B 100\uFF05 done')
    assert '(web1)' in bars[0] and '(web2)' in bars[1]      # several hosts: each bar says which
    assert bars[0].strip().split(' :')[1].startswith('crit, 1970-01-01 00:00:10.000, 1970-01-01 00:00:12.000')
    # an end before the start (clock step) is drawn as a zero-length bar, never backwards
    assert bars[1].strip().endswith(':done, 1970-01-01 00:00:12.000, 1970-01-01 00:00:12.000')
    # a name never starts with a gantt keyword: the index comes first
    assert bars[1].strip().startswith('2. title looks like a keyword')
    long_name = rmd.gantt_text('x' * 500)
    assert len(long_name) == rmd.GANTT_TEXT_MAX and long_name.endswith('...')


def test_no_tasks_no_gantt_block(tmp_path):
    cb = callback(tmp_path)
    cb.v2_playbook_on_start(types.SimpleNamespace(_file_name='/p/playbooks/empty.yml'))
    report = cb.build_report(None)
    assert rmd.render_gantt(report) == []
    assert '```mermaid' not in rr.render_markdown(report)


def test_the_trigger_of_an_automatic_run_heads_the_report(tmp_path):
    cb = callback(tmp_path)
    trigger = {'rule': 'Recent release failing - roll back', 'state': 'failing', 'error_rate': '0.42',
               'deployment_id': 'dpl_bad', 'deployment_age_s': '61.0', 'observed_at': '2026-12-03T10:00:00Z'}
    play = types.SimpleNamespace(get_name=lambda: 'Respond', get_vars=lambda: {},
                                 get_variable_manager=lambda: types.SimpleNamespace(
                                     extra_vars={'pourtrait_trigger': trigger}))
    cb.v2_playbook_on_start(types.SimpleNamespace(_file_name='/p/playbooks/incident.yml'))
    cb.v2_playbook_on_play_start(play)
    report = cb.build_report(None)
    assert cb.public(report)['trigger'] == trigger
    md = rr.render_markdown(report).splitlines()
    assert md[2] == '## Trigger'
    assert '- deployment_id: dpl_bad' in md and '- error_rate: 0.42' in md
    # a manual run has none
    assert rr.render_markdown(run_tasks(callback(tmp_path)).build_report(None)).count('## Trigger') == 0

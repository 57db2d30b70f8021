# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: runbook_report
type: notification
short_description: Write a Markdown and a JSON report of every run - tasks, timings, key results, postmortem skeleton
version_added: 1.0.0
description:
  - Records every task of a run (start, end, duration, host, action, outcome, arguments, key results) and, once the
    playbook has ended, writes C(<reports_dir>/<UTC start time>-<playbook>.md) and C(.json) beside it.
  - Key results are picked per module family - deployment ids (C(from.id), C(to.id), C(deployment.id),
    C(production.id)), backup paths, sizes and checksums, applied migration versions, terminated and cancelled pids,
    the rollback and promote C(job_status), the C(verdict) of M(pourtrait.ops.deployment_verify), health flags and
    unhealthy services. Other modules give only C(changed), C(failed) and C(msg).
  - An C(Evidence) section (and C(evidence) in the JSON) holds what the security readers found, counted, with times -
    firewall events by IP and action (M(pourtrait.ops.vercel_firewall_info)), runtime log lines by status, level and
    path (M(pourtrait.ops.vercel_logs_info)), the auth audit summary and suspicious addresses
    (M(pourtrait.ops.supabase_auth_audit_info)), row counts (M(pourtrait.ops.supabase_logs_info)).
  - A C(Containment) section (C(containment) in the JSON) says what was blocked, rate limited, banned, signed out,
    ended, created, deleted or rotated (M(pourtrait.ops.vercel_firewall), M(pourtrait.ops.supabase_network_ban),
    M(pourtrait.ops.supabase_auth_user), M(pourtrait.ops.postgres_terminate), M(pourtrait.ops.supabase_api_key),
    M(pourtrait.ops.supabase_db_password), M(pourtrait.ops.vercel_env)) - C(would) in check mode - and what stays in
    force until when. Both come from module results recognised by action name, in any playbook. Passwords, key values
    and recovery links are never read from results (and masked wherever else they appear); a C(no_log) task is listed
    from its literal, non-secret arguments only.
  - Secrets are never written. A task with C(no_log) shows C(censored) arguments and no results. Arguments are
    recorded as written in the playbook (before templating) and redacted by name - the C(no_log) options of the
    collection (C(api_token), C(access_token), C(login_password), C(database_url), the C(value) of
    M(pourtrait.ops.vercel_env)) and any name that looks secret (ending in token, password, secret, key, value, url,
    auth, cookie, ...). Credentials inside URLs, C(Bearer) headers and C(NAME_TOKEN=...) or C(--password=...) forms
    are masked in every string, and the value of a redacted argument is masked wherever else it appears.
  - Derived times - time to mitigate (playbook start to the end of the first successful mitigation task -
    M(pourtrait.ops.vercel_rollback), M(pourtrait.ops.vercel_promote), M(pourtrait.ops.vercel_env),
    M(pourtrait.ops.supabase_backup_restore), M(pourtrait.ops.postgres_restore), or a containment done or in
    force - an IP block, rate limit or attack mode of M(pourtrait.ops.vercel_firewall), a network ban, a user
    banned or signed out by M(pourtrait.ops.supabase_auth_user), a deleted key or legacy keys turned off by
    M(pourtrait.ops.supabase_api_key), a new database password, sessions ended by
    M(pourtrait.ops.postgres_terminate)) and time to verify (to the end of the
    last successful verification - M(pourtrait.ops.app_health), M(pourtrait.ops.deployment_verify),
    M(pourtrait.ops.supabase_project_info)); null when the run has none (and time to mitigate in check mode).
  - For incident playbooks (file name starting with one of O(postmortem_prefixes), or a play or extra variable
    C(runbook_report_postmortem=true)) the Markdown report starts with a postmortem skeleton - summary, impact,
    timeline (filled in from the tasks), resolution, action items.
  - The Markdown report charts the run as a Mermaid C(gantt) block (GitHub and GitLab draw it) - one bar per task
    from its recorded start to its end, a section per play, failed, unreachable and interrupted tasks in red
    (C(crit)). Characters that would break the chart (colon, hash, semicolon, percent sign, backtick, braces, line
    breaks) are shown as look-alikes in task and play names.
  - The line that says where the report went is printed on stderr, so that stdout holds only what the stdout
    callback printed (the output of C(ANSIBLE_STDOUT_CALLBACK=json) can be piped into C(jq)).
  - The files are written once, at the end of the playbook, atomically, with mode 0600 (a directory it creates gets
    0700); a report is never overwritten. Failing to write only prints a warning, it never fails the run.
  - A run interrupted with Ctrl-C (or ended before the play recap any other way) still gets its report when
    C(ansible-playbook) exits - outcome C(interrupted), the tasks that were running listed with outcome
    C(interrupted). Only a killed process (SIGKILL) leaves none.
author:
  - Pourtrait engineering (@pourtrait)
requirements:
  - Enabled in C(callbacks_enabled) (the collection's C(ansible.cfg) does so).
options:
  enabled:
    description:
      - Write reports. Set to false to keep the callback enabled but silent for a run.
    type: bool
    default: true
    env:
      - name: POURTRAIT_RUNBOOK_REPORT
    ini:
      - section: callback_runbook_report
        key: enabled
  reports_dir:
    description:
      - Directory the reports are written to; created (mode 0700) when missing.
      - A relative path set in C(ansible.cfg) is relative to the directory of that file (the project); otherwise it is
        relative to the current directory.
    type: path
    default: reports
    env:
      - name: POURTRAIT_REPORTS_DIR
    ini:
      - section: callback_runbook_report
        key: reports_dir
  postmortem_prefixes:
    description:
      - Playbook file names starting with one of these get a postmortem skeleton in the Markdown report.
    type: list
    elements: str
    default: [incident, security]
    env:
      - name: POURTRAIT_REPORT_POSTMORTEM_PREFIXES
    ini:
      - section: callback_runbook_report
        key: postmortem_prefixes
'''

import atexit
import json
import os
import re
import tempfile
import time
from datetime import datetime, timezone

from ansible import context
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.callback import CallbackBase
from ansible_collections.pourtrait.ops.plugins.plugin_utils.report_markdown import (  # noqa: F401  # pylint: disable=unused-import
    _iso,
    action_family,
    render_gantt,
    render_markdown,
    timeline,
)
from ansible_collections.pourtrait.ops.plugins.plugin_utils.report_results import (  # noqa: F401  # pylint: disable=unused-import
    KEY_RESULTS,
    MITIGATION_ACTIONS,
    SUCCESS,
    VERIFICATION_ACTIONS,
    _plain,
    _seconds,
    derive_times,
    extract_key_results,
    pick,
)
from ansible_collections.pourtrait.ops.plugins.plugin_utils.report_security import (
    build_sections,
    safe_args,
    secret_values,
    security_record,
)

REPORT_VERSION = 1
MASK = '********'
CENSORED = 'censored'
MAX_STRING = 1000
MAX_ITEMS = 50

# Option names that hold secrets whatever the module (the no_log options of this collection and their aliases,
# plus common ones of other collections).
SECRET_OPTIONS = frozenset((
    'api_token', 'token', 'access_token', 'login_password', 'password', 'database_url', 'value',
    'vercel_token', 'supabase_access_token', 'pgpassword', 'client_secret', 'private_key', 'api_key',
    'passphrase', 'authorization', 'cookie', 'headers_secret', 'db_password', 'service_role_key', 'anon_key',
))
SECRET_NAME_END = re.compile(r'(token|tokens|password|passwd|passphrase|pwd|secret|secrets|key|keys|value|values|'
                             r'url|urls|uri|dsn|auth|authorization|cookie|cookies|credential|credentials)$', re.I)
SECRET_NAME_PART = re.compile(r'password|passwd|secret|token|credential|private|apikey|api_key|auth', re.I)
# Names that look secret but are known not to be, per action family ('*': every action). URLs among them are
# shown without user info, query string, fragment or key-like path segments.
NOT_SECRET = {
    '*': frozenset(('url', 'urls', 'api_url', 'vercel_api_url', 'supabase_api_url', 'app_url', 'health_url')),
    'vercel_env': frozenset(('key',)),
}

# Every value of a dict of this name is redacted (HTTP headers carry credentials under any name).
HEADERS = re.compile(r'headers$', re.I)

# A path segment that looks like a key: 16 or more letters, digits, - or _, with at least one digit and one letter.
_OPAQUE = re.compile(r'^(?=[^/]*[0-9])(?=[^/]*[A-Za-z])[A-Za-z0-9_-]{16,}$')

# Free-text forms of credentials, masked in every string written.
_SCRUB = (
    (re.compile(r'(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]*@'), r'\1:' + MASK + '@'),
    (re.compile(r'(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{6,}'), r'\1\2' + MASK),
    (re.compile(r'(?i)\b([A-Z0-9_]*(?:TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|DATABASE_URL)[A-Z0-9_]*)=([^\s&]+)'),
     r'\1=' + MASK),
    (re.compile(r'(?i)(--?[a-z0-9-]*(?:token|password|passwd|secret|api-?key)[a-z0-9-]*)([= ])([^\s-][^\s]*)'),
     r'\1\2' + MASK),
)

# bookkeeping of the report and its tasks, not written to the .json
PRIVATE_KEYS = frozenset(('_started', '_ended', '_start', '_end', 'censored_results', 'security'))


def is_secret_name(name, family=''):
    """Whether an argument of this name is redacted (conservative: when in doubt, yes)."""
    lowered = to_text(name).lower()
    if lowered in NOT_SECRET['*'] or lowered in NOT_SECRET.get(family, ()):
        return False
    return lowered in SECRET_OPTIONS or bool(SECRET_NAME_END.search(lowered) or SECRET_NAME_PART.search(lowered))


def _safe_url(value):
    """A URL without user info, query string, fragment or opaque path segments (webhook URLs carry their secret in
    the path)."""
    text = to_text(value)
    match = re.match(r'(?i)^([a-z][a-z0-9+.-]*://)(?:[^/@\s]*@)?([^/?#\s]*)([^?#\s]*)([?#].*)?$', text)
    if not match:
        return text
    path = '/'.join(MASK if _OPAQUE.match(part) else part for part in match.group(3).split('/'))
    return match.group(1) + match.group(2) + path + (('?' + MASK) if match.group(4) else '')


def redact_args(args, family='', secrets=None):
    """Plain-data copy of task arguments with secret-named values replaced by MASK.

    Internal `_ansible_*` keys are dropped. The literal values of clearly secret names (passwords, tokens, ...) are
    added to `secrets` (a set) so they can be masked wherever else they appear."""
    def collect(value, name):
        if secrets is None or not (to_text(name).lower() in SECRET_OPTIONS or SECRET_NAME_PART.search(to_text(name))):
            return
        if isinstance(value, dict):
            for item in value.values():
                collect(item, name)
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item, name)
        elif isinstance(value, (str, bytes)):
            text = to_text(value)
            if len(text) >= 6 and '{{' not in text:
                secrets.add(text)

    def walk(value, name=None):
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                key = to_text(key)
                if key.startswith('_ansible_'):
                    continue
                if is_secret_name(key, family) or (name is not None and HEADERS.search(name)):
                    collect(item, key)
                    out[key] = MASK if item not in (None, '') else item
                else:
                    out[key] = walk(item, key)
            return out
        if isinstance(value, (list, tuple)):
            return [walk(item, name) for item in value]
        if isinstance(value, (bool, int, float)) or value is None:
            return value
        text = to_text(value)
        if name and to_text(name).lower() in NOT_SECRET['*']:
            return _safe_url(text)
        return text

    if not isinstance(args, dict):
        return {}
    if family == 'validate_argument_spec':  # a role's whole argument spec is noise; what it was given is not
        args = dict((k, v) for k, v in args.items() if k != 'argument_spec')
    return walk(args)


def scrub(text, secrets=()):
    """Mask credential forms and known secret values in a string."""
    text = to_text(text)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text


def scrub_data(value, secrets=()):
    """scrub() over every string (and dict key) of plain data; long strings and lists are cut."""
    if isinstance(value, dict):
        return dict((scrub(k, secrets), scrub_data(v, secrets)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        items = [scrub_data(v, secrets) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append('... %d more' % (len(value) - MAX_ITEMS))
        return items
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    text = scrub(value, secrets)
    return text if len(text) <= MAX_STRING else text[:MAX_STRING] + '...'


def _truthy(value):
    if isinstance(value, bool):
        return value
    return to_text(value).strip().lower() in ('1', 'true', 'yes', 'on', 'y')


class CallbackModule(CallbackBase):
    """Records the run and writes reports/<time>-<playbook>.md and .json at the end."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'pourtrait.ops.runbook_report'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self._active = None
        self._started = None
        self._playbooks = []
        self._plays = []
        self._play = None
        self._postmortem_var = False
        self._trigger = None
        self._task_info = {}
        self._runner_start = {}
        self._tasks = []
        self._secrets = set()
        self._written = False
        self._check_mode = bool(context.CLIARGS.get('check', False))
        atexit.register(self._write_interrupted)

    # --- cheap recording -------------------------------------------------------------------

    def _is_active(self):
        if self._active is None:
            try:
                self._active = bool(self.get_option('enabled'))
            except KeyError:
                self._active = True
        return self._active

    def v2_playbook_on_start(self, playbook):
        if self._started is None:
            self._started = time.time()
        self._playbooks.append(to_text(getattr(playbook, '_file_name', '') or 'playbook'))

    def v2_playbook_on_play_start(self, play):
        if not self._is_active():
            return
        self._play = to_text(play.get_name()).strip()
        self._plays.append(self._play)
        try:
            if _truthy(play.get_vars().get('runbook_report_postmortem', False)):
                self._postmortem_var = True
            extra = play.get_variable_manager().extra_vars
            if _truthy(extra.get('runbook_report_postmortem', False)):
                self._postmortem_var = True
            if self._trigger is None and isinstance(extra.get('pourtrait_trigger'), dict):
                self._trigger = dict(extra['pourtrait_trigger'])
        except Exception:  # pylint: disable=broad-except
            pass  # reading the flag must never break the run

    def _remember_task(self, task):
        if not self._is_active():
            return
        no_log = task.no_log if isinstance(task.no_log, bool) else None
        family = action_family(task.action)
        role = getattr(task, '_role', None)
        self._task_info[task._uuid] = dict(
            family=family, play=self._play, role=to_text(role.get_name()) if role else None,
            name=to_text(task.get_name()), action=to_text(task.action),
            # as written (not templated); a literal no_log task keeps nothing
            args=CENSORED if no_log else redact_args(task.args, family, self._secrets),
            safe_args=safe_args(family, task.args),  # what a no_log security task acted on (never a value)
        )

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._remember_task(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._remember_task(task)

    def v2_runner_on_start(self, host, task):
        if self._active:
            self._runner_start[(host.name, task._uuid)] = time.time()

    def _record(self, result, outcome):
        if not self._active:
            return
        end = time.time()
        task = result.task
        host = result.host.name
        info = self._task_info.get(task._uuid)
        if info is None:
            self._remember_task(task)
            info = self._task_info[task._uuid]
        start = self._runner_start.pop((host, task._uuid), end)
        data = result.result
        censored = bool(result.task_fields.get('no_log') is True or data.get('censored') or data.get('_ansible_no_log'))
        action = to_text(getattr(task, 'resolved_action', None) or task.action)
        entry = dict(
            play=info['play'], role=info['role'], name=to_text(result.task_name or task.get_name()), host=host,
            action=action, outcome=outcome, changed=bool(data.get('changed')), _start=start, _end=end,
            censored_results=censored, check_mode=self._check_mode or result.task_fields.get('check_mode') is True,
        )
        if not censored:
            self._secrets.update(secret_values(data))  # a key or password asked for without no_log
        templated = safe_args(info['family'], result.task_fields.get('args'))
        entry['security'] = security_record(info['family'], data, censored, templated or info['safe_args'])
        if censored:
            entry.update(args=CENSORED, key_results={}, msg=None)
        else:
            key, msg = extract_key_results(info['family'], data)
            entry.update(args=info['args'], key_results=key, msg=msg)
        self._tasks.append(entry)

    def v2_runner_on_ok(self, result):
        self._record(result, 'changed' if result.result.get('changed') else 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'ignored' if ignore_errors else 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    # --- the report, once at the end ---------------------------------------------------------

    def build_report(self, stats, ended=None):
        """The report as plain data (also what the .json holds, minus the private `_` keys)."""
        ended = time.time() if ended is None else ended
        started = self._started if self._started is not None else ended
        check_mode = bool(context.CLIARGS.get('check', False))
        names = [os.path.splitext(os.path.basename(path))[0] for path in self._playbooks] or ['playbook']
        try:
            prefixes = [to_text(p) for p in (self.get_option('postmortem_prefixes') or [])]
        except KeyError:
            prefixes = ['incident', 'security']
        incident = self._postmortem_var or any(name.startswith(tuple(prefixes)) for name in names if prefixes)

        hosts = {}
        failed = False
        if stats is not None:
            for host in sorted(stats.processed.keys()):
                summary = stats.summarize(host)
                hosts[host] = dict((k, summary.get(k, 0)) for k in ('ok', 'changed', 'failures', 'unreachable',
                                                                    'skipped', 'rescued', 'ignored'))
                failed = failed or bool(summary.get('failures') or summary.get('unreachable'))
        else:
            failed = any(task['outcome'] in ('failed', 'unreachable') for task in self._tasks)

        secrets = sorted(self._secrets, key=len, reverse=True)
        tasks = []
        for index, task in enumerate(self._tasks, 1):
            entry = dict(index=index, play=task['play'], role=task['role'], name=task['name'], host=task['host'],
                         action=task['action'], start=_iso(task['_start']), end=_iso(task['_end']),
                         duration_s=_seconds(task['_end'] - task['_start']), outcome=task['outcome'],
                         changed=task['changed'], check_mode=task['check_mode'],
                         censored=task['censored_results'], args=task['args'], key_results=task['key_results'],
                         msg=task['msg'])
            entry = scrub_data(entry, secrets)
            entry.update(_start=task['_start'], _end=task['_end'], censored_results=task['censored_results'],
                         security=task.get('security'))
            tasks.append(entry)
        evidence, containment = build_sections(tasks, check_mode)

        report = dict(
            report_version=REPORT_VERSION,
            playbook=dict(name='+'.join(names), files=scrub_data(self._playbooks, secrets),
                          plays=scrub_data(self._plays, secrets)),
            started=_iso(started), ended=_iso(ended), duration_s=_seconds(ended - started),
            check_mode=check_mode, outcome='failed' if failed else 'succeeded', incident=bool(incident),
            derived=derive_times(started, tasks, check_mode), hosts=hosts, tasks=tasks, postmortem=None,
            trigger=scrub_data(self._trigger, secrets) if self._trigger else None,
            evidence=[scrub_data(entry, secrets) for entry in evidence],
            containment=dict(containment, measures=[scrub_data(m, secrets) for m in containment['measures']],
                             in_force=[scrub_data(m, secrets) for m in containment['in_force']]),
            _started=started, _ended=ended,
        )
        if incident:
            report['postmortem'] = dict(summary=None, impact=None, resolution=None, action_items=[],
                                        timeline=timeline(report))
        return report

    @staticmethod
    def public(report):
        """The report without the private keys of the report and its tasks (what the .json holds)."""
        out = dict((k, v) for k, v in report.items() if k not in PRIVATE_KEYS)
        out['tasks'] = [dict((k, v) for k, v in task.items() if k not in PRIVATE_KEYS) for task in report['tasks']]
        return out

    def write_report(self, report, directory):
        """Write <directory>/<time>-<name>.md and .json (0600, atomically, never over another report)."""
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700, exist_ok=True)  # two runs may make it at once
            os.chmod(directory, 0o700)
        stamp = datetime.fromtimestamp(report['_started'], timezone.utc).strftime('%Y%m%dT%H%M%SZ')
        name = re.sub(r'[^A-Za-z0-9_.+-]', '_', report['playbook']['name'])[:80] or 'playbook'
        texts = (('.json', json.dumps(self.public(report), indent=2, sort_keys=False) + '\n'),
                 ('.md', render_markdown(report)))
        secrets = sorted(self._secrets, key=len, reverse=True)
        temps = []
        try:
            for suffix, text in texts:
                for secret in secrets:  # last line of defence: no known secret value leaves the process
                    text = text.replace(secret, MASK).replace(json.dumps(secret)[1:-1], MASK)
                fd, temp = tempfile.mkstemp(prefix='.%s-' % name, suffix=suffix + '.tmp', dir=directory)
                temps.append((suffix, temp))
                with os.fdopen(fd, 'w', encoding='utf-8') as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
            for attempt in range(100):
                base = os.path.join(directory, '%s-%s%s' % (stamp, name, '-%d' % attempt if attempt else ''))
                if any(os.path.lexists(base + suffix) for suffix, _temp in temps):
                    continue
                try:
                    os.link(temps[0][1], base + temps[0][0])  # claims the name; fails when it exists
                except FileExistsError:
                    continue
                except OSError:  # no hard links on this file system
                    os.replace(temps[0][1], base + temps[0][0])
                for suffix, temp in temps[1:]:
                    os.replace(temp, base + suffix)
                return base
            raise OSError('no free report name for %s-%s' % (stamp, name))
        finally:
            for _suffix, temp in temps:
                if os.path.lexists(temp):
                    os.unlink(temp)

    def _write_interrupted(self):
        """At exit, for a run that never reached its recap (Ctrl-C): the report of what happened so far."""
        if not self._active or self._written or self._started is None:
            return
        ended = time.time()
        for (host, uuid), start in sorted(self._runner_start.items(), key=lambda item: item[1]):
            info = self._task_info.get(uuid) or dict(play=self._play, role=None, args={})
            self._tasks.append(dict(play=info['play'], role=info['role'], name=info.get('name') or 'task', host=host,
                                    action=info.get('action') or '', outcome='interrupted', changed=False,
                                    _start=start, _end=ended, censored_results=info['args'] == CENSORED,
                                    check_mode=self._check_mode, args=info['args'], key_results={},
                                    msg='interrupted while running'))
        self._runner_start = {}
        self._tasks.sort(key=lambda task: task['_start'])
        self.v2_playbook_on_stats(None, outcome='interrupted', ended=ended)

    def v2_playbook_on_stats(self, stats, outcome=None, ended=None):
        if not self._active or self._written:
            return
        self._written = True
        directory = None
        try:
            directory = self.get_option('reports_dir') or 'reports'
            report = self.build_report(stats, ended=ended)
            if outcome:
                report['outcome'] = outcome
            base = self.write_report(report, directory)
            # on stderr: stdout belongs to the stdout callback (ANSIBLE_STDOUT_CALLBACK=json is piped into jq)
            self._display.display('Run report: %s.md (and .json)' % base, stderr=True)
        except Exception as exc:  # pylint: disable=broad-except
            self._display.warning('runbook_report: could not write the run report to %s: %s'
                                  % (directory, scrub(exc, self._secrets)))

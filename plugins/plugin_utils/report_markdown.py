# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Markdown run report of the runbook_report callback: its sections, the incident timeline and the Mermaid
gantt chart, rendered from the report dict the callback records (also the JSON report)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
from datetime import datetime, timezone

from ansible.module_utils.common.text.converters import to_text
from ansible_collections.pourtrait.ops.plugins.plugin_utils.report_security import (
    containment_markdown,
    evidence_markdown,
)

# role plumbing left out of the incident timeline
TIMELINE_SKIP = frozenset(('validate_argument_spec', 'include_role', 'include_tasks', 'import_role', 'import_tasks',
                           'meta'))


def action_family(action):
    """`pourtrait.ops.vercel_rollback` and `vercel_rollback` -> `vercel_rollback`."""
    return to_text(action or '').rsplit('.', 1)[-1]


def _iso(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def _clock(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime('%H:%M:%SZ')


def _cell(value):
    text = to_text(value).replace('\r', ' ').replace('\n', ' ').replace('|', '\\|')
    return text if len(text) <= 200 else text[:200] + '...'


def _key_text(key):
    if not key:
        return ''
    parts = []
    for name, value in key.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True)
        parts.append('%s=%s' % (name, value))
    return ', '.join(parts)


def _duration_text(value):
    return '-' if value is None else '%.2f s' % value


# Characters that end or break a Mermaid gantt line (task text ends at ':', data at '#' or ';', '%%' starts a
# comment, '#' a comment or an entity), a ``` would close the Markdown fence: shown as look-alikes instead.
_GANTT_TEXT = {':': '\uA789', '#': '\uFF03', ';': '\uFF1B', '%': '\uFF05', '`': "'", '\r': ' ', '\n': ' ',
               '\t': ' ', '{': '(', '}': ')'}
# Outcomes drawn red (Mermaid's `crit`), greyed (`done`) or highlighted (`active`: a failure that was ignored).
GANTT_TAGS = {'failed': 'crit', 'unreachable': 'crit', 'interrupted': 'crit', 'ignored': 'active', 'ok': 'done',
              'changed': 'done'}
GANTT_TEXT_MAX = 80


def gantt_text(value):
    """Text safe inside a Mermaid gantt task or section name (one line, no separators, no keywords)."""
    text = ''.join(_GANTT_TEXT.get(char, char) for char in to_text(value)).strip()
    text = re.sub(r'\s+', ' ', text)
    return text if len(text) <= GANTT_TEXT_MAX else text[:GANTT_TEXT_MAX - 3] + '...'


def _gantt_time(epoch):
    """UTC clock time in the chart's dateFormat (read as local time by the browser, so the axis shows UTC)."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]


def render_gantt(report):
    """A ```mermaid gantt block (GitHub draws it): one bar per task, from its recorded start to end, in one section
    per play; failed, unreachable and interrupted tasks are `crit`. Empty list when the run had no task."""
    tasks = report['tasks']
    if not tasks:
        return []
    several_hosts = len(set(task['host'] for task in tasks)) > 1
    out = ['```mermaid', 'gantt', '    dateFormat YYYY-MM-DD HH:mm:ss.SSS', '    axisFormat %H:%M:%S']
    section = None
    for task in tasks:
        play = gantt_text(task.get('play') or 'play') or 'play'
        if play != section:
            section = play
            out.append('    section %s' % section)
        # the index first: a name never starts with a gantt keyword (title, section, click, ...)
        name = '%d. %s' % (task['index'], task['name'])
        if several_hosts:
            name += ' (%s)' % task['host']
        start, end = task['_start'], max(task['_end'], task['_start'])
        tag = GANTT_TAGS.get(task['outcome'])
        out.append('    %s :%s%s, %s' % (gantt_text(name), tag + ', ' if tag else '', _gantt_time(start),
                                         _gantt_time(end)))
    out += ['```', '']
    return out


def timeline(report):
    """One line per task that ran (not skipped, not role plumbing), in order, for the postmortem."""
    started = report['_started']
    lines = ['%s (t+%.1f s) %s started' % (_clock(started), 0.0, report['playbook']['name'])]
    for task in report['tasks']:
        if task['outcome'] == 'skipped' or action_family(task['action']) in TIMELINE_SKIP:
            continue
        line = '%s (t+%.1f s) %s: %s [%s] - %s in %s' % (
            _clock(task['_start']), task['_start'] - started, task['host'], task['name'], task['action'],
            task['outcome'], _duration_text(task['duration_s']))
        extra = _key_text(task.get('key_results'))
        if extra:
            line += '; ' + extra
        if task['outcome'] in ('failed', 'ignored', 'unreachable') and task.get('msg'):
            line += '; ' + task['msg']
        lines.append(_cell(line) if len(line) > 400 else line.replace('\n', ' '))
    lines.append('%s (t+%.1f s) run ended: %s' % (_clock(report['_ended']), report['_ended'] - started,
                                                  report['outcome']))
    return lines


def _summary_section(report):
    derived = report['derived']
    rows = [
        ('Playbook', ', '.join(report['playbook']['files'])),
        ('Started (UTC)', report['started']),
        ('Ended (UTC)', report['ended']),
        ('Duration', _duration_text(report['duration_s'])),
        ('Outcome', report['outcome']),
        ('Check mode', 'yes' if report['check_mode'] else 'no'),
        ('Time to mitigate', _duration_text(derived['time_to_mitigate_s'])
         + (' (%s)' % derived['mitigated_by']['task'] if derived['mitigated_by'] else '')),
        ('Time to verify', _duration_text(derived['time_to_verify_s'])
         + (' (%s)' % derived['verified_by']['task'] if derived['verified_by'] else '')),
    ]
    for host, stats in sorted(report['hosts'].items()):
        rows.append(('Host %s' % host, ' '.join('%s=%s' % item for item in sorted(stats.items()))))
    return ['| | |', '|---|---|'] + ['| %s | %s |' % (_cell(a), _cell(b)) for a, b in rows] + ['']


def _postmortem_section(report):
    if report['postmortem'] is None:
        return []
    derived = report['derived']
    mitigated = derived['mitigated_by']
    verified = derived['verified_by']
    out = [
        '## Postmortem', '',
        '### Summary', '', '_TODO: what happened and why, in two or three sentences._', '',
        '### Impact', '',
        '_TODO: who was affected, what they saw (errors, latency, data), from when to when._', '',
        '- Detected at: _TODO_',
        '- Runbook started at: %s' % report['started'],
        '- Mitigated at: %s' % ('%s (t+%.1f s, %s)' % (mitigated['at'], derived['time_to_mitigate_s'],
                                                       mitigated['task']) if mitigated else '_TODO_'),
        '- Verified at: %s' % ('%s (t+%.1f s, %s)' % (verified['at'], derived['time_to_verify_s'],
                                                      verified['task']) if verified else '_TODO_'),
        '',
        '### Timeline', '',
        '_Times in UTC; add detection and communication events above the runbook._', '',
    ]
    out += ['- %s' % line for line in report['postmortem']['timeline']] + ['']
    return out + [
        '### Resolution', '',
        '_TODO: what fixed it, and how it was confirmed._', '',
        '- Runbook outcome: %s' % report['outcome'],
        '',
        '### Action items', '',
        '| Action | Owner | Due | Ticket |', '|---|---|---|---|',
        '| _TODO_ | | | |', '',
    ]


def _gantt_section(report):
    gantt = render_gantt(report)
    if not gantt:
        return []
    return ['## Gantt chart', '', '_Task bars by start and end (UTC); failed ones in red._', ''] + gantt


def _tasks_section(report):
    out = ['## Tasks', '', '| # | Start (UTC) | Duration | Host | Task | Action | Outcome | Key results |',
           '|---|---|---|---|---|---|---|---|']
    for task in report['tasks']:
        out.append('| %d | %s | %s | %s | %s | %s | %s | %s |' % (
            task['index'], task['start'], _duration_text(task['duration_s']), _cell(task['host']),
            _cell(task['name']), _cell(task['action']), task['outcome'], _cell(_key_text(task['key_results']))))
    return out + ['']


def _key_results_section(report):
    keyed = [task for task in report['tasks'] if task['key_results']]
    if not keyed:
        return []
    out = ['## Key results', '']
    for task in keyed:
        out.append('%d. %s (%s, %s):' % (task['index'], task['name'], task['host'], task['outcome']))
        for name, value in task['key_results'].items():
            if isinstance(value, (dict, list)):
                value = json.dumps(value, sort_keys=True)
            out.append('   - %s: `%s`' % (name, to_text(value).replace('`', "'")))
    return out + ['']


def _messages_section(report):
    messages = [task for task in report['tasks'] if task.get('msg') and task['outcome'] != 'skipped']
    if not messages:
        return []
    out = ['## Messages', '']
    for task in messages:
        out += ['%d. %s (%s, %s):' % (task['index'], task['name'], task['host'], task['outcome']), '', '```']
        out += task['msg'].replace('```', "'''").splitlines() + ['```', '']
    return out


def _arguments_section(report):
    out = ['## Arguments', '', '_As written in the playbook; secrets redacted._', '']
    for task in report['tasks']:
        args = json.dumps(task['args'], sort_keys=True).replace('`', "'")
        out.append('%d. %s (%s): `%s`' % (task['index'], task['name'], task['action'], args))
    return out + ['']


def _trigger_section(report):
    """What started an automatic run (the extra var pourtrait_trigger, e.g. from the alert_response rulebook)."""
    trigger = report.get('trigger')
    if not trigger:
        return []
    out = ['## Trigger', '', '_This run was started automatically._', '']
    for key, value in trigger.items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        out.append('- %s: %s' % (_cell(key), _cell(text)))
    return out + ['']


def _evidence_section(report):
    return evidence_markdown(report.get('evidence'), _cell)


def _containment_section(report):
    return containment_markdown(report.get('containment'), _cell)


MARKDOWN_SECTIONS = (_trigger_section, _summary_section, _postmortem_section, _containment_section,
                     _evidence_section, _gantt_section, _tasks_section, _key_results_section, _messages_section,
                     _arguments_section)


def render_markdown(report):
    """The Markdown report (postmortem skeleton first for incident playbooks), section by section."""
    out = ['# Run report: %s' % report['playbook']['name'], '']
    for section in MARKDOWN_SECTIONS:
        out += section(report)
    return '\n'.join(out)

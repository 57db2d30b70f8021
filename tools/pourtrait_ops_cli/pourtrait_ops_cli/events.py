# Copyright: Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn ansible-runner events into progress lines and task results.

One :class:`RunRecorder` follows one run: ``handle(event)`` is the runner's
``event_handler``. It prints a line when a task starts on a host and one when it
finishes there (status, duration, and the one-line message of a failure), and
keeps a :class:`TaskResult` per task and host for the JSON summary and JUnit.
"""

import dataclasses
import re
import time

FINISH_EVENTS = {
    'runner_on_ok': 'ok',
    'runner_on_failed': 'failed',
    'runner_on_skipped': 'skipped',
    'runner_on_unreachable': 'unreachable',
}
STAT_KEYS = (('ok', 'ok'), ('changed', 'changed'), ('failures', 'failures'), ('skipped', 'skipped'),
             ('dark', 'unreachable'), ('rescued', 'rescued'), ('ignored', 'ignored'))
MAX_MESSAGE = 500


def one_line(text, limit=MAX_MESSAGE):
    """Collapse whitespace (newlines included) and cut to ``limit`` characters."""
    text = re.sub(r'\s+', ' ', str(text if text is not None else '')).strip()
    if len(text) > limit:
        text = text[:limit - 3].rstrip() + '...'
    return text


def result_message(res):
    """The message a person needs from a module result: msg, else stderr, else the reason."""
    if not isinstance(res, dict):
        return one_line(res) if res else ''
    for key in ('msg', 'stderr', 'reason', 'message'):
        value = res.get(key)
        if value:
            if isinstance(value, (list, tuple)):
                value = '; '.join(str(v) for v in value)
            return one_line(value)
    if res.get('rc') not in (None, 0):
        return 'exited with rc %s' % res['rc']
    return ''


def debug_lines(res):
    """The lines an ansible.builtin.debug task printed (msg as text or list), else []."""
    if not isinstance(res, dict) or 'msg' not in res:
        return []
    msg = res['msg']
    if isinstance(msg, (list, tuple)):
        return [str(line) for line in msg]
    return str(msg).splitlines()


def task_label(role, task, action):
    """'role : task' the way ansible-playbook names a task ('role' without the collection prefix)."""
    name = task or action or '(unnamed task)'
    if role:
        return '%s : %s' % (role.split('.')[-1], name)
    return name


@dataclasses.dataclass
class TaskResult:
    """What one task did on one host."""

    play: str
    task: str
    role: str
    action: str
    host: str
    uuid: str
    status: str = 'running'
    changed: bool = False
    duration: float = None
    started_at: float = None
    msg: str = ''
    lines: list = dataclasses.field(default_factory=list)

    @property
    def label(self):
        return task_label(self.role, self.task, self.action)

    def as_dict(self):
        return {'play': self.play, 'task': self.task, 'role': self.role, 'action': self.action, 'host': self.host,
                'name': self.label, 'status': self.status, 'changed': self.changed,
                'duration_s': None if self.duration is None else round(self.duration, 3),
                'started_at': self.started_at, 'msg': self.msg}


class RunRecorder(object):
    """Follows the events of one run; ``write(line)`` prints a progress line."""

    def __init__(self, write, verbosity=0, redact=None, clock=time.time):
        self._write = write
        self.verbosity = verbosity
        self.redact = redact or (lambda text: text)
        self.clock = clock
        self.results = []
        self._open = {}
        self.stats = {}
        self.play = ''
        self.errors = []
        self.no_hosts_matched = False

    # -- output -------------------------------------------------------------------------------
    def write(self, line):
        self._write(self.redact(line))

    def _progress(self, status, result, extra=''):
        stamp = time.strftime('%H:%M:%S', time.localtime(self.clock()))
        line = '%s %-11s %-12s %s' % (stamp, status.upper(), result.host, result.label)
        if extra:
            line += '  ' + extra
        self.write(line)

    # -- events -------------------------------------------------------------------------------
    def handle(self, event):
        """The ansible-runner event_handler: record, print, and let runner keep the event file."""
        kind = event.get('event', '')
        data = event.get('event_data') or {}
        if kind == 'playbook_on_play_start':
            self.play = data.get('play', '') or data.get('name', '')
        elif kind == 'runner_on_start':
            self._start(data)
        elif kind in FINISH_EVENTS:
            self._finish(FINISH_EVENTS[kind], data)
        elif kind == 'playbook_on_stats':
            self._stats(data)
        elif kind == 'playbook_on_no_hosts_matched':
            self.no_hosts_matched = True
            self.write('no hosts matched the inventory and --limit')
        elif kind in ('error', 'warning') and event.get('stdout'):
            self.errors.append(one_line(event['stdout']))
        if self.verbosity and event.get('stdout') and kind not in ('runner_on_start',):
            for line in event['stdout'].splitlines():
                self.write('    | ' + line)
        return True

    def _key(self, data):
        return (data.get('task_uuid') or data.get('task', ''), data.get('host', ''))

    def _new_result(self, data):
        action = data.get('resolved_action') or data.get('task_action', '')
        return TaskResult(data.get('play', self.play), data.get('task', ''), data.get('role', ''), action,
                          data.get('host', ''), data.get('task_uuid', ''))

    def _start(self, data):
        result = self._new_result(data)
        result.started_at = data.get('start') or time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(self.clock()))
        result.started_clock = self.clock()
        self._open[self._key(data)] = result
        self.results.append(result)
        self._progress('start', result)

    def _finish(self, status, data):
        result = self._open.pop(self._key(data), None)
        if result is None:  # no start event (e.g. unreachable before the task started): record it now
            result = self._new_result(data)
            self.results.append(result)
        res = data.get('res') if isinstance(data.get('res'), dict) else {}
        if status == 'failed' and data.get('ignore_errors'):
            status = 'ignored'
        elif status == 'ok' and res.get('changed'):
            status = 'changed'
        result.status = status
        result.changed = bool(res.get('changed'))
        duration = data.get('duration')
        if duration is None and hasattr(result, 'started_clock'):
            duration = self.clock() - result.started_clock
        result.duration = float(duration) if duration is not None else None
        if status in ('failed', 'ignored', 'unreachable'):
            result.msg = self.redact(result_message(res))
        elif status == 'skipped':
            result.msg = self.redact(one_line(res.get('skip_reason', '')))
        elif result.action.endswith('debug'):
            result.lines = [self.redact(line) for line in debug_lines(res)]
            result.msg = one_line(' '.join(result.lines))
        extra = '%.2fs' % result.duration if result.duration is not None else ''
        if result.msg and status in ('failed', 'ignored', 'unreachable'):
            extra += ' - ' + result.msg
        self._progress(status, result, extra)
        for line in result.lines:
            self.write('    ' + line)

    def _stats(self, data):
        hosts = set()
        for key, _name in STAT_KEYS:
            hosts.update((data.get(key) or {}).keys())
        self.stats = {}
        for host in sorted(hosts):
            self.stats[host] = dict((name, int((data.get(key) or {}).get(host, 0))) for key, name in STAT_KEYS)
        self._mark_rescued()

    def _mark_rescued(self):
        """Failures a block's rescue recovered from: per host, ansible's stats keep only the failures that
        stood; the earlier failed results beyond that count were rescued."""
        for host, counts in self.stats.items():
            failed = [r for r in self.results if r.host == host and r.status == 'failed']
            extra = len(failed) - counts.get('failures', 0)
            for result in failed[:max(extra, 0)]:
                result.status = 'rescued'

    # -- outcome ------------------------------------------------------------------------------
    def unfinished(self):
        """Results whose task started but never finished (the run was cut short)."""
        return [r for r in self.results if r.status == 'running']

    def with_status(self, *statuses):
        return [r for r in self.results if r.status in statuses]

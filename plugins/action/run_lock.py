# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pourtrait.ops.run_lock: a lock file held by the ansible-playbook process (the task worker's parent)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


def process_start(pid):
    """The start time of ``pid`` (clock ticks since boot; tells a reused pid apart), None when unknown."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return int(handle.read().rsplit(')', 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def alive(holder):
    pid = holder.get('pid')
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    start = process_start(pid)
    return start is None or holder.get('start') in (None, start)


def read_holder(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # being written right now, or garbage: judged by its age below


def try_take(path, me):
    """True when this run now holds ``path``."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, 'w') as handle:
        json.dump(me, handle)
    return True


def take_over_if_dead(path, holder):
    """Remove a lock whose process is gone (or unreadable for over 10 s); True when removed."""
    if holder is None:
        return True
    if holder == {}:
        try:
            if time.time() - os.stat(path).st_mtime < 10:
                return False
        except FileNotFoundError:
            return True
    elif alive(holder):
        return False
    try:
        os.rename(path, path + '.stale.%d' % os.getpid())
        os.unlink(path + '.stale.%d' % os.getpid())
    except FileNotFoundError:
        pass
    return True


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        path = os.path.expanduser(str(args.get('path') or ''))
        if not path:
            raise AnsibleActionFail('path is required')
        state = args.get('state', 'acquired')
        if state not in ('acquired', 'released'):
            raise AnsibleActionFail('state must be acquired or released, not %r' % state)
        pid = os.getppid()  # the ansible-playbook process this worker was forked from
        me = dict(pid=pid, start=process_start(pid), owner=str(args.get('owner') or ''),
                  since=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
        if state == 'released':
            holder = read_holder(path)
            mine = bool(holder) and holder.get('pid') == pid
            if mine:
                os.unlink(path)
            result.update(changed=False, held=False, released=mine)
            return result
        wait_timeout = float(args.get('wait_timeout', 600))
        interval = max(0.05, float(args.get('poll_interval', 1)))
        os.makedirs(os.path.dirname(path) or '.', 0o700, exist_ok=True)
        started = time.time()
        waited_for = None
        while True:
            holder = read_holder(path)
            if holder and holder.get('pid') == pid:
                break  # this run holds it already
            if try_take(path, me):
                break
            holder = read_holder(path)
            if take_over_if_dead(path, holder):
                continue
            waited_for = waited_for or holder
            if time.time() - started >= wait_timeout:
                raise AnsibleActionFail(
                    'another run holds the production lock %s: %s (pid %s, since %s); waited %.0f s. Let it finish, '
                    'or end it first' % (path, holder.get('owner') or 'unknown', holder.get('pid'),
                                         holder.get('since'), time.time() - started))
            time.sleep(interval)
        result.update(changed=False, held=True, waited_s=round(time.time() - started, 3))
        if waited_for:
            result['waited_for'] = dict((k, waited_for.get(k)) for k in ('owner', 'pid', 'since'))
        return result

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: run_lock
short_description: Take or release the lock that runs changing production share (manual and automatic)
version_added: 1.2.0
author: Pourtrait engineering (@pourtrait)
description:
  - A lock file on the controller naming the C(ansible-playbook) process that holds it. Another run that wants it
    waits up to O(wait_timeout) seconds, then fails saying who holds it.
  - The holder is the C(ansible-playbook) process, so the lock is held until O(state=released) or until that process
    ends - a run that was killed or failed never blocks the next one (a lock whose process is gone is taken over).
  - C(playbooks/rollback.yml) and the runs the C(alert_response) rulebook starts take the same lock, so an engineer's
    rollback and an automatic one never run at the same moment.
options:
  _terms:
    description: The lock file (one path). Its folder is created (0700) when missing.
    required: true
    type: list
    elements: path
  state:
    description: C(acquired) takes the lock (waiting for it), C(released) gives it back (only when this run holds it).
    type: str
    choices: [acquired, released]
    default: acquired
  wait_timeout:
    description: Seconds to wait for another run's lock; C(0) fails at once.
    type: int
    default: 600
  poll_interval:
    description: Seconds between two looks at a held lock.
    type: float
    default: 1
  owner:
    description: What holds the lock, shown to runs that wait for it.
    type: str
    default: ''
"""

EXAMPLES = r"""
- name: Take the production lock
  ansible.builtin.debug:
    msg: "{{ lookup('pourtrait.ops.run_lock', '~/.cache/pourtrait-ops/production.lock', owner='rollback.yml') }}"

- name: Give it back
  ansible.builtin.debug:
    msg: "{{ lookup('pourtrait.ops.run_lock', '~/.cache/pourtrait-ops/production.lock', state='released') }}"
"""

RETURN = r"""
_raw:
  description: One line saying what happened (held, after how long a wait and for whom; released).
  type: list
  elements: str
"""

import json
import os
import time

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


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


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError('run_lock takes one lock file path, got %d' % len(terms))
        path = os.path.expanduser(str(terms[0]))
        state = self.get_option('state')
        pid = os.getppid()  # the ansible-playbook process this worker was forked from
        if state == 'released':
            holder = read_holder(path)
            if holder and holder.get('pid') == pid:
                os.unlink(path)
                return ['released %s' % path]
            return ['not held: %s' % path]
        me = dict(pid=pid, start=process_start(pid), owner=str(self.get_option('owner') or ''),
                  since=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
        wait_timeout = float(self.get_option('wait_timeout'))
        interval = max(0.05, float(self.get_option('poll_interval')))
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
                raise AnsibleLookupError(
                    'another run holds the production lock %s: %s (pid %s, since %s); waited %.0f s. Let it finish, '
                    'or end it first' % (path, holder.get('owner') or 'unknown', holder.get('pid'),
                                         holder.get('since'), time.time() - started))
            time.sleep(interval)
        line = 'holding %s' % path
        if waited_for:
            whom = waited_for.get('owner') or 'another run'
            line += ' after waiting %.1f s for %s (pid %s)' % (time.time() - started, whom, waited_for.get('pid'))
        return [line]

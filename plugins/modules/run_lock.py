#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: run_lock
short_description: Take or release a lock that runs changing production share (manual and automatic)
version_added: 1.2.0
description:
  - A lock file on the controller naming the C(ansible-playbook) process that holds it. Another run that wants it
    waits up to O(wait_timeout) seconds, then fails saying who holds it.
  - The holder is the C(ansible-playbook) process, not the task, so the lock is held until O(state=released) or until
    that process ends - a run that was killed or failed never blocks the next one (a lock whose process is gone is
    taken over).
  - C(playbooks/rollback.yml) and the runs the C(alert_response) rulebook starts take the same lock, so an engineer's
    rollback and an automatic one never run at the same moment.
  - Runs on the controller (an action plugin); never changes a managed host.
author: Pourtrait engineering (@pourtrait)
options:
  path:
    description:
      - The lock file. Its folder is created (0700) when missing.
    type: path
    required: true
  state:
    description:
      - C(acquired) takes the lock (waiting for it), C(released) gives it back (only when this run holds it).
    type: str
    choices: [acquired, released]
    default: acquired
  wait_timeout:
    description:
      - Seconds to wait for another run's lock; C(0) fails at once.
    type: int
    default: 600
  poll_interval:
    description:
      - Seconds between two looks at a held lock.
    type: float
    default: 1
  owner:
    description:
      - What holds the lock, shown to runs that wait for it (the playbook and the reason).
    type: str
    default: ''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The lock is taken in check mode too (a check run reads production while nothing else changes it).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Take the production lock
  pourtrait.ops.run_lock:
    path: "{{ lookup('ansible.builtin.env', 'HOME') }}/.cache/pourtrait-ops/production.lock"
    owner: rollback.yml

- name: Give it back
  pourtrait.ops.run_lock:
    path: "{{ lookup('ansible.builtin.env', 'HOME') }}/.cache/pourtrait-ops/production.lock"
    state: released
'''

RETURN = r'''
held:
  description: Whether this run holds the lock after the task.
  returned: always
  type: bool
waited_s:
  description: Seconds spent waiting for another run's lock.
  returned: state=acquired
  type: float
waited_for:
  description: The holder this run waited for (C(owner), C(pid), C(since)), when it waited.
  returned: when it waited
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(path=dict(type='path', required=True),
                                              state=dict(type='str', choices=['acquired', 'released'],
                                                         default='acquired'),
                                              wait_timeout=dict(type='int', default=600),
                                              poll_interval=dict(type='float', default=1.0),
                                              owner=dict(type='str', default='')),
                           supports_check_mode=True)
    module.fail_json(msg='pourtrait.ops.run_lock runs on the controller through its action plugin')


if __name__ == '__main__':
    main()

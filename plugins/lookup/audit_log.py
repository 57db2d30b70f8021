# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: audit_log
short_description: Append one line to the audit log of automatic actions, on the controller
version_added: 1.3.0
author: Pourtrait engineering (@pourtrait)
description:
  - Appends O(entry) as one JSON line to the audit log (a file on the controller), creating its folder (0700) and the
    file (0600) when missing. One C(write) of the whole line in append mode, so lines of runs writing at the same
    moment never interleave.
  - The C(alert_guard) role writes each decision of an automatic run with it (started, finished, dry_run, disabled,
    stale). It runs in the controller process (no module is shipped, no Python started), so the guard in front of an
    automatic rollback costs milliseconds, not a module run per line.
  - It writes in check mode too (the audit log records what automatic runs decided, whatever their mode).
options:
  _terms:
    description: The audit log file (one path; C(~) is expanded).
    required: true
    type: list
    elements: path
  entry:
    description: The line to append, as a mapping (written as compact JSON on one line).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: "Guard: audit - started"
  ansible.builtin.debug:
    msg: >-
      {{ lookup('pourtrait.ops.audit_log', '~/.local/state/pourtrait-ops/alert-audit.jsonl',
                entry={'outcome': 'started', 'action': 'incident.yml mitigation=rollback'}) }}
"""

RETURN = r"""
_raw:
  description: One line saying where the entry went.
  type: list
  elements: str
"""

import json
import os

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.lookup import LookupBase


def append_line(path, entry):
    """Append ``entry`` (a dict) to ``path`` as one JSON line; the folder 0700 and the file 0600 when created."""
    line = json.dumps(entry, default=to_text) + '\n'
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode('utf-8'))
    finally:
        os.close(fd)


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        unknown = sorted(set(kwargs) - {'entry'})
        if unknown:
            raise AnsibleLookupError('audit_log: unknown option(s) %s; the only one is entry' % ', '.join(unknown))
        if len(terms) != 1 or not terms[0]:
            raise AnsibleLookupError('audit_log: give exactly one audit log path, e.g. '
                                     "lookup('pourtrait.ops.audit_log', '~/.local/state/pourtrait-ops/alert-audit.jsonl', entry={...})")
        entry = kwargs.get('entry')
        if not isinstance(entry, dict):
            raise AnsibleLookupError('audit_log: entry must be a mapping (the audit line), got %s' % type(entry).__name__)
        path = os.path.expanduser(to_text(terms[0]))
        try:
            append_line(path, entry)
        except (OSError, TypeError, ValueError) as exc:
            raise AnsibleLookupError('audit_log: cannot append to %s: %s; set POURTRAIT_AUDIT_LOG (or '
                                     'alert_guard_audit_log) to a writable file' % (path, exc))
        return ['audit line written to %s' % path]

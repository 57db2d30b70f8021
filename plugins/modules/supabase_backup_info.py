#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: supabase_backup_info
short_description: Backups of a Supabase project, point-in-time recovery and the age of the newest backup
version_added: 1.0.0
description:
  - Reads C(GET /v1/projects/{ref}/database/backups) and reports the backups (newest first, with their age), whether
    point-in-time recovery (PITR) and WAL-G are on, the recoverable window and the age of the newest C(COMPLETED)
    backup.
  - With O(max_age_hours) it fails when the newest completed backup is older than that (or there is none), so a
    playbook can refuse to change the database without a fresh backup.
  - Read-only; never reports a change.
author: Pourtrait engineering (@pourtrait)
options:
  max_age_hours:
    description:
      - Fail when the newest C(COMPLETED) backup is older than this many hours, or when there is no completed backup.
    type: float
  require_pitr:
    description:
      - Fail when point-in-time recovery is off.
    type: bool
    default: false
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes,
                                 pourtrait.ops.attributes.info_module, pourtrait.ops.supabase]
'''

EXAMPLES = r'''
- name: Refuse to migrate without a backup of the last day
  pourtrait.ops.supabase_backup_info:
    max_age_hours: 24
  register: backups

- name: Show the window a point-in-time restore can reach
  ansible.builtin.debug:
    msg: "PITR {{ backups.pitr_enabled }}: {{ backups.recoverable_window.earliest }} .. {{ backups.recoverable_window.latest }}"
'''

RETURN = r'''
pitr_enabled:
  description: Whether point-in-time recovery is on.
  returned: always
  type: bool
walg_enabled:
  description: Whether WAL-G (physical) backups are on.
  returned: always
  type: bool
region:
  description: The project's region.
  returned: always
  type: str
backups:
  description: Backups newest first - id, status (C(COMPLETED), C(FAILED), C(PENDING), ...), is_physical_backup,
    inserted_at, inserted_unix, age_hours.
  returned: always
  type: list
  elements: dict
count:
  description: Number of backups listed.
  returned: always
  type: int
completed_count:
  description: Number of C(COMPLETED) backups.
  returned: always
  type: int
latest_completed:
  description: The newest C(COMPLETED) backup (same keys as in RV(backups)), null when there is none.
  returned: always
  type: dict
latest_completed_age_hours:
  description: Age in hours of the newest completed backup, null when there is none.
  returned: always
  type: float
recoverable_window:
  description: The window a point-in-time restore can reach - earliest, latest (ISO 8601), earliest_unix, latest_unix,
    hours. Null when the API reports none.
  returned: always
  type: dict
msg: {description: One-line summary., returned: always, type: str}
'''

from ansible_collections.pourtrait.ops.plugins.module_utils.supabase import (
    SupabaseError, SupabaseModule, summarize_backups, window_text,
)


class BackupInfo(SupabaseModule):
    argument_spec = dict(
        max_age_hours=dict(type='float'),
        require_pitr=dict(type='bool', default=False),
    )

    def validate(self):
        if self.params['max_age_hours'] is not None and self.params['max_age_hours'] <= 0:
            raise SupabaseError('max_age_hours must be more than 0, got %s' % self.params['max_age_hours'])

    def run(self):
        p = self.params
        info = summarize_backups(self.client.backups(self.ref))
        result = dict(changed=False, **info)
        newest = info['latest_completed']
        if newest:
            summary = 'newest completed backup %s is %.1f h old' % (newest['id'], newest['age_hours'] or 0)
        else:
            summary = 'no completed backup'
        result['msg'] = '%s; PITR %s (window %s); %d backups' % (
            summary, 'on' if info['pitr_enabled'] else 'off', window_text(info['recoverable_window']), info['count'])
        limit = p['max_age_hours']
        if limit is not None:
            if not newest:
                raise SupabaseError('project %s has no completed backup (max_age_hours=%s); check Database > Backups '
                                    'in the Supabase dashboard before changing the database' % (self.ref, limit),
                                    **result)
            if newest['age_hours'] is None or newest['age_hours'] > limit:
                raise SupabaseError('the newest completed backup of project %s (id %s, %s) is %.1f h old, older than '
                                    'max_age_hours=%s; check Database > Backups in the Supabase dashboard (scheduled '
                                    'backups may be failing) before changing the database'
                                    % (self.ref, newest['id'], newest['inserted_at'], newest['age_hours'] or -1, limit),
                                    **result)
        if p['require_pitr'] and not info['pitr_enabled']:
            raise SupabaseError('point-in-time recovery is off for project %s (require_pitr=true); enable the PITR '
                                'add-on in the Supabase dashboard' % self.ref, **result)
        return result


def main():
    BackupInfo.main()


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: supabase_backup_restore
short_description: Restore a Supabase project to a point in time or from a physical backup, and wait until it is healthy
version_added: 1.0.0
description:
  - Point-in-time restore (O(recovery_time), C(POST .../database/backups/restore-pitr)) or restore of a physical
    backup by id (O(backup_id), C(POST .../database/backups/restore)). Either replaces the whole database of the
    project, so the module refuses to run unless O(confirm) equals the project ref.
  - Before anything is sent it checks that the project is not busy (C(RESTORING), C(UPGRADING), ...), that
    point-in-time recovery is on and the time lies inside the recoverable window, or that the backup exists, is
    physical and C(COMPLETED). Each refusal is a one-line error naming the window or the backups to choose from.
  - The restore request is sent once. When its answer is lost (a reset, a timeout, a 5xx) the module re-reads the
    project's status - C(RESTORING) means the restore was accepted - and never sends the request again blindly.
  - With O(wait=true) it polls inside this one call until the project has gone through C(RESTORING) and is
    C(ACTIVE_HEALTHY) again; C(RESTORE_FAILED) fails at once.
author: Pourtrait engineering (@pourtrait)
options:
  recovery_time:
    description:
      - Point in time to restore to, as ISO 8601 (C(2026-01-31T14:00:00Z); no zone means UTC) or unix seconds.
      - Needs point-in-time recovery; the time must lie inside the window M(pourtrait.ops.supabase_backup_info)
        reports. Mutually exclusive with O(backup_id).
    type: str
  backup_id:
    description:
      - Id of the physical backup to restore (M(pourtrait.ops.supabase_backup_info) lists them). Mutually exclusive
        with O(recovery_time).
    type: int
  confirm:
    description:
      - Must equal O(project_ref) for the restore to run - a restore overwrites every change made since that time.
      - Not needed in check mode.
    type: str
  wait:
    description:
      - Wait until the project is C(ACTIVE_HEALTHY) again after the restore.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the restore to finish.
    type: int
    default: 3600
  poll_interval:
    description:
      - Seconds between two status reads while waiting.
    type: float
    default: 10
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes, pourtrait.ops.supabase]
attributes:
  check_mode:
    details: Runs every check (status, PITR, window, backup) and says what it would restore; sends no restore.
notes:
  - A restore cannot be undone by this module; take a logical dump first (M(pourtrait.ops.postgres_dump) or
    M(pourtrait.ops.supabase_db_dump)) when the current data may still be needed.
'''

EXAMPLES = r'''
- name: Restore production to just before the bad migration
  pourtrait.ops.supabase_backup_restore:
    project_ref: abcdefghijklmnopqrst
    recovery_time: "2026-01-31T13:55:00Z"
    confirm: abcdefghijklmnopqrst

- name: Restore last night's physical backup
  pourtrait.ops.supabase_backup_restore:
    backup_id: "{{ backups.latest_completed.id }}"
    confirm: "{{ supabase_project_ref }}"
    wait_timeout: 7200
'''

RETURN = r'''
kind:
  description: C(pitr) or C(physical).
  returned: always
  type: str
recovery_time:
  description: The point in time restored to (ISO 8601 UTC), or the time of the physical backup.
  returned: always
  type: str
recovery_time_unix:
  description: The same as unix seconds (what was sent for a point-in-time restore).
  returned: always
  type: int
backup:
  description: The physical backup restored (id, status, inserted_at, ...); null for a point-in-time restore.
  returned: always
  type: dict
recoverable_window:
  description: The point-in-time window before the restore - earliest, latest, earliest_unix, latest_unix, hours.
  returned: always
  type: dict
status_before:
  description: The project status before the restore.
  returned: always
  type: str
status:
  description: The project status at the end (C(ACTIVE_HEALTHY) after a completed wait, C(RESTORING) with O(wait=false)).
  returned: always
  type: str
reconciled:
  description: True when the restore's answer was lost and its acceptance was read from the project status instead.
  returned: always
  type: bool
duration_s:
  description: Seconds from the restore request to the end of the wait.
  returned: always
  type: float
msg:
  description: One-line summary (in check mode, what would be restored).
  returned: always
  type: str
'''

import time

from ansible_collections.pourtrait.ops.plugins.module_utils.supabase import (
    BUSY_STATES, HEALTHY, SupabaseError, SupabaseModule, iso, parse_time, summarize_backups, window_text,
)
from ansible_collections.pourtrait.ops.plugins.module_utils._module import check_range


class BackupRestore(SupabaseModule):
    argument_spec = dict(
        recovery_time=dict(type='str'),
        backup_id=dict(type='int'),
        confirm=dict(type='str'),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=3600),
        poll_interval=dict(type='float', default=10),
    )
    module_kwargs = dict(mutually_exclusive=[('recovery_time', 'backup_id')],
                         required_one_of=[('recovery_time', 'backup_id')])

    def validate(self):
        p = self.params
        self.target_unix = parse_time(p['recovery_time']) if p['recovery_time'] is not None else None
        check_range('wait_timeout', p['wait_timeout'], minimum=0)
        check_range('poll_interval', p['poll_interval'], above=0)
        if not self.check_mode and p['confirm'] != self.ref:
            what = 'to %s' % iso(self.target_unix) if self.target_unix is not None else 'from backup %s' % p['backup_id']
            if not p['confirm']:
                raise SupabaseError('refusing to restore project %s %s without confirmation: a restore replaces the '
                                    'whole database; set confirm: %s to go ahead' % (self.ref, what, self.ref))
            raise SupabaseError('refusing to restore: confirm (%s) does not match project_ref %s; set confirm: %s to '
                                'restore this project' % (p['confirm'][:40], self.ref, self.ref))
        if self.target_unix is not None and self.target_unix > time.time() + 60:
            raise SupabaseError('recovery_time %s is in the future; pick a time in the recoverable window '
                                '(supabase_backup_info reports it)' % iso(self.target_unix))

    def run(self):
        p = self.params
        client = self.client
        proj = client.project(self.ref)
        status_before = proj.get('status')
        if status_before in BUSY_STATES:
            raise SupabaseError('project %s is %s; a restore cannot start now - wait until it is ACTIVE_HEALTHY '
                                '(supabase_project_info wait=true) and run again' % (self.ref, status_before),
                                status_before=status_before)
        if status_before == 'INACTIVE':
            raise SupabaseError('project %s is paused (INACTIVE); restore (unpause) it in the Supabase dashboard first'
                                % self.ref, status_before=status_before)
        info = summarize_backups(client.backups(self.ref))
        window = info['recoverable_window']
        result = dict(changed=True, recoverable_window=window, status_before=status_before, status=status_before,
                      reconciled=False, duration_s=0.0, backup=None)
        if self.target_unix is not None:
            if not info['pitr_enabled']:
                raise SupabaseError('point-in-time recovery is off for project %s, so it cannot be restored to %s; '
                                    'restore a physical backup with backup_id (supabase_backup_info lists them) or '
                                    'enable the PITR add-on' % (self.ref, iso(self.target_unix)), **result)
            if not window or not window['earliest_unix'] <= self.target_unix <= window['latest_unix']:
                raise SupabaseError('recovery_time %s is outside the recoverable window %s of project %s; pick a time '
                                    'inside it' % (iso(self.target_unix), window_text(window), self.ref), **result)
            result.update(kind='pitr', recovery_time=iso(self.target_unix), recovery_time_unix=self.target_unix)
            what = 'to %s (point in time)' % iso(self.target_unix)
        else:
            backup = [b for b in info['backups'] if str(b['id']) == str(p['backup_id'])]
            choices = ', '.join('%s (%s)' % (b['id'], b['inserted_at']) for b in info['backups']
                                if b['status'] == 'COMPLETED' and b['is_physical_backup'])[:400] or 'none'
            if not backup:
                raise SupabaseError('backup %s not found in project %s; completed physical backups: %s'
                                    % (p['backup_id'], self.ref, choices), **result)
            backup = backup[0]
            if not backup['is_physical_backup'] or backup['status'] != 'COMPLETED':
                raise SupabaseError('backup %s is %s%s and cannot be restored; completed physical backups: %s'
                                    % (backup['id'], backup['status'],
                                       '' if backup['is_physical_backup'] else ', not physical', choices), **result)
            result.update(kind='physical', backup=backup, recovery_time=backup['inserted_at'],
                          recovery_time_unix=backup['inserted_unix'])
            what = 'from physical backup %s (%s)' % (backup['id'], backup['inserted_at'])
        if self.check_mode:
            result['msg'] = 'would restore project %s %s (status now %s)%s' % (
                self.ref, what, status_before, '' if p['confirm'] == self.ref else '; confirm: %s is needed to run it'
                % self.ref)
            return result

        started = time.time()
        if result['kind'] == 'pitr':
            resp = client.restore_pitr(self.ref, self.target_unix)
        else:
            resp = client.restore_physical(self.ref, p['backup_id'])
        result['reconciled'] = bool(resp.reconciled)
        if not p['wait']:
            result.update(status=client.project(self.ref).get('status'), duration_s=round(time.time() - started, 3),
                          msg='restore of project %s %s accepted; not waiting for it to finish' % (self.ref, what))
            return result
        self._wait_restoring(started, p['wait_timeout'], p['poll_interval'])
        remaining = max(0, p['wait_timeout'] - (time.time() - started))
        try:
            proj, _services, _waited = client.wait_healthy(self.ref, remaining, p['poll_interval'], check_services=False,
                                                           what='the restore of project %s' % self.ref)
        except SupabaseError as exc:
            exc.extra.update((k, v) for k, v in result.items() if k not in exc.extra)
            raise
        result.update(status=proj.get('status'), duration_s=round(time.time() - started, 3),
                      msg='restored project %s %s; it is ACTIVE_HEALTHY again after %.0fs%s'
                      % (self.ref, what, time.time() - started,
                         ' (the answer to the restore request was lost; the project status showed it was accepted, '
                         'so it was not sent again)' if result['reconciled'] else ''))
        return result

    def _wait_restoring(self, started, wait_timeout, poll_interval):
        """Wait (briefly) until the project shows the restore began, so the healthy wait does not end at once."""
        deadline = started + min(wait_timeout, max(30.0, 3 * poll_interval))
        while time.time() < deadline:
            status = self.client.project(self.ref).get('status')
            if status != HEALTHY:
                return status
            time.sleep(min(poll_interval, 1.0))
        self.warnings.append('project %s never showed RESTORING after the restore was accepted; it reports '
                             'ACTIVE_HEALTHY - check the data' % self.ref)
        return HEALTHY


def main():
    BackupRestore.main()


if __name__ == '__main__':
    main()

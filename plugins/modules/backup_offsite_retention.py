#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: backup_offsite_retention
short_description: Delete old off-site recovery points of one database, by count and age
description:
  - Lists the recovery points M(pourtrait.ops.backup_upload) wrote under C(<prefix>/<database>/) and keeps the
    O(keep) newest and/or those younger than O(max_age_days) (with both, a point stays when either rule keeps it).
    The newest verified recovery point is always kept; a policy that would delete every one is refused.
  - A recovery point's record (C(recovery-point.json)) is deleted first, so a half-deleted point never looks like a
    backup. Unfinished uploads (no record) older than O(incomplete_after_hours) are deleted too.
  - With versioning on, a delete leaves the old versions (noncurrent) for the bucket's lifecycle rules;
    O(purge_versions=true) deletes every version. Versions under an Object Lock retention are refused by the
    server and reported in RV(refused).
  - Check mode and C(--diff) list the recovery points that would go; nothing is deleted.
version_added: 1.1.0
author: Pourtrait engineering (@pourtrait)
options:
  database:
    description: The database whose recovery points are pruned (the key segment after O(prefix)).
    type: str
    required: true
  prefix:
    description: Key prefix of the recovery points, as given to M(pourtrait.ops.backup_upload).
    type: str
    default: pourtrait
  keep:
    description: Keep this many newest recovery points (1 or more).
    type: int
  max_age_days:
    description: Keep the recovery points younger than this many days (by the dump's creation time).
    type: float
  purge_versions:
    description: Delete every version of the objects, not only the current one.
    type: bool
    default: false
  incomplete_after_hours:
    description: Delete unfinished uploads (objects without a record) older than this many hours.
    type: float
    default: 24
extends_documentation_fragment:
  - pourtrait.ops.attributes
  - pourtrait.ops.s3
attributes:
  check_mode:
    details: Lists what would be deleted; deletes nothing.
  diff_mode:
    support: full
    details: The recovery point names before and after.
'''

EXAMPLES = r'''
- name: Keep 14 daily recovery points, and anything younger than 35 days
  pourtrait.ops.backup_offsite_retention:
    database: pourtrait
    keep: 14
    max_age_days: 35
'''

RETURN = r'''
kept:
  description: The recovery points kept, newest first, each with C(name), C(created) and the C(reason).
  returned: always
  type: list
  elements: dict
deleted:
  description: Names of the recovery points deleted (in check mode - that would be).
  returned: always
  type: list
  elements: str
incomplete:
  description: Names of the unfinished uploads deleted (that would be, in check mode).
  returned: always
  type: list
  elements: str
deleted_objects:
  description: How many objects (or versions) were deleted.
  returned: always
  type: int
refused:
  description: Objects the server refused to delete (C(key), C(version_id), C(error)), e.g. under Object Lock.
  returned: always
  type: list
  elements: dict
'''

import datetime

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, check_range
from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import layout, retention
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.client import S3Module
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.points import list_points


class BackupOffsiteRetention(S3Module):
    name = 'backup_offsite_retention'
    argument_spec = dict(
        database=dict(type='str', required=True),
        prefix=dict(type='str', default='pourtrait'),
        keep=dict(type='int'),
        max_age_days=dict(type='float'),
        purge_versions=dict(type='bool', default=False),
        incomplete_after_hours=dict(type='float', default=24),
    )

    def preflight(self):
        S3Module.preflight(self)
        try:
            self.db_prefix = layout.database_prefix(self.params['prefix'], self.params['database'])
        except layout.LayoutError as exc:
            raise OpsError(str(exc))
        check_range('incomplete_after_hours', self.params['incomplete_after_hours'], above=0)

    def doomed(self, points):
        items = []
        for point in points:
            if self.params['purge_versions']:
                versions = self.s3.list_versions(point['prefix'])
                record = [v for v in versions if v['key'].endswith('/' + layout.RECORD_NAME)]
                items.extend(record + [v for v in versions if v not in record])
            else:
                items.extend({'key': k} for k in point['keys'])
        return items

    def run(self):
        p = self.params
        try:
            complete, incomplete = list_points(self.s3, self.params['prefix'], self.params['database'])
            kept, deleted = retention.select(complete, keep=p.get('keep'), max_age_days=p.get('max_age_days'))
        except retention.RetentionError as exc:
            raise OpsError(str(exc))
        cutoff = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=p['incomplete_after_hours'])
        stale = [i for i in incomplete if i['created'] < cutoff]
        self.diff({'recovery_points': [c['name'] for c in complete]},
                  {'recovery_points': [k['name'] for k in kept]})
        items = self.doomed(deleted + stale)
        refused = []
        if items and not self.check_mode:
            refused = [dict(key=k, version_id=v, error=e) for k, v, e in self.s3.delete(items)]
            if refused:
                self.warn('%d object(s) were not deleted (%s); an Object Lock retention keeps them until it ends'
                          % (len(refused), refused[0]['error']))
        return dict(changed=bool(items), deleted=[d['name'] for d in deleted], incomplete=[s['name'] for s in stale],
                    kept=[{'name': k['name'], 'created': k['created'].strftime('%Y-%m-%dT%H:%M:%SZ'),
                           'reason': k['reason']} for k in kept],
                    deleted_objects=len(items) - len(refused), refused=refused)


def main():
    BackupOffsiteRetention.main()


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: backup_freshness
short_description: Fail when the newest off-site recovery point or Supabase's own backup is too old
description:
  - Lists one database's recovery points in the bucket (those M(pourtrait.ops.backup_upload) wrote; a point counts
    once its C(recovery-point.json) exists) and fails when the newest B(verified) one is older than O(max_age), or
    when there is none.
  - Reads Supabase's own backups (C(GET /v1/projects/{ref}/database/backups)) - the newest C(COMPLETED) one
    against O(supabase_max_age), whether point-in-time recovery is on and its recoverable window (optionally
    required with O(supabase_require_pitr)).
  - The message says which backup is stale and what to run (C(playbooks/backup.yml) for the off-site copy).
    C(deploy.yml) and C(migrate.yml) use it as a gate (C(deploy_require_fresh_backup),
    C(migrate_require_fresh_backup)).
  - With O(fail_when_stale=false) it only reports (RV(fresh), RV(stale)).
  - Reads only; runs the same in check mode.
version_added: 1.1.0
author: Pourtrait engineering (@pourtrait)
options:
  database:
    description:
      - The database whose recovery points are checked (the C(<database>) segment of the keys).
    type: str
    required: true
  prefix:
    description:
      - Key prefix of the recovery points (as in M(pourtrait.ops.backup_upload)).
    type: str
    default: pourtrait
  max_age:
    description:
      - The oldest the newest verified off-site recovery point may be - a number with a unit (V(w), V(d), V(h),
        V(m), V(s)) such as V(26h), V(2d) or V(1d12h). A bare number is refused.
    type: str
    default: 26h
  require_verified:
    description:
      - Count only recovery points whose dump was verified (the record's C(verified)).
    type: bool
    default: true
  supabase:
    description:
      - Also check Supabase's own backups.
    type: bool
    default: true
  supabase_max_age:
    description:
      - The oldest Supabase's newest C(COMPLETED) backup may be (same form as O(max_age)).
    type: str
    default: 26h
  supabase_require_pitr:
    description:
      - Count point-in-time recovery being off as stale.
    type: bool
    default: false
  fail_when_stale:
    description:
      - Fail when a backup is stale; V(false) - report only.
    type: bool
    default: true
  supabase_access_token:
    description:
      - The Supabase personal access token. If not set, E(SUPABASE_ACCESS_TOKEN) is used.
    type: str
  supabase_project_ref:
    description:
      - The Supabase project ref. If not set, E(SUPABASE_PROJECT_REF) is used.
    type: str
  supabase_api_url:
    description:
      - The Management API. If not set, E(SUPABASE_API_URL) is used, else C(https://api.supabase.com).
    type: str
    default: https://api.supabase.com
  supabase_ca_path:
    description:
      - A CA bundle for the Management API. If not set, E(SUPABASE_CA_PATH) is used.
    type: path
  supabase_validate_certs:
    description:
      - Verify the Management API's TLS certificate.
    type: bool
    default: true
extends_documentation_fragment:
  - pourtrait.ops.attributes
  - pourtrait.ops.attributes.info_module
  - pourtrait.ops.s3
notes:
  - The Supabase options carry a C(supabase_) prefix because the C(s3) group's options already use
    C(validate_certs), C(ca_path) and C(timeout).
'''

EXAMPLES = r'''
- name: Refuse to go on without a backup of the last 26 hours, off-site and at Supabase
  pourtrait.ops.backup_freshness:
    database: pourtrait
    max_age: 26h

- name: Report only (a health check)
  pourtrait.ops.backup_freshness:
    database: pourtrait
    max_age: 2d
    supabase_require_pitr: true
    fail_when_stale: false
  register: backups
'''

RETURN = r'''
fresh:
  description: Whether nothing is stale.
  returned: always
  type: bool
stale:
  description: What is stale - C(what) (V(offsite), V(supabase), V(supabase_pitr)) and a one-line C(message)
    saying what to run.
  returned: always
  type: list
  elements: dict
offsite:
  description: The bucket's side - C(newest) (name, created, age_hours, verified, app_commit, deployment_id of the
    newest verified point, or null), C(newest_any) (verified or not), C(age_hours), C(points), C(verified_points),
    C(incomplete_points), C(max_age_hours), C(where).
  returned: always
  type: dict
supabase:
  description: Supabase's side (null with O(supabase=false)) - C(pitr_enabled), C(walg_enabled),
    C(latest_completed), C(latest_completed_age_hours), C(recoverable_window), C(completed_count), C(max_age_hours).
  returned: always
  type: dict
msg:
  description: One line - fresh, or what is stale and what to run.
  returned: always
  type: str
'''

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError
from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import freshness, layout
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.client import S3Module
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.points import list_points


class BackupFreshness(S3Module):
    name = 'backup_freshness'
    argument_spec = dict(
        freshness.supabase_options(),
        database=dict(type='str', required=True),
        prefix=dict(type='str', default='pourtrait'),
        max_age=dict(type='str', default='26h'),
        require_verified=dict(type='bool', default=True),
        supabase=dict(type='bool', default=True),
        supabase_max_age=dict(type='str', default='26h'),
        supabase_require_pitr=dict(type='bool', default=False),
        fail_when_stale=dict(type='bool', default=True),
    )

    def preflight(self):
        S3Module.preflight(self)
        p = self.params
        self.limits = {'max_age': p['max_age'], 'max_age_s': freshness.parse_age(p['max_age'], 'max_age'),
                       'supabase_max_age': p['supabase_max_age'], 'require_pitr': p['supabase_require_pitr'],
                       'supabase_max_age_s': freshness.parse_age(p['supabase_max_age'], 'supabase_max_age')}
        try:
            self.db_prefix = layout.database_prefix(p['prefix'], p['database'])
        except layout.LayoutError as exc:
            raise OpsError(str(exc))
        if p['supabase']:
            from ansible_collections.pourtrait.ops.plugins.module_utils.supabase import check_ref, check_token
            try:
                check_token(p.get('supabase_access_token'))
                check_ref(p.get('supabase_project_ref'))
            except OpsError as exc:
                raise OpsError('%s; or set supabase=false to check the off-site copy alone'
                               % str(exc).replace('access_token', 'supabase_access_token')
                               .replace('project_ref', 'supabase_project_ref'))

    def run(self):
        p = self.params
        now = freshness.now_utc()
        complete, incomplete = list_points(self.s3, p['prefix'], p['database'])
        offsite = freshness.offsite_state(complete, incomplete, now, p['require_verified'])
        offsite.update(max_age_hours=freshness.hours(self.limits['max_age_s']),
                       where='s3://%s/%s' % (self.s3.bucket, self.db_prefix))
        supabase = None
        if p['supabase']:
            supabase = freshness.supabase_state(p, now.timestamp())
            supabase['max_age_hours'] = freshness.hours(self.limits['supabase_max_age_s'])
        stale = freshness.judge(offsite, supabase, self.limits, offsite['where'])
        msg = freshness.summary(offsite, supabase, stale)
        result = dict(changed=False, fresh=not stale, stale=stale, offsite=offsite, supabase=supabase, msg=msg)
        if stale and p['fail_when_stale']:
            raise OpsError(msg, **dict((k, v) for k, v in result.items() if k != 'msg'))
        return result


def main():
    BackupFreshness.main()


if __name__ == '__main__':
    main()

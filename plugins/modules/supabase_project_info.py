#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: supabase_project_info
short_description: Status and per-service health of a Supabase project, optionally waiting until it is healthy
version_added: 1.0.0
description:
  - Reads the project (C(GET /v1/projects/{ref})) and the health of its services (C(GET /v1/projects/{ref}/health)).
  - With O(wait=true) it polls inside this one call until the project is C(ACTIVE_HEALTHY) and every service in
    O(services) is C(ACTIVE_HEALTHY), failing after O(wait_timeout) seconds, or at once when the project is in a state
    waiting cannot fix (C(INACTIVE), C(RESTORE_FAILED), C(INIT_FAILED), C(PAUSING), ...).
  - Read-only; never reports a change.
author: Pourtrait engineering (@pourtrait)
options:
  services:
    description:
      - Services whose health is read.
    type: list
    elements: str
    choices: [auth, db, db_postgres_user, pooler, realtime, rest, storage, pg_bouncer]
    default: [auth, db, pooler, realtime, rest, storage]
  wait:
    description:
      - Wait until the project and all O(services) are C(ACTIVE_HEALTHY).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait with O(wait=true).
    type: int
    default: 600
  poll_interval:
    description:
      - Seconds between two reads while waiting.
    type: float
    default: 5
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes,
                                 pourtrait.ops.attributes.info_module, pourtrait.ops.supabase]
'''

EXAMPLES = r'''
- name: Is the database up?
  pourtrait.ops.supabase_project_info:
    project_ref: abcdefghijklmnopqrst
  register: project

- name: Wait until the project is healthy again (after a restore or a restart)
  pourtrait.ops.supabase_project_info:
    wait: true
    wait_timeout: 900
'''

RETURN = r'''
project:
  description: The project - ref, name, region, status, created_at, organization_slug, database (host, version,
    postgres_engine, release_channel).
  returned: always
  type: dict
status:
  description: The project status (C(ACTIVE_HEALTHY), C(ACTIVE_UNHEALTHY), C(COMING_UP), C(RESTORING), C(INACTIVE), ...).
  returned: always
  type: str
  sample: ACTIVE_HEALTHY
healthy:
  description: True when the project and every service read are C(ACTIVE_HEALTHY).
  returned: always
  type: bool
services:
  description: Health of each service - name, status (C(ACTIVE_HEALTHY), C(COMING_UP), C(UNHEALTHY)), healthy, error,
    info.
  returned: always
  type: list
  elements: dict
unhealthy_services:
  description: Names of the services that are not C(ACTIVE_HEALTHY).
  returned: always
  type: list
  elements: str
waited_s:
  description: Seconds spent waiting (0 without O(wait)).
  returned: always
  type: float
msg: {description: One-line summary., returned: always, type: str}
'''

from ansible_collections.pourtrait.ops.plugins.module_utils.supabase import (
    DEFAULT_SERVICES, HEALTH_SERVICES, HEALTHY, SupabaseError, SupabaseModule, summarize_project,
)
from ansible_collections.pourtrait.ops.plugins.module_utils._module import check_range


class ProjectInfo(SupabaseModule):
    argument_spec = dict(
        services=dict(type='list', elements='str', choices=HEALTH_SERVICES, default=list(DEFAULT_SERVICES)),
        wait=dict(type='bool', default=False),
        wait_timeout=dict(type='int', default=600),
        poll_interval=dict(type='float', default=5),
    )

    def validate(self):
        check_range('wait_timeout', self.params['wait_timeout'], minimum=0)
        check_range('poll_interval', self.params['poll_interval'], above=0)
        if not self.params['services']:
            raise SupabaseError('services is empty; name at least one service (e.g. db)')

    def run(self):
        p = self.params
        client = self.client
        waited = 0.0
        if p['wait']:
            proj, services, waited = client.wait_healthy(self.ref, p['wait_timeout'], p['poll_interval'],
                                                         services=p['services'], what='project %s' % self.ref)
        else:
            proj = client.project(self.ref)
            services = client.health_quiet(self.ref, p['services'])
        status = proj.get('status')
        sick = [s['name'] for s in services if not s['healthy']]
        healthy = status == HEALTHY and not sick
        if healthy:
            msg = 'project %s is ACTIVE_HEALTHY; services healthy: %s' % (self.ref, ', '.join(p['services']))
        else:
            msg = 'project %s is %s%s' % (self.ref, status, ('; services not healthy: %s' % ', '.join(sick)) if sick else '')
        if waited:
            msg += ' (waited %.1fs)' % waited
        return dict(changed=False, project=summarize_project(proj), status=status, healthy=healthy, services=services,
                    unhealthy_services=sick, waited_s=waited, msg=msg)


def main():
    ProjectInfo.main()


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: vercel_deployment_info
short_description: List and inspect Vercel deployments, the live production one and rollback candidates
version_added: 0.1.0
description:
  - Lists a project's deployments (filtered by target and state, newest first, following pagination), inspects one
    deployment, and names the current production deployment and the rollback candidates.
  - Rollback candidates are READY production builds older than the live one that Vercel marks as rollback
    candidates, newest first; O(not_before) and O(exclude) remove unsafe ones. Builds made before the last secret
    rotation recorded on the project (C(POURTRAIT_SECRET_ROTATED_AT)) are left out too, as
    M(pourtrait.ops.vercel_rollback) leaves them out, unless O(respect_rotation=false).
  - Read-only.
author: Pourtrait engineering (@pourtrait)
options:
  target:
    description:
      - List only deployments of this target. Unset lists every target.
    type: str
    choices: [production, preview]
  state:
    description:
      - List only deployments in these build states.
    type: list
    elements: str
    choices: [QUEUED, INITIALIZING, BUILDING, READY, ERROR, CANCELED, DELETED]
  limit:
    description:
      - How many deployments to return at most; pages of up to 100 are followed until this many are found.
    type: int
    default: 20
  until:
    description:
      - Page on - list deployments created before this time (epoch milliseconds, as in the C(next) field of RV(pagination)).
    type: int
  since:
    description:
      - List deployments created after this time (epoch milliseconds).
    type: int
  deployment:
    description:
      - A deployment id or URL to inspect; its details are returned as RV(deployment).
    type: str
  not_before:
    description:
      - Only deployments created at or after this time are rollback candidates (ISO 8601, or epoch seconds).
    type: str
  exclude:
    description:
      - Deployment ids or URLs that are never rollback candidates.
    type: list
    elements: str
    default: []
  respect_rotation:
    description:
      - Read the project's C(POURTRAIT_SECRET_ROTATED_AT) variable (one list call when the project does not carry it)
        and leave builds made before that secret rotation out of RV(rollback_candidates).
      - C(false) skips the read.
    type: bool
    default: true
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes,
                                 pourtrait.ops.attributes.info_module, pourtrait.ops.vercel,
                                 pourtrait.ops.controller_fast_path]
'''

EXAMPLES = r'''
- name: What is live, and what could we roll back to?
  pourtrait.ops.vercel_deployment_info:
    project: pourtrait
    target: production
    state: [READY]
  register: vercel

- name: Show it
  ansible.builtin.debug:
    msg: "live {{ vercel.production.id }}, previous {{ vercel.previous.id | default('none') }}"

- name: Inspect one deployment
  pourtrait.ops.vercel_deployment_info:
    deployment: https://pourtrait-abc123.vercel.app
'''

RETURN = r'''
project:
  description: The project.
  returned: always
  type: dict
  contains:
    id: {description: Project id., type: str, returned: always}
    name: {description: Project name., type: str, returned: always}
    auto_assign_custom_domains:
      description: False after a rollback - new production builds then stay STAGED until promoted.
      type: bool
      returned: always
    last_alias_request:
      description: The last rollback or promote job (type, job_status, from_deployment_id, to_deployment_id, requested_at).
      type: dict
      returned: always
production:
  description: The live production deployment (id, url, state, ready_substate, created_at, sha, alias, ...), or null.
  returned: always
  type: dict
deployments:
  description: Deployments matching the filters, newest first, each with id, url, state, target, created (ms), created_at,
    sha, ref, ready_substate, alias_assigned, is_rollback_candidate, inspector_url, creator.
  returned: always
  type: list
  elements: dict
pagination:
  description: Pagination of the last page read (count, next, prev); pass C(next) as O(until) to read on.
  returned: always
  type: dict
rollback_candidates:
  description: READY production rollback candidates older than the live deployment, newest first.
  returned: always
  type: list
  elements: dict
previous:
  description: The first of RV(rollback_candidates) - what C(vercel_rollback target=previous) picks - or null.
  returned: always
  type: dict
rotated_at:
  description: The secret rotation time recorded on the project (ISO 8601 UTC), or null when none is recorded or
    O(respect_rotation=false).
  returned: always
  type: str
  sample: "2026-01-31T14:00:00.000Z"
deployment:
  description: The deployment named by O(deployment) (same fields as RV(deployments)).
  returned: when O(deployment) is set
  type: dict
'''

from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import (
    BUILD_STATES, VercelModule, iso_ms, parse_time_ms, rollback_candidates, rotation_floor, summarize_alias_request,
    summarize_deployment,
)


class DeploymentInfo(VercelModule):
    argument_spec = dict(
        target=dict(type='str', choices=['production', 'preview']),
        state=dict(type='list', elements='str', choices=BUILD_STATES),
        limit=dict(type='int', default=20),
        until=dict(type='int'),
        since=dict(type='int'),
        deployment=dict(type='str'),
        not_before=dict(type='str'),
        exclude=dict(type='list', elements='str', default=[]),
        respect_rotation=dict(type='bool', default=True),
    )

    def run(self):
        p = self.params
        client = self.client
        proj = self.project()
        items, pagination = client.list_deployments(proj['id'], target=p['target'], state=p['state'],
                                                    limit=max(1, p['limit']), until=p['until'], since=p['since'])
        live = client.live_id(proj)
        production = summarize_deployment((proj.get('targets') or {}).get('production'))
        rotated_ms = rotation_floor(client, proj) if p['respect_rotation'] else None
        not_before = parse_time_ms(p['not_before'])
        if rotated_ms and (not_before is None or rotated_ms > not_before):
            not_before = rotated_ms
        candidates = rollback_candidates(client, proj, not_before=not_before, exclude=p['exclude'])
        result = dict(
            changed=False,
            project=dict(id=proj.get('id'), name=proj.get('name'),
                         auto_assign_custom_domains=proj.get('autoAssignCustomDomains', True),
                         last_alias_request=summarize_alias_request(proj.get('lastAliasRequest'))),
            production=production,
            deployments=[summarize_deployment(d) for d in items],
            pagination=pagination,
            rollback_candidates=[summarize_deployment(d) for d in candidates],
            previous=summarize_deployment(candidates[0]) if candidates else None,
            rotated_at=iso_ms(rotated_ms),
        )
        if live and production is not None:
            production['id'] = live
        if p['deployment']:
            result['deployment'] = summarize_deployment(client.deployment(p['deployment']))
        return result


def main():
    DeploymentInfo.main()


if __name__ == '__main__':
    main()

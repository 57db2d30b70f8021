#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: vercel_promote
short_description: Promote a Vercel deployment to production (undo a rollback, release a STAGED build)
version_added: 0.1.0
description:
  - Points the project's production domains at a READY production deployment without rebuilding it, waits for
    Vercel's promote job, and turns domain auto-assignment back on (Vercel does so on promote).
  - Idempotent - when the deployment is already live nothing is sent; Vercel's C(409) for the live deployment also
    counts as no change.
  - A preview (non-production) deployment cannot be promoted as is - it must be rebuilt for production. With
    O(rebuild=true) the module starts that build, waits until it is READY and promotes it; without it, it fails and
    says so.
  - A promote request whose answer was lost is not sent again before the project's C(lastAliasRequest) says it failed.
author: Pourtrait engineering (@pourtrait)
options:
  deployment:
    description:
      - Id (C(dpl_...)) or URL of the deployment to promote.
    type: str
    required: true
  rebuild:
    description:
      - Allow rebuilding a non-production deployment for production (a new build) before promoting it.
    type: bool
    default: false
  wait:
    description:
      - Wait until the promote job (and any rebuild) has finished.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the rebuild and the promote job.
    type: int
    default: 600
  poll_interval:
    description:
      - Seconds between two status reads.
    type: float
    default: 2
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes, pourtrait.ops.vercel,
                                 pourtrait.ops.controller_fast_path]
attributes:
  check_mode:
    details: Validates the deployment and reports what would be promoted; sends nothing.
  diff_mode:
    support: full
    details: The production deployment before and after.
'''

EXAMPLES = r'''
- name: Undo the rollback once the fix is live-tested
  pourtrait.ops.vercel_promote:
    project: pourtrait
    deployment: "{{ rollback.from.id }}"

- name: Ship a preview build to production (rebuilds it)
  pourtrait.ops.vercel_promote:
    deployment: https://pourtrait-git-hotfix-acme.vercel.app
    rebuild: true
'''

RETURN = r'''
from:
  description: The production deployment before the run.
  returned: always
  type: dict
to:
  description: The deployment production points at afterwards (the rebuilt one when O(rebuild) was used).
  returned: always
  type: dict
rebuilt:
  description: True when a production rebuild of a preview deployment was created.
  returned: always
  type: bool
job_status:
  description: Final status of the promote job (succeeded, failed, skipped), C(pending) with O(wait=false), C(none)
    when nothing was sent.
  returned: always
  type: str
duration_s:
  description: Seconds from the first change to the end of the job.
  returned: always
  type: float
auto_assign_custom_domains:
  description: The project's domain auto-assignment after the run.
  returned: always
  type: bool
msg: {description: One-line summary., returned: always, type: str}
'''

import time

from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import (
    READY, VercelError, VercelModule, summarize_deployment, wait_for_deployment,
)


class Promote(VercelModule):
    argument_spec = dict(
        deployment=dict(type='str', required=True),
        rebuild=dict(type='bool', default=False),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=600),
        poll_interval=dict(type='float', default=2),
    )

    def run(self):
        p = self.params
        client = self.client
        proj = self.project()
        live_id = client.live_id(proj)
        before = summarize_deployment((proj.get('targets') or {}).get('production'))
        dep = client.deployment(p['deployment'], not_found='deployment %r not found in project %s; check the id or URL '
                                '(vercel_deployment_info lists them)' % (p['deployment'], proj['name']))
        if dep.get('projectId') and dep['projectId'] != proj['id']:
            raise VercelError('deployment %s belongs to another project (%s); name a deployment of project %s'
                              % (dep['id'], dep['projectId'], proj['name']))
        result = dict(changed=False, rebuilt=False, job_status='none', duration_s=0.0,
                      auto_assign_custom_domains=proj.get('autoAssignCustomDomains', True),
                      **{'from': before, 'to': summarize_deployment(dep)})
        if self.diff_mode:
            result['diff'] = dict(before=dict(production=live_id), after=dict(production=dep['id']))
        if dep['id'] == live_id:
            result['msg'] = '%s is already live; nothing to promote' % dep['id']
            return result
        if dep.get('readyState') != READY:
            raise VercelError('deployment %s is %s, not READY; only a READY deployment can be promoted - wait for it or '
                              'pick another' % (dep['id'], dep.get('readyState')))
        rebuild = dep.get('target') != 'production'
        if rebuild and not p['rebuild']:
            raise VercelError('deployment %s is a %s build; promoting it needs a production rebuild - set rebuild: true '
                              '(or deploy the same commit with vercel_deployment)' % (dep['id'], dep.get('target') or 'preview'))
        result['changed'] = True
        if self.check_mode:
            result['msg'] = 'would %spromote %s to production (live now: %s)' % (
                'rebuild and ' if rebuild else '', dep['id'], live_id)
            return result
        started = time.time()
        if rebuild:
            created = client.create_deployment(dict(name=proj['name'], deploymentId=dep['id'], target='production',
                                                    project=proj['id']), project_id=proj['id'])
            dep = wait_for_deployment(client, created['id'], p['wait_timeout'], p['poll_interval'])
            result.update(rebuilt=True, to=summarize_deployment(dep))
            proj = client.project(proj['id'])
            if client.live_id(proj) == dep['id']:
                result.update(duration_s=round(time.time() - started, 3), job_status='succeeded',
                              auto_assign_custom_domains=proj.get('autoAssignCustomDomains', True),
                              msg='rebuilt %s for production as %s; it is live' % (p['deployment'], dep['id']))
                return result
        resp = client.promote(proj['id'], dep['id'])
        if resp.status == 409:
            result.update(changed=rebuild, msg='%s is already live (Vercel answered 409)' % dep['id'])
            return result
        status = 'pending'
        if p['wait']:
            proj, status = client.wait_alias_job(proj['id'], dep['id'], 'promote', p['wait_timeout'],
                                                 p['poll_interval'])
            if status == 'failed':
                raise VercelError('the promote job to %s failed; production still serves %s - check the domains in the '
                                  'Vercel dashboard and run again' % (dep['id'], live_id), job_status=status)
        result.update(job_status=status, duration_s=round(time.time() - started, 3),
                      auto_assign_custom_domains=proj.get('autoAssignCustomDomains', True),
                      msg='promoted %s to production (was %s; job %s)' % (dep['id'], live_id, status))
        return result


def main():
    Promote.main()


if __name__ == '__main__':
    main()

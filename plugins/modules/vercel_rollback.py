#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: vercel_rollback
short_description: Roll a Vercel project's production back to an earlier deployment (instant rollback)
version_added: 0.1.0
description:
  - Points production at an earlier READY production build without rebuilding it, waits for Vercel's rollback job
    and reports it.
  - O(target=previous) picks the newest READY production build older than the live one that Vercel marks as a
    rollback candidate and that O(not_before) and O(exclude) allow. Right after a rollback, C(previous) is counted from
    the deployment that was rolled back from, so running the same task again changes nothing; to step further back,
    name the deployment.
  - Idempotent - when the target is already live nothing is sent.
  - A rollback pauses the project's domain auto-assignment - later production builds stay STAGED until one is
    promoted (M(pourtrait.ops.vercel_promote)); the result says so.
  - An instant rollback reuses the old build with the environment variables it was built with; after a secret
    rotation set O(not_before) to the rotation time (or list the unsafe builds in O(exclude)).
  - The rollback request is sent once; when its answer is lost the project's C(lastAliasRequest) is read before
    anything is sent again.
notes:
  - On the controller itself (connection C(local), no become, no async, the controller's Python) the task runs inside
    the controller process instead of a module process, about 0.4 s faster; the variable
    C(pourtrait_controller_fast_path=false) turns that off. Anywhere else it runs as a normal module.
author:
  - Pourtrait engineering (@pourtrait)
options:
  target:
    description:
      - C(previous), or the id (C(dpl_...)) or URL of the deployment to roll back to.
    type: str
    default: previous
  not_before:
    description:
      - Refuse targets built before this time (ISO 8601 such as C(2026-01-31T14:00:00Z), or epoch seconds), for example
        the time of a secret rotation.
    type: str
  exclude:
    description:
      - Deployment ids or URLs that must not be rolled back to.
    type: list
    elements: str
    default: []
  description:
    description:
      - Reason recorded with the rollback in Vercel.
    type: str
  wait:
    description:
      - Wait until the rollback job has finished.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the rollback job.
    type: int
    default: 300
  poll_interval:
    description:
      - Seconds between two reads of the job status.
    type: float
    default: 2
extends_documentation_fragment:
  - pourtrait.ops.attributes
  - pourtrait.ops.vercel
attributes:
  check_mode:
    support: full
    description: Resolves and validates the target and reports it; sends nothing.
  diff_mode:
    support: full
    description: The production deployment before and after.
  action_group:
    support: full
    membership: [pourtrait.ops.vercel]
'''

EXAMPLES = r'''
- name: Roll production back one step
  pourtrait.ops.vercel_rollback:
    project: pourtrait
    description: "INC-42: checkout errors after 3f2c1a"
  register: rollback

- name: Tell the channel
  ansible.builtin.debug:
    msg: "rolled back {{ rollback.from.id }} -> {{ rollback.to.id }} in {{ rollback.duration_s }}s; {{ rollback.note }}"

- name: After rotating secrets at 14:00, never go back to a build made before it
  pourtrait.ops.vercel_rollback:
    target: previous
    not_before: "2026-01-31T14:00:00Z"
    exclude: [dpl_7yq3kNbP2h1s]
'''

RETURN = r'''
from:
  description: The production deployment before the run (id, url, state, created_at, sha, ...).
  returned: always
  type: dict
to:
  description: The deployment production points at after the run (the target).
  returned: always
  type: dict
job_status:
  description: Final status of Vercel's rollback job (succeeded, failed, skipped), C(pending) with O(wait=false),
    C(none) when nothing was sent.
  returned: always
  type: str
  sample: succeeded
duration_s:
  description: Seconds from sending the rollback to the job's end.
  returned: always
  type: float
auto_assign_paused:
  description: True when the project's domain auto-assignment is off (always after a rollback).
  returned: always
  type: bool
note:
  description: What the operator must know afterwards (auto-assignment paused; promote to resume).
  returned: always
  type: str
msg:
  description: One-line summary.
  returned: always
  type: str
'''

import time

from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import (
    PAUSED_NOTE, VercelError, VercelModule, candidate_problem, parse_time_ms, rollback_candidates,
    summarize_deployment,
)


class Rollback(VercelModule):
    argument_spec = dict(
        target=dict(type='str', default='previous'),
        not_before=dict(type='str'),
        exclude=dict(type='list', elements='str', default=[]),
        description=dict(type='str'),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=300),
        poll_interval=dict(type='float', default=2),
    )

    def resolve(self, proj):
        p = self.params
        client = self.client
        if p['target'] == 'previous':
            found = rollback_candidates(client, proj, not_before=p['not_before'], exclude=p['exclude'])
            if not found:
                extra = []
                if p['not_before']:
                    extra.append('built after %s' % p['not_before'])
                if p['exclude']:
                    extra.append('not excluded')
                raise VercelError('no rollback candidate: no READY production deployment older than the live one %s%s; '
                                  'name a target or deploy a fix'
                                  % (client.live_id(proj), (' (%s)' % ', '.join(extra)) if extra else ''))
            return client.deployment(found[0].get('uid'))
        dep = client.deployment(p['target'], not_found='rollback target %r not found in project %s; check the id or '
                                'URL (vercel_deployment_info lists rollback_candidates)' % (p['target'], proj['name']))
        problem = candidate_problem(dep, proj['id'], parse_time_ms(p['not_before']), p['exclude'])
        if problem and dep.get('id') != self.client.live_id(proj):
            raise VercelError(problem)
        return dep

    def run(self):
        p = self.params
        client = self.client
        proj = self.project()
        live_id = client.live_id(proj)
        live = (proj.get('targets') or {}).get('production') or {}
        target = self.resolve(proj)
        before = summarize_deployment(live)
        after = summarize_deployment(target)
        result = dict(changed=False, job_status='none', duration_s=0.0, **{'from': before, 'to': after})
        if self.diff_mode:
            result['diff'] = dict(before=dict(production=live_id), after=dict(production=target['id']))
        paused = not proj.get('autoAssignCustomDomains', True)
        if target['id'] == live_id:
            result.update(auto_assign_paused=paused, note=PAUSED_NOTE if paused else '',
                          msg='%s is already live; nothing to roll back' % live_id)
            return result
        result['changed'] = True
        if self.check_mode:
            result.update(auto_assign_paused=True, note=PAUSED_NOTE,
                          msg='would roll production back from %s to %s (%s)' % (live_id, target['id'], after['url']))
            return result
        started = time.time()
        client.rollback(proj['id'], target['id'], description=p['description'])
        status = 'pending'
        if p['wait']:
            proj, status = client.wait_alias_job(proj['id'], target['id'], 'rollback', p['wait_timeout'],
                                                 p['poll_interval'])
            if status == 'failed':
                failed = client.failed_aliases(proj['id'], 'rollback')
                raise VercelError('the rollback job to %s failed%s; production may still serve %s - check the domains '
                                  'in the Vercel dashboard and run again' % (
                                      target['id'], (' for aliases %s' % ', '.join(a for a in failed if a)) if failed
                                      else '', live_id),
                                  job_status=status, **{'from': before, 'to': after})
        result.update(job_status=status, duration_s=round(time.time() - started, 3),
                      auto_assign_paused=not proj.get('autoAssignCustomDomains', False) if p['wait'] else True,
                      note=PAUSED_NOTE,
                      msg='rolled production back from %s to %s (job %s); %s'
                      % (live_id, target['id'], status, PAUSED_NOTE))
        self.warnings.append(PAUSED_NOTE)
        return result


def main():
    Rollback.main()


if __name__ == '__main__':
    main()

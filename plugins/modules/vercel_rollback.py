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
  - An instant rollback reuses the old build with the environment variables it was built with, so a build made before
    a secret rotation still carries the rotated (leaked) secret. The project variable C(POURTRAIT_SECRET_ROTATED_AT)
    (ISO 8601 UTC, written by the P(pourtrait.ops.security_incident#role) role after a rotation) is the floor - with
    O(target=previous) older builds are skipped, a named older target is refused, unless O(force=true). O(not_before)
    and O(exclude) add floors and exclusions of your own.
  - The rollback request is sent once; when its answer is lost the project's C(lastAliasRequest) is read before
    anything is sent again.
author: Pourtrait engineering (@pourtrait)
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
  respect_rotation:
    description:
      - Read the project's C(POURTRAIT_SECRET_ROTATED_AT) variable (one list call when the project does not carry it)
        and refuse targets built before that secret rotation.
      - C(false) skips the read and the guard.
    type: bool
    default: true
  force:
    description:
      - Roll back to a target built before the recorded secret rotation anyway (it serves the rotated secret again);
        the result warns. O(not_before) and O(exclude) still apply.
    type: bool
    default: false
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
attributes:
  check_mode:
    details: Resolves and validates the target and reports it; sends nothing.
  diff_mode:
    support: full
    details: The production deployment before and after.
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes, pourtrait.ops.vercel,
                                 pourtrait.ops.controller_fast_path]
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

- name: Go back to a build made before the last secret rotation, knowingly (it carries the rotated secret)
  pourtrait.ops.vercel_rollback:
    target: dpl_5Hk2mQx9Lr3v
    force: true
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
rotated_at:
  description: The last secret rotation recorded on the project (C(POURTRAIT_SECRET_ROTATED_AT), ISO 8601 UTC), null
    when none is recorded or O(respect_rotation=false).
  returned: always
  type: str
  sample: "2026-01-31T14:00:00.000Z"
forced:
  description: True when O(force=true) let the rollback go to a build made before the recorded secret rotation.
  returned: always
  type: bool
requested_by_another_run:
  description:
    - True when Vercel refused this run's request with 409 because another run's rollback to the same target was
      already under way; this run then changed nothing (C(changed=false)) and only waited for that job.
  returned: when another run made the change
  type: bool
msg: {description: One-line summary., returned: always, type: str}
'''

import time

from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import (
    PAUSED_NOTE, VercelError, VercelModule, candidate_problem, iso_ms, parse_time_ms, rollback_candidates,
    rotation_floor, summarize_deployment,
)

ROTATION_HINT = 'every older build carries the rotated secret - set force=true to roll back anyway'


def created_ms(dep):
    return dep.get('createdAt') or dep.get('created') or 0


class Rollback(VercelModule):
    argument_spec = dict(
        target=dict(type='str', default='previous'),
        not_before=dict(type='str'),
        exclude=dict(type='list', elements='str', default=[]),
        description=dict(type='str'),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=300),
        poll_interval=dict(type='float', default=2),
        respect_rotation=dict(type='bool', default=True),
        force=dict(type='bool', default=False),
    )

    rotated_ms = None
    forced = False

    def guard(self, dep, live_id):
        """Refuse (or, forced, warn about) a target built before the recorded secret rotation."""
        if not self.rotated_ms or created_ms(dep) >= self.rotated_ms or dep.get('id') == live_id:
            return
        if not self.params['force']:
            raise VercelError('rollback target %s was built at %s, before the secret rotation at %s; %s'
                              % (dep.get('id'), iso_ms(created_ms(dep)), iso_ms(self.rotated_ms), ROTATION_HINT))
        self.forced = True
        self.warnings.append('force=true: %s was built at %s, before the secret rotation at %s, and carries the rotated '
                             'secret; rotate again or deploy a fix soon'
                             % (dep.get('id'), iso_ms(created_ms(dep)), iso_ms(self.rotated_ms)))

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
            if self.rotated_ms and not p['force']:
                found = [d for d in found if created_ms(d) >= self.rotated_ms]
                if not found:
                    raise VercelError('no rollback target built after the secret rotation at %s; %s'
                                      % (iso_ms(self.rotated_ms), ROTATION_HINT))
            dep = client.deployment(found[0].get('uid'))
            self.guard(dep, client.live_id(proj))
            return dep
        dep = client.deployment(p['target'], not_found='rollback target %r not found in project %s; check the id or '
                                'URL (vercel_deployment_info lists rollback_candidates)' % (p['target'], proj['name']))
        problem = candidate_problem(dep, proj['id'], parse_time_ms(p['not_before']), p['exclude'])
        if problem and dep.get('id') != self.client.live_id(proj):
            raise VercelError(problem)
        self.guard(dep, self.client.live_id(proj))
        return dep

    def run(self):
        p = self.params
        client = self.client
        proj = self.project()
        live_id = client.live_id(proj)
        live = (proj.get('targets') or {}).get('production') or {}
        if p['respect_rotation']:
            self.rotated_ms = rotation_floor(client, proj)
        target = self.resolve(proj)
        before = summarize_deployment(live)
        after = summarize_deployment(target)
        result = dict(changed=False, job_status='none', duration_s=0.0, rotated_at=iso_ms(self.rotated_ms),
                      forced=self.forced, **{'from': before, 'to': after})
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
        answer = client.rollback(proj['id'], target['id'], description=p['description'])
        # 409 to our first and only attempt: not our change - another run's job to this target was
        # already under way (or had just finished). A 409 after a retry may be our own first attempt.
        theirs = answer.status == 409 and answer.attempts == 1 and not answer.reconciled
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
        if theirs:
            result.update(changed=False, requested_by_another_run=True,
                          msg='another run was already rolling production back from %s to %s (Vercel answered 409); '
                          'this run requested nothing (job %s)' % (live_id, target['id'], status))
            return result
        self.warnings.append(PAUSED_NOTE)
        return result


def main():
    Rollback.main()


if __name__ == '__main__':
    main()

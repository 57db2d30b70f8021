#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: vercel_deployment
short_description: Create, redeploy or cancel a Vercel deployment and wait until it is live
version_added: 0.1.0
description:
  - With O(state=present), builds a deployment from a git ref or commit (O(git_ref), O(git_sha)), or redeploys an
    existing build (O(deployment)), then waits until it is READY and its domains are assigned, or fails with the
    build's error. On O(wait_timeout) the build keeps going unless O(cancel_on_timeout) is set.
  - When the project's domain auto-assignment is paused (after a rollback), a new production build stays STAGED;
    with O(promote=true) (the default) the module then promotes it explicitly.
  - Idempotent for a commit - when O(git_sha) is already the live production deployment and O(force_new) is off,
    nothing is built.
  - With O(state=canceled), cancels the build O(deployment) if it is still queued or building.
  - The create request is sent once; when its answer is lost the deployment list is read (the request carries a
    C(pourtraitRequestId) meta tag) before anything is sent again.
author: Pourtrait engineering (@pourtrait)
options:
  state:
    description:
      - C(present) builds (or redeploys) and waits; C(canceled) cancels O(deployment).
    type: str
    choices: [present, canceled]
    default: present
  deployment:
    description:
      - Id or URL of an existing deployment - rebuilt with O(state=present), canceled with O(state=canceled).
    type: str
  target:
    description:
      - C(production) or C(preview).
    type: str
    choices: [production, preview]
    default: production
  name:
    description:
      - Deployment name; defaults to the project's name.
    type: str
  git_repo:
    description:
      - GitHub repository as C(org/repo) when building from git. Defaults to the repository linked to the project.
    type: str
  git_ref:
    description:
      - Branch or tag to build.
    type: str
  git_sha:
    description:
      - Commit to build, the full 40 hex digits (a typo must not start a production build).
    type: str
  meta:
    description:
      - Extra metadata (string values) attached to the deployment.
    type: dict
    default: {}
  force_new:
    description:
      - Build even when the same commit is already live.
    type: bool
    default: false
  promote:
    description:
      - Promote a production build that ends STAGED because auto-assignment is paused.
    type: bool
    default: true
  wait:
    description:
      - Wait until the deployment is READY and aliased (or failed).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the build.
    type: int
    default: 900
  poll_interval:
    description:
      - Seconds between two status reads.
    type: float
    default: 5
  cancel_on_timeout:
    description:
      - Cancel the build when it is not READY within O(wait_timeout).
    type: bool
    default: false
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes, pourtrait.ops.vercel,
                                 pourtrait.ops.controller_fast_path]
attributes:
  check_mode:
    details: Reads the project and reports what would be built or canceled; sends nothing.
  diff_mode:
    support: full
    details: The production deployment before and after.
'''

EXAMPLES = r'''
- name: Deploy the release commit to production
  pourtrait.ops.vercel_deployment:
    project: pourtrait
    git_repo: pourtrait/app
    git_ref: main
    git_sha: "{{ release_sha }}"
    wait_timeout: 900
    cancel_on_timeout: true
  register: deploy

- name: Rebuild the live deployment (pick up changed env vars)
  pourtrait.ops.vercel_deployment:
    deployment: "{{ vercel.production.id }}"

- name: Stop a runaway build
  pourtrait.ops.vercel_deployment:
    state: canceled
    deployment: dpl_8Bq2xYz
'''

RETURN = r'''
deployment:
  description: The deployment built, redeployed or canceled (id, url, state, ready_substate, target, sha, ref,
    alias, alias_assigned, inspector_url, ...).
  returned: always
  type: dict
created:
  description: True when a new build was started.
  returned: always
  type: bool
promoted:
  description: True when a STAGED build was promoted because auto-assignment was paused.
  returned: always
  type: bool
canceled:
  description: True when a build was canceled.
  returned: always
  type: bool
elapsed_s:
  description: Seconds spent building and waiting.
  returned: always
  type: float
msg: {description: One-line summary., returned: always, type: str}
'''

import re
import time

from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import (
    VercelError, VercelModule, summarize_deployment, wait_for_deployment,
)

IN_PROGRESS = ('QUEUED', 'INITIALIZING', 'BUILDING')


class Deployment(VercelModule):
    argument_spec = dict(
        state=dict(type='str', choices=['present', 'canceled'], default='present'),
        deployment=dict(type='str'),
        target=dict(type='str', choices=['production', 'preview'], default='production'),
        name=dict(type='str'),
        git_repo=dict(type='str'),
        git_ref=dict(type='str'),
        git_sha=dict(type='str'),
        meta=dict(type='dict', default={}),
        force_new=dict(type='bool', default=False),
        promote=dict(type='bool', default=True),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=900),
        poll_interval=dict(type='float', default=5),
        cancel_on_timeout=dict(type='bool', default=False),
    )
    module_kwargs = dict(required_if=[('state', 'canceled', ['deployment'])],
                         mutually_exclusive=[('deployment', 'git_ref'), ('deployment', 'git_sha')])

    def cancel(self, result):
        client = self.client
        dep = client.deployment(self.params['deployment'])
        result['deployment'] = summarize_deployment(dep)
        state = dep.get('readyState')
        if state == 'CANCELED':
            result['msg'] = '%s is already canceled' % dep['id']
            return result
        if state not in IN_PROGRESS:
            raise VercelError('deployment %s is %s; only a queued or building deployment can be canceled'
                              % (dep['id'], state))
        result['changed'] = True
        if self.check_mode:
            result['msg'] = 'would cancel %s (%s)' % (dep['id'], state)
            return result
        client.cancel_deployment(dep['id'])
        result.update(canceled=True, deployment=summarize_deployment(client.deployment(dep['id'])),
                      msg='canceled %s' % dep['id'])
        return result

    def body(self, proj):
        p = self.params
        body = dict(name=p['name'] or proj['name'], project=proj['id'],
                    meta=dict((str(k), str(v)) for k, v in (p['meta'] or {}).items()))
        if p['target'] == 'production':
            body['target'] = 'production'
        if p['deployment']:
            source = self.client.deployment(p['deployment'])
            body['deploymentId'] = source['id']
            return body
        link = proj.get('link') or {}
        repo = p['git_repo'] or ('%s/%s' % (link.get('org'), link.get('repo')) if link.get('repo') else None)
        if p['git_sha'] and not re.match(r'^[0-9a-fA-F]{40}$', p['git_sha']):
            raise VercelError('git_sha %r is not a full commit id (40 hex digits); use git rev-parse <ref> to get it'
                              % p['git_sha'])
        if not (p['git_ref'] or p['git_sha']):
            raise VercelError('nothing to deploy: set git_ref and/or git_sha to build from git, or deployment to '
                              'redeploy an existing build')
        source = dict(type='github', ref=p['git_ref'] or p['git_sha'])
        if p['git_sha']:
            source['sha'] = p['git_sha']
        if repo:
            org, _sep, name = repo.partition('/')
            if not name:
                raise VercelError('git_repo=%r is not org/repo; use the GitHub owner and repository, e.g. pourtrait/app'
                                  % repo)
            source.update(org=org, repo=name)
        elif link.get('repoId'):
            source['repoId'] = link['repoId']
        body['gitSource'] = source
        return body

    def run(self):
        p = self.params
        client = self.client
        result = dict(changed=False, created=False, promoted=False, canceled=False, elapsed_s=0.0)
        if p['state'] == 'canceled':
            return self.cancel(result)
        proj = self.project()
        live = (proj.get('targets') or {}).get('production') or {}
        live_sha = ((live.get('meta') or {}).get('githubCommitSha'))
        if p['git_sha'] and not p['force_new'] and p['target'] == 'production' and live_sha == p['git_sha'] \
                and live.get('readyState') == 'READY':
            result.update(deployment=summarize_deployment(live),
                          msg='commit %s is already live as %s; set force_new to build it again' % (p['git_sha'], live.get('id')))
            return result
        body = self.body(proj)
        result['changed'] = True
        if self.diff_mode:
            result['diff'] = dict(before=dict(production=live.get('id')),
                                  after=dict(production='(new build)' if p['target'] == 'production' else live.get('id')))
        if self.check_mode:
            what = ('redeploy of %s' % body['deploymentId']) if body.get('deploymentId') else \
                ('build of %s' % (body['gitSource'].get('sha') or body['gitSource'].get('ref')))
            result.update(deployment=None, msg='would start a %s %s' % (p['target'], what))
            return result
        started = time.time()
        created = client.create_deployment(body, force_new=p['force_new'], project_id=proj['id'])
        dep_id = created.get('id') or created.get('uid')
        result.update(created=True, deployment=summarize_deployment(created))
        if not p['wait']:
            result['msg'] = 'started %s (%s); not waiting' % (dep_id, created.get('readyState'))
            return result
        try:
            dep = wait_for_deployment(client, dep_id, p['wait_timeout'], p['poll_interval'],
                                      cancel_on_timeout=p['cancel_on_timeout'])
        except VercelError as exc:
            exc.extra.setdefault('created', True)
            raise
        result['deployment'] = summarize_deployment(dep)
        if p['target'] == 'production' and dep.get('readySubstate') == 'STAGED' and not dep.get('aliasAssigned'):
            if not p['promote']:
                self.warnings.append('%s is READY but STAGED: domain auto-assignment is paused (after a rollback); '
                                     'promote it with vercel_promote' % dep_id)
            else:
                client.promote(proj['id'], dep_id)
                client.wait_alias_job(proj['id'], dep_id, 'promote', max(30, p['wait_timeout'] - (time.time() - started)),
                                      p['poll_interval'])
                result.update(promoted=True, deployment=summarize_deployment(client.deployment(dep_id)))
        result.update(elapsed_s=round(time.time() - started, 3),
                      msg='%s is READY%s' % (dep_id, ' and promoted' if result['promoted'] else ''))
        if self.diff_mode:
            result['diff']['after'] = dict(production=dep_id if p['target'] == 'production' else live.get('id'))
        return result


def main():
    Deployment.main()


if __name__ == '__main__':
    main()

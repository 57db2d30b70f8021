#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: vercel_env
short_description: Manage a Vercel project's environment variables
version_added: 0.1.0
description:
  - Makes one environment variable (a O(key) for a set of O(target) environments and an optional O(git_branch))
    present with the given O(value), O(type) and O(comment), or absent.
  - Idempotent where the value can be read back - plain and encrypted variables are read decrypted and compared.
    Sensitive variables cannot be read back; O(sensitive_update) says what to do with their value.
  - The value is never logged nor returned, and C(--diff) shows the variable without its value (only whether the
    value changes).
  - Env var changes reach production only through a new deployment; the result warns when one is needed.
author: Pourtrait engineering (@pourtrait)
options:
  key:
    description:
      - Variable name.
    type: str
    required: true
  value:
    description:
      - Value. Required with O(state=present).
    type: str
  type:
    description:
      - C(encrypted) (readable by project members), C(sensitive) (never readable again) or C(plain).
    type: str
    choices: [plain, encrypted, sensitive]
    default: encrypted
  target:
    description:
      - Environments the variable applies to.
      - With O(state=absent), only entries covering one of these targets are removed; unset removes every entry of O(key).
    type: list
    elements: str
    choices: [production, preview, development]
  git_branch:
    description:
      - Limit a preview variable to one git branch.
    type: str
  comment:
    description:
      - Note shown in the Vercel dashboard.
    type: str
  state:
    description:
      - C(present) or C(absent).
    type: str
    choices: [present, absent]
    default: present
  sensitive_update:
    description:
      - Policy for a value that cannot be read back (a C(sensitive) variable that already exists).
      - C(on_create) writes the value only when the variable is created (or re-created); other fields are kept in sync.
      - C(always) writes the value on every run and reports a change - use it to rotate a secret.
      - C(never) leaves an existing sensitive variable entirely alone and only reports it.
    type: str
    choices: [always, never, on_create]
    default: on_create
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes, pourtrait.ops.vercel,
                                 pourtrait.ops.controller_fast_path]
attributes:
  diff_mode:
    support: full
    details: Key, type, targets, branch and comment before and after; the value is never shown.
'''

EXAMPLES = r'''
- name: Rotate the Supabase service key (sensitive; always write)
  pourtrait.ops.vercel_env:
    project: pourtrait
    key: SUPABASE_SERVICE_ROLE_KEY
    value: "{{ new_service_key }}"
    type: sensitive
    target: [production, preview]
    sensitive_update: always

- name: Feature flag
  pourtrait.ops.vercel_env:
    key: NEXT_PUBLIC_RECS_V2
    value: "true"
    type: plain
    target: [production]

- name: Remove an old variable everywhere
  pourtrait.ops.vercel_env:
    key: LEGACY_API_KEY
    state: absent
'''

RETURN = r'''
env:
  description: The variable after the run (id, key, type, target, git_branch, comment, updated_at) - never its value;
    null when absent.
  returned: always
  type: dict
value_changed:
  description: Whether the value was (or would be) written; null when it could not be compared.
  returned: always
  type: bool
removed:
  description: Ids of the entries removed with O(state=absent).
  returned: always
  type: list
  elements: str
redeploy_needed:
  description: True when production will only see the change after a new deployment.
  returned: always
  type: bool
msg: {description: One-line summary., returned: always, type: str}
'''

from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import (
    VercelError, VercelModule, iso_ms,
)

ALL_TARGETS = ['production', 'preview', 'development']


def view(env):
    """The variable as shown to the user: never the value."""
    if not env:
        return None
    target = env.get('target') or []
    if isinstance(target, str):
        target = [target]
    return dict(id=env.get('id'), key=env.get('key'), type=env.get('type'), target=sorted(target),
                git_branch=env.get('gitBranch') or None, comment=env.get('comment') or None,
                updated_at=iso_ms(env.get('updatedAt')))


class Env(VercelModule):
    argument_spec = dict(
        key=dict(type='str', required=True, no_log=False),
        value=dict(type='str', no_log=True),
        type=dict(type='str', choices=['plain', 'encrypted', 'sensitive'], default='encrypted'),
        target=dict(type='list', elements='str', choices=ALL_TARGETS),
        git_branch=dict(type='str'),
        comment=dict(type='str'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        sensitive_update=dict(type='str', choices=['always', 'never', 'on_create'], default='on_create'),
    )
    module_kwargs = dict(required_if=[('state', 'present', ['value'])])

    def matching(self, envs):
        p = self.params
        same = [e for e in envs if e.get('key') == p['key'] and (e.get('gitBranch') or None) == (p['git_branch'] or None)]
        if p['state'] == 'absent':
            if p['target']:
                same = [e for e in same if set(view(e)['target']) & set(p['target'])]
            return same
        wanted = set(p['target'] or ALL_TARGETS)
        exact = [e for e in same if set(view(e)['target']) == wanted]
        if exact:
            return exact[:1]
        overlap = [e for e in same if set(view(e)['target']) & wanted]
        if len(overlap) > 1:
            raise VercelError('%d variables named %s cover parts of targets %s; remove the extra ones (state=absent '
                              'with their target) or set target to match one' % (len(overlap), p['key'], sorted(wanted)))
        return overlap

    def absent(self, project_id, found):
        result = dict(changed=bool(found), env=None, value_changed=bool(found), removed=[e['id'] for e in found],
                      redeploy_needed=bool(found))
        if self.diff_mode:
            result['diff'] = dict(before=[view(e) for e in found], after=[])
        if found and not self.check_mode:
            for env in found:
                self.client.delete_env(project_id, env['id'])
        key = self.params['key']
        if found:
            result['msg'] = '%s %d variable(s) named %s' % ('would remove' if self.check_mode else 'removed', len(found), key)
        else:
            result['msg'] = '%s is absent' % key
        return result

    def run(self):
        p = self.params
        client = self.client
        proj = self.project()
        found = self.matching(client.list_env(proj['id'], decrypt=True))
        if p['state'] == 'absent':
            return self.absent(proj['id'], found)
        current = found[0] if found else None
        wanted = dict(key=p['key'], type=p['type'], target=sorted(p['target'] or ALL_TARGETS),
                      gitBranch=p['git_branch'] or None, comment=p['comment'])
        result = dict(changed=False, value_changed=False, removed=[], redeploy_needed=False)
        if current is None:
            result.update(changed=True, value_changed=True)
            after = dict(id=None, key=p['key'], type=p['type'], target=wanted['target'], git_branch=wanted['gitBranch'],
                         comment=p['comment'], updated_at=None)
            if not self.check_mode:
                body = dict((k, v) for k, v in wanted.items() if v is not None)
                body['value'] = p['value']
                created = client.create_env(proj['id'], body, reconcile=lambda: self.reconcile_create(proj['id']))
                after = view(created) if created else view(self.matching(client.list_env(proj['id'], False))[0])
            result['env'] = after
            before = None
        else:
            before = view(current)
            patch = {}
            if current.get('type') != p['type']:
                patch['type'] = p['type']
            if before['target'] != wanted['target']:
                patch['target'] = wanted['target']
            if p['comment'] is not None and (current.get('comment') or None) != (p['comment'] or None):
                patch['comment'] = p['comment']
            readable = current.get('value') is not None and (
                current.get('type') == 'plain' or (current.get('type') in ('encrypted', 'secret') and current.get('decrypted') is True))
            if readable:
                value_changed = current.get('value') != p['value']
            elif p['sensitive_update'] == 'always':
                value_changed = True
            else:
                value_changed = None
                self.warnings.append('the value of %s cannot be read back (type %s); left as is (sensitive_update=%s) - '
                                     'use sensitive_update: always to write it'
                                     % (p['key'], current.get('type'), p['sensitive_update']))
            if p['sensitive_update'] == 'never' and not readable:
                patch = {}
            if value_changed or 'type' in patch:
                patch['value'] = p['value']
            result['value_changed'] = value_changed
            result['changed'] = bool(patch)
            after = dict(before, **dict((k, v) for k, v in (('type', patch.get('type')), ('target', patch.get('target')),
                                                            ('comment', patch.get('comment'))) if v is not None))
            if patch and not self.check_mode:
                patch.setdefault('key', p['key'])
                updated = client.update_env(proj['id'], current['id'], patch)
                after = view(updated) if isinstance(updated, dict) and updated.get('id') else after
            result['env'] = after
        result['redeploy_needed'] = result['changed'] and 'production' in wanted['target']
        if result['redeploy_needed']:
            self.warnings.append('env var changes reach production only through a new deployment; redeploy '
                                 '(vercel_deployment) to apply %s' % p['key'])
        if self.diff_mode:
            result['diff'] = dict(before=before, after=dict(result['env'] or {}, value_changed=result['value_changed']))
        verb = 'would ' if self.check_mode else ''
        result['msg'] = ('%s%s %s' % (verb, 'create' if before is None else 'update', p['key'])) if result['changed'] \
            else '%s is up to date' % p['key']
        return result

    def reconcile_create(self, project_id):
        found = self.matching(self.client.list_env(project_id, decrypt=False))
        return dict(created=found[0]) if found else None


def main():
    Env.main()


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: supabase_api_key
short_description: Create and delete a Supabase project's API keys, and turn the legacy anon/service_role keys off or on
version_added: 1.1.0
description:
  - Manages the API keys of the new model (C(GET/POST /v1/projects/{ref}/api-keys),
    C(DELETE .../api-keys/{id}?was_compromised=&reason=)) and the switch of the legacy JWT pair
    (C(PUT .../api-keys/legacy?enabled=)).
  - O(state=present) creates a secret or publishable key named O(name) unless a key of that name and O(type) exists
    (keys are matched by name and type - Supabase's own C(default) name is used by one publishable and one secret
    key - so a second run changes nothing).
  - O(state=absent) deletes the key of O(type) named O(name), or the key whose id is O(id), recording it as compromised
    (O(was_compromised), O(reason)) so Supabase's audit shows why. Deleting by name a key that does not exist is no
    change; an O(id) that does not exist is an error (the id was probably mistyped; deleted keys are gone, so
    rerunning a deletion by id reports that too - name the key for an idempotent playbook).
  - O(legacy_enabled=false) turns the legacy C(anon) and C(service_role) keys off (the fix for a leaked
    C(service_role) once the app uses a new secret key); C(true) turns them back on. A legacy key cannot be deleted
    or rotated alone.
  - Key values never appear in the result, the diff or an error, except the value of a key this run created when
    O(return_key=true); run such a task with the task keyword C(no_log) set to C(true).
  - Without O(name), O(id) and O(legacy_enabled) it only lists the keys (without their values).
author: Pourtrait engineering (@pourtrait)
options:
  name:
    description:
      - Name of the key (4 to 64 characters, lowercase letters, digits and C(_), not starting with a digit).
    type: str
  id:
    description:
      - Id (a UUID) of the key to delete, as listed in RV(keys). Only with O(state=absent).
    type: str
  state:
    description:
      - V(present) creates the key O(name); V(absent) deletes the key O(name) or O(id).
    type: str
    choices: [present, absent]
    default: present
  type:
    description:
      - Type of the key to create. A V(secret) key replaces C(service_role) on servers; a V(publishable) key
        replaces C(anon) in browsers and apps.
      - Keys are matched by O(name) and O(type), also with O(state=absent).
    type: str
    choices: [secret, publishable]
    default: secret
  description:
    description:
      - Description of a key created by this run (who created it and why).
    type: str
  was_compromised:
    description:
      - Whether a deleted key is recorded as compromised.
    type: bool
    default: true
  reason:
    description:
      - Why the key is deleted (recorded by Supabase with the deletion), e.g. the incident's reference.
    type: str
  legacy_enabled:
    description:
      - V(false) turns the legacy C(anon)/C(service_role) keys off; V(true) turns them on. Unset leaves them as
        they are.
    type: bool
  return_key:
    description:
      - Return the value of a key created by this run in RV(api_key). The task should then set the task keyword C(no_log) set to C(true).
      - Supabase shows a secret key's value only when it is asked for, so without this option the value is never
        fetched.
    type: bool
    default: false
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes, pourtrait.ops.supabase]
attributes:
  check_mode:
    details: Lists the keys and the legacy switch and says what would be created, deleted or switched; sends no change.
  diff_mode:
    support: full
    details: The keys (name, type, id; never a value) and the legacy switch before and after.
'''

EXAMPLES = r'''
- name: A new secret key for the app's server side (its value handed to the next task only)
  pourtrait.ops.supabase_api_key:
    name: app_server_2026_03
    type: secret
    description: "rotation after incident INC-42 (by {{ lookup('env', 'USER') }})"
    return_key: true
  register: new_key
  no_log: true

- name: Turn the leaked legacy anon/service_role pair off, once the app uses the new key
  pourtrait.ops.supabase_api_key:
    legacy_enabled: false

- name: Delete the old secret key as compromised
  pourtrait.ops.supabase_api_key:
    name: default
    state: absent
    was_compromised: true
    reason: INC-42 leaked in a public gist
'''

RETURN = r'''
key:
  description: The key created, found or deleted (no value), or null when the run named none.
  returned: always
  type: dict
  contains:
    id: {description: Id of the key., type: str}
    name: {description: Name of the key., type: str}
    type: {description: "C(secret), C(publishable) or C(legacy).", type: str}
    prefix: {description: The first characters of the value (what the dashboard shows)., type: str}
    description: {description: Description of the key., type: str}
    inserted_at: {description: When the key was created., type: str}
    updated_at: {description: When the key was last changed., type: str}
api_key:
  description: The value of the key this run created. Only with O(return_key=true) and when the key was created.
  returned: when a key was created and O(return_key=true)
  type: str
keys:
  description: Every key of the project after the run (in check mode, as it would be), without values.
  returned: always
  type: list
  elements: dict
legacy_enabled:
  description: Whether the legacy anon/service_role keys are on after the run (in check mode, would be).
  returned: always
  type: bool
created:
  description: Whether a key was (or in check mode would be) created.
  returned: always
  type: bool
deleted:
  description: Whether a key was (or in check mode would be) deleted.
  returned: always
  type: bool
msg: {description: One-line summary., returned: always, type: str}
'''

from ansible_collections.pourtrait.ops.plugins.module_utils.supabase import SupabaseError, SupabaseModule
from ansible_collections.pourtrait.ops.plugins.module_utils.supabase_security import (
    LEGACY_NAMES, UUID_RE, check_key_name, create_api_key, delete_api_key, key_summary, legacy_enabled,
    list_api_keys, set_legacy_enabled,
)


def _view(keys, legacy):
    return dict(keys=[dict(name=k['name'], type=k['type'], id=k['id']) for k in keys], legacy_enabled=legacy)


class ApiKey(SupabaseModule):
    argument_spec = dict(
        name=dict(type='str'),
        id=dict(type='str'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        type=dict(type='str', choices=['secret', 'publishable'], default='secret'),
        description=dict(type='str'),
        was_compromised=dict(type='bool', default=True),
        reason=dict(type='str'),
        legacy_enabled=dict(type='bool'),
        return_key=dict(type='bool', default=False, no_log=False),
    )
    module_kwargs = dict(mutually_exclusive=[('name', 'id')])

    def validate(self):
        params = self.params
        if params['id'] is not None:
            if params['state'] != 'absent':
                raise SupabaseError('id names a key to delete: add state=absent, or give name to create a key')
            if params['id'] in LEGACY_NAMES:
                raise SupabaseError('the legacy %s key cannot be deleted alone; turn the legacy pair off with '
                                    'legacy_enabled=false' % params['id'])
            if not UUID_RE.match(params['id']):
                raise SupabaseError('id %r is not an API key id (a UUID such as 22222222-2222-4222-8222-222222222222);'
                                    ' list the keys with supabase_api_key and copy one' % params['id'][:60])
        if params['name'] is not None:
            if params['name'] in LEGACY_NAMES:
                raise SupabaseError('%s is a legacy key: it cannot be created or deleted alone; turn the legacy pair '
                                    'on or off with legacy_enabled' % params['name'])
            check_key_name(params['name'])

    def _target(self, keys):
        """The existing key the run is about (None when absent), by name or id."""
        params = self.params
        if params['id'] is not None:
            found = [k for k in keys if k.get('id') == params['id']]
            if not found:
                raise SupabaseError('404: no API key with id %s in project %s; list the keys with supabase_api_key '
                                    '(it returns keys) and use an id from there, or name the key'
                                    % (params['id'], self.ref), status=404)
            return found[0]
        found = [k for k in keys if k.get('name') == params['name'] and k.get('type') == params['type']]
        if len(found) > 1:
            raise SupabaseError('%d %s API keys are named %s; name the one to delete by id (%s)'
                                % (len(found), params['type'], params['name'], ', '.join(k['id'] for k in found)))
        return found[0] if found else None

    def run(self):
        client, ref, params = self.client, self.ref, self.params
        keys = list_api_keys(client, ref)
        legacy = legacy_enabled(client, ref)
        before = _view(keys, legacy)
        named = params['name'] is not None or params['id'] is not None
        target = self._target(keys) if named else None
        create = named and params['state'] == 'present' and target is None
        delete = named and params['state'] == 'absent' and target is not None
        switch = params['legacy_enabled'] is not None and params['legacy_enabled'] != legacy
        result = dict(changed=bool(create or delete or switch), created=bool(create), deleted=bool(delete),
                      key=key_summary(target) if target else None)
        after_keys = [k for k in keys if not (delete and k is target)]
        if create:
            after_keys = after_keys + [dict(name=params['name'], type=params['type'], id=None)]
        after_legacy = params['legacy_enabled'] if switch else legacy
        self.diff(before, _view(after_keys, after_legacy))
        plan = self._plan(create, delete, switch)
        if self.check_mode or not result['changed']:
            result.update(keys=[key_summary(k) for k in after_keys], legacy_enabled=after_legacy,
                          msg=('would ' + plan) if result['changed'] else self._unchanged_msg(target, legacy))
            return result
        if create:
            made = create_api_key(client, ref, params['type'], params['name'], params['description'],
                                  reveal=params['return_key'])
            result['key'] = key_summary(made)
            if params['return_key']:
                result['api_key'] = made.get('api_key')
        if delete:
            delete_api_key(client, ref, target['id'], params['was_compromised'], params['reason'])
        if switch:
            after_legacy = set_legacy_enabled(client, ref, params['legacy_enabled'])
        result.update(keys=[key_summary(k) for k in list_api_keys(client, ref)], legacy_enabled=after_legacy,
                      msg=plan)
        return result

    def _plan(self, create, delete, switch):
        params = self.params
        parts = []
        if create:
            parts.append('create the %s key %s' % (params['type'], params['name']))
        if delete:
            parts.append('delete the key %s%s' % (params['name'] or params['id'], ' as compromised'
                                                  if params['was_compromised'] else ''))
        if switch:
            parts.append('turn the legacy anon/service_role keys %s' % ('on' if params['legacy_enabled'] else 'off'))
        return '; '.join(parts)

    def _unchanged_msg(self, target, legacy):
        params = self.params
        state = 'legacy keys %s' % ('on' if legacy else 'off')
        if params['name'] is None and params['id'] is None:
            return 'nothing to change; %s' % state
        if params['state'] == 'present':
            return 'the %s key %s exists; %s' % (target['type'], target['name'], state)
        return 'no key named %s; %s' % (params['name'], state)


def main():
    ApiKey.main()


if __name__ == '__main__':
    main()

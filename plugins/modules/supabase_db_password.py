#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: supabase_db_password
short_description: Set a new password for a Supabase project's database and check that it connects
version_added: 1.1.0
description:
  - Sets the password of the project's C(postgres) role (C(PATCH /v1/projects/{ref}/database/password)), then
    opens a real connection to the database with the new password to prove it works.
  - Without O(password) a new one is generated on the managed node (Python C(secrets), letters and digits, O(length)
    characters); every run then sets a new password and reports a change. With O(password) the module first tries to
    connect with it - when that works the password is already set and nothing changes (one failed login is recorded
    by the database otherwise).
  - Sessions already connected stay connected after the change; end them (M(pourtrait.ops.postgres_terminate)) once
    the app runs with the new password (update C(DATABASE_URL) with M(pourtrait.ops.vercel_env), redeploy, check).
  - The password never appears in the result, the diff, a message or an argument list, unless O(return_password=true)
    (then run the task with the task keyword C(no_log) set to C(true) and hand RV(password) to the next task only).
  - With O(app_database_url) (the C(DATABASE_URL) the app uses) it refuses to rotate when that URL points at
    another database than the one whose password it sets, since the app would then keep working on a credential
    this run does not know about.
author: Pourtrait engineering (@pourtrait)
options:
  password:
    description:
      - The new password. At least O(min_length) characters, only letters, digits and C(- . _ ~) (characters that
        need no percent-encoding in C(DATABASE_URL)).
      - Unset - a new one is generated.
    type: str
  length:
    description:
      - Length of a generated password.
    type: int
    default: 32
  min_length:
    description:
      - The shortest O(password) accepted.
    type: int
    default: 16
  strict:
    description:
      - Apply the O(min_length) and character rules to O(password). V(false) accepts any password of 4 characters
        or more (the API's own minimum), e.g. to put a previous password back in a C(rescue) after a failed
        rotation.
    type: bool
    default: true
  return_password:
    description:
      - Return the password the role now has in RV(password) (also on a failed verification, so a run can be
        finished by hand). Set the task keyword C(no_log) set to C(true) on the task.
    type: bool
    default: false
  verify:
    description:
      - Connect with the new password after the change (retried until O(verify_timeout)).
    type: bool
    default: true
  verify_timeout:
    description:
      - Seconds to keep trying to connect with the new password (the change can take a few seconds to apply).
    type: float
    default: 30
  db_host:
    description:
      - Host of the database to verify against. Default the project's C(database.host) (C(db.<ref>.supabase.co)).
      - Falls back to E(SUPABASE_DB_HOST).
    type: str
  db_port:
    description:
      - Port of the database. Falls back to E(SUPABASE_DB_PORT).
    type: int
    default: 5432
  db_user:
    description:
      - Role whose password the API sets (Supabase's C(postgres)).
    type: str
    default: postgres
  db_name:
    description:
      - Database to connect to for the verification.
    type: str
    default: postgres
  db_sslmode:
    description:
      - libpq C(sslmode) of the verification connection.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
    default: prefer
  connect_timeout:
    description:
      - Seconds one connection attempt may take.
    type: int
    default: 10
  app_database_url:
    description:
      - The C(DATABASE_URL) the app uses. When given, its host (or a Supabase pooler user C(postgres.<ref>)),
        port and database must be the ones whose password this sets, else the run fails before any change.
        Only its host, port, user and database are read and reported, never its password.
    type: str
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes, pourtrait.ops.supabase]
attributes:
  check_mode:
    details: Says whether the password would be set (always for a generated one; for O(password), unless it already
      connects); sends no change.
  diff_mode:
    support: full
    details: Whether the password changes (never a value).
'''

EXAMPLES = r'''
- name: Rotate the database password (generated), keep it for the next task only
  pourtrait.ops.supabase_db_password:
    app_database_url: "{{ current_database_url }}"
    return_password: true
  register: rotated
  no_log: true

- name: Point the app at the new password
  pourtrait.ops.vercel_env:
    key: DATABASE_URL
    value: "postgresql://postgres:{{ rotated.password }}@db.{{ ref }}.supabase.co:5432/postgres"
    target: [production]
  no_log: true
'''

RETURN = r'''
generated:
  description: Whether the password was generated by this run.
  returned: always
  type: bool
verified:
  description: Whether a connection with the new password succeeded (false when O(verify=false) or in check mode).
  returned: always
  type: bool
target:
  description: Where the password applies and was verified, C({host, port, user, dbname}).
  returned: always
  type: dict
rotated_at:
  description: When the password was set (ISO 8601), null when it was not.
  returned: always
  type: str
password:
  description: The password the role now has. Only with O(return_password=true).
  returned: when O(return_password=true)
  type: str
sessions_kept:
  description: Whether sessions connected before the change can still run (always true; end them after the app
    switched).
  returned: always
  type: bool
msg: {description: One-line summary (never the password)., returned: always, type: str}
'''

import time

from ansible.module_utils.basic import env_fallback
from ansible_collections.pourtrait.ops.plugins.module_utils._module import check_range
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PSYCOPG2_IMPORT_ERROR, psycopg2
from ansible_collections.pourtrait.ops.plugins.module_utils.supabase import SupabaseError, SupabaseModule, iso
from ansible_collections.pourtrait.ops.plugins.module_utils.supabase_security import (
    check_app_url, check_password, connect_failure, generate_password, set_database_password,
)


class DbPassword(SupabaseModule):
    libraries = SupabaseModule.libraries + ((psycopg2, 'psycopg2 (pip install psycopg2-binary)',
                                             PSYCOPG2_IMPORT_ERROR),)
    argument_spec = dict(
        password=dict(type='str', no_log=True),
        length=dict(type='int', default=32),
        min_length=dict(type='int', default=16),
        strict=dict(type='bool', default=True),
        return_password=dict(type='bool', default=False),
        verify=dict(type='bool', default=True),
        verify_timeout=dict(type='float', default=30.0),
        db_host=dict(type='str', fallback=(env_fallback, ['SUPABASE_DB_HOST'])),
        db_port=dict(type='int', default=5432, fallback=(env_fallback, ['SUPABASE_DB_PORT'])),
        db_user=dict(type='str', default='postgres'),
        db_name=dict(type='str', default='postgres'),
        db_sslmode=dict(type='str', default='prefer',
                        choices=['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']),
        connect_timeout=dict(type='int', default=10),
        app_database_url=dict(type='str', no_log=True),
    )

    def validate(self):
        params = self.params
        check_range('length', params['length'], minimum=16, maximum=128)
        check_range('min_length', params['min_length'], minimum=8)
        check_range('verify_timeout', params['verify_timeout'], minimum=0)
        check_range('connect_timeout', params['connect_timeout'], minimum=1)
        if params['password'] is not None:
            if params['strict']:
                check_password(params['password'], params['min_length'])
            elif len(params['password']) < 4:
                raise SupabaseError('the new database password is %d characters long; Supabase needs at least 4'
                                    % len(params['password']))

    # -- connecting --------------------------------------------------------
    def _target(self):
        params = self.params
        host = params['db_host']
        if not host:
            host = ((self.client.project(self.ref) or {}).get('database') or {}).get('host')
            if not host:
                raise SupabaseError('project %s shows no database host; set db_host (SUPABASE_DB_HOST)' % self.ref)
        return dict(host=host, port=params['db_port'], user=params['db_user'], dbname=params['db_name'])

    def _connects(self, target, password):
        """None when a connection with ``password`` works, else the one-line reason."""
        try:
            conn = psycopg2.connect(password=password, sslmode=self.params['db_sslmode'],
                                    connect_timeout=self.params['connect_timeout'],
                                    application_name='pourtrait.ops/db_password', **target)
        except psycopg2.Error as exc:
            return connect_failure(exc, target)
        try:
            with conn.cursor() as cur:
                cur.execute('SELECT 1')
        finally:
            conn.close()
        return None

    def _verify(self, target, password):
        deadline = time.time() + self.params['verify_timeout']
        while True:
            reason = self._connects(target, password)
            if reason is None or time.time() >= deadline:
                return reason
            time.sleep(1.0)

    # -- the run -----------------------------------------------------------
    def run(self):
        params = self.params
        target = self._target()
        if params['app_database_url']:
            check_app_url(params['app_database_url'], target, self.ref)
        given = params['password']
        if given is not None and self._connects(target, given) is None:
            result = self._result(False, target, verified=True, generated=False)
            result['msg'] = ('the given password already connects as %s to %s:%s; nothing to change'
                             % (target['user'], target['host'], target['port']))
            return self._returning(result, given)
        password = given if given is not None else generate_password(params['length'])
        how = 'the given password' if given is not None else 'a generated password (%d characters)' % len(password)
        self.diff(dict(password='current'), dict(password='new: %s' % how))
        if self.check_mode:
            result = self._result(True, target, verified=False, generated=given is None)
            result['msg'] = 'would set %s for %s on project %s' % (how, target['user'], self.ref)
            return result
        self._set(target, password)
        result = self._result(True, target, verified=False, generated=given is None)
        result['rotated_at'] = iso(time.time())
        if params['verify']:
            reason = self._verify(target, password)
            if reason is not None:
                extra = dict(changed=True, rotated_at=result['rotated_at'], target=target)
                if params['return_password']:
                    extra['password'] = password
                raise SupabaseError('the database password of project %s was changed but connecting with it failed '
                                    'for %ss (%s); the old password no longer works for new connections (open sessions '
                                    'stay) - check db_host/db_port/db_sslmode and rerun with the same password'
                                    % (self.ref, params['verify_timeout'], reason), **extra)
            result['verified'] = True
        result['msg'] = ('set %s for %s on project %s%s; sessions already connected stay connected: end them once the '
                         'app uses the new password' % (how, target['user'], self.ref,
                                                        ', verified by connecting' if result['verified'] else ''))
        return self._returning(result, password)

    def _set(self, target, password):
        """PATCH the password. When every answer was lost (5xx, 429, a dropped connection: the change may have been
        made), a connection with the new password tells: it connects -> the change went through, go on."""
        try:
            set_database_password(self.client, self.ref, password)
        except SupabaseError as exc:
            status = exc.extra.get('status')
            if status is not None and 400 <= status < 500 and status != 429:
                raise  # refused: nothing changed
            if self._connects(target, password) is not None:
                raise
            self.warn('the answers to the password change were lost, but the new password connects as %s: the change '
                      'was made' % target['user'])

    @staticmethod
    def _result(changed, target, verified, generated):
        return dict(changed=changed, generated=generated, verified=verified, target=target, rotated_at=None,
                    sessions_kept=True)

    def _returning(self, result, password):
        if self.params['return_password']:
            result['password'] = password
        return result


def main():
    DbPassword.main()


if __name__ == '__main__':
    main()

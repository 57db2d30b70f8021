#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: postgres_database
short_description: Create or drop a PostgreSQL database (scratch databases of drills and checks)
version_added: 1.0.0
description:
  - Makes sure a database exists (created from C(template0)) or does not exist.
  - Dropping refuses when other sessions are connected to the database, unless O(force=true), which ends them
    (C(DROP DATABASE ... WITH (FORCE))).
  - Refuses to drop the login database itself.
  - The statements run from the login database, or from C(postgres) when the login database is O(name).
options:
  name:
    description:
      - The database.
    type: str
    required: true
  state:
    description:
      - C(present) creates the database when missing; C(absent) drops it when it exists.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), end the other sessions connected to the database and drop it anyway.
    type: bool
    default: false
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.postgres]
attributes:
  check_mode:
    details: Reports whether the database would be created or dropped; changes nothing.
  diff_mode:
    support: full
    details: C(before) and C(after) give whether the database exists.
author: Pourtrait engineering (@pourtrait)
'''

EXAMPLES = r'''
- name: Drop the scratch database of a drill, whatever is connected to it
  pourtrait.ops.postgres_database:
    name: pourtrait_dr_test_20260101020000
    state: absent
    force: true
'''

RETURN = r'''
name:
  description: The database.
  returned: always
  type: str
state:
  description: Whether the database now exists (in check mode, would exist) - C(present) or C(absent).
  returned: always
  type: str
terminated_sessions:
  description: Other sessions that were connected when it was dropped with O(force=true) (in check mode, that are).
  returned: always
  type: int
'''

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError, PostgresModule, describe_db_error, psycopg2
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.admin import (
    create_database,
    database_exists,
    drop_database,
    other_sessions,
)


class PostgresDatabase(PostgresModule):
    name = 'postgres_database'
    argument_spec = dict(
        name=dict(type='str', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        force=dict(type='bool', default=False),
    )

    def run(self):
        name = self.params['name']
        state = self.params['state']
        if not name or '\x00' in name:
            raise PgModuleError('name %r is not a database name; give a non-empty name without NUL bytes' % name)
        if len(name.encode('utf-8')) > 63:
            raise PgModuleError('database name "%s" is %d bytes long; PostgreSQL allows 63 and would silently cut it, '
                                'so choose a shorter name' % (name, len(name.encode('utf-8'))))
        login_db = self.conn_params.get('dbname')
        if state == 'absent' and login_db == name:
            raise PgModuleError('database "%s" is the login database and cannot be dropped from itself; log in to '
                                'another database (login_db) to drop it' % name)
        admin = self.connect(autocommit=True, dbname=None if login_db and login_db != name else 'postgres')
        try:
            exists = database_exists(admin, name)
            sessions = other_sessions(admin, name) if exists and state == 'absent' else []
            changed = exists != (state == 'present')
            result = dict(changed=changed, name=name, state=state, terminated_sessions=len(sessions))
            self.diff(dict(name=name, exists=exists), dict(name=name, exists=state == 'present'))
            if not changed:
                result['terminated_sessions'] = 0
                return result
            if sessions and not self.params['force']:
                raise PgModuleError('database "%s" has %d other session(s) connected (pids %s); end them or set force=true'
                                    % (name, len(sessions), ', '.join(str(s[0]) for s in sessions[:10])))
            if self.check_mode:
                return result
            try:
                if state == 'present':
                    create_database(admin, name)
                else:
                    drop_database(admin, name, force=self.params['force'])
            except psycopg2.Error as exc:
                verb = 'create' if state == 'present' else 'drop'
                raise PgModuleError('cannot %s database "%s": %s; check that the login user owns it or has CREATEDB'
                                    % (verb, name, describe_db_error(exc)))
        finally:
            admin.close()
        return result


def main():
    PostgresDatabase.main()


if __name__ == '__main__':
    main()

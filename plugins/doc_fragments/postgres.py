# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options shared by every postgres_* module.
    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host running PostgreSQL (name, address, or a Unix socket directory).
      - Falls back to the host in O(database_url), then to E(PGHOST).
    type: str
    aliases: [host]
  login_port:
    description:
      - Port PostgreSQL listens on. Supabase's session pooler and direct connection use 5432;
        the transaction pooler (6543) drops session settings such as C(lock_timeout).
      - Falls back to O(database_url), then E(PGPORT), then 5432.
    type: int
    aliases: [port]
  login_user:
    description:
      - Role to connect as. Falls back to O(database_url), then E(PGUSER).
    type: str
    aliases: [user]
  login_password:
    description:
      - Password of O(login_user). Falls back to O(database_url), then E(PGPASSWORD), then the
        libpq password file.
      - Never logged, never passed on a command line; client programs receive it through their environment.
    type: str
    aliases: [password]
  login_db:
    description:
      - Database to connect to. Falls back to O(database_url), then E(PGDATABASE).
    type: str
    aliases: [db, database]
  database_url:
    description:
      - A libpq connection URL, C(postgresql://user:password@host:port/dbname?sslmode=require),
        such as the one Supabase shows for the project.
      - Falls back to E(DATABASE_URL). The individual C(login_*) options override its parts.
    type: str
  ssl_mode:
    description:
      - libpq C(sslmode). Supabase accepts C(require); C(verify-full) with O(ca_cert) also checks the server's name.
      - Falls back to O(database_url), then E(PGSSLMODE).
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA certificate file used to verify the server with O(ssl_mode=verify-ca) or O(ssl_mode=verify-full).
    type: path
    aliases: [ssl_rootcert]
  connect_timeout:
    description:
      - Seconds to wait for a connection before giving up with an error.
    type: int
    default: 10
requirements:
  - psycopg2 (C(pip install psycopg2-binary))
notes:
  - Options are resolved in this order, first wins - the module's C(login_*) options, O(database_url)
    or E(DATABASE_URL), the E(PGHOST), E(PGPORT), E(PGUSER), E(PGPASSWORD) and E(PGDATABASE) variables.
  - Set the connection once per play with C(module_defaults) and the C(group/pourtrait.ops.postgres) action group.
attributes: {action_group: {support: full, membership: [pourtrait.ops.postgres]}}
'''

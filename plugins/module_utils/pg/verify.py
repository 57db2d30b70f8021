# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verifying a dump before it is called a backup: its table of contents (custom, directory), its
"dump complete" trailer (plain), or a full restore into a throwaway scratch database whose row
counts must equal the source's (verify=restore).

The scratch database's name carries the pid of the session that owns it, so the scratch
databases of killed runs are found and dropped by the next run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import uuid

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError,
    connect,
    describe_db_error,
    psycopg2,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.admin import create_database, drop_database, drop_quietly
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.checksums import checksum_tables, count_rows
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.formats import list_toc
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.programs import (
    build_restore_argv,
    client_env,
    run_program,
)


def database_is_empty(conn):
    """True when the database holds no user objects pg_dump would list."""
    with conn.cursor() as cur:
        cur.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
                    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND n.nspname NOT LIKE 'pg\\_toast%%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')) "
                    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p "
                    "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))")
        return cur.fetchone()[0]


def list_toc_quiet(pg_restore, path, env):
    """Tables with data from the TOC when pg_restore is at hand; [] otherwise (verify=none)."""
    if not pg_restore:
        return []
    try:
        return list_toc(pg_restore, path, env)[1]
    except PgModuleError:
        return []


def scratch_restore_check(conn_params, fmt, path, pg_restore, psql, jobs, source_counts_fn, application_name):
    """Restore a dump into a throwaway database (--exit-on-error) and check its row counts.

    ``source_counts_fn(tables)`` returns the source's counts for the restored tables.
    Returns the verification dict; raises PgModuleError when the restore fails."""
    admin = connect(conn_params, autocommit=True, application_name=application_name)
    # The name carries the pid of the session that owns it: while that session lives the run lives.
    scratch = 'pourtrait_verify_%d_%s' % (admin.get_backend_pid(), uuid.uuid4().hex[:8])
    try:
        drop_stale_scratch_databases(admin)
        try:
            create_database(admin, scratch)
        except psycopg2.Error as exc:
            raise PgModuleError('verify=restore cannot create a scratch database: %s; grant CREATEDB to the login '
                                'user or use verify=toc' % describe_db_error(exc))
        try:
            argv = build_restore_argv(fmt, path, scratch, pg_restore=pg_restore, psql=psql, jobs=jobs,
                                      single_transaction=(fmt == 'plain'), no_owner=True, no_acl=True)
            env = client_env(conn_params, dbname=scratch, application_name=application_name)
            try:
                run_program(argv, env)
            except PgModuleError as exc:
                raise PgModuleError('verification restore into a scratch database failed: %s' % exc)
            scratch_conn = connect(conn_params, dbname=scratch, application_name=application_name)
            try:
                tables = checksum_tables(scratch_conn)
            finally:
                scratch_conn.close()
            restored = count_rows(conn_params, scratch, tables, workers=jobs, application_name=application_name)
            source = source_counts_fn(tables)
        finally:
            _drop_scratch(conn_params, admin, scratch, application_name)
    finally:
        admin.close()
    mismatches = []
    for key in tables:
        if restored.get(key) != source.get(key):
            mismatches.append('%s.%s: %s restored, %s in source' % (key[0], key[1], restored.get(key), source.get(key)))
    details = dict(tables=len(tables), rows=sum(v or 0 for v in restored.values()), mismatches=mismatches)
    return dict(method='restore', ok=not mismatches, details=details)


_SCRATCH_RE = re.compile(r'^pourtrait_verify_(\d+)_[0-9a-f]{8}$')


def drop_stale_scratch_databases(conn):
    """Drop the scratch databases of verify=restore runs that were killed: their owning session (the pid in
    the name) is gone. Databases this login cannot drop are left alone. Returns the names dropped."""
    with conn.cursor() as cur:
        cur.execute("SELECT d.datname FROM pg_catalog.pg_database d WHERE d.datname ~ '^pourtrait_verify_[0-9]+_' "
                    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a "
                    "WHERE a.pid = substring(d.datname FROM '^pourtrait_verify_([0-9]+)_')::bigint)")
        stale = [row[0] for row in cur.fetchall() if _SCRATCH_RE.match(row[0])]
    dropped = []
    for name in stale:
        try:
            drop_database(conn, name, force=True)
            dropped.append(name)
        except psycopg2.Error:
            continue
    return dropped


def _drop_scratch(conn_params, admin, scratch, application_name):
    """Drop the scratch database; on a fresh connection when the first one was lost (the cut that failed the
    restore must not leave the scratch database behind, nor hide the error that matters). What cannot be
    dropped now, the next verify=restore run drops (its owning session is gone)."""
    try:
        drop_database(admin, scratch, force=True)
    except psycopg2.Error:
        drop_quietly(conn_params, None, scratch, application_name)

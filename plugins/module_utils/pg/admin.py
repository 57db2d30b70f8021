# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database administration: whether a database exists, creating and dropping it, the other
sessions connected to it and ending them.

Used by postgres_database, postgres_terminate, the restore job (re-creating its target) and the
dump's verify=restore (its scratch database).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError, connect, psycopg2, sql


def database_exists(conn, dbname):
    return dbname in existing_databases(conn, [dbname])


def existing_databases(conn, names):
    """The databases of ``names`` that exist on the server, as a set."""
    with conn.cursor() as cur:
        cur.execute('SELECT datname FROM pg_catalog.pg_database WHERE datname = ANY(%s)', (list(names),))
        return set(row[0] for row in cur.fetchall())


def create_database(conn, dbname, template='template0'):
    with conn.cursor() as cur:
        cur.execute(sql.SQL('CREATE DATABASE {} TEMPLATE {}').format(sql.Identifier(dbname), sql.Identifier(template)))


def drop_database(conn, dbname, force=False):
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('lock_timeout', '10s', false)")
        statement = 'DROP DATABASE IF EXISTS {} WITH (FORCE)' if force else 'DROP DATABASE IF EXISTS {}'
        cur.execute(sql.SQL(statement).format(sql.Identifier(dbname)))


def drop_quietly(conn_params, admin_db, dbname, application_name):
    """Drop ``dbname`` (with FORCE) on a fresh connection to ``admin_db``; never raises."""
    try:
        admin = connect(conn_params, autocommit=True, dbname=admin_db, application_name=application_name)
    except PgModuleError:
        return
    try:
        drop_database(admin, dbname, force=True)
    except psycopg2.Error:
        pass
    finally:
        admin.close()


def other_sessions(conn, dbname):
    """Client sessions connected to ``dbname`` other than ours: [(pid, usename, application_name)]."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pid, usename, application_name FROM pg_catalog.pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend' ORDER BY pid",
            (dbname,))
        return cur.fetchall()


def terminate_sessions(conn, dbname, timeout=10.0):
    """End every other client session on ``dbname``; wait until they are gone. Returns how many."""
    sessions = other_sessions(conn, dbname)
    for pid, _user, _app in sessions:
        signal_backend(conn, pid)
    deadline = time.time() + timeout
    while other_sessions(conn, dbname):
        if time.time() > deadline:
            raise PgModuleError('sessions on database "%s" did not end within %ds after pg_terminate_backend; '
                                'check for a pooler reconnecting them' % (dbname, timeout))
        time.sleep(0.1)
    return len(sessions)


def signal_backend(conn, pid, function='pg_terminate_backend'):
    """Send ``pg_terminate_backend`` (or ``pg_cancel_backend``) to one backend; False when the pid is no
    longer a backend. psycopg2.Error (e.g. no permission) is left to the caller."""
    if function not in ('pg_terminate_backend', 'pg_cancel_backend'):
        raise ValueError(function)
    with conn.cursor() as cur:
        cur.execute('SELECT pg_catalog.%s(%%s)' % function, (pid,))
        return cur.fetchone()[0]

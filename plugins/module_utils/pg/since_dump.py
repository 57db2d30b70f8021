# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects created since a dump, and the clean restore that drops them first.

``pg_restore --clean`` drops the dump's own objects, without CASCADE. An object created after the dump that
depends on one of them - a migration's table with a foreign key to a dumped table, a view over one - makes
that drop fail ("cannot drop constraint wines_pkey ... because other objects depend on it"), and whatever it
does not fail on stays behind though it was not there when the dump was taken. So, for the dump of a whole
database (its manifest says no table was left out), the restore first drops the tables, views, sequences,
functions, types and foreign keys of the dump's schemas that the dump does not hold (``find_new_objects``),
and, with a single transaction, does so inside the restore's own transaction (``run_clean_restore``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import subprocess
import tempfile

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError, psycopg2
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.copy_in import SESSION_LINE_RE, SET_NAME_RE
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.formats import toc_listing
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.programs import tool_error
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.stream import CHUNK

# (kind as pg_restore --list names it, schema, tag as it names it, DROP statement); search_path is empty while
# these run, so format_type() and regprocedure qualify names the way pg_dump does.
NEW_OBJECTS_QUERY = """
WITH dumped(nspname) AS (SELECT unnest(%(schemas)s::text[])),
members AS (SELECT classid, objid FROM pg_catalog.pg_depend WHERE deptype IN ('e', 'a', 'i'))
SELECT 'FK CONSTRAINT', n.nspname, c.relname || ' ' || con.conname,
       pg_catalog.format('ALTER TABLE IF EXISTS ONLY %%I.%%I DROP CONSTRAINT IF EXISTS %%I', n.nspname, c.relname,
                         con.conname), 1
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_class f ON f.oid = con.confrelid
  JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace
 WHERE con.contype = 'f' AND (n.nspname IN (SELECT nspname FROM dumped) OR fn.nspname IN (SELECT nspname FROM dumped))
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
       n.nspname, c.relname,
       pg_catalog.format('DROP %%s IF EXISTS %%I.%%I CASCADE',
                         CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                                        WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, n.nspname, c.relname), 2
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN (SELECT nspname FROM dumped) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND ('pg_catalog.pg_class'::pg_catalog.regclass, c.oid) NOT IN (SELECT classid, objid FROM members)
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
       n.nspname,
       p.proname || '(' || pg_catalog.array_to_string(ARRAY(
           SELECT pg_catalog.format_type(t, NULL) FROM pg_catalog.unnest(p.proargtypes) AS t), ', ') || ')',
       pg_catalog.format('DROP %%s IF EXISTS %%s CASCADE',
                         CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
                         p.oid::pg_catalog.regprocedure), 3
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN (SELECT nspname FROM dumped)
   AND ('pg_catalog.pg_proc'::pg_catalog.regclass, p.oid) NOT IN (SELECT classid, objid FROM members)
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, n.nspname, t.typname,
       pg_catalog.format('DROP %%s IF EXISTS %%I.%%I CASCADE', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
                         n.nspname, t.typname), 4
  FROM pg_catalog.pg_type t
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
  LEFT JOIN pg_catalog.pg_class r ON r.oid = t.typrelid
 WHERE n.nspname IN (SELECT nspname FROM dumped) AND t.typtype IN ('e', 'd', 'r', 'c')
   AND (t.typtype <> 'c' OR r.relkind = 'c')
   AND ('pg_catalog.pg_type'::pg_catalog.regclass, t.oid) NOT IN (SELECT classid, objid FROM members)
 ORDER BY 5, 2, 3
"""

_SYSTEM_SCHEMAS = ('pg_catalog', 'information_schema', 'pg_toast', '-')
# Kinds of pg_restore --list entries whose next word is their schema; longer names first ("SEQUENCE SET" is not
# a SEQUENCE of schema "SET").
_SCHEMA_KINDS = ('FK CONSTRAINT', 'TABLE DATA', 'TABLE', 'MATERIALIZED VIEW DATA', 'MATERIALIZED VIEW', 'VIEW',
                 'SEQUENCE OWNED BY', 'SEQUENCE SET', 'SEQUENCE', 'FUNCTION', 'PROCEDURE', 'AGGREGATE', 'TYPE',
                 'DOMAIN', 'FOREIGN TABLE', 'CONSTRAINT', 'INDEX ATTACH', 'INDEX')


def whole_database_dump(manifest):
    """Whether the manifest (of pourtrait.ops) says the dump holds every object of its schemas: not data only,
    no table chosen or left out. Without that, an object missing from the dump may just have been left out."""
    return bool(manifest) and manifest.get('tool') == 'pourtrait.ops' and not manifest.get('data_only') \
        and not manifest.get('tables_included') and not manifest.get('exclude_tables')


def read_listing(pg_restore, path, env):
    """``pg_restore --list`` of the dump: {"KIND schema tag"} of its entries, and its schemas."""
    return parse_listing(toc_listing(pg_restore, path, env))


def parse_listing(text):
    """({"KIND schema tag"} of the entries, [schemas]) of ``pg_restore --list`` output."""
    entries, schemas = set(), set()
    for line in text.splitlines():
        if not line or line.startswith(';') or '; ' not in line:
            continue
        fields = line.split('; ', 1)[1].split(' ', 2)  # tableoid, oid, "KIND schema tag owner"
        if len(fields) < 3:
            continue
        entry = fields[2].rsplit(' ', 1)[0]  # without the owner (empty for some kinds)
        entries.add(entry)
        if entry.startswith('SCHEMA - '):
            schemas.add(entry[len('SCHEMA - '):])
        else:
            for kind in _SCHEMA_KINDS:
                if entry.startswith(kind + ' '):
                    schemas.add(entry[len(kind) + 1:].split(' ', 1)[0])
                    break
    return entries, sorted(s for s in schemas if s not in _SYSTEM_SCHEMAS)


def find_new_objects(conn, entries, schemas):
    """[{kind, name, drop}] of the objects of ``schemas`` in the target (``conn``) that the dump's ``entries``
    do not hold, foreign keys first, in the order they are dropped."""
    if not schemas:
        return []
    with conn.cursor() as cur:
        cur.execute("SELECT pg_catalog.set_config('search_path', '', true)")
        cur.execute(NEW_OBJECTS_QUERY, dict(schemas=list(schemas)))
        rows = cur.fetchall()
    conn.rollback()
    found = []
    for kind, schema, tag, drop, _order in rows:
        if '%s %s %s' % (kind, schema, tag) in entries:
            continue
        if kind == 'FK CONSTRAINT' and 'TABLE %s %s' % (schema, tag.split(' ', 1)[0]) not in entries:
            if schema in schemas:
                continue  # on a table the dump does not hold: it goes with that table
        found.append(dict(kind=kind, name='%s.%s' % (schema, tag), drop=drop))
    return found


def drop_statements(objects):
    return ''.join('%s;\n' % o['drop'] for o in objects)


def drop_new_objects(conn, objects):
    """Drop ``objects`` in one transaction of their own (a parallel restore has no single transaction)."""
    try:
        with conn.cursor() as cur:
            for obj in objects:
                cur.execute(obj['drop'])
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        raise PgModuleError('cannot drop the objects created since the dump: %s; nothing was restored'
                            % str(exc).strip().splitlines()[0])


def server_settings(conn):
    """The names of the server's settings (pg_settings), lower case."""
    with conn.cursor() as cur:
        cur.execute('SELECT name FROM pg_catalog.pg_settings')
        names = set(row[0].lower() for row in cur.fetchall())
    conn.rollback()
    return names


def run_clean_restore(pg_restore_argv, psql, dbname, env, objects, known=None):
    """pg_restore --single-transaction writing its script, fed to psql with the DROPs of ``objects`` after the
    script's BEGIN and settings (``known``: see ``_feed``): all in the restore's one transaction. A script cut
    short never reaches its COMMIT, so psql's session ends with the transaction rolled back."""
    script_argv = [a for a in pg_restore_argv if not a.startswith('--dbname=')]
    script_argv.insert(len(script_argv) - 1, '--file=-')
    psql_argv = [psql, '--no-psqlrc', '--no-password', '--quiet', '--set=ON_ERROR_STOP=1', '--dbname=%s' % dbname]
    drops = drop_statements(objects).encode('utf-8')
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        try:
            producer = subprocess.Popen(script_argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=restore_err)
        except OSError as exc:
            raise PgModuleError('cannot run pg_restore: %s; check bin_dir' % exc)
        try:
            consumer = subprocess.Popen(psql_argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=psql_err)
        except OSError as exc:
            producer.kill()
            producer.wait()
            raise PgModuleError('cannot run psql: %s; check bin_dir' % exc)
        placed = _feed(producer.stdout, consumer.stdin, drops, known)
        consumer_rc = consumer.wait()
        stopped = consumer_rc != 0 and producer.poll() is None  # psql stopped first: its error is the cause
        if stopped:
            producer.kill()
        producer.stdout.close()
        producer_rc = producer.wait()
        psql_err.seek(0)
        restore_err.seek(0)
        psql_text = psql_err.read().decode('utf-8', 'replace')
        restore_text = restore_err.read().decode('utf-8', 'replace')
    if not placed and consumer_rc == 0:
        raise PgModuleError('the restore script of pg_restore has no BEGIN to place the drops of the objects '
                            'created since the dump after; nothing was restored. Restore with jobs above 1 or '
                            'single_transaction=false')
    if producer_rc != 0 and not stopped:  # pg_restore failed by itself (a damaged dump): psql then saw a cut script
        raise PgModuleError(tool_error('pg_restore', producer_rc, restore_text))
    if consumer_rc != 0:
        raise PgModuleError(tool_error('psql', consumer_rc, psql_text))


def _feed(source, sink, drops, known=None):
    """Copy the script from ``source`` to ``sink``, ``drops`` placed before its first statement, after its BEGIN
    and session settings; returns whether they were placed (not when a statement comes before any BEGIN: nothing
    more is sent then). A setting the server does not know (``known``: the names in its pg_settings) is left out,
    as pg_restore connected to the server would (pg_restore 18's transaction_timeout on 15)."""
    begun = False
    try:
        while True:
            line = source.readline()
            if not line:
                return False  # cut short before any statement
            text = line.rstrip(b'\r\n').decode('utf-8', 'replace')
            if text == 'BEGIN;':
                begun = True
            elif SESSION_LINE_RE.match(text):
                name = SET_NAME_RE.match(text)
                if name and known is not None and name.group(1).lower() not in known:
                    continue
            elif text and not text.startswith(('--', '\\')):
                if not begun:
                    return False  # a statement before any BEGIN: the script is not one transaction
                sink.write(drops + line)
                break
            sink.write(line)
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            sink.write(chunk)
    except (BrokenPipeError, OSError):
        pass  # psql stopped (an error): its message says why
    finally:
        try:
            sink.close()
        except (BrokenPipeError, OSError):
            pass
    return True

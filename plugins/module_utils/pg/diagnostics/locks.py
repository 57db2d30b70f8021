# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Locks: who blocks whom (``blocking``, a tree with the root blockers first) and the lock list (``locks``).

``pg_blocking_pids(pid)`` names the blockers of any lock wait - row (transactionid), relation, advisory,
tuple... (``supabase inspect db blocking`` joins pg_locks on transactionid only and misses relation-lock
waits). It runs only for the sessions waiting on a lock, so hundreds of idle sessions cost nothing.
``pg_locks.waitstart`` (since 14) dates a wait; before 14 the session's state change stands in for it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics.common import (
    Part, cut_length, shorten, version_major,
)

# A pg_locks row's object as a name: schema.relation (in this database or a shared catalog), else the oid,
# the transaction id, or the advisory key. {l} is the pg_locks alias, {c}/{n} the pg_class/pg_namespace ones.
_OBJECT = """CASE WHEN {c}.oid IS NOT NULL THEN {n}.nspname || '.' || {c}.relname
            WHEN {l}.relation IS NOT NULL THEN {l}.relation::text
            WHEN {l}.locktype = 'transactionid' THEN 'transaction ' || {l}.transactionid::text
            WHEN {l}.locktype = 'advisory' THEN 'advisory ' || {l}.classid::text || ':' || {l}.objid::text
            ELSE NULL END"""

_REL_JOIN = """LEFT JOIN pg_catalog.pg_class {c} ON {c}.oid = {l}.relation
       AND {l}.database IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))
  LEFT JOIN pg_catalog.pg_namespace {n} ON {n}.oid = {c}.relnamespace"""

BLOCKING_QUERY = """
WITH waiting AS MATERIALIZED (
  SELECT a.pid, pg_catalog.pg_blocking_pids(a.pid) AS blockers
    FROM pg_catalog.pg_stat_activity a
   WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_catalog.pg_backend_pid()
), involved AS (
  SELECT pid FROM waiting UNION SELECT unnest(blockers) FROM waiting
), awaited AS MATERIALIZED (
  SELECT DISTINCT ON (l.pid) l.pid, l.locktype, l.mode, {waitstart} AS waitstart, """ + _OBJECT.format(
    l='l', c='c', n='n') + """ AS object
    FROM pg_catalog.pg_locks l
    """ + _REL_JOIN.format(l='l', c='c', n='n') + """
   WHERE NOT l.granted AND l.pid IN (SELECT pid FROM waiting)
   ORDER BY l.pid
)
SELECT i.pid, coalesce(w.blockers, '{{}}'::int[]), a.usename, a.datname, a.application_name, a.state,
       a.backend_type, round(extract(epoch FROM clock_timestamp() - a.xact_start)::numeric, 1)::float8,
       k.locktype, k.mode, k.object,
       round(extract(epoch FROM clock_timestamp() - coalesce(k.waitstart, a.state_change))::numeric, 1)::float8,
       left(a.query, %(cut)s)
  FROM involved i
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = i.pid
  LEFT JOIN waiting w ON w.pid = i.pid
  LEFT JOIN awaited k ON k.pid = i.pid
 ORDER BY i.pid
"""

# Every lock of the client sessions but the module's own, without the lock each transaction holds on its own
# virtual (and, once it writes, real) transaction id: waiting first, then oldest first.
LOCKS_QUERY = """
SELECT l.pid, a.usename, a.application_name, a.datname, l.locktype, l.mode, l.granted,
       """ + _OBJECT.format(l='l', c='c', n='n') + """,
       round(extract(epoch FROM clock_timestamp() - CASE WHEN l.granted THEN a.xact_start
                                                          ELSE coalesce({waitstart}, a.state_change) END)::numeric,
             1)::float8 AS age,
       a.state, left(a.query, %(cut)s)
  FROM pg_catalog.pg_locks l
  JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
  """ + _REL_JOIN.format(l='l', c='c', n='n') + """
 WHERE a.backend_type = 'client backend' AND l.pid <> pg_catalog.pg_backend_pid()
   AND NOT (l.granted AND l.locktype IN ('virtualxid', 'transactionid'))
 ORDER BY l.granted, age DESC NULLS LAST, l.pid, 8
 LIMIT %(limit)s
"""


def _waitstart(meta, alias):
    return '%s.waitstart' % alias if version_major(meta) >= 14 else 'NULL::timestamptz'


def _build_blocking(params, meta):
    return BLOCKING_QUERY.format(waitstart=_waitstart(meta, 'l')), dict(cut=cut_length(params))


def _build_locks(params, meta):
    return (LOCKS_QUERY.replace('{waitstart}', _waitstart(meta, 'l')),
            dict(cut=cut_length(params), limit=params['limit']))


def blocking_tree(sessions):
    """Trees of blocking from ``sessions`` (dicts with ``pid`` and ``blocked_by``, a list of pids).

    The roots are the sessions that block others and wait for no one (a prepared transaction, pid 0, is a root
    too), the ones blocking most sessions first; each node's ``children`` are the sessions waiting for it. A
    session waiting for several blockers appears under each. Sessions in a cycle (a deadlock not yet detected)
    have no such root: the lowest pid of the cycle stands for it. ``blocked_count`` is the number of distinct
    sessions below a node.
    """
    by_pid = dict((s['pid'], s) for s in sessions)
    waiters = {}
    for session in sessions:
        for blocker in session.get('blocked_by') or ():
            waiters.setdefault(blocker, []).append(session['pid'])
            if blocker not in by_pid:
                by_pid[blocker] = dict(pid=blocker, blocked_by=[])
    roots = [pid for pid in sorted(by_pid) if not by_pid[pid].get('blocked_by')]
    reached = set()
    trees = [_node(pid, by_pid, waiters, (), reached) for pid in roots]
    for pid in sorted(by_pid):  # cycles: nothing above them
        if pid not in reached and pid in waiters:
            trees.append(_node(pid, by_pid, waiters, (), reached))
    trees.sort(key=lambda t: (-t['blocked_count'], t['pid']))
    return trees


def _node(pid, by_pid, waiters, path, reached):
    reached.add(pid)
    node = dict((k, v) for k, v in by_pid[pid].items())
    path = path + (pid,)
    node['children'] = [_node(child, by_pid, waiters, path, reached)
                        for child in sorted(set(waiters.get(pid, ()))) if child not in path]
    node['blocked_count'] = len(_below(node))
    return node


def _below(node):
    pids = set()
    for child in node['children']:
        pids.add(child['pid'])
        pids.update(_below(child))
    return pids


def root_pids(trees):
    """The pids of the root blockers (prepared transactions, pid 0, left out: no session to end)."""
    return [t['pid'] for t in trees if t['pid']]


def _blocking(rows, params, meta):
    length = params['query_max_length']
    sessions = []
    for r in rows:
        session = dict(pid=r[0], blocked_by=list(r[1] or []), usename=r[2], database=r[3], application_name=r[4],
                       state=r[5] if r[0] else 'prepared transaction', backend_type=r[6],
                       transaction_seconds=r[7], query=shorten(r[12], length))
        if r[9] is not None:
            session['waiting_for'] = dict(locktype=r[8], mode=r[9], object=r[10], seconds=r[11])
        sessions.append(session)
    return blocking_tree(sessions)


def _locks(rows, params, meta):
    length = params['query_max_length']
    return [dict(pid=r[0], usename=r[1], application_name=r[2], database=r[3], locktype=r[4], mode=r[5],
                 granted=r[6], object=r[7], age_seconds=r[8], state=r[9], query=shorten(r[10], length))
            for r in rows]


PARTS = (
    Part('blocking', _build_blocking, _blocking),
    Part('locks', _build_locks, _locks),
)


# The lock waits of the server: each waiting session and the sessions it waits for.
WAITS_QUERY = """
SELECT a.pid, pg_catalog.pg_blocking_pids(a.pid)
  FROM pg_catalog.pg_stat_activity a
 WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_catalog.pg_backend_pid()
"""


def root_blockers(cursor):
    """{pid: [pids below it]} of the root blockers of the server's blocking trees (see ``blocking_tree``)."""
    cursor.execute(WAITS_QUERY)
    trees = blocking_tree([dict(pid=pid, blocked_by=list(blockers or [])) for pid, blockers in cursor.fetchall()])
    return dict((tree['pid'], sorted(_below(tree))) for tree in trees if tree['pid'])

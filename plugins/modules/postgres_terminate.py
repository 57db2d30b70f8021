#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: postgres_terminate
short_description: Cancel or terminate runaway PostgreSQL sessions, safely
description:
  - Finds client sessions that have been running one query longer than O(active_seconds), or that have sat
    C(idle in transaction) longer than O(idle_in_transaction_seconds) (measured from C(state_change)),
    and cancels their query, terminates them, or cancels first and terminates only those still running the
    same query after O(grace_seconds).
  - Never a candidate - the module's own session, any backend that is not a C(client backend) (autovacuum,
    WAL senders, background workers), plain C(idle) sessions (idle pooled connections are healthy),
    sessions of O(exclude_roles) and sessions whose C(application_name) is in O(exclude_applications).
  - With O(blocking_roots=true) the candidates are instead the root blockers of the blocking trees - sessions
    holding a lock others wait for (C(pg_blocking_pids)) while waiting for no one - whatever their age. An active
    root is cancelled first (the cancelled query's transaction aborts and releases its locks); it is terminated
    after O(grace_seconds) only if it still blocks (a query that ignores the cancel). A root idle in transaction is terminated without the useless cancel.
  - In check mode the candidates are listed and nothing is signalled.
version_added: 1.0.0
author: Pourtrait engineering (@pourtrait)
options:
  action:
    description:
      - V(cancel) sends C(pg_cancel_backend) - the running query fails, the connection stays. A cancel does
        nothing to a session that is idle in transaction, so such sessions are reported in RV(still_running).
      - V(terminate) sends C(pg_terminate_backend) - the connection is closed and its transaction rolled back.
      - V(cancel_then_terminate) cancels the active queries, waits up to O(grace_seconds), then terminates the
        sessions still running the same query (same pid, same C(query_start)). Sessions idle in transaction
        are terminated without the useless cancel.
    type: str
    choices: [cancel, terminate, cancel_then_terminate]
    default: cancel_then_terminate
  active_seconds:
    description:
      - A session in state C(active) whose current query started more than this many seconds ago is a candidate.
    type: int
    default: 300
  idle_in_transaction_seconds:
    description:
      - A session C(idle in transaction) (or C(idle in transaction (aborted))) for more than this many seconds,
        counted from its last state change, is a candidate.
    type: int
    default: 300
  grace_seconds:
    description:
      - How long to wait after a cancel before terminating (V(cancel_then_terminate)), and the longest wait for
        signalled sessions to go away before they are reported in RV(still_running).
    type: float
    default: 5
  exclude_roles:
    description:
      - Sessions of these roles are never touched.
      - The default is the list of roles Supabase manages itself (C(supabase_admin), C(supabase_auth_admin),
        C(supabase_storage_admin), C(supabase_realtime_admin), C(supabase_replication_admin),
        C(supabase_read_only_user), C(supabase_functions_admin), C(authenticator), C(pgbouncer),
        C(dashboard_user), C(pgsodium_keyholder), C(pgsodium_keyiduser), C(pgsodium_keymaker)).
        C(postgres) is not in it; add it when your own admin sessions must survive.
      - Setting this option replaces the default list; repeat the managed roles you still want to keep.
    type: list
    elements: str
    default: [supabase_admin, supabase_auth_admin, supabase_storage_admin, supabase_realtime_admin,
              supabase_replication_admin, supabase_read_only_user, supabase_functions_admin, authenticator,
              pgbouncer, dashboard_user, pgsodium_keyholder, pgsodium_keyiduser, pgsodium_keymaker]
  exclude_applications:
    description:
      - Sessions whose C(application_name) is one of these are never touched.
    type: list
    elements: str
    default: []
  roles:
    description:
      - Only sessions of these roles are candidates. O(exclude_roles) still wins over this list.
      - Default is every role.
    type: list
    elements: str
  blocking_roots:
    description:
      - End the root blockers of the blocking trees (see the description) instead of the sessions over
        O(active_seconds) / O(idle_in_transaction_seconds), which are then not used. O(exclude_roles),
        O(exclude_applications), O(roles) and O(databases) still apply. The trees are those
        M(pourtrait.ops.postgres_diagnostics) returns with C(gather_subset=blocking).
      - A second run finds no root blocker once the contention is gone, so it changes nothing.
    type: bool
    default: false
    version_added: 1.2.0
  connected_before:
    description:
      - End every client session of O(roles) that connected before this time (ISO 8601, for example
        C(2026-12-03T14:00:00Z)), whatever it is doing - plain C(idle) included. These are the sessions that
        logged in with a credential since rotated (a changed password does not end them); give the rotation's
        time. O(active_seconds) / O(idle_in_transaction_seconds) are then not used; O(roles) is required.
      - A second run finds none of them left, so it changes nothing.
    type: str
    version_added: 1.1.0
  databases:
    description:
      - Only sessions connected to these databases are candidates.
      - Default is the database the module connects to. V(all) means every database of the server.
    type: list
    elements: str
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.postgres]
attributes:
  check_mode:
    details: Lists the candidates without signalling any session; C(changed) is true when there are candidates.
  diff_mode:
    support: full
    details: Before is the list of candidate sessions, after those still running.
notes:
  - Signalling another role's session needs superuser or membership of C(pg_signal_backend) (and seeing its
    query and state needs C(pg_read_all_stats)); a session that cannot be signalled is reported in
    RV(still_running) with the reason in RV(errors).
'''

EXAMPLES = r'''
- name: See which sessions would be stopped (no change)
  pourtrait.ops.postgres_terminate:
    active_seconds: 120
  check_mode: true
  register: runaway

- name: Cancel queries running longer than 5 minutes, terminate them if they ignore the cancel
  pourtrait.ops.postgres_terminate:
    database_url: "{{ lookup('env', 'DATABASE_URL') }}"
    active_seconds: 300
    idle_in_transaction_seconds: 120
    grace_seconds: 10

- name: End whatever blocks other sessions (cancel first, terminate if it still blocks)
  pourtrait.ops.postgres_terminate:
    blocking_roots: true
    grace_seconds: 5

- name: Terminate idle-in-transaction sessions of the app role only, in every database
  pourtrait.ops.postgres_terminate:
    action: terminate
    roles: [authenticated, service_role, postgres]
    databases: [all]
    exclude_applications: [pg_dump, "pourtrait.ops/postgres_dump"]
    idle_in_transaction_seconds: 60
'''

RETURN = r'''
candidates:
  description: Sessions that matched, with why.
  returned: always
  type: list
  elements: dict
  contains:
    pid: {description: Backend process id., type: int}
    usename: {description: Role of the session., type: str}
    datname: {description: Database of the session., type: str}
    application_name: {description: The client's application_name., type: str}
    client_addr: {description: Client address (null for a Unix socket)., type: str}
    state: {description: State when found., type: str}
    duration_seconds: {description: Seconds in the current query (active) or since the last state change., type: float}
    query:
      description: The query text, cut to 200 characters.
      type: str
    reason:
      description: Why it is a candidate (with O(blocking_roots), C(blocks N session(s)) and their pids).
      type: str
      sample: active 612s > 300s
    blocking:
      description: With O(blocking_roots), the pids of the sessions waiting for it (directly or not).
      type: list
      elements: int
      returned: with O(blocking_roots=true)
    outcome:
      description:
        - What happened to it - C(would stop) (check mode), C(cancelled), C(terminated), C(still running),
          or C(gone) (it ended by itself before it was signalled).
      type: str
      sample: terminated
  sample:
    - pid: 4242
      usename: authenticated
      datname: postgres
      application_name: postgrest
      client_addr: 10.0.0.7
      state: active
      duration_seconds: 612.4
      query: SELECT * FROM wines w JOIN recommendations r ON ...
      reason: active 612s > 300s
      outcome: cancelled
cancelled:
  description: Pids whose query was cancelled (and which did not need terminating).
  returned: always
  type: list
  elements: int
terminated:
  description: Pids of sessions terminated.
  returned: always
  type: list
  elements: int
still_running:
  description: Pids that could not be stopped (cancel ignored, no permission, idle in transaction with O(action=cancel)).
  returned: always
  type: list
  elements: int
left_alone:
  description: Sessions over a threshold that were left alone, by cause.
  returned: always
  type: dict
  sample: {excluded_role: 2, excluded_application: 0, not_in_roles: 1}
errors:
  description: Signals that failed, one line each.
  returned: when a signal failed
  type: list
  elements: dict
  sample: [{pid: 4242, msg: "must be a member of the role whose process is being terminated (SQLSTATE 42501)"}]
'''

import datetime
import time

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.admin import existing_databases, signal_backend
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics.locks import root_blockers
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError, PostgresModule, SUPABASE_MANAGED_ROLES, describe_db_error, psycopg2,
)
from ansible_collections.pourtrait.ops.plugins.module_utils._module import check_range

ACTIVE_STATES = ('active', 'fastpath function call')
IDLE_TX_STATES = ('idle in transaction', 'idle in transaction (aborted)')
QUERY_CHARS = 200
POLL_SECONDS = 0.1

# The client sessions of the chosen databases (never ourselves), with their state's age.
_SESSIONS_SQL = """
SELECT pid, usename, datname, application_name, host(client_addr), state, query,
       backend_start, query_start, state_change,
       extract(epoch FROM clock_timestamp() - CASE WHEN state = ANY(%(active_states)s)
                                                   THEN query_start ELSE state_change END)::float8
FROM pg_catalog.pg_stat_activity
WHERE backend_type = 'client backend'
  AND pid <> pg_catalog.pg_backend_pid()
  AND (%(all_dbs)s OR datname = ANY(%(databases)s))
"""

# Sessions over a threshold (never plain idle).
_FIND_SQL = _SESSIONS_SQL + """  AND ((state = ANY(%(active_states)s)
        AND query_start < clock_timestamp() - make_interval(secs => %(active_seconds)s))
    OR (state = ANY(%(idle_tx_states)s)
        AND state_change < clock_timestamp() - make_interval(secs => %(idle_tx_seconds)s)))
ORDER BY pid
"""

# Sessions that connected before a time (any state: plain idle too).
_CONNECTED_BEFORE_SQL = _SESSIONS_SQL + """  AND backend_start < %(connected_before)s
ORDER BY pid
"""

# Root blockers, for the given pids.
_ROOTS_SQL = _SESSIONS_SQL + """  AND pid = ANY(%(pids)s)
ORDER BY pid
"""

# The same sessions, still in the state that made them candidates.
_STILL_SQL = """
SELECT pid, backend_start, query_start, state_change, state
FROM pg_catalog.pg_stat_activity
WHERE pid = ANY(%s)
"""


def parse_connected_before(value):
    """connected_before as an aware datetime, or a one-line error."""
    text = value.strip()
    try:
        when = datetime.datetime.fromisoformat(text[:-1] + '+00:00' if text.endswith('Z') else text)
    except ValueError:
        raise PgModuleError("connected_before=%r is not a time; give an ISO 8601 time such as "
                            "2026-12-03T14:00:00Z (the credential's rotation time)" % value)
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def _fmt_duration(seconds, threshold):
    whole = int(seconds)
    if whole > threshold:
        return '%ds' % whole
    return '%.1fs' % seconds


class Session(object):
    """One candidate backend and the facts that identify 'the same query'."""

    def __init__(self, row):
        (self.pid, self.usename, self.datname, self.application_name, self.client_addr, self.state,
         query, self.backend_start, self.query_start, self.state_change, self.duration) = row
        self.query = (query or '')[:QUERY_CHARS]
        self.active = self.state in ACTIVE_STATES
        self.reason = None
        self.outcome = 'would stop'
        self.blocking = None

    def same_as(self, row):
        """True when ``row`` (from _STILL_SQL) is this session, still doing what made it a candidate."""
        _pid, backend_start, query_start, state_change, state = row
        if backend_start != self.backend_start:
            return False
        if self.active:
            return state in ACTIVE_STATES and query_start == self.query_start
        return state in IDLE_TX_STATES and state_change == self.state_change

    def as_dict(self):
        out = dict(pid=self.pid, usename=self.usename, datname=self.datname,
                   application_name=self.application_name, client_addr=self.client_addr,
                   state=self.state, duration_seconds=round(self.duration or 0.0, 1),
                   query=self.query, reason=self.reason, outcome=self.outcome)
        if self.blocking is not None:
            out['blocking'] = self.blocking
        return out

    def summary(self):
        return '%d %s@%s (%s): %s' % (self.pid, self.usename, self.datname, self.application_name or '-', self.reason)


class PostgresTerminate(PostgresModule):
    name = 'postgres_terminate'
    argument_spec = dict(
        action=dict(type='str', default='cancel_then_terminate', choices=['cancel', 'terminate', 'cancel_then_terminate']),
        active_seconds=dict(type='int', default=300),
        idle_in_transaction_seconds=dict(type='int', default=300),
        grace_seconds=dict(type='float', default=5),
        exclude_roles=dict(type='list', elements='str', default=list(SUPABASE_MANAGED_ROLES)),
        exclude_applications=dict(type='list', elements='str', default=[]),
        roles=dict(type='list', elements='str'),
        databases=dict(type='list', elements='str'),
        blocking_roots=dict(type='bool', default=False),
        connected_before=dict(type='str'),
    )
    module_kwargs = dict(mutually_exclusive=[('blocking_roots', 'connected_before')],
                         required_by=dict(connected_before=['roles']))

    def validate(self):
        p = self.params
        for option in ('active_seconds', 'idle_in_transaction_seconds', 'grace_seconds'):
            check_range(option, p[option], minimum=0)
        if p['connected_before']:
            p['connected_before'] = parse_connected_before(p['connected_before'])
        overlap = sorted(set(p['roles'] or []) & set(p['exclude_roles']))
        if overlap:
            self.warn('roles %s are also in exclude_roles and stay untouched; remove them from '
                      'exclude_roles to stop their sessions' % ', '.join(overlap))

    def target_databases(self, cur):
        """(all_dbs, [names]) after checking the named databases exist."""
        names = self.params['databases']
        if not names:
            cur.execute('SELECT current_database()')
            return False, [cur.fetchone()[0]]
        if 'all' in names:
            return True, []
        found = existing_databases(cur.connection, names)
        missing = [n for n in names if n not in found]
        if missing:
            raise PgModuleError('database %s does not exist on this server; check databases (or use [all])'
                                % ', '.join('"%s"' % m for m in missing))
        return False, names

    def find(self, cur, all_dbs, databases):
        p = self.params
        if p['blocking_roots']:
            return self.find_roots(cur, all_dbs, databases)
        if p['connected_before']:
            cur.execute(_CONNECTED_BEFORE_SQL, dict(active_states=list(ACTIVE_STATES), all_dbs=all_dbs,
                                                    databases=databases, connected_before=p['connected_before']))
            return self.keep(cur.fetchall(), self.connected_reason)
        cur.execute(_FIND_SQL, dict(active_states=list(ACTIVE_STATES), idle_tx_states=list(IDLE_TX_STATES),
                                    all_dbs=all_dbs, databases=databases,
                                    active_seconds=p['active_seconds'],
                                    idle_tx_seconds=p['idle_in_transaction_seconds']))
        return self.keep(cur.fetchall(), self.threshold_reason)

    def find_roots(self, cur, all_dbs, databases):
        """The root blockers of the blocking trees, as candidates."""
        roots = root_blockers(cur)
        if not roots:
            return [], dict(excluded_role=0, excluded_application=0, not_in_roles=0)
        cur.execute(_ROOTS_SQL, dict(active_states=list(ACTIVE_STATES), all_dbs=all_dbs, databases=databases,
                                     pids=sorted(roots)))

        def reason(session):
            session.blocking = roots[session.pid]
            return 'blocks %d session(s): %s' % (len(session.blocking), ', '.join(str(p) for p in session.blocking))
        return self.keep(cur.fetchall(), reason)

    def connected_reason(self, session):
        return '%s, connected %s, before %s' % (session.state, session.backend_start.isoformat(),
                                                self.params['connected_before'].isoformat())

    def threshold_reason(self, session):
        p = self.params
        if session.active:
            return 'active %s > %ds' % (_fmt_duration(session.duration, p['active_seconds']), p['active_seconds'])
        return '%s %s > %ds' % (session.state, _fmt_duration(session.duration, p['idle_in_transaction_seconds']),
                                p['idle_in_transaction_seconds'])

    def keep(self, rows, reason):
        """Candidates from session rows, without the excluded roles and applications; (candidates, skipped)."""
        p = self.params
        exclude_roles = set(p['exclude_roles'])
        exclude_apps = set(p['exclude_applications'])
        only_roles = set(p['roles']) if p['roles'] else None
        skipped = dict(excluded_role=0, excluded_application=0, not_in_roles=0)
        candidates = []
        for row in rows:
            session = Session(row)
            if session.usename in exclude_roles:
                skipped['excluded_role'] += 1
            elif (session.application_name or '') in exclude_apps:
                skipped['excluded_application'] += 1
            elif only_roles is not None and session.usename not in only_roles:
                skipped['not_in_roles'] += 1
            else:
                session.reason = reason(session)
                candidates.append(session)
        return candidates, skipped

    def signal(self, cur, function, sessions, errors):
        """Send pg_cancel_backend / pg_terminate_backend; return the sessions that got the signal."""
        sent = []
        for session in sessions:
            try:
                ok = signal_backend(cur.connection, session.pid, function)
            except psycopg2.Error as exc:
                errors.append(dict(pid=session.pid, msg='%s: %s' % (function, describe_db_error(exc))))
                continue
            if ok:
                sent.append(session)
            # False: the pid is no longer a backend (it ended by itself); the wait below sees it gone.
        return sent

    def wait_gone(self, cur, sessions, timeout):
        """Poll until none of ``sessions`` is still doing the same thing, or ``timeout`` passes.

        Returns the sessions still running.
        """
        deadline = time.time() + timeout
        while True:
            running = self.still_running(cur, sessions)
            if not running or time.time() >= deadline:
                return running
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.time())))

    def still_running(self, cur, sessions):
        """The sessions still doing what made them candidates: the same query or idle transaction - or, with
        blocking_roots, still blocking others (the same backend, still a root blocker)."""
        if not sessions:
            return []
        blocking = root_blockers(cur) if self.params['blocking_roots'] else None
        cur.execute(_STILL_SQL, ([s.pid for s in sessions],))
        rows = dict((row[0], row) for row in cur.fetchall())
        if blocking is not None:
            return [s for s in sessions if s.pid in rows and rows[s.pid][1] == s.backend_start and s.pid in blocking]
        if self.params['connected_before']:  # the same connection, whatever it does now
            return [s for s in sessions if s.pid in rows and rows[s.pid][1] == s.backend_start]
        return [s for s in sessions if s.pid in rows and s.same_as(rows[s.pid])]

    def act(self, cur, candidates, errors):
        action = self.params['action']
        grace = self.params['grace_seconds']
        # The longest we wait for a terminated backend to exit.
        exit_wait = max(grace, 2.0)
        cancelled, terminated, stuck = [], [], []

        if action == 'terminate':
            to_terminate = candidates
        else:
            to_cancel = [s for s in candidates if s.active]
            idle_tx = [s for s in candidates if not s.active]
            sent = self.signal(cur, 'pg_cancel_backend', to_cancel, errors)
            remaining = self.wait_gone(cur, to_cancel, grace)
            signalled = set(s.pid for s in sent)
            for s in to_cancel:
                if s not in remaining:
                    s.outcome = 'cancelled' if s.pid in signalled else 'gone'
                    if s.pid in signalled:
                        cancelled.append(s.pid)
            if action == 'cancel':
                for s in remaining + idle_tx:
                    s.outcome = 'still running'
                    stuck.append(s)
                if idle_tx:
                    self.warn('a cancel does not end a session idle in transaction (pids %s); use '
                              'action=terminate or cancel_then_terminate'
                              % ', '.join(str(s.pid) for s in idle_tx))
                return cancelled, terminated, stuck
            to_terminate = remaining + idle_tx

        sent = self.signal(cur, 'pg_terminate_backend', to_terminate, errors)
        remaining = self.wait_gone(cur, to_terminate, exit_wait)
        signalled = set(s.pid for s in sent)
        for s in to_terminate:
            if s in remaining:
                s.outcome = 'still running'
                stuck.append(s)
            elif s.pid in signalled:
                s.outcome = 'terminated'
                terminated.append(s.pid)
            else:
                s.outcome = 'gone'
        return cancelled, terminated, stuck

    def run(self):
        self.validate()
        conn = self.connect(autocommit=True)
        try:
            with conn.cursor() as cur:
                all_dbs, databases = self.target_databases(cur)
                candidates, skipped = self.find(cur, all_dbs, databases)
                errors = []
                if self.check_mode or not candidates:
                    cancelled, terminated, stuck = [], [], []
                else:
                    cancelled, terminated, stuck = self.act(cur, candidates, errors)
        finally:
            conn.close()

        before = [s.summary() for s in candidates]
        if self.check_mode:
            after = []
            msg = '%d session(s) would be stopped' % len(candidates)
        else:
            after = [s.summary() for s in stuck]
            msg = '%d cancelled, %d terminated, %d still running' % (len(cancelled), len(terminated), len(stuck))
        result = dict(
            changed=bool(candidates) if self.check_mode else bool(cancelled or terminated),
            candidates=[s.as_dict() for s in candidates],
            cancelled=cancelled,
            terminated=terminated,
            still_running=[s.pid for s in stuck],
            left_alone=skipped,
            msg=msg,
        )
        if errors:
            result['errors'] = errors
        self.diff({'sessions': before}, {'sessions': after})
        return result


def main():
    PostgresTerminate.main()


if __name__ == '__main__':
    main()

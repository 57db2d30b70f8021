#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: supabase_auth_audit_info
short_description: Read the Supabase Auth audit trail for a window, counted per address and action, attacks named
version_added: 1.1.0
description:
  - Reads GoTrue's C(auth.audit_log_entries) (and the C(auth.sessions) created in the window) from the project's
    database in one read-only snapshot, filtered by actor, action and address, and counts the entries per action,
    per address and per actor.
  - RV(suspicious) names what stands out - an address with many accounts or many events in the trail (an MFA
    brute force), an address many accounts signed in from (credential stuffing that worked), and bursts of
    sign-ins of many accounts within ten minutes.
  - GoTrue records no address for most actions (sign-in, sign-out, token refresh, recovery), so addresses come from
    the entries that have one and from the sessions; failed sign-ins are not audited at all (read them from
    C(auth_logs)); the trail can be turned off, so an empty trail proves nothing. RV(notes) repeats this.
author: Pourtrait engineering (@pourtrait)
options:
  since:
    description:
      - Start of the window - ISO 8601 (V(2026-12-03T10:00:00Z)), unix seconds, or a duration meaning that long
        ago (V(30m), V(24h), V(7d)).
    type: str
    default: 24h
  until:
    description:
      - End of the window (same forms as O(since)); default now.
    type: str
  max_window:
    description:
      - The longest window accepted (a duration); a longer one fails before anything is read.
    type: str
    default: 7d
  actors:
    description:
      - Only entries of these actors (e-mail address or user id).
    type: list
    elements: str
    default: []
  actions:
    description:
      - Only these actions (V(login), V(logout), V(token_refreshed), V(token_revoked), V(user_recovery_requested),
        V(user_modified), V(user_deleted), V(verification_attempted), V(factor_deleted), ...).
    type: list
    elements: str
    default: []
  ips:
    description:
      - Only entries (and sessions) from these addresses.
    type: list
    elements: str
    default: []
  limit:
    description:
      - How many entries (newest first) RV(entries) holds; the counts cover the whole window.
    type: int
    default: 100
  suspicious_min_actors:
    description:
      - An address (or a ten-minute burst of sign-ins) with at least this many distinct accounts is suspicious.
    type: int
    default: 5
  suspicious_min_events:
    description:
      - An address with at least this many audit entries in the window is suspicious.
    type: int
    default: 20
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.attributes.info_module, pourtrait.ops.postgres]
'''

EXAMPLES = r'''
- name: What happened in Auth in the last six hours?
  pourtrait.ops.supabase_auth_audit_info:
    since: 6h
  register: auth_audit

- name: Everything one account did yesterday
  pourtrait.ops.supabase_auth_audit_info:
    since: '2026-12-02T00:00:00Z'
    until: '2026-12-03T00:00:00Z'
    actors: [victim@example.com]
'''

RETURN = r'''
window:
  description: The window read, C({since, until, hours}) (ISO 8601 UTC).
  returned: always
  type: dict
total: {description: Audit entries in the window after the filters., returned: always, type: int}
by_action: {description: Action -> number of entries., returned: always, type: dict}
by_ip:
  description: Per address (V(null) for entries without one), most entries first - C({ip, events, actors, actions,
    first, last}).
  returned: always
  type: list
  elements: dict
by_actor:
  description: The 20 actors with most entries - C({actor, actor_id, events}).
  returned: always
  type: list
  elements: dict
sessions_by_ip:
  description: Sessions created in the window per client address - C({ip, sessions, users, user_agents, first,
    last}), most accounts first.
  returned: always
  type: list
  elements: dict
login_bursts:
  description: Ten-minute windows in which at least O(suspicious_min_actors) accounts signed in - C({first, last,
    actors, events, usernames}).
  returned: always
  type: list
  elements: dict
suspicious:
  description: What stands out, most accounts first - C({ip, source (audit_log or sessions), reason, actors, events,
    first, last}).
  returned: always
  type: list
  elements: dict
entries:
  description: The newest O(limit) entries - C({created_at, action, actor_id, actor_username, ip_address, log_type,
    traits}).
  returned: always
  type: list
  elements: dict
truncated: {description: Whether more entries matched than RV(entries) holds., returned: always, type: bool}
notes: {description: What the audit trail cannot show., returned: always, type: list, elements: str}
msg: {description: One-line summary., returned: always, type: str}
'''

import datetime
import time

from ansible_collections.pourtrait.ops.plugins.module_utils import auth_audit
from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, check_range
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PostgresModule, set_timeouts
from ansible_collections.pourtrait.ops.plugins.module_utils.supabase_auth import parse_duration


class AuthAuditInfo(PostgresModule):
    name = 'supabase_auth_audit_info'
    argument_spec = dict(
        since=dict(type='str', default='24h'),
        until=dict(type='str'),
        max_window=dict(type='str', default='7d'),
        actors=dict(type='list', elements='str', default=[]),
        actions=dict(type='list', elements='str', default=[]),
        ips=dict(type='list', elements='str', default=[]),
        limit=dict(type='int', default=100),
        suspicious_min_actors=dict(type='int', default=5),
        suspicious_min_events=dict(type='int', default=20),
    )

    def preflight(self):
        params = self.params
        now = time.time()
        self.since = auth_audit.parse_point(params['since'], 'since', now)
        self.until = auth_audit.parse_point(params['until'], 'until', now) if params['until'] else now
        auth_audit.check_window(self.since, self.until, parse_duration(params['max_window'], 'max_window'),
                                params['max_window'])
        self.ips = auth_audit.check_ips(params['ips'])
        check_range('limit', params['limit'], minimum=0, maximum=10000)
        check_range('suspicious_min_actors', params['suspicious_min_actors'], minimum=2)
        check_range('suspicious_min_events', params['suspicious_min_events'], minimum=2)
        self.actors = [a.strip() for a in params['actors'] if a and a.strip()]
        self.actions = [a.strip() for a in params['actions'] if a and a.strip()]

    def run(self):
        params = self.params
        since, until = (datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc) for t in (self.since, self.until))
        conn = self.connect()
        try:
            conn.set_session(readonly=True, isolation_level='REPEATABLE READ')
            with conn.cursor() as cur:
                set_timeouts(cur, statement_timeout='60s', local=True)
                cur.execute("SELECT to_regclass('auth.audit_log_entries') IS NOT NULL")
                if not cur.fetchone()[0]:
                    raise OpsError('the database has no auth.audit_log_entries table; point the connection at the '
                                   "Supabase project's database (Project Settings > Database)")
                trail = auth_audit.read_trail(cur, since, until, self.actors, self.actions, self.ips, params['limit'])
                sessions = auth_audit.read_sessions(cur, since, until, self.actors, self.ips)
            conn.rollback()
        finally:
            conn.close()
        logins = trail.pop('logins')
        bursts = auth_audit.login_bursts(logins, params['suspicious_min_actors']) \
            if not self.ips and (not self.actions or 'login' in self.actions) else []
        found = auth_audit.suspicious(trail, sessions, bursts, params['suspicious_min_actors'],
                                      params['suspicious_min_events'])
        result = dict(changed=False, window=dict(since=auth_audit.stamp(self.since), until=auth_audit.stamp(self.until),
                                                 hours=round((self.until - self.since) / 3600.0, 2)),
                      sessions_by_ip=sessions, login_bursts=bursts, suspicious=found, notes=list(auth_audit.NOTES))
        result.update(trail)
        if found:
            first = found[0]['reason'] + (' (%s)' % found[0]['ip'] if found[0]['ip'] else '')
            summary = '%d suspicious: %s' % (len(found), first)
        else:
            summary = 'nothing suspicious (failed sign-ins are not audited: see auth_logs)'
        window = result['window']
        result['msg'] = '%d audit entries %s .. %s; %s' % (trail['total'], window['since'], window['until'], summary)
        return result


def main():
    AuthAuditInfo.main()


if __name__ == '__main__':
    main()

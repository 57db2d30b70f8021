# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Supabase Auth audit trail for a window, read in SQL, counted so that an attack stands out.

Reads GoTrue's ``auth.audit_log_entries`` (``payload {actor_id, actor_username, action, log_type, traits}``,
``created_at``, ``ip_address``) and the sessions it created (``auth.sessions``: ``ip``, ``user_agent``) in one
read-only snapshot. What GoTrue records shapes what can be seen:

* ``ip_address`` is empty for most actions (sign-in, sign-out, token refresh, recovery; MFA actions carry it),
  so an address is attributed from the audit entries where present and from the sessions created in the
  window, which keep the client's address and user agent;
* failed sign-ins are not audited at all (they are in the ``auth_logs`` of the logs endpoint);
* writing the audit trail can be turned off, so an empty trail proves nothing.

:func:`suspicious` names: addresses with many accounts or many events in the trail, addresses many accounts
signed in from (sessions), and bursts of sign-ins of many accounts within ``BURST_S`` seconds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import re

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError
from ansible_collections.pourtrait.ops.plugins.module_utils.http import parse_user_time
from ansible_collections.pourtrait.ops.plugins.module_utils.supabase_auth import parse_duration

BURST_S = 600
MAX_LOGINS = 50000
NOTES = ['GoTrue records no address for most actions (sign-in, sign-out, token refresh, recovery); addresses '
         'come from the entries that have one and from the sessions created in the window',
         'failed sign-ins are not in the audit trail; read them from auth_logs (supabase_logs_info)',
         'writing the audit trail can be turned off in the project, so an empty trail proves nothing']


def parse_point(value, option, now):
    """Epoch seconds of ``value``: ISO 8601, an epoch, or a duration meaning that long before ``now``."""
    text = str(value).strip()
    if re.match(r'\A\d+(\.\d+)?\s*[wdhms]', text) and not re.match(r'\A\d{4}-', text):
        return now - parse_duration(text, option)
    return parse_user_time(text, option, 'unix', OpsError)


def check_window(since, until, max_seconds, max_text):
    if since >= until:
        raise OpsError('the window is backwards or empty: since %s is not before until %s; swap them or give since '
                       'as a duration such as 24h' % (stamp(since), stamp(until)))
    if until - since > max_seconds:
        raise OpsError('the window %s .. %s is %.1f hours, longer than max_window %s; narrow since/until or raise '
                       'max_window' % (stamp(since), stamp(until), (until - since) / 3600.0, max_text))


def check_ips(values):
    out = []
    for value in values or []:
        try:
            out.append(str(ipaddress.ip_address(str(value).strip())))
        except ValueError:
            raise OpsError('ips: %r is not an IP address; use addresses such as 203.0.113.7 or 2001:db8::1'
                           % str(value)[:60])
    return out


def stamp(unix):
    return datetime.datetime.fromtimestamp(unix, tz=datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _ts(value):
    return value.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ') if value is not None else None


def _filters(actors, actions, ips):
    """SQL conditions (constant text, values as parameters) over ``e`` (the audit entries)."""
    where, params = [], []
    if actions:
        where.append("payload->>'action' = ANY(%s)")
        params.append(list(actions))
    if actors:
        where.append("(lower(payload->>'actor_username') = ANY(%s) OR payload->>'actor_id' = ANY(%s))")
        params += [[a.lower() for a in actors], list(actors)]
    if ips:
        where.append('ip_address = ANY(%s)')
        params.append(list(ips))
    return ''.join(' AND ' + w for w in where), params


def read_trail(cur, since, until, actors=(), actions=(), ips=(), limit=100):
    """Counts and entries of the audit trail in [since, until) (datetimes), filtered; one dict."""
    cond, extra = _filters(actors, actions, ips)
    base = 'FROM auth.audit_log_entries WHERE created_at >= %s AND created_at < %s' + cond
    params = [since, until] + extra
    cur.execute("SELECT payload->>'action', count(*) " + base + ' GROUP BY 1 ORDER BY 2 DESC, 1', params)
    by_action = dict((row[0] or '', int(row[1])) for row in cur.fetchall())
    cur.execute("SELECT ip_address, payload->>'action', count(*), count(DISTINCT payload->>'actor_id'), "
                'min(created_at), max(created_at) ' + base + ' GROUP BY 1, 2', params)
    by_ip = {}
    for ip, action, events, _actors, first, last in cur.fetchall():
        item = by_ip.setdefault(ip or '', dict(ip=ip or None, events=0, actors=0, actions={}, first=first, last=last))
        item['events'] += int(events)
        item['actions'][action or ''] = int(events)
        item['first'], item['last'] = min(item['first'], first), max(item['last'], last)
    cur.execute("SELECT ip_address, count(DISTINCT payload->>'actor_id') " + base + ' GROUP BY 1', params)
    for ip, count in cur.fetchall():
        by_ip[ip or '']['actors'] = int(count)
    cur.execute("SELECT payload->>'actor_username', payload->>'actor_id', count(*) " + base +
                ' GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 20', params)
    by_actor = [dict(actor=row[0], actor_id=row[1], events=int(row[2])) for row in cur.fetchall()]
    cur.execute("SELECT created_at, payload->>'action', payload->>'actor_id', payload->>'actor_username', "
                "ip_address, payload->>'log_type', payload->'traits' " + base +
                ' ORDER BY created_at DESC LIMIT %s', params + [limit + 1])
    rows = cur.fetchall()
    entries = [dict(created_at=_ts(r[0]), action=r[1], actor_id=r[2], actor_username=r[3], ip_address=r[4] or None,
                    log_type=r[5], traits=r[6]) for r in rows[:limit]]
    cur.execute("SELECT created_at, payload->>'actor_id', payload->>'actor_username' " + base +
                " AND payload->>'action' = 'login' ORDER BY created_at LIMIT %s", params + [MAX_LOGINS])
    logins = cur.fetchall()
    ips_sorted = sorted(by_ip.values(), key=lambda i: (-i['events'], i['ip'] or ''))
    for item in ips_sorted:
        item['first'], item['last'] = _ts(item['first']), _ts(item['last'])
    return dict(total=sum(by_action.values()), by_action=by_action, by_ip=ips_sorted, by_actor=by_actor,
                entries=entries, truncated=len(rows) > limit, logins=logins)


def read_sessions(cur, since, until, actors=(), ips=()):
    """Sessions created in the window, per client address: sessions, distinct users, user agents."""
    where, params = ['s.created_at >= %s', 's.created_at < %s'], [since, until]
    if actors:
        where.append('(lower(u.email) = ANY(%s) OR u.id::text = ANY(%s))')
        params += [[a.lower() for a in actors], list(actors)]
    if ips:
        where.append('host(s.ip) = ANY(%s)')
        params.append(list(ips))
    cur.execute('SELECT host(s.ip), count(*), count(DISTINCT s.user_id), '
                'array_remove(array_agg(DISTINCT s.user_agent), NULL), min(s.created_at), max(s.created_at) '
                'FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id WHERE ' + ' AND '.join(where) +
                ' GROUP BY 1 ORDER BY 3 DESC, 2 DESC, 1', params)
    return [dict(ip=row[0], sessions=int(row[1]), users=int(row[2]), user_agents=sorted(row[3] or [])[:5],
                 first=_ts(row[4]), last=_ts(row[5])) for row in cur.fetchall()]


def login_bursts(logins, min_actors, span=BURST_S):
    """Windows of ``span`` seconds in which at least ``min_actors`` distinct accounts signed in, not overlapping."""
    bursts, start, n = [], 0, len(logins)
    while start < n:
        end, actors = start, set()
        limit = logins[start][0] + datetime.timedelta(seconds=span)
        while end < n and logins[end][0] < limit:
            actors.add(logins[end][1])
            end += 1
        if len(actors) >= min_actors:
            bursts.append(dict(first=_ts(logins[start][0]), last=_ts(logins[end - 1][0]), actors=len(actors),
                               events=end - start, usernames=sorted(set(r[2] for r in logins[start:end]))[:20]))
            start = end
        else:
            start += 1
    return bursts


def suspicious(trail, sessions, bursts, min_actors, min_events):
    """What stands out, most accounts first: [{ip, source, reason, actors, events, first, last}]."""
    found = []
    for item in trail['by_ip']:
        if item['ip'] is None:
            continue
        top = max(item['actions'].items(), key=lambda kv: kv[1])[0] if item['actions'] else ''
        if item['actors'] >= min_actors or item['events'] >= min_events:
            found.append(dict(ip=item['ip'], source='audit_log', actors=item['actors'], events=item['events'],
                              first=item['first'], last=item['last'],
                              reason='%d events for %d account(s) from one address, mostly %s'
                              % (item['events'], item['actors'], top)))
    for item in sessions:
        if item['users'] >= min_actors:
            found.append(dict(ip=item['ip'], source='sessions', actors=item['users'], events=item['sessions'],
                              first=item['first'], last=item['last'],
                              reason='%d accounts signed in from one address (user agent %s)'
                              % (item['users'], ', '.join(item['user_agents']) or 'unknown')))
    for burst in bursts:
        found.append(dict(ip=None, source='audit_log', actors=burst['actors'], events=burst['events'],
                          first=burst['first'], last=burst['last'],
                          reason='%d accounts signed in within %d minutes' % (burst['actors'], BURST_S // 60)))
    return sorted(found, key=lambda f: (-f['actors'], -f['events']))

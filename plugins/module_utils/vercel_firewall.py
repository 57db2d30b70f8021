# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Vercel Firewall: its calls (config, IP rules, custom rules, Attack Challenge Mode, attack status,
events) and the parsing the firewall modules share (IPs and CIDR ranges, durations, times, the notes that
carry who blocked an address, why, and until when).

Vercel has no expiry for an IP rule, so the expiry lives in the rule's notes in a form read back here:
``<reason> [by <who>; expires <ISO 8601 UTC>; pourtrait.ops]``. ``vercel_firewall`` removes the rules whose
expiry has passed (``state: enforce_expiry``, and on every run unless ``enforce_expiry: false``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import re
import time

from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import VercelError, iso_ms, parse_time_ms

DURATION_RE = re.compile(r'\A\s*((?:\d+\s*[smhdw]\s*)+)\Z', re.IGNORECASE)
DURATION_PART_RE = re.compile(r'(\d+)\s*([smhdw])', re.IGNORECASE)
UNIT_SECONDS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}
NOTES_RE = re.compile(r'\A(?P<reason>.*?)\s*\[(?P<fields>[^\[\]]*?);?\s*pourtrait\.ops\]\s*\Z', re.DOTALL)
MAX_PREFIX = {4: 16, 6: 48}
NOTES_LIMIT = 500


def parse_duration(value, option):
    """Seconds in a duration such as ``30m``, ``2h``, ``1d``, ``1h30m`` or a number of seconds; None for none."""
    if value in (None, ''):
        return None
    text = str(value).strip()
    if re.match(r'\A\d+\Z', text):
        seconds = int(text)
    elif DURATION_RE.match(text):
        seconds = sum(int(n) * UNIT_SECONDS[u.lower()] for n, u in DURATION_PART_RE.findall(text))
    else:
        raise VercelError('%s=%r is not a duration; use a number with s, m, h, d or w, such as 30m, 2h or 1d'
                          % (option, text[:40]))
    if seconds <= 0:
        raise VercelError('%s=%r is not a duration; use a positive one, such as 30m, 2h or 1d' % (option, text[:40]))
    return seconds


def parse_moment_ms(value, option, now_ms=None):
    """Epoch ms of a time a user gave: ISO 8601, epoch seconds / ms, or a duration meaning "that long ago"."""
    if value in (None, ''):
        return None
    text = str(value).strip()
    if DURATION_RE.match(text) and not re.match(r'\A\d+\Z', text):
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        return now_ms - parse_duration(text, option) * 1000
    return parse_time_ms(text, option)


def parse_window(since, until, max_seconds=None, now_ms=None, max_words=None):
    """(since_ms, until_ms) of a window; either may be None. Backwards or too long: a one-line error."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    start = parse_moment_ms(since, 'since', now_ms)
    end = parse_moment_ms(until, 'until', now_ms)
    if start is not None and end is not None and start > end:
        raise VercelError('the window is backwards: since (%s) is after until (%s); swap them'
                          % (iso_ms(start), iso_ms(end)))
    if max_seconds and start is not None and (end if end is not None else now_ms) - start > max_seconds * 1000:
        raise VercelError('the window from %s to %s is longer than %s; narrow since/until'
                          % (iso_ms(start), iso_ms(end if end is not None else now_ms),
                             max_words or '%d s' % max_seconds))
    return start, end


def normalize_ip(value, force=False):
    """The canonical text of an IP address (``203.0.113.7``) or CIDR range (``203.0.113.0/24``); a range wider
    than /16 (IPv4) or /48 (IPv6) needs ``force``."""
    text = str(value or '').strip()
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise VercelError('ip=%r is not an IP address or CIDR range; use e.g. 203.0.113.7 or 203.0.113.0/24'
                          % text[:60])
    if '/' in text and net.network_address != ipaddress.ip_interface(text).ip:
        raise VercelError('ip=%s has host bits set; use the range %s' % (text, net.with_prefixlen))
    widest = MAX_PREFIX[net.version]
    if net.prefixlen < widest and not force:
        raise VercelError('ip=%s covers %d addresses (wider than /%d): blocking it may lock out legitimate users; '
                          'set force: true to block it anyway' % (net.with_prefixlen, net.num_addresses, widest))
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return net.with_prefixlen


def same_ip(left, right):
    """Whether two rule addresses name the same address or range (``1.2.3.4`` and ``1.2.3.4/32`` do)."""
    try:
        return ipaddress.ip_network(str(left), strict=False) == ipaddress.ip_network(str(right), strict=False)
    except ValueError:
        return str(left) == str(right)


def compose_notes(reason, by=None, expires_ms=None):
    """The notes of an IP rule: the reason, then who and until when in a form parse_notes reads back."""
    fields = []
    if by:
        fields.append('by %s' % by)
    if expires_ms:
        fields.append('expires %s' % iso_ms(int(expires_ms) // 1000 * 1000).replace('.000Z', 'Z'))
    tail = ' [%s]' % '; '.join(fields + ['pourtrait.ops'])
    reason = re.sub(r'[\[\]]', '', reason or '').strip()
    return (reason[:NOTES_LIMIT - len(tail)] + tail).strip()


def parse_notes(notes):
    """{reason, by, expires_ms} from an IP rule's notes (reason is the whole text of notes not written here)."""
    found = NOTES_RE.match(notes or '')
    if not found:
        return dict(reason=notes or None, by=None, expires_ms=None)
    out = dict(reason=found.group('reason') or None, by=None, expires_ms=None)
    for field in [f.strip() for f in found.group('fields').split(';')]:
        if field.startswith('by '):
            out['by'] = field[3:].strip() or None
        elif field.startswith('expires '):
            text = field[8:].strip()
            for shape in ('%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S.%fZ'):
                try:
                    stamp = datetime.datetime.strptime(text, shape)
                except ValueError:
                    continue
                out['expires_ms'] = int(stamp.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
                break
    return out


def ip_view(item, now_ms=None):
    """An IP rule as the modules return it."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    notes = parse_notes(item.get('notes'))
    expires = notes['expires_ms']
    return dict(id=item.get('id'), ip=item.get('ip'), hostname=item.get('hostname'), action=item.get('action'),
                notes=item.get('notes'), reason=notes['reason'], by=notes['by'], expires_at=iso_ms(expires),
                expired=bool(expires and expires <= now_ms))


def rule_view(rule):
    """A custom rule as the modules return it (its rate limit and paths pulled out)."""
    mitigate = (rule.get('action') or {}).get('mitigate') or {}
    limit = mitigate.get('rateLimit') or None
    paths = [c.get('value') for g in rule.get('conditionGroup') or [] for c in g.get('conditions') or []
             if c.get('type') == 'path']
    return dict(id=rule.get('id'), name=rule.get('name'), active=rule.get('active'), action=mitigate.get('action'),
                paths=paths, rate_limit=dict(limit=limit.get('limit'), window=limit.get('window'),
                                             action=limit.get('action')) if limit else None)


def rate_limit_rule(spec):
    """The custom rule body of a rate limit on a path: ``spec`` {path, limit, window (s), action, name, match,
    methods}."""
    op = {'prefix': 'pre', 'exact': 'eq', 'regex': 're'}[spec.get('match') or 'prefix']
    conditions = [{'type': 'path', 'op': op, 'value': spec['path']}]
    if spec.get('methods'):
        conditions.append({'type': 'method', 'op': 'inc', 'value': sorted(m.upper() for m in spec['methods'])})
    return {'name': spec.get('name') or 'rate limit %s' % spec['path'],
            'description': 'pourtrait.ops: at most %d requests per %d s per IP' % (spec['limit'], spec['window']),
            'active': True, 'conditionGroup': [{'conditions': conditions}],
            'action': {'mitigate': {'action': 'rate_limit',
                                    'rateLimit': {'algo': 'fixed_window', 'window': spec['window'],
                                                  'limit': spec['limit'], 'keys': ['ip'],
                                                  'action': spec.get('action') or 'rate_limit'},
                                    'actionDuration': None}}}


def comparable_rule(rule):
    """The parts of a custom rule a run compares (ids and server-added fields left out)."""
    return dict((k, rule.get(k)) for k in ('name', 'description', 'active', 'conditionGroup', 'action'))


class FirewallClient(object):
    """The firewall calls of one project, over a VercelClient (its scope, retries and one-line errors)."""

    def __init__(self, client, project_id):
        self.client = client
        self.project_id = project_id

    def config(self, version='active'):
        return self.client.get('/v1/security/firewall/config/%s' % version, params={'projectId': self.project_id},
                               not_found='firewall configuration %s not found for project %s; check config_version'
                               % (version, self.project_id))

    def patch(self, action, value=None, item_id=None, done=None):
        """One PATCH action; ``done(config)`` says whether a lost answer's change happened (re-read first)."""
        body = {'action': action, 'id': item_id, 'value': value}

        def reconcile():
            return {} if done(self.config()) else None
        self.client.call('PATCH', '/v1/security/firewall/config', params={'projectId': self.project_id}, body=body,
                         reconcile=reconcile if done is not None else None)

    def attack_mode(self, enabled, until_ms=None):
        body = {'projectId': self.project_id, 'attackModeEnabled': bool(enabled),
                'attackModeActiveUntil': until_ms if enabled else None}
        return self.client.call('POST', '/v1/security/attack-mode', body=body, idempotent=True).data

    def security(self, project=None):
        """The project's ``security`` block (attack mode, firewall version)."""
        project = project or self.client.project(self.project_id)
        return project.get('security') or {}

    def attack_status(self, since_ms=None):
        params = {'projectId': self.project_id}
        if since_ms:
            params['since'] = int(since_ms)
        return self.client.get('/v1/security/firewall/attack-status', params=params) or {}

    def events(self, start_ms=None, end_ms=None, hosts=None):
        params = {'projectId': self.project_id, 'startTimestamp': int(start_ms) if start_ms else None,
                  'endTimestamp': int(end_ms) if end_ms else None, 'hosts': ','.join(hosts) if hosts else None}
        return (self.client.get('/v1/security/firewall/events', params=params) or {}).get('actions') or []


def attack_view(security, now_ms=None):
    """Attack Challenge Mode from the project's security block: {enabled, active_until, updated_at}."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    until = security.get('attackModeActiveUntil')
    enabled = bool(security.get('attackModeEnabled')) and (until is None or until > now_ms)
    return dict(enabled=enabled, active_until=iso_ms(until) if enabled else None,
                updated_at=iso_ms(security.get('attackModeUpdatedAt')))


def count_events(actions):
    """Totals of firewall events by IP and by action, the busiest first."""
    by_ip, by_action = {}, {}
    for item in actions:
        count = int(item.get('count') or 0)
        by_ip[item.get('public_ip')] = by_ip.get(item.get('public_ip'), 0) + count
        by_action[item.get('action_type')] = by_action.get(item.get('action_type'), 0) + count
    return dict(by_ip=[dict(ip=k, count=v) for k, v in sorted(by_ip.items(), key=lambda kv: (-kv[1], str(kv[0])))],
                by_action=dict(by_action), total=sum(by_action.values()))

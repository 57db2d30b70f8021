#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: vercel_firewall
short_description: Block IPs, rate-limit a path and turn Attack Challenge Mode on or off in the Vercel Firewall
version_added: 1.1.0
description:
  - Makes IP blocks (Vercel Firewall IP rules, action C(deny) or C(challenge)) present or absent, a rate limit on a
    path (a custom rule with the C(rate_limit) action) present or absent, and Attack Challenge Mode on or off with an
    optional end time - each change one C(PATCH /v1/security/firewall/config) action (or C(POST
    /v1/security/attack-mode)), which Vercel applies at once.
  - An IP rule's notes record why, who and until when - C(<reason> [by <who>; expires <time>; pourtrait.ops]). Vercel
    itself has no expiry, so the expiry is enforced by a later run - O(state=enforce_expiry) only removes the blocks
    whose expiry passed, and every other run does it too unless O(enforce_expiry=false). Only blocks whose notes carry
    an expiry are ever removed that way.
  - Refuses a CIDR range wider than /16 (IPv4) or /48 (IPv6) unless O(force=true), and anything that is not an IP
    address or range, before any change.
  - Idempotent - the live configuration is read and compared first; re-running with O(expires_in) keeps the expiry an
    existing block already has. C(--diff) shows the firewall (IP rules, custom rules, attack mode) before and after.
author: Pourtrait engineering (@pourtrait)
options:
  ip:
    description:
      - IP addresses or CIDR ranges to block (O(state=present)) or unblock (O(state=absent)).
    type: list
    elements: str
  action:
    description:
      - What the firewall does to a blocked address - C(deny) answers 403, C(challenge) shows the Vercel Security
        Checkpoint (429) that browsers can pass and scripts cannot.
    type: str
    choices: [deny, challenge]
    default: deny
  hostname:
    description:
      - The host the IP rules apply to; C(*) is every host of the project.
      - With O(state=absent), unset removes the rules of O(ip) on every host.
    type: str
  reason:
    description:
      - Why the address is blocked (the incident, the ticket); kept in the rule's notes.
    type: str
  requested_by:
    description:
      - Who asked for the block; kept in the rule's notes. Defaults to the user running the task.
    type: str
  expires_in:
    description:
      - How long a new block lasts, such as C(30m), C(2h), C(1d) or C(1h30m); a later run removes it after that.
      - An existing block keeps the expiry it has; use O(expires_at) to move it.
    type: str
  expires_at:
    description:
      - When the blocks end (ISO 8601, or epoch seconds); replaces the expiry of existing blocks.
    type: str
  force:
    description:
      - Allow a range wider than /16 (IPv4) or /48 (IPv6).
    type: bool
    default: false
  rate_limit:
    description:
      - A rate limit on a path, per client IP, as a custom rule named O(rate_limit.name). Made present or absent with
        O(state).
    type: dict
    suboptions:
      path:
        description: The path (a prefix unless O(rate_limit.match) says otherwise).
        type: str
        required: true
      limit:
        description: Requests allowed per window and IP.
        type: int
        default: 100
      window:
        description: The window, such as C(60s), C(1m) or C(10m).
        type: str
        default: 60s
      action:
        description: What happens past the limit - C(rate_limit) answers 429.
        type: str
        choices: [rate_limit, deny, challenge, log]
        default: rate_limit
      match:
        description: How O(rate_limit.path) matches.
        type: str
        choices: [prefix, exact, regex]
        default: prefix
      methods:
        description: Only these HTTP methods (all when unset).
        type: list
        elements: str
      name:
        description: The rule's name, which identifies it between runs. Default C(rate limit <path>).
        type: str
  attack_mode:
    description:
      - Turn Attack Challenge Mode on (every visitor is challenged) or off. Unset leaves it as it is.
    type: bool
  attack_mode_for:
    description:
      - With O(attack_mode=true), how long it stays on (such as C(1h)); when it is already on, its end is left alone.
    type: str
  attack_mode_until:
    description:
      - With O(attack_mode=true), when it ends (ISO 8601, or epoch seconds). Without this nor O(attack_mode_for) it
        stays on until turned off.
    type: str
  state:
    description:
      - C(present) blocks O(ip) and adds O(rate_limit); C(absent) removes them; C(enforce_expiry) only removes the
        blocks whose expiry passed.
    type: str
    choices: [present, absent, enforce_expiry]
    default: present
  enforce_expiry:
    description:
      - Also remove the blocks whose expiry passed on a C(present) or C(absent) run.
    type: bool
    default: true
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes, pourtrait.ops.vercel,
                                 pourtrait.ops.controller_fast_path]
attributes:
  check_mode:
    details: Reads the firewall and says which changes it would make (RV(actions)); changes nothing.
  diff_mode:
    support: full
    details: The firewall's IP rules, custom rules and attack mode before and after.
'''

EXAMPLES = r'''
- name: Block a credential-stuffing source for a day
  pourtrait.ops.vercel_firewall:
    ip: [203.0.113.7, 198.51.100.0/24]
    reason: "INC-42 credential stuffing on /api/auth"
    expires_in: 1d

- name: Rate-limit the login endpoint
  pourtrait.ops.vercel_firewall:
    rate_limit:
      path: /api/auth/login
      limit: 20
      window: 1m

- name: Challenge everyone for two hours
  pourtrait.ops.vercel_firewall:
    attack_mode: true
    attack_mode_for: 2h

- name: Lift the blocks whose time is up (a scheduled job)
  pourtrait.ops.vercel_firewall:
    state: enforce_expiry
'''

RETURN = r'''
actions:
  description: The changes made (or, in check mode, that would be made), in order, one line each.
  returned: always
  type: list
  elements: str
ip_blocks:
  description: The IP rules of O(ip) after the run - id, ip, hostname, action, notes, reason, by, expires_at, expired.
  returned: always
  type: list
  elements: dict
removed_expired:
  description: The blocks removed because their expiry passed (ip, hostname, expires_at).
  returned: always
  type: list
  elements: dict
rate_limit:
  description: The rate-limit rule after the run (id, name, active, action, paths, rate_limit); null when absent or
    not asked for.
  returned: always
  type: dict
attack_mode:
  description: Attack Challenge Mode after the run - enabled, active_until, updated_at.
  returned: always
  type: dict
config_version:
  description: The firewall configuration version after the run (before it, in check mode).
  returned: always
  type: int
msg: {description: One-line summary., returned: always, type: str}
'''

import copy
import getpass
import time

from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import VercelError, VercelModule, iso_ms
from ansible_collections.pourtrait.ops.plugins.module_utils.vercel_firewall import (
    FirewallClient, attack_view, comparable_rule, compose_notes, ip_view, normalize_ip, parse_duration, parse_notes,
    parse_time_ms, rate_limit_rule, rule_view, same_ip,
)


def default_user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return 'ansible'


def firewall_view(config, attack):
    return dict(firewall_enabled=config.get('firewallEnabled'),
                ips=[dict((k, i.get(k)) for k in ('ip', 'hostname', 'action', 'notes'))
                     for i in config.get('ips') or []],
                rules=[rule_view(r) for r in config.get('rules') or []], attack_mode=attack)


def simulate(config, change):
    """``config`` after one PATCH action (for check mode and the diff)."""
    action, item_id, value = change['action'], change['id'], change['value']
    kind = 'ips' if action.startswith('ip.') else 'rules'
    items = config.setdefault(kind, [])
    if action.endswith('.insert'):
        items.append(dict(value, id='(new)'))
    elif action.endswith('.update'):
        config[kind] = [dict(value, id=item_id) if i.get('id') == item_id else i for i in items]
    elif action.endswith('.remove'):
        config[kind] = [i for i in items if i.get('id') != item_id]


class Firewall(VercelModule):
    argument_spec = dict(
        ip=dict(type='list', elements='str'),
        action=dict(type='str', choices=['deny', 'challenge'], default='deny'),
        hostname=dict(type='str'),
        reason=dict(type='str'),
        requested_by=dict(type='str'),
        expires_in=dict(type='str'),
        expires_at=dict(type='str'),
        force=dict(type='bool', default=False),
        rate_limit=dict(type='dict', options=dict(
            path=dict(type='str', required=True),
            limit=dict(type='int', default=100),
            window=dict(type='str', default='60s'),
            action=dict(type='str', choices=['rate_limit', 'deny', 'challenge', 'log'], default='rate_limit'),
            match=dict(type='str', choices=['prefix', 'exact', 'regex'], default='prefix'),
            methods=dict(type='list', elements='str'),
            name=dict(type='str'))),
        attack_mode=dict(type='bool'),
        attack_mode_for=dict(type='str'),
        attack_mode_until=dict(type='str'),
        state=dict(type='str', choices=['present', 'absent', 'enforce_expiry'], default='present'),
        enforce_expiry=dict(type='bool', default=True),
    )
    module_kwargs = dict(mutually_exclusive=[('expires_in', 'expires_at'), ('attack_mode_for', 'attack_mode_until')])

    def preflight(self):
        VercelModule.preflight(self)
        p = self.params
        self.now = int(time.time() * 1000)
        if p['state'] != 'enforce_expiry' and not p['ip'] and not p['rate_limit'] and p['attack_mode'] is None:
            raise VercelError('nothing to do: set ip, rate_limit or attack_mode (or state: enforce_expiry)')
        self.ips = [normalize_ip(ip, p['force']) for ip in p['ip'] or []]
        seconds = parse_duration(p['expires_in'], 'expires_in')
        self.expires_ms = parse_time_ms(p['expires_at'], 'expires_at') // 1000 * 1000 if p['expires_at'] else None
        self.expires_in_ms = seconds * 1000 if seconds else None
        if self.expires_ms is not None and self.expires_ms <= self.now:
            raise VercelError('expires_at=%s is in the past; give a later time, or use expires_in'
                              % iso_ms(self.expires_ms))
        self.rule = None
        if p['rate_limit']:
            spec = dict(p['rate_limit'], window=parse_duration(p['rate_limit']['window'], 'rate_limit.window'))
            if spec['limit'] < 1:
                raise VercelError('rate_limit.limit must be 1 or more (got %d)' % spec['limit'])
            self.rule = rate_limit_rule(spec)
        self.attack_until = None
        if p['attack_mode_for']:
            self.attack_until = self.now + parse_duration(p['attack_mode_for'], 'attack_mode_for') * 1000
        elif p['attack_mode_until']:
            self.attack_until = parse_time_ms(p['attack_mode_until'], 'attack_mode_until')
            if self.attack_until <= self.now:
                raise VercelError('attack_mode_until=%s is in the past; give a later time' % iso_ms(self.attack_until))

    # -- planning ------------------------------------------------------------------------------
    def plan_expired(self, config, changes, removed):
        wanted = self.ips if self.params['state'] == 'present' else []
        for item in config.get('ips') or []:
            view = ip_view(item, self.now)
            if not view['expired'] or any(same_ip(item.get('ip'), ip) for ip in wanted):
                continue
            removed.append(dict(ip=view['ip'], hostname=view['hostname'], expires_at=view['expires_at']))
            changes.append(self.change('ip.remove', item_id=item['id'], text='remove expired block of %s (expired %s)'
                                       % (view['ip'], view['expires_at'])))

    def plan_ip_present(self, config, ip, changes):
        p = self.params
        hostname = p['hostname'] or '*'
        found = [i for i in config.get('ips') or [] if same_ip(i.get('ip'), ip) and i.get('hostname') == hostname]
        old = parse_notes(found[0].get('notes')) if found else dict(reason=None, by=None, expires_ms=None)
        if self.expires_ms is not None:
            expires = self.expires_ms
        elif self.expires_in_ms is not None and not (old['expires_ms'] and old['expires_ms'] > self.now):
            expires = (self.now + self.expires_in_ms) // 1000 * 1000  # the notes keep whole seconds
        else:
            expires = old['expires_ms']
        reason = p['reason'] if p['reason'] is not None else old['reason']
        if found and found[0].get('action') == p['action'] and reason == old['reason'] and expires == old['expires_ms']:
            return
        notes = compose_notes(reason, p['requested_by'] or default_user(), expires)
        value = dict(hostname=hostname, ip=ip, action=p['action'], notes=notes)
        until = ' until %s' % iso_ms(expires) if expires else ''
        if found:
            changes.append(self.change('ip.update', value, found[0]['id'], 'update the %s block of %s on %s%s'
                                       % (p['action'], ip, hostname, until)))
        else:
            changes.append(self.change('ip.insert', value, None, '%s %s on %s%s' % (p['action'], ip, hostname, until)))

    def plan_ip_absent(self, config, ip, changes):
        hostname = self.params['hostname']
        for item in config.get('ips') or []:
            if same_ip(item.get('ip'), ip) and hostname in (None, item.get('hostname')):
                changes.append(self.change('ip.remove', item_id=item['id'], text='unblock %s on %s'
                                           % (item.get('ip'), item.get('hostname'))))

    def plan_rule(self, config, changes):
        name = self.rule['name']
        found = [r for r in config.get('rules') or [] if r.get('name') == name]
        if self.params['state'] == 'absent':
            for rule in found:
                changes.append(self.change('rules.remove', item_id=rule['id'], text='remove the rule %r' % name))
        elif not found:
            changes.append(self.change('rules.insert', self.rule, None, 'add the rule %r' % name))
        elif comparable_rule(found[0]) != comparable_rule(self.rule):
            changes.append(self.change('rules.update', self.rule, found[0]['id'], 'update the rule %r' % name))

    def plan_attack(self, current):
        p = self.params
        if p['attack_mode'] is None or p['state'] == 'enforce_expiry':
            return None
        if not p['attack_mode']:
            return 'turn Attack Challenge Mode off' if current['enabled'] else None
        until = ' until %s' % iso_ms(self.attack_until) if self.attack_until else ' until turned off'
        if not current['enabled']:
            return 'turn Attack Challenge Mode on' + until
        if p['attack_mode_until']:
            have = parse_time_ms(current['active_until'], 'active_until') if current['active_until'] else None
            if have is None or abs(have - self.attack_until) > 1000:
                return 'move the end of Attack Challenge Mode to%s' % until
        return None

    @staticmethod
    def change(action, value=None, item_id=None, text=''):
        return dict(action=action, value=value, id=item_id, text=text)

    # -- acting --------------------------------------------------------------------------------
    @staticmethod
    def done_check(change):
        """Whether a PATCH whose answer was lost took effect, from the re-read configuration."""
        action, value = change['action'], change['value']

        def done(config):
            items = config.get('ips' if action.startswith('ip.') else 'rules') or []
            if action.endswith('.remove'):
                return not any(i.get('id') == change['id'] for i in items)
            if action == 'ip.insert':
                return any(same_ip(i.get('ip'), value['ip']) and i.get('hostname') == value['hostname'] for i in items)
            if action == 'ip.update':
                return any(i.get('id') == change['id'] and i.get('notes') == value['notes'] for i in items)
            if action == 'rules.insert':
                return any(i.get('name') == value['name'] for i in items)
            return any(i.get('id') == change['id'] and comparable_rule(i) == comparable_rule(value) for i in items)
        return done

    def run(self):
        p = self.params
        proj = self.project()
        fw = FirewallClient(self.client, proj['id'])
        config = fw.config()
        attack = attack_view(fw.security(proj), self.now)
        changes, removed = [], []
        if p['state'] == 'enforce_expiry' or p['enforce_expiry']:
            self.plan_expired(config, changes, removed)
        for ip in self.ips if p['state'] != 'enforce_expiry' else []:
            (self.plan_ip_present if p['state'] == 'present' else self.plan_ip_absent)(config, ip, changes)
        if self.rule is not None and p['state'] != 'enforce_expiry':
            self.plan_rule(config, changes)
        attack_change = self.plan_attack(attack)
        after_config = copy.deepcopy(config)
        for change in changes:
            simulate(after_config, change)
        after_attack = attack
        if attack_change:
            after_attack = dict(enabled=bool(p['attack_mode']), updated_at=iso_ms(self.now),
                                active_until=iso_ms(self.attack_until) if p['attack_mode'] else None)
        self.diff(firewall_view(config, attack), firewall_view(after_config, after_attack))
        if not self.check_mode:
            for change in changes:
                fw.patch(change['action'], change['value'], change['id'], done=self.done_check(change))
            if attack_change:
                fw.attack_mode(p['attack_mode'], self.attack_until)
            if changes:
                after_config = fw.config()
            if attack_change:
                after_attack = attack_view(fw.security(), int(time.time() * 1000))
        return self.result(changes, attack_change, removed, after_config, after_attack, config)

    def result(self, changes, attack_change, removed, config, attack, before):
        texts = [c['text'] for c in changes] + ([attack_change] if attack_change else [])
        blocks = [ip_view(i, self.now) for i in config.get('ips') or []
                  if any(same_ip(i.get('ip'), ip) for ip in self.ips)]
        rule = None
        if self.rule is not None:
            rule = next((rule_view(r) for r in config.get('rules') or [] if r.get('name') == self.rule['name']), None)
        if texts:
            msg = '%s%s' % ('would ' if self.check_mode else '', '; '.join(texts))
        else:
            msg = 'the firewall is as asked; nothing to change'
        version = config.get('version') if not self.check_mode else before.get('version')
        return dict(changed=bool(texts), actions=texts, ip_blocks=blocks, removed_expired=removed, rate_limit=rule,
                    attack_mode=attack, config_version=version, msg=msg)


def main():
    Firewall.main()


if __name__ == '__main__':
    main()

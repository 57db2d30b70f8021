#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: vercel_firewall_info
short_description: Read the Vercel Firewall - the active configuration, attack status and firewall events
version_added: 1.1.0
description:
  - Reads a project's firewall configuration (C(active), or an older version), its IP rules with the reason, author
    and expiry that M(pourtrait.ops.vercel_firewall) keeps in their notes, its custom rules, Attack Challenge Mode,
    the attack status Vercel reports, and the firewall events (what was denied, challenged or rate-limited, by IP and
    host, with counts) for a window.
  - Read-only.
author: Pourtrait engineering (@pourtrait)
options:
  gather:
    description:
      - What to read.
    type: list
    elements: str
    choices: [config, attack_status, events]
    default: [config, attack_status, events]
  config_version:
    description:
      - The configuration version to read - C(active), or a version number.
    type: str
    default: active
  since:
    description:
      - Start of the events window - ISO 8601, epoch seconds, or a duration meaning that long ago (C(2h), C(1d)).
    type: str
    default: 1h
  until:
    description:
      - End of the events window (same forms as O(since)); unset is now.
    type: str
  hosts:
    description:
      - Only events of these hosts.
    type: list
    elements: str
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes,
                                 pourtrait.ops.attributes.info_module, pourtrait.ops.vercel,
                                 pourtrait.ops.controller_fast_path]
'''

EXAMPLES = r'''
- name: What is the firewall doing, and what did it stop in the last two hours?
  pourtrait.ops.vercel_firewall_info:
    since: 2h
  register: firewall

- name: The addresses stopped most often
  ansible.builtin.debug:
    var: firewall.event_counts.by_ip[:5]
'''

RETURN = r'''
config:
  description: The configuration read - version, updated_at, firewall_enabled, and the counts of IP and custom rules.
  returned: when O(gather) has C(config)
  type: dict
ip_blocks:
  description: Its IP rules - id, ip, hostname, action, notes, reason, by, expires_at, expired.
  returned: when O(gather) has C(config)
  type: list
  elements: dict
expired:
  description: The IP rules whose expiry passed (a run of vercel_firewall removes them).
  returned: when O(gather) has C(config)
  type: list
  elements: dict
rules:
  description: Its custom rules - id, name, active, action, paths, rate_limit.
  returned: when O(gather) has C(config)
  type: list
  elements: dict
attack_mode:
  description: Attack Challenge Mode - enabled, active_until, updated_at.
  returned: always
  type: dict
attack_status:
  description: The anomalies Vercel reports since the window's start (C(anomalies) as the API gives them).
  returned: when O(gather) has C(attack_status)
  type: list
  elements: dict
events:
  description: Firewall events in the window - start_time, end_time, active, action, host, ip, count.
  returned: when O(gather) has C(events)
  type: list
  elements: dict
event_counts:
  description: Event totals - by_ip (ip, count; busiest first), by_action (action -> count) and total.
  returned: when O(gather) has C(events)
  type: dict
window:
  description: The events window - since and until (ISO 8601).
  returned: always
  type: dict
msg: {description: One-line summary., returned: always, type: str}
'''

import re
import time

from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import VercelError, VercelModule, iso_ms
from ansible_collections.pourtrait.ops.plugins.module_utils.vercel_firewall import (
    FirewallClient, attack_view, count_events, ip_view, parse_window, rule_view,
)

MAX_WINDOW_S = 30 * 86400


class FirewallInfo(VercelModule):
    argument_spec = dict(
        gather=dict(type='list', elements='str', choices=['config', 'attack_status', 'events'],
                    default=['config', 'attack_status', 'events']),
        config_version=dict(type='str', default='active'),
        since=dict(type='str', default='1h'),
        until=dict(type='str'),
        hosts=dict(type='list', elements='str'),
    )

    def preflight(self):
        VercelModule.preflight(self)
        self.now = int(time.time() * 1000)
        version = self.params['config_version']
        if version != 'active' and not re.match(r'\A\d+\Z', version or ''):
            raise VercelError('config_version=%r is not a version; use active or a version number' % version)
        self.since, self.until = parse_window(self.params['since'], self.params['until'], MAX_WINDOW_S, self.now,
                                              '30 days')

    def run(self):
        p = self.params
        proj = self.project()
        fw = FirewallClient(self.client, proj['id'])
        result = dict(changed=False, attack_mode=attack_view(fw.security(proj), self.now),
                      window=dict(since=iso_ms(self.since), until=iso_ms(self.until or self.now)))
        summary = []
        if 'config' in p['gather']:
            config = fw.config(p['config_version'])
            blocks = [ip_view(i, self.now) for i in config.get('ips') or []]
            result.update(config=dict(version=config.get('version'), updated_at=config.get('updatedAt'),
                                      firewall_enabled=config.get('firewallEnabled'), ip_rules=len(blocks),
                                      custom_rules=len(config.get('rules') or [])),
                          ip_blocks=blocks, expired=[b for b in blocks if b['expired']],
                          rules=[rule_view(r) for r in config.get('rules') or []])
            summary.append('config v%s: %d IP rules (%d expired), %d custom rules'
                           % (config.get('version'), len(blocks), len(result['expired']), len(result['rules'])))
        if 'attack_status' in p['gather']:
            result['attack_status'] = fw.attack_status(self.since).get('anomalies') or []
            summary.append('%d anomalies' % len(result['attack_status']))
        if 'events' in p['gather']:
            actions = fw.events(self.since, self.until, p['hosts'])
            result['events'] = [dict(start_time=a.get('startTime'), end_time=a.get('endTime'), active=a.get('isActive'),
                                     action=a.get('action_type'), host=a.get('host'), ip=a.get('public_ip'),
                                     count=a.get('count')) for a in actions]
            counts = result['event_counts'] = count_events(actions)
            summary.append('%d firewall events from %d IPs' % (counts['total'], len(counts['by_ip'])))
        summary.append('attack mode %s' % ('on' if result['attack_mode']['enabled'] else 'off'))
        result['msg'] = '; '.join(summary)
        return result


def main():
    FirewallInfo.main()


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: supabase_network_ban
short_description: List the IPv4 addresses a Supabase project has banned and lift given bans
version_added: 1.0.0
description:
  - Supabase bans addresses that fail to authenticate against the database too often (suspicious activity). This
    module lists the banned IPv4 addresses (C(POST .../network-bans/retrieve)) and removes the ones in O(unban)
    (C(DELETE .../network-bans)).
  - Idempotent - only addresses that are banned are sent; asking to unban an address that is not banned is no change.
  - Without O(unban) it only lists.
author: Pourtrait engineering (@pourtrait)
options:
  unban:
    description:
      - IPv4 addresses whose ban is lifted. Each must be a valid IPv4 address.
    type: list
    elements: str
    default: []
    aliases: [remove]
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes, pourtrait.ops.supabase]
attributes:
  check_mode:
    details: Lists the bans and reports which would be lifted; sends no change.
  diff_mode:
    support: full
    details: The banned addresses before and after.
'''

EXAMPLES = r'''
- name: Which addresses are banned?
  pourtrait.ops.supabase_network_ban:
  register: bans

- name: Lift the ban on the office's address
  pourtrait.ops.supabase_network_ban:
    unban: [203.0.113.10]
'''

RETURN = r'''
banned:
  description: Banned IPv4 addresses after the run (in check mode, what they would be), sorted.
  returned: always
  type: list
  elements: str
banned_before:
  description: Banned IPv4 addresses before the run, sorted.
  returned: always
  type: list
  elements: str
removed:
  description: Addresses whose ban was (or in check mode would be) lifted.
  returned: always
  type: list
  elements: str
not_banned:
  description: Addresses in O(unban) that were not banned (nothing to do for them).
  returned: always
  type: list
  elements: str
msg: {description: One-line summary., returned: always, type: str}
'''

from ansible_collections.pourtrait.ops.plugins.module_utils.supabase import (
    SupabaseModule, check_ipv4,
)


class NetworkBan(SupabaseModule):
    argument_spec = dict(
        unban=dict(type='list', elements='str', default=[], aliases=['remove']),
    )

    def validate(self):
        wanted = []
        for address in self.params['unban'] or []:
            address = check_ipv4(address)
            if address not in wanted:
                wanted.append(address)
        self.wanted = wanted

    def run(self):
        client = self.client
        before = client.network_bans(self.ref)
        remove = [a for a in self.wanted if a in before]
        not_banned = [a for a in self.wanted if a not in before]
        after = [a for a in before if a not in remove]
        result = dict(changed=bool(remove), banned_before=before, banned=after, removed=remove, not_banned=not_banned)
        if self.diff_mode:
            result['diff'] = dict(before=dict(banned_ipv4_addresses=before), after=dict(banned_ipv4_addresses=after))
        if not remove:
            result['msg'] = '%d address(es) banned; %s' % (
                len(before), 'none of %s is banned, nothing to lift' % ', '.join(not_banned) if not_banned
                else 'nothing to lift')
            return result
        if self.check_mode:
            result['msg'] = 'would lift the ban on %s' % ', '.join(remove)
            return result
        client.remove_network_bans(self.ref, remove)
        after = client.network_bans(self.ref)
        still = [a for a in remove if a in after]
        if still:
            self.warnings.append('Supabase still lists %s as banned after the removal; the ban may have been renewed '
                                 'by new failed logins from that address' % ', '.join(still))
        result['banned'] = after
        if self.diff_mode:
            result['diff']['after'] = dict(banned_ipv4_addresses=after)
        result['msg'] = 'lifted the ban on %s; %d address(es) still banned' % (', '.join(remove), len(after))
        return result


def main():
    NetworkBan.main()


if __name__ == '__main__':
    main()

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options shared by every supabase_* Management-API module.
    DOCUMENTATION = r'''
options:
  access_token:
    description:
      - 'Supabase personal access token (C(sbp_) followed by 40 hex digits), sent as C(Authorization: Bearer).'
      - Falls back to E(SUPABASE_ACCESS_TOKEN). A token of any other shape is refused before any call, without
        echoing it.
    type: str
  project_ref:
    description:
      - Reference of the project (20 lowercase letters, as in C(https://supabase.com/dashboard/project/<ref>)).
      - Falls back to E(SUPABASE_PROJECT_REF).
    type: str
  api_url:
    description:
      - Base URL of the Supabase Management API; only this differs between Supabase and a local stand-in.
      - Falls back to E(SUPABASE_API_URL).
    type: str
    default: https://api.supabase.com
attributes: {action_group: {support: full, membership: [pourtrait.ops.supabase]}}
'''

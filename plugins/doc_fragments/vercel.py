# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options shared by every vercel_* module.
    DOCUMENTATION = r'''
options:
  api_token:
    description:
      - 'Vercel access token (24 letters and digits), sent as C(Authorization: Bearer).'
      - Falls back to E(VERCEL_TOKEN). A token of any other shape is refused before any call, without echoing it.
    type: str
    aliases: [token]
  team_id:
    description:
      - Team that owns the project, as a team id (C(team_...)) or the team's slug.
      - Falls back to E(VERCEL_TEAM_ID). Leave unset for a project of a personal account.
    type: str
    aliases: [team]
  project:
    description:
      - Project id (C(prj_...)) or name. Falls back to E(VERCEL_PROJECT).
    type: str
  api_url:
    description:
      - Base URL of the Vercel REST API (only this differs between Vercel and a local stand-in); falls back to
        E(VERCEL_API_URL).
    type: str
    default: https://api.vercel.com
attributes: {action_group: {support: full, membership: [pourtrait.ops.vercel]}}
'''

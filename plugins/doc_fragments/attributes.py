# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The attributes every pourtrait.ops module declares, described once: every module supports check
    # mode and, unless it says otherwise, no diff. Each module also extends the named fragment of its
    # family (its action group) - ``pourtrait.ops.attributes.<family>_module``, not
    # ``pourtrait.ops.attributes.postgres``, which would load the postgres fragment - and its own
    # ``attributes:`` block gives only what differs (check_mode details, diff_mode support). Use:
    #   extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.attributes.postgres_module]
    DOCUMENTATION = r'''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  action_group:
    description: Action is part of action_group(s), for convenient setting of module_defaults.
'''

    # postgres_* modules and the other modules speaking SQL
    POSTGRES_MODULE = r'''
attributes:
  action_group:
    support: full
    membership: [pourtrait.ops.postgres]
'''

    # vercel_* modules
    VERCEL_MODULE = r'''
attributes:
  action_group:
    support: full
    membership: [pourtrait.ops.vercel]
'''

    # supabase_* Management API modules
    SUPABASE_MODULE = r'''
attributes:
  action_group:
    support: full
    membership: [pourtrait.ops.supabase]
'''

    # the app's modules (app_health, deployment_verify): in no action group
    APP_MODULE = r'''
attributes:
  action_group:
    support: none
    membership: []
'''

    # a module that only reads
    INFO_MODULE = r'''
attributes:
  check_mode:
    details: Read-only; runs the same in check mode.
'''

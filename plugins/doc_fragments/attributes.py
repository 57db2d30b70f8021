# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The attributes every pourtrait.ops module declares, described once: every module supports check
    # mode and, unless it says otherwise, no diff. The family's fragment (pourtrait.ops.postgres, .vercel,
    # .supabase, .app_probe) gives its action group; a module's own ``attributes:`` block gives only what
    # differs (check_mode details, diff_mode support), or it extends INFO_MODULE when it only reads. Use:
    #   extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.postgres]
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

    # a module that only reads
    INFO_MODULE = r'''
attributes:
  check_mode:
    details: Read-only; runs the same in check mode.
'''

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Descriptions of the attributes every pourtrait.ops module declares. A module's own
    # ``attributes:`` block gives only support/details/membership; validate-modules requires a
    # description for each, which this fragment (or pourtrait.ops.postgres, which carries the
    # same block) supplies. Use: extends_documentation_fragment: [pourtrait.ops.attributes]
    DOCUMENTATION = r'''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  action_group:
    description: Action is part of action_group(s), for convenient setting of module_defaults.
'''

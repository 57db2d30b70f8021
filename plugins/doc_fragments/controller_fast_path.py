# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The note of every module that has a controller-side action plugin (plugins/action/, plugin_utils/fast_path.py).
    # Use: extends_documentation_fragment: [pourtrait.ops.controller_fast_path]
    DOCUMENTATION = r'''
options: {}
notes:
  - On the controller itself (connection C(local), no become, no async, the controller's Python) the task runs inside
    the controller process instead of a module process, about 0.4 s faster; the variable
    C(pourtrait_controller_fast_path=false) turns that off. Anywhere else it runs as a normal module.
'''

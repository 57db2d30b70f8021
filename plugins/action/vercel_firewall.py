# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pourtrait.ops.vercel_firewall: in the controller process when the task runs on the controller (see
plugins/plugin_utils/fast_path.py), otherwise the module as usual."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pourtrait.ops.plugins.plugin_utils.fast_path import FastPathAction


class ActionModule(FastPathAction):
    module = 'vercel_firewall'

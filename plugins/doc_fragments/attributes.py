# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

# The one description of each attribute every pourtrait.ops module declares.
DESCRIPTIONS = dict(
    check_mode='Can run in check_mode and return changed status prediction without modifying target.',
    diff_mode='Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.',
    action_group='Action is part of action_group(s), for convenient setting of module_defaults.',
)


def attributes(**declared):
    """An attributes fragment (JSON, which is YAML): each attribute's support, membership or details with its
    description."""
    return json.dumps(dict(attributes=dict((name, dict(spec, description=DESCRIPTIONS[name]))
                                           for name, spec in declared.items())))


def family(group):
    """A connection family: check mode, no diff unless the module says so, in the family's action group."""
    return attributes(check_mode=dict(support='full'), diff_mode=dict(support='none'),
                      action_group=dict(support='full', membership=['pourtrait.ops.%s' % group]))


class ModuleDocFragment(object):
    # Every module extends pourtrait.ops.attributes (the descriptions) and the named fragment of its
    # family (``<family>_module``: not ``attributes.postgres``, which would load the postgres fragment);
    # its own ``attributes:`` block gives only what differs (check_mode details, diff_mode support).
    # Use, for example:
    #   extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.attributes.postgres_module]
    DOCUMENTATION = attributes(check_mode={}, diff_mode={}, action_group={})

    # postgres_* modules and the others speaking SQL (action group pourtrait.ops.postgres)
    POSTGRES_MODULE = family('postgres')

    # vercel_* modules (action group pourtrait.ops.vercel)
    VERCEL_MODULE = family('vercel')

    # supabase_* Management API modules (action group pourtrait.ops.supabase)
    SUPABASE_MODULE = family('supabase')

    # a module that only reads: the same run in check mode, nothing to diff
    INFO_MODULE = attributes(check_mode=dict(support='full', details='Read-only; runs the same in check mode.'),
                             diff_mode=dict(support='none'))

    # app probes (app_health, deployment_verify; with INFO_MODULE): in no action group
    PROBE_MODULE = attributes(action_group=dict(support='none', membership=[]))

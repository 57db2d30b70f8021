# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Are the backups fresh? The newest verified off-site recovery point (``points.list_points``) and Supabase's own
backups (``GET /v1/projects/{ref}/database/backups``) against age limits; what is stale and what to run.
Pure apart from the two reads the module hands in."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible.module_utils.basic import env_fallback
from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError

_PART = re.compile(r'(\d+(?:\.\d+)?)\s*([wdhms])', re.IGNORECASE)
_WHOLE = re.compile(r'\A\s*(?:\d+(?:\.\d+)?\s*[wdhms]\s*)+\Z', re.IGNORECASE)
_UNIT = {'w': 604800, 'd': 86400, 'h': 3600, 'm': 60, 's': 1}
BACKUP_RUN = 'run playbooks/backup.yml (ansible-playbook playbooks/backup.yml)'
SUPABASE_RUN = ("check the project's backups in the Supabase dashboard (Database > Backups) or with "
                "supabase_backup_info; daily backups need a paid plan")


def parse_age(value, option):
    """Seconds of ``26h``, ``90m``, ``2d``, ``1d12h``, ``1w`` (units w d h m s); anything else, a bare number
    included (hours or seconds?), is a one-line error naming ``option``."""
    text = str(value if value is not None else '').strip()
    if not _WHOLE.match(text):
        hint = ' (a number needs a unit)' if re.match(r'\A\d+(\.\d+)?\Z', text) else ''
        raise OpsError('%s=%r is not an age%s; use a number with w, d, h, m or s, such as 26h, 90m, 2d or 1d12h'
                       % (option, text[:40], hint))
    seconds = sum(float(n) * _UNIT[u.lower()] for n, u in _PART.findall(text))
    if seconds <= 0:
        raise OpsError('%s=%r is not an age; use a positive one, such as 26h' % (option, text[:40]))
    return seconds


def supabase_options():
    """The Supabase Management API connection of a module of the ``s3`` group, prefixed ``supabase_`` (same
    environment fallbacks as the supabase_* modules)."""
    return dict(
        supabase_access_token=dict(type='str', no_log=True, fallback=(env_fallback, ['SUPABASE_ACCESS_TOKEN'])),
        supabase_project_ref=dict(type='str', fallback=(env_fallback, ['SUPABASE_PROJECT_REF'])),
        supabase_api_url=dict(type='str', default='https://api.supabase.com',
                              fallback=(env_fallback, ['SUPABASE_API_URL'])),
        supabase_ca_path=dict(type='path', fallback=(env_fallback, ['SUPABASE_CA_PATH'])),
        supabase_validate_certs=dict(type='bool', default=True),
    )


def supabase_state(params, now):
    """Supabase's own backups summarized (``summarize_backups``) for ``supabase_project_ref``."""
    from ansible_collections.pourtrait.ops.plugins.module_utils.supabase import (
        SupabaseClient, check_ref, summarize_backups,
    )
    check_ref(params.get('supabase_project_ref'))
    client = SupabaseClient(params.get('supabase_access_token'), api_url=params.get('supabase_api_url'),
                            validate_certs=params.get('supabase_validate_certs', True),
                            ca_path=params.get('supabase_ca_path'))
    state = summarize_backups(client.backups(params['supabase_project_ref']), now=now)
    state.pop('backups', None)
    state['project_ref'] = params['supabase_project_ref']
    return state


def hours(seconds):
    return None if seconds is None else round(seconds / 3600.0, 2)


def stamp(when):
    return when.strftime('%Y-%m-%dT%H:%M:%SZ')


def offsite_state(complete, incomplete, now, require_verified=True):
    """The newest (verified) recovery point and its age; ``complete``/``incomplete`` as list_points gives them."""
    usable = [p for p in complete if p['verified'] or not require_verified]

    def summary(point):
        if point is None:
            return None
        app = (point.get('record') or {}).get('app') or {}
        return {'name': point['name'], 'created': stamp(point['created']), 'verified': point['verified'],
                'age_hours': hours((now - point['created']).total_seconds()),
                'app_commit': app.get('commit'), 'deployment_id': app.get('deployment_id')}
    newest = summary(usable[0] if usable else None)
    return {'newest': newest, 'newest_any': summary(complete[0] if complete else None),
            'age_hours': newest['age_hours'] if newest else None, 'points': len(complete),
            'verified_points': len([p for p in complete if p['verified']]), 'incomplete_points': len(incomplete)}


def judge(offsite, supabase, limits, where):
    """``[{what, message}]`` of what is stale. ``limits``: {max_age, max_age_s, supabase_max_age,
    supabase_max_age_s, require_pitr}; ``where``: ``s3://bucket/<prefix>/<database>/``."""
    stale = []
    if offsite is not None:
        newest = offsite['newest']
        if newest is None:
            stale.append({'what': 'offsite', 'message': 'no verified off-site recovery point in %s; %s'
                          % (where, BACKUP_RUN)})
        elif newest['age_hours'] * 3600 > limits['max_age_s']:
            stale.append({'what': 'offsite', 'message': 'the newest verified off-site recovery point %s is %.1fh old, '
                          'over max_age %s; %s' % (newest['name'], newest['age_hours'], limits['max_age'], BACKUP_RUN)})
    if supabase is not None:
        ref, age = supabase['project_ref'], supabase['latest_completed_age_hours']
        if age is None:
            stale.append({'what': 'supabase', 'message': 'Supabase project %s has no COMPLETED backup; %s'
                          % (ref, SUPABASE_RUN)})
        elif age * 3600 > limits['supabase_max_age_s']:
            stale.append({'what': 'supabase', 'message': "Supabase's newest COMPLETED backup of %s is %.1fh old, over "
                          'supabase_max_age %s; %s' % (ref, age, limits['supabase_max_age'], SUPABASE_RUN)})
        if limits.get('require_pitr') and not supabase['pitr_enabled']:
            stale.append({'what': 'supabase_pitr', 'message': 'point-in-time recovery is off for Supabase project %s; '
                          'enable the PITR add-on (Project Settings > Add-ons) or set supabase_require_pitr=false'
                          % ref})
    return stale


def summary(offsite, supabase, stale):
    """The one-line message: what is stale and what to run, or the ages when nothing is."""
    if stale:
        return 'stale backups: ' + ' | '.join(s['message'] for s in stale)
    newest = offsite['newest'] or {}
    msg = 'backups are fresh: off-site %s (%sh old)' % (newest.get('name'), newest.get('age_hours'))
    if supabase is not None:
        msg += ', Supabase %sh old (PITR %s)' % (supabase.get('latest_completed_age_hours'),
                                                 'on' if supabase.get('pitr_enabled') else 'off')
    return msg


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Supabase Management API client and the base class of the ``supabase_*`` API modules.

The client speaks the documented API (https://api.supabase.com; only the base
URL differs for a stand-in) through the shared retrying ``JsonSession``,
honours ``Retry-After`` and ``X-RateLimit-Reset`` on 429, never repeats a
restore blindly (a lost answer is reconciled by re-reading the project's
status) and turns every error into one line that says what failed and what
to do.

``SupabaseModule`` holds the shared options (doc fragment
``pourtrait.ops.supabase``); a module declares its own options and implements
``run()`` (read, compare, then act).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import re
import time

from ansible.module_utils.basic import env_fallback
from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, check_shape
from ansible_collections.pourtrait.ops.plugins.module_utils.http import (
    ApiModule, HttpError, Response, bearer_session, http_argument_spec, one_line, parse_user_time,
)

DEFAULT_API_URL = 'https://api.supabase.com'
TOKEN_RE = re.compile(r'\Asbp_[0-9a-f]{40}\Z')
REF_RE = re.compile(r'\A[a-z]{20}\Z')
HEALTHY = 'ACTIVE_HEALTHY'
RESTORING = 'RESTORING'
HEALTH_SERVICES = ['auth', 'db', 'db_postgres_user', 'pooler', 'realtime', 'rest', 'storage', 'pg_bouncer']
DEFAULT_SERVICES = ['auth', 'db', 'pooler', 'realtime', 'rest', 'storage']
# Project states that waiting will not turn into ACTIVE_HEALTHY.
DEAD_STATES = ('INACTIVE', 'INIT_FAILED', 'REMOVED', 'RESTORE_FAILED', 'PAUSE_FAILED', 'GOING_DOWN', 'PAUSING')
# Project states in which a restore must not be started.
BUSY_STATES = ('RESTORING', 'UPGRADING', 'PAUSING', 'RESTARTING', 'COMING_UP', 'RESIZING', 'GOING_DOWN')


class SupabaseError(OpsError):
    """A failure the user can act on; the message is one line."""


def supabase_argument_spec():
    """The options every supabase_* Management-API module accepts (doc fragment pourtrait.ops.supabase)."""
    return http_argument_spec(
        DEFAULT_API_URL, 'SUPABASE',
        access_token=dict(type='str', no_log=True, fallback=(env_fallback, ['SUPABASE_ACCESS_TOKEN'])),
        project_ref=dict(type='str', fallback=(env_fallback, ['SUPABASE_PROJECT_REF'])))


def check_token(token):
    """Raise a one-line error (never echoing the token) unless it has the shape of a personal access token."""
    check_shape(token, TOKEN_RE, 'no Supabase access token: set access_token or the SUPABASE_ACCESS_TOKEN environment '
                'variable (create one at https://supabase.com/dashboard/account/tokens)',
                'the Supabase access token is malformed (%d characters; expected sbp_ followed by 40 hex digits); '
                'check access_token / SUPABASE_ACCESS_TOKEN for stray quotes, spaces or a newline' % len(token or ''),
                SupabaseError)


def check_ref(ref):
    """Raise a one-line error unless ``ref`` looks like a project ref (20 lowercase letters)."""
    check_shape(ref, REF_RE, 'no Supabase project: set project_ref or the SUPABASE_PROJECT_REF environment variable '
                '(the 20 letters in https://supabase.com/dashboard/project/<ref>)',
                'project_ref %r is not a Supabase project ref (20 lowercase letters); copy it from the dashboard URL or '
                'Project Settings' % (ref or '')[:40], SupabaseError)


def check_ipv4(address):
    """The address in canonical form, or a one-line error."""
    try:
        return str(ipaddress.IPv4Address(str(address).strip()))
    except (ipaddress.AddressValueError, ValueError):
        raise SupabaseError('%r is not an IPv4 address; network bans hold IPv4 addresses such as 203.0.113.10'
                            % str(address)[:60])


# -- times -----------------------------------------------------------------

def iso(unix):
    """ISO 8601 UTC text of an epoch in seconds (None stays None)."""
    if unix in (None, ''):
        return None
    stamp = datetime.datetime.fromtimestamp(float(unix), tz=datetime.timezone.utc)
    return stamp.strftime('%Y-%m-%dT%H:%M:%SZ')


def parse_time(value, option='recovery_time'):
    """Epoch seconds (int) from ISO 8601 text or a unix time (seconds; milliseconds are recognised)."""
    return parse_user_time(value, option, 'unix', SupabaseError)


def parse_api_time(text):
    """Epoch seconds (float) of a timestamp the API returns (``2026-01-31T02:00:00.000Z``), or None."""
    if not text:
        return None
    candidate = str(text).strip().replace('Z', '+00:00').replace(' ', 'T', 1)
    # fromisoformat before 3.11 wants exactly 3 or 6 fraction digits
    candidate = re.sub(r'\.(\d+)', lambda m: '.' + (m.group(1) + '000000')[:6], candidate)
    try:
        stamp = datetime.datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def rate_limit_wait(value, now=None):
    """Seconds to wait from ``X-RateLimit-Reset``: Supabase sends the milliseconds until the window
    resets; an epoch (seconds or milliseconds) is recognised too."""
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    if number > 1e11:
        seconds = number / 1000.0 - now
    elif number > 1e9:
        seconds = number - now
    else:
        seconds = number / 1000.0
    return max(0.0, seconds)


def _rate_limit_hook(resp, *args, **kwargs):
    """requests response hook: a 429 without Retry-After gets one from X-RateLimit-Reset,
    so the shared session waits out Supabase's window."""
    if resp.status_code == 429 and not resp.headers.get('Retry-After'):
        wait = rate_limit_wait(resp.headers.get('X-RateLimit-Reset'))
        if wait is not None:
            resp.headers['Retry-After'] = '%d' % int(wait + 0.999)
    return resp


# -- errors ----------------------------------------------------------------

def describe_supabase_error(status, data, method, path):
    """One line per Management API error answer: what failed and what to do."""
    api_msg = ''
    if isinstance(data, dict):
        api_msg = data.get('message') or data.get('msg') or data.get('error') or ''
        if isinstance(api_msg, dict):
            api_msg = api_msg.get('message') or ''
    api_msg = one_line(api_msg or '')[:200]
    said = (' (Supabase: %s)' % api_msg) if api_msg else ''
    where = '%s %s' % (method, path.split('?')[0])
    if status == 401:
        return ('401: the Supabase access token was rejected; check SUPABASE_ACCESS_TOKEN (access_token) and that the '
                'token has not expired or been revoked')
    if status == 403:
        return ('403: the Supabase access token may not do this (%s)%s; use a token of an account (or a scoped token) '
                'with access to the project' % (where, said))
    if status == 404:
        return ('404: not found (%s)%s; check project_ref (SUPABASE_PROJECT_REF) and that the token\'s account can see '
                'the project' % (where, said))
    if status == 429:
        return ('429: Supabase rate limit hit on %s (120 requests a minute per endpoint); wait a minute and rerun, or '
                'raise retries' % where)
    if status >= 500:
        return '%s: the Supabase API failed on %s%s; check https://status.supabase.com and rerun' % (status, where, said)
    return '%s: Supabase refused %s%s; check the module options' % (status, where, said or ' (no details)')


# -- summaries -------------------------------------------------------------

def summarize_project(proj):
    if not proj:
        return None
    db = proj.get('database') or {}
    return dict(ref=proj.get('ref') or proj.get('id'), name=proj.get('name'), region=proj.get('region'),
                status=proj.get('status'), created_at=proj.get('created_at'),
                organization_slug=proj.get('organization_slug') or proj.get('organization_id'),
                database=dict(host=db.get('host'), version=db.get('version'),
                              postgres_engine=db.get('postgres_engine'), release_channel=db.get('release_channel')))


def summarize_service(item):
    status = item.get('status') or ('ACTIVE_HEALTHY' if item.get('healthy') else 'UNHEALTHY')
    return dict(name=item.get('name'), status=status, healthy=status == HEALTHY, error=item.get('error'),
                info=item.get('info'))


def summarize_backups(data, now=None):
    """Backups newest first with their age, PITR flags, the recoverable window, the newest completed one."""
    now = time.time() if now is None else now
    data = data or {}
    items = []
    for backup in data.get('backups') or []:
        stamp = parse_api_time(backup.get('inserted_at'))
        items.append(dict(id=backup.get('id'), status=backup.get('status'),
                          is_physical_backup=bool(backup.get('is_physical_backup')),
                          inserted_at=backup.get('inserted_at'), inserted_unix=int(stamp) if stamp else None,
                          age_hours=round((now - stamp) / 3600.0, 2) if stamp else None))
    items.sort(key=lambda b: b['inserted_unix'] or 0, reverse=True)
    completed = [b for b in items if b['status'] == 'COMPLETED']
    physical = data.get('physical_backup_data') or {}
    earliest = physical.get('earliest_physical_backup_date_unix')
    latest = physical.get('latest_physical_backup_date_unix')
    window = None
    if earliest is not None and latest is not None:
        window = dict(earliest_unix=int(earliest), latest_unix=int(latest), earliest=iso(earliest), latest=iso(latest),
                      hours=round((float(latest) - float(earliest)) / 3600.0, 2))
    newest = completed[0] if completed else None
    return dict(region=data.get('region'), pitr_enabled=bool(data.get('pitr_enabled')),
                walg_enabled=bool(data.get('walg_enabled')), backups=items, count=len(items),
                completed_count=len(completed), latest_completed=newest,
                latest_completed_age_hours=newest['age_hours'] if newest else None,
                recoverable_window=window)


def window_text(window):
    if not window:
        return 'none'
    return '%s .. %s' % (window['earliest'], window['latest'])


# -- the client ------------------------------------------------------------

class SupabaseClient(object):
    """Typed calls to the Supabase Management API."""

    def __init__(self, token, api_url=DEFAULT_API_URL, validate_certs=True, ca_path=None, timeout=30, retries=4,
                 sleep=time.sleep):
        check_token(token)
        self.sleep = sleep
        self.http = bearer_session('supabase', 'SUPABASE', api_url or DEFAULT_API_URL, token, timeout=timeout,
                                   retries=retries, validate_certs=validate_certs, ca_path=ca_path, sleep=sleep,
                                   service='the Supabase Management API', describe_error=describe_supabase_error)
        self.http.session.hooks['response'].append(_rate_limit_hook)

    # -- plumbing ----------------------------------------------------------
    def call(self, method, path, params=None, body=None, not_found=None, **kwargs):
        try:
            return self.http.request(method, path, params=params, json=body, **kwargs)
        except HttpError as exc:
            if exc.status == 404 and not_found:
                raise SupabaseError(not_found, status=404)
            raise SupabaseError(str(exc), status=exc.status)

    @staticmethod
    def _not_found(ref):
        return ('404: Supabase project %s not found; check project_ref (SUPABASE_PROJECT_REF) and that the access token '
                'belongs to an account that can see it' % ref)

    # -- projects ----------------------------------------------------------
    def project(self, ref):
        check_ref(ref)
        return self.call('GET', '/v1/projects/%s' % ref, not_found=self._not_found(ref)).data or {}

    def health(self, ref, services=None):
        services = list(services or DEFAULT_SERVICES)
        data = self.call('GET', '/v1/projects/%s/health' % ref, params={'services': services},
                         not_found=self._not_found(ref)).data
        return [summarize_service(item) for item in (data or []) if isinstance(item, dict)]

    # -- backups -----------------------------------------------------------
    def backups(self, ref):
        return self.call('GET', '/v1/projects/%s/database/backups' % ref, not_found=self._not_found(ref)).data or {}

    def _restore_reconcile(self, ref, grace, poll):
        """A lost restore answer: the restore was accepted when the project has left its healthy state."""
        def reconcile():
            deadline = time.time() + grace
            while True:
                try:
                    status = (self.project(ref) or {}).get('status')
                except SupabaseError as exc:
                    raise SupabaseError('the answer to the restore request was lost and the project status could not '
                                        'be read afterwards (%s); the restore may have started - check project %s in '
                                        'the Supabase dashboard (or supabase_project_info) before running again'
                                        % (exc, ref))
                if status and status not in (HEALTHY, 'ACTIVE_UNHEALTHY'):
                    return Response(201, {'reconciled': True, 'status': status})
                if time.time() >= deadline:
                    return None
                self.sleep(poll)
        return reconcile

    def restore_pitr(self, ref, unix, grace=2.0, poll=0.25):
        """POST restore-pitr once; a lost answer is settled by the project status (RESTORING = accepted)."""
        return self.call('POST', '/v1/projects/%s/database/backups/restore-pitr' % ref,
                         body={'recovery_time_target_unix': int(unix)}, not_found=self._not_found(ref),
                         reconcile=self._restore_reconcile(ref, grace, poll))

    def restore_physical(self, ref, backup_id, grace=2.0, poll=0.25):
        return self.call('POST', '/v1/projects/%s/database/backups/restore' % ref, body={'id': int(backup_id)},
                         not_found=self._not_found(ref), reconcile=self._restore_reconcile(ref, grace, poll))

    def wait_healthy(self, ref, wait_timeout, poll_interval, services=None, check_services=True, what='the project'):
        """Poll until the project is ACTIVE_HEALTHY (and, with ``check_services``, every service too).

        Returns (project, services, seconds waited); raises on a state waiting cannot fix or on timeout."""
        started = time.time()
        deadline = started + wait_timeout
        while True:
            proj = self.project(ref)
            status = proj.get('status')
            health = []
            if status == HEALTHY and check_services:
                health = self.health_quiet(ref, services)
            sick = [s['name'] for s in health if not s['healthy']]
            if status == HEALTHY and not sick:
                return proj, health, round(time.time() - started, 3)
            if status in DEAD_STATES:
                raise SupabaseError('%s is %s; waiting will not make it healthy - check the project in the Supabase '
                                    'dashboard' % (what, status), project=summarize_project(proj), status=status)
            if time.time() >= deadline:
                detail = status if not sick else '%s, services not healthy: %s' % (status, ', '.join(sick))
                raise SupabaseError('project %s is still %s after %ss; raise wait_timeout, or check it later with '
                                    'supabase_project_info wait=true' % (ref, detail, wait_timeout),
                                    project=summarize_project(proj), status=status, unhealthy_services=sick)
            self.sleep(poll_interval)

    def health_quiet(self, ref, services=None):
        """Service health; a service endpoint that is failing while the project comes up counts as not healthy."""
        try:
            return self.health(ref, services)
        except SupabaseError as exc:
            if exc.extra.get('status') in (401, 403, 404):
                raise
            return [dict(name=name, status='UNKNOWN', healthy=False, error=str(exc), info=None)
                    for name in (services or DEFAULT_SERVICES)]

    # -- network bans --------------------------------------------------------
    def network_bans(self, ref):
        data = self.call('POST', '/v1/projects/%s/network-bans/retrieve' % ref, body={}, idempotent=True,
                         not_found=self._not_found(ref)).data or {}
        return sorted(data.get('banned_ipv4_addresses') or [])

    def remove_network_bans(self, ref, addresses):
        return self.call('DELETE', '/v1/projects/%s/network-bans' % ref, body={'ipv4_addresses': list(addresses)},
                         not_found=self._not_found(ref)).data


class SupabaseModule(ApiModule):
    """Base for supabase_* Management-API modules (see ApiModule): the Supabase options and client; the token
    and the project ref are checked before anything is sent, then ``validate()``."""

    @classmethod
    def shared_argument_spec(cls):
        return supabase_argument_spec()

    @property
    def ref(self):
        return self.params['project_ref']

    def make_client(self, params):
        return SupabaseClient(params['access_token'], api_url=params['api_url'], validate_certs=params['validate_certs'],
                              ca_path=params['ca_path'], timeout=params['timeout'], retries=params['retries'])

    def preflight(self):
        check_token(self.params.get('access_token'))
        if self.needs_project:
            check_ref(self.params.get('project_ref'))
        self.validate()

    def validate(self):
        """Checks of the module's own options that need no API call."""

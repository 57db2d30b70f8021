# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The project's Auth (GoTrue) admin API and the base class of the ``supabase_auth_*`` modules.

A Supabase project serves its Auth API at ``<SUPABASE_URL>/auth/v1`` (``https://<ref>.supabase.co``); the
admin endpoints want the project's ``service_role`` key (or a secret key, ``sb_secret_...``) both in the
``apikey`` header (the API gateway) and as ``Authorization: Bearer`` (GoTrue). Errors come as
``{"code", "error_code", "msg"}`` from GoTrue and ``{"message"}`` from the gateway; each becomes one line
that says what to do.

No admin endpoint signs a user out by id; GoTrue's own logout deletes the user's ``auth.sessions`` rows,
which takes their ``auth.refresh_tokens`` with them (ON DELETE CASCADE): :func:`sign_out` does that in SQL.

Durations (``ban_duration``, audit windows) are parsed by :func:`parse_duration`: ``30m``, ``24h``,
``7d``, ``2w``, ``1h30m``, seconds as a number, ``none``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import json
import os
import re
import time

from ansible.module_utils.basic import env_fallback
from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, one_line
from ansible_collections.pourtrait.ops.plugins.module_utils.http import ApiModule, HttpError, JsonSession
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PSYCOPG2_IMPORT_ERROR, connect, connection_params, describe_db_error, postgres_argument_spec, psycopg2,
    set_timeouts,
)

UUID_RE = re.compile(r'\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z')
JWT_RE = re.compile(r'\A[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\Z')
SECRET_KEY_RE = re.compile(r'\Asb_secret_[A-Za-z0-9_-]{8,}\Z')
DURATION_RE = re.compile(r'(\d+(?:\.\d+)?)\s*(w|d|h|m|s)')
UNITS = {'w': 604800, 'd': 86400, 'h': 3600, 'm': 60, 's': 1}
BAN_FOREVER = '876000h'  # 100 years: Supabase's "ban permanently"
USERS_PAGE = 1000


class AuthError(OpsError):
    """A failure of the Auth admin API or its database side; the message is one line."""


def auth_argument_spec():
    """The options of every supabase_auth_* module that calls the Auth admin API (doc fragment
    pourtrait.ops.supabase_auth)."""
    return dict(
        supabase_url=dict(type='str', fallback=(env_fallback, ['SUPABASE_URL'])),
        service_role_key=dict(type='str', no_log=True, fallback=(env_fallback, ['SUPABASE_SERVICE_ROLE_KEY'])),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path', fallback=(env_fallback, ['SUPABASE_CA_PATH'])),
        timeout=dict(type='int', default=30),
        retries=dict(type='int', default=4),
    )


# -- checks ----------------------------------------------------------------------------------------

def parse_duration(value, option, allow_none=False):
    """Seconds (int) of ``30m``, ``24h``, ``7d``, ``2w``, ``1h30m`` or a number of seconds; ``none`` is 0 where
    ``allow_none``. Anything else is a one-line error naming ``option``."""
    text = str(value if value is not None else '').strip().lower()
    if allow_none and text == 'none':
        return 0
    if re.match(r'\A\d+\Z', text):
        seconds = int(text)
    elif text and DURATION_RE.sub('', text).strip() == '' and DURATION_RE.search(text):
        seconds = int(sum(float(n) * UNITS[u] for n, u in DURATION_RE.findall(text)))
    else:
        seconds = -1
    if seconds <= 0:
        raise AuthError('%s=%r is not a duration; use a number with a unit such as 30m, 24h, 7d or 1h30m%s'
                        % (option, str(value)[:40], ", or 'none'" if allow_none else ''))
    return seconds


def go_duration(seconds):
    """A duration GoTrue's ``ban_duration`` (Go's time.ParseDuration: no days) accepts."""
    return '%dh%dm%ds' % (seconds // 3600, seconds % 3600 // 60, seconds % 60)


def jwt_role(key):
    """The ``role`` claim of a JWT (unverified: only to name a wrong key), or None."""
    try:
        part = key.split('.')[1]
        return json.loads(base64.urlsafe_b64decode(part + '=' * (-len(part) % 4)).decode('utf-8')).get('role')
    except (IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError):
        return None


def check_key(key):
    """One-line errors (never echoing the key) unless it is a service_role JWT or a secret key."""
    where = 'service_role_key / SUPABASE_SERVICE_ROLE_KEY'
    if not key:
        raise AuthError('no Supabase service_role key: set service_role_key or the SUPABASE_SERVICE_ROLE_KEY '
                        'environment variable (Project Settings > API Keys: service_role, or a secret key)')
    if key.startswith('sb_publishable_'):
        raise AuthError('%s holds a publishable key; the Auth admin API needs the service_role key or a secret '
                        'key (sb_secret_...)' % where)
    if SECRET_KEY_RE.match(key):
        return
    if not JWT_RE.match(key):
        raise AuthError('the Supabase service_role key is malformed (%d characters; expected a JWT or sb_secret_...); '
                        'check %s for stray quotes, spaces or a newline' % (len(key), where))
    role = jwt_role(key)
    if role is not None and role not in ('service_role', 'supabase_admin'):
        raise AuthError('%s holds the %s key; the Auth admin API needs the service_role key (or a secret key)'
                        % (where, role))


def auth_base_url(url):
    """The project's API base from ``supabase_url`` (a trailing ``/auth/v1`` is dropped), or an error."""
    text = (url or '').strip().rstrip('/')
    if not text:
        raise AuthError('no Supabase project URL: set supabase_url or the SUPABASE_URL environment variable '
                        '(https://<ref>.supabase.co, Project Settings > API)')
    if not re.match(r'\Ahttps?://[^/?#\s]+', text):
        raise AuthError('supabase_url %r is not an http(s) URL; use https://<ref>.supabase.co' % text[:80])
    if text.endswith('/auth/v1'):
        text = text[:-len('/auth/v1')]
    return text


def describe_auth_error(status, data, method, path):
    """One line per Auth API error answer: what failed and what to do."""
    data = data if isinstance(data, dict) else {}
    said_text = one_line(data.get('msg') or data.get('message') or data.get('error_description') or '')[:200]
    code = data.get('error_code') or ''
    said = ' (Supabase Auth: %s)' % said_text if said_text else ''
    where = '%s %s' % (method, path.split('?')[0])
    key = 'SUPABASE_SERVICE_ROLE_KEY (service_role_key)'
    if status == 401:
        return ('401: the Supabase project rejected the API key%s; check that %s is the service_role or a secret key '
                'of the project at SUPABASE_URL' % (said, key))
    if status == 403 and code == 'not_admin':
        return '403: the key is not an admin key%s; use the service_role or a secret key, not the anon key' % said
    if status == 403:
        return ('403: the Supabase Auth API refused the key%s; the key belongs to another project or its JWT secret '
                'was rotated - copy the current service_role key into %s' % (said, key))
    if status == 404:
        return '404: not found (%s)%s; check the user id or e-mail and supabase_url' % (where, said)
    if status == 429:
        return '429: Supabase Auth rate limit hit on %s; wait a minute and rerun, or raise retries' % where
    if status >= 500:
        return ('%s: Supabase Auth failed on %s%s; check https://status.supabase.com and rerun'
                % (status, where, said))
    return '%s: Supabase Auth refused %s%s; check the module options' % (status, where, said or ' (no details)')


def parse_api_time(text):
    """Epoch seconds (float) of a GoTrue timestamp, or None."""
    if not text:
        return None
    candidate = re.sub(r'\.(\d+)', lambda m: '.' + (m.group(1) + '000000')[:6], str(text).replace('Z', '+00:00'))
    try:
        stamp = datetime.datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def iso(unix):
    if unix is None:
        return None
    return datetime.datetime.fromtimestamp(unix, tz=datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


# -- the client ------------------------------------------------------------------------------------

class AuthClient(object):
    """Typed calls to one project's Auth admin API."""

    def __init__(self, url, key, validate_certs=True, ca_path=None, timeout=30, retries=4, sleep=time.sleep):
        check_key(key)
        self.base_url = auth_base_url(url)
        self.http = JsonSession(self.base_url + '/auth/v1', headers={'apikey': key, 'Authorization': 'Bearer %s' % key},
                                timeout=timeout, retries=retries, validate_certs=validate_certs, ca_path=ca_path,
                                service='the Supabase Auth API', describe_error=describe_auth_error,
                                url_hint='supabase_url (SUPABASE_URL)', tls_hint='ca_path (SUPABASE_CA_PATH)',
                                user_agent='pourtrait.ops (supabase_auth)', sleep=sleep)

    def call(self, method, path, params=None, body=None, **kwargs):
        try:
            return self.http.request(method, path, params=params, json=body, **kwargs)
        except HttpError as exc:
            raise AuthError(str(exc), status=exc.status)

    def user(self, user_id):
        """The user, or None when the project has no such user."""
        try:
            return self.call('GET', '/admin/users/%s' % user_id).data
        except AuthError as exc:
            if exc.extra.get('status') == 404:
                return None
            raise

    def user_by_email(self, email):
        """The user whose e-mail is ``email`` (case-insensitive), or None; pages through GoTrue's filtered list."""
        wanted = email.strip().lower()
        page = 1
        while True:
            resp = self.call('GET', '/admin/users', params={'page': page, 'per_page': USERS_PAGE, 'filter': wanted})
            users = (resp.data or {}).get('users') or []
            for user in users:
                if (user.get('email') or '').lower() == wanted:
                    return user
            if len(users) < USERS_PAGE or 'rel="next"' not in (resp.headers.get('Link') or ''):
                return None
            page += 1

    def update_user(self, user_id, body):
        return self.call('PUT', '/admin/users/%s' % user_id, body=body).data

    def recovery_link(self, email, redirect_to=None):
        """POST generate_link (not repeated blindly: a lost answer means a link may exist that nobody has)."""
        body = {'type': 'recovery', 'email': email}
        if redirect_to:
            body['redirect_to'] = redirect_to
        return self.call('POST', '/admin/generate_link', body=body).data or {}

    def factors(self, user_id):
        return self.call('GET', '/admin/users/%s/factors' % user_id).data or []

    def delete_factor(self, user_id, factor_id):
        return self.call('DELETE', '/admin/users/%s/factors/%s' % (user_id, factor_id)).data


# -- sign-out in SQL -------------------------------------------------------------------------------

def check_project_database(cur, user_ids):
    """A one-line error unless the database holds GoTrue's tables and every one of ``user_ids`` (the database and
    the Auth API are the same project's)."""
    cur.execute("SELECT to_regclass('auth.sessions') IS NOT NULL AND to_regclass('auth.refresh_tokens') IS NOT NULL")
    if not cur.fetchone()[0]:
        raise AuthError('the database has no auth.sessions table; point database_url (DATABASE_URL) at the Supabase '
                        "project's database (Project Settings > Database)")
    cur.execute('SELECT count(*) FROM auth.users WHERE id = ANY(%s::uuid[])', (list(user_ids),))
    if cur.fetchone()[0] != len(set(user_ids)):
        raise AuthError('the database does not hold the users the Auth API returned: database_url (DATABASE_URL) '
                        'points at another project than supabase_url (SUPABASE_URL); nothing was changed')


def session_counts(cur, user_ids):
    """{user id: (sessions, refresh tokens not revoked)} for ``user_ids``."""
    cur.execute('SELECT u.id::text, count(DISTINCT s.id), count(t.id) FILTER (WHERE NOT coalesce(t.revoked, false)) '
                'FROM unnest(%s::uuid[]) AS u (id) LEFT JOIN auth.sessions s ON s.user_id = u.id '
                'LEFT JOIN auth.refresh_tokens t ON t.session_id = s.id GROUP BY u.id', (list(user_ids),))
    return dict((row[0], (int(row[1]), int(row[2]))) for row in cur.fetchall())


def sign_out(cur, user, audit=True):
    """Delete the user's sessions (their refresh tokens go with them) and, as GoTrue's logout does, write a
    ``logout`` audit entry; the number of sessions deleted."""
    cur.execute('DELETE FROM auth.sessions WHERE user_id = %s', (user['id'],))
    deleted = cur.rowcount
    if deleted and audit:
        payload = {'actor_id': user['id'], 'actor_via_sso': False, 'actor_username': user.get('email') or '',
                   'action': 'logout', 'log_type': 'account',
                   'traits': {'scope': 'global', 'sessions': deleted, 'by': 'pourtrait.ops.supabase_auth_user'}}
        cur.execute('INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at, ip_address) '
                    "VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), %s, now(), '')",
                    (json.dumps(payload),))
    return deleted


class AuthModule(ApiModule):
    """Base of the modules that call a project's Auth admin API (see ApiModule): the Auth options and client,
    and (``database = True``) the PostgreSQL connection options for what only SQL can do. The key and URL are
    checked before anything is sent, then ``validate()``."""

    database = False
    libraries = ApiModule.libraries + ((psycopg2, 'psycopg2 (pip install psycopg2-binary)', PSYCOPG2_IMPORT_ERROR),)

    @classmethod
    def shared_argument_spec(cls):
        spec = auth_argument_spec()
        if cls.database:
            spec.update(postgres_argument_spec())
        return spec

    @classmethod
    def library_errors(cls):
        return (psycopg2.Error,) if psycopg2 is not None else ()

    @classmethod
    def describe_library_error(cls, exc):
        return describe_db_error(exc)

    def make_client(self, params):
        return AuthClient(params['supabase_url'], params['service_role_key'], validate_certs=params['validate_certs'],
                          ca_path=params['ca_path'], timeout=params['timeout'], retries=params['retries'])

    def preflight(self):
        auth_base_url(self.params.get('supabase_url'))
        check_key(self.params.get('service_role_key'))
        self.validate()

    def validate(self):
        """Checks of the module's own options that need no call."""

    def has_database(self):
        """Whether any connection setting names a database (options, DATABASE_URL, PGHOST/PGDATABASE)."""
        params = self.params
        return bool(params.get('database_url') or params.get('login_host') or params.get('login_db') or
                    os.environ.get('DATABASE_URL') or os.environ.get('PGHOST') or os.environ.get('PGDATABASE'))

    def connect(self):
        conn = connect(connection_params(self.params), application_name='pourtrait.ops/%s' % self.name)
        with conn.cursor() as cur:
            set_timeouts(cur, lock_timeout='5s', statement_timeout='30s')
        return conn

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Supabase Management API calls of a security incident: the database password, API keys (new model, and the
legacy ``anon`` / ``service_role`` switch) and the ``logs.all`` endpoint, over :class:`SupabaseClient`.

Secrets: a key's value is only asked for (``reveal=true``) when the caller wants it back; the password goes
in a request body only. None of them ever appears in an error message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import secrets
import string
import time

from urllib.parse import unquote, urlsplit

from ansible_collections.pourtrait.ops.plugins.module_utils._module import one_line
from ansible_collections.pourtrait.ops.plugins.module_utils.http import Response
from ansible_collections.pourtrait.ops.plugins.module_utils.supabase import SupabaseError, iso

KEY_NAME_RE = re.compile(r'\A[a-z_][a-z0-9_]{3,63}\Z')
UUID_RE = re.compile(r'\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z', re.I)
LEGACY_NAMES = ('anon', 'service_role')
LOG_WINDOW_S = 24 * 3600  # the longest window one logs.all call takes
# A database password: characters that need no percent-encoding in DATABASE_URL.
PASSWORD_CHARS = string.ascii_letters + string.digits + '-._~'
PASSWORD_RE = re.compile(r'\A[A-Za-z0-9\-._~]+\Z')
GENERATED_CHARS = string.ascii_letters + string.digits


def _bool(value):
    return 'true' if value else 'false'


# -- API keys ----------------------------------------------------------------

def key_summary(key):
    """A key without its value (the value never leaves this module unless asked for)."""
    return dict(id=key.get('id'), name=key.get('name'), type=key.get('type'), prefix=key.get('prefix'),
                description=key.get('description'), inserted_at=key.get('inserted_at'),
                updated_at=key.get('updated_at'))


def check_key_name(name):
    if not KEY_NAME_RE.match(name or ''):
        raise SupabaseError('API key name %r is not valid: 4 to 64 characters, lowercase letters, digits and _, not '
                            'starting with a digit (e.g. app_server_2026)' % (name or '')[:70])


def list_api_keys(client, ref, reveal=False):
    data = client.call('GET', '/v1/projects/%s/api-keys' % ref, params={'reveal': _bool(reveal)},
                       not_found=client._not_found(ref)).data
    return [k for k in (data or []) if isinstance(k, dict)]


def create_api_key(client, ref, kind, name, description=None, reveal=False):
    """POST a key once; a lost answer is settled by listing the keys (a key of that name = created)."""
    body = dict(type=kind, name=name)
    if description is not None:
        body['description'] = description

    def reconcile():
        for key in list_api_keys(client, ref, reveal):
            if key.get('name') == name and key.get('type') == kind:
                return Response(201, key)
        return None

    return client.call('POST', '/v1/projects/%s/api-keys' % ref, params={'reveal': _bool(reveal)}, body=body,
                       not_found=client._not_found(ref), reconcile=reconcile).data or {}


def delete_api_key(client, ref, key_id, was_compromised, reason=None):
    """DELETE one key; a 404 on a retry (the first answer lost) counts as deleted."""
    params = {'was_compromised': _bool(was_compromised)}
    if reason:
        params['reason'] = reason
    resp = client.call('DELETE', '/v1/projects/%s/api-keys/%s' % (ref, key_id), params=params, ok=(200, 404))
    if resp.status == 404 and resp.attempts <= 1:
        raise SupabaseError('404: no API key with id %s in project %s; list the keys with supabase_api_key '
                            '(it returns keys) and use an id from there, or name the key' % (key_id, ref), status=404)
    return resp.data


def legacy_enabled(client, ref):
    data = client.call('GET', '/v1/projects/%s/api-keys/legacy' % ref, not_found=client._not_found(ref)).data or {}
    return bool(data.get('enabled'))


def set_legacy_enabled(client, ref, enabled):
    data = client.call('PUT', '/v1/projects/%s/api-keys/legacy' % ref, params={'enabled': _bool(enabled)},
                       not_found=client._not_found(ref)).data or {}
    return bool(data.get('enabled', enabled))


# -- the database password --------------------------------------------------

def check_password(password, min_length):
    """A one-line error (never echoing the value) for a password that breaks the length/charset rules."""
    if len(password) < min_length:
        raise SupabaseError('the new database password is %d characters long; use at least %d (or leave password '
                            'unset to generate one)' % (len(password), min_length))
    if not PASSWORD_RE.match(password):
        raise SupabaseError('the new database password has characters other than letters, digits and - . _ ~ '
                            '(others need percent-encoding in DATABASE_URL); use only those, or leave password unset '
                            'to generate one')


def generate_password(length):
    return ''.join(secrets.choice(GENERATED_CHARS) for _i in range(length))


def check_app_url(url, target, ref):
    """A one-line error unless the app's DATABASE_URL points at ``target`` (host, or the pooler user
    ``<user>.<ref>``; port; database). Only host, port, user and database are read; the password never."""
    try:
        parts = urlsplit(url.strip())
        host, port, user = (parts.hostname or '').lower(), parts.port or 5432, unquote(parts.username or '')
    except ValueError:
        raise SupabaseError('app_database_url is not a PostgreSQL URL (postgresql://user:password@host:port/db)')
    if parts.scheme not in ('postgres', 'postgresql') or not host:
        raise SupabaseError('app_database_url is not a PostgreSQL URL (postgresql://user:password@host:port/db)')
    dbname = unquote(parts.path.lstrip('/')) or user
    pooled = user == '%s.%s' % (target['user'], ref)
    same_host = host == str(target['host']).lower() and port == int(target['port'])
    if not (same_host or pooled) or dbname != target['dbname'] or not (user == target['user'] or pooled):
        raise SupabaseError('the app\'s DATABASE_URL points at %s:%s database %s as %s, not at the database whose '
                            'password this rotates (%s:%s database %s as %s); fix DATABASE_URL (or db_host/db_port/'
                            'db_name) first, or the app would be left on a credential this run does not manage'
                            % (host, port, dbname, user, target['host'], target['port'], target['dbname'],
                               target['user']))


def connect_failure(exc, target):
    """One line for a failed connection (never the password)."""
    text = one_line(getattr(exc, 'pgerror', None) or exc)
    where = '%s:%s' % (target['host'], target['port'])
    if 'password authentication failed' in text.lower():
        return 'PostgreSQL at %s rejected the password of user "%s"' % (where, target['user'])
    return 'cannot connect to PostgreSQL at %s as "%s": %s' % (where, target['user'], text[:200])


def set_database_password(client, ref, password):
    """PATCH the password (setting the same value twice is the same state, so a retry is safe)."""
    return client.call('PATCH', '/v1/projects/%s/database/password' % ref, body={'password': password},
                       idempotent=True, not_found=client._not_found(ref)).data or {}


# -- logs ------------------------------------------------------------------

def split_window(start, end, step=LOG_WINDOW_S):
    """[(start, end)] pieces of at most ``step`` seconds covering [start, end]."""
    pieces = []
    cursor = start
    while True:
        stop = min(end, cursor + step)
        pieces.append((cursor, stop))
        if stop >= end:
            return pieces
        cursor = stop


def describe_log_error(error):
    if isinstance(error, dict):
        return error.get('message') or error.get('status') or 'unknown error'
    return str(error)


def query_logs(client, ref, sql, start, end):
    """The rows of ``sql`` over [start, end] (at most 24 h); an SQL error becomes one line."""
    params = {'sql': sql, 'iso_timestamp_start': iso_ms(start), 'iso_timestamp_end': iso_ms(end)}
    data = client.call('GET', '/v1/projects/%s/analytics/endpoints/logs.all' % ref, params=params,
                       not_found=client._not_found(ref)).data or {}
    if data.get('error'):
        raise SupabaseError('Supabase could not run the logs query: %s; check the SQL (sources such as edge_logs, '
                            'postgres_logs, auth_logs; columns id, timestamp, event_message, metadata)'
                            % describe_log_error(data['error'])[:200])
    return [r for r in (data.get('result') or []) if isinstance(r, dict)]


def iso_ms(unix):
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(int(unix))) + '.%03dZ' % int(round((unix % 1) * 1000) % 1000)


def merge_rows(chunks, order='desc'):
    """Rows of several windows as one list: duplicates (same ``id``, or same content without one) dropped,
    ordered by ``timestamp`` when the rows have one (else in the order received)."""
    seen = set()
    rows = []
    for chunk in chunks:
        for row in chunk:
            marker = ('id', row['id']) if row.get('id') is not None else ('row', repr(sorted(row.items())))
            if marker in seen:
                continue
            seen.add(marker)
            rows.append(row)
    if rows and all(isinstance(r.get('timestamp'), (int, float)) for r in rows):
        rows.sort(key=lambda r: r['timestamp'], reverse=order == 'desc')
    return rows


__all__ = ['LEGACY_NAMES', 'UUID_RE', 'check_app_url', 'check_key_name', 'connect_failure', 'check_password', 'create_api_key', 'delete_api_key',
           'generate_password', 'iso', 'key_summary', 'legacy_enabled', 'list_api_keys', 'merge_rows', 'query_logs',
           'set_database_password', 'set_legacy_enabled', 'split_window', 'PASSWORD_CHARS']

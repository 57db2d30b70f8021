"""Pytest fixtures for the Supabase Auth (GoTrue) admin API stand-in (tests/sandbox/supabase_auth.py).

``supabase_auth`` (function): the stand-ins reset, a fresh database cloned from the seeded template (GoTrue's
``auth`` tables with users, sessions, refresh tokens, MFA factors and an audit trail) made the project's
database (the Auth API and the Management API's ``/database/query`` both run on it), and an
:class:`AuthSandbox`: ``url`` (``SUPABASE_URL``), ``https_url``, ``service_role_key``, ``anon_key``,
``ca_path``, ``db`` (the test's :class:`tests.conftest.Database`), ``env`` (what ``.sandbox/env`` gives the
modules), ``api(method, path, ...)`` and SQL helpers.
"""

import ssl
import urllib.parse

import pytest

from tests.fixtures_standins import http_json


class AuthSandbox(object):
    """The Auth admin API of the sandbox project as one test sees it, on its own database."""

    def __init__(self, standins, supabase, db):
        info = standins.info
        self._standins = standins
        self.supabase = supabase
        self.db = db
        self.url = info['supabase_url']
        self.https_url = info['supabase_url_https']
        self.service_role_key = info['supabase_service_role_key']
        self.anon_key = info['supabase_anon_key']
        self.ca_path = info['ca_path']
        self.started = db.scalar('SELECT clock_timestamp()')  # the audit entries of this test come after it

    @property
    def env(self):
        return {'SUPABASE_URL': self.url, 'SUPABASE_SERVICE_ROLE_KEY': self.service_role_key,
                'SUPABASE_CA_PATH': self.ca_path, 'DATABASE_URL': self.db.url}

    def module_args(self, **extra):
        """Module options pointing at this project (the key as an option, the database through login_*)."""
        args = dict(supabase_url=self.url, service_role_key=self.service_role_key)
        args.update(self.db.conn_args())
        args.update(extra)
        return args

    def api(self, method, path, body=None, params=None, key=None, bearer=None, https=False, headers=None):
        """(status, JSON, headers) of one call under ``/auth/v1``; ``key`` the apikey (None: service_role,
        '': none), ``bearer`` the token (None: the same as ``key``, '': none)."""
        key = self.service_role_key if key is None else key
        bearer = key if bearer is None else bearer
        url = (self.https_url if https else self.url) + '/auth/v1' + path
        if params:
            url += '?' + urllib.parse.urlencode(params)
        hdrs = {}
        if key:
            hdrs['apikey'] = key
        if bearer:
            hdrs['Authorization'] = 'Bearer %s' % bearer
        hdrs.update(headers or {})
        context = ssl.create_default_context(cafile=self.ca_path) if https else None
        return http_json(method, url, body, headers=hdrs, context=context)

    def admin(self, method, path, body=None):
        return self._standins.admin(method, path, body)

    # -- SQL -----------------------------------------------------------------------------------
    def user_id(self, email):
        return str(self.db.scalar('SELECT id FROM auth.users WHERE email = %s', (email,)))

    def banned_until(self, email):
        return self.db.scalar('SELECT banned_until FROM auth.users WHERE email = %s', (email,))

    def sessions(self, email):
        return self.db.scalar('SELECT count(*) FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id '
                              'WHERE u.email = %s', (email,))

    def refresh_tokens(self, email):
        return self.db.scalar('SELECT count(*) FROM auth.refresh_tokens t JOIN auth.users u ON u.id::text = t.user_id '
                              'WHERE u.email = %s', (email,))

    def factors(self, email):
        return self.db.scalar('SELECT count(*) FROM auth.mfa_factors f JOIN auth.users u ON u.id = f.user_id '
                              'WHERE u.email = %s', (email,))

    def audit(self, action=None):
        """Audit entries written during this test: [(action, actor_username, traits, ip_address)], oldest first."""
        rows = self.db.query("SELECT payload->>'action', payload->>'actor_username', payload->'traits', ip_address "
                             "FROM auth.audit_log_entries WHERE created_at > %s ORDER BY created_at", (self.started,))
        return [r for r in rows if action is None or r[0] == action]


@pytest.fixture
def supabase_auth(standins, supabase, db):
    supabase.set_database(db.url)
    return AuthSandbox(standins, supabase, db)

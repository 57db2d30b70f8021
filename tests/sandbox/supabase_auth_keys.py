"""The API gateway in front of the Auth stand-in (supabase_auth.py): which project keys it lets through.

:class:`GatewayKeys` is a mixin of ``AuthService``; it reads the API keys of the Management API stand-in's
model (``model.security``, supabase_security.py), so a key created, deleted or switched off there is
honoured here at once (the two stand-ins run in one hub process, see serve.py).

As Supabase's gateway does (docs "API keys"):

* ``apikey`` (header or ``?apikey=``) is required: none -> 401 ``{"message": "No API key found in request",
  "hint"}``. A secret key sent only in ``Authorization: Bearer`` is no API key either.
* a secret (``sb_secret_...``) or publishable (``sb_publishable_...``) key must be one the project has now:
  a deleted or unknown one -> 401 ``{"message": "Invalid API key", "hint"}``. When ``Authorization`` is
  absent or carries the same key, the gateway stands in a ``service_role`` (secret key) or ``anon``
  (publishable key) JWT for it, so ``apikey: sb_secret_...`` alone is enough for the admin API and a
  publishable key gets GoTrue's 403 ``not_admin``; another Bearer JWT is verified as usual.
* the legacy ``anon`` / ``service_role`` JWTs pass while the legacy keys are on; after ``PUT
  /v1/projects/{ref}/api-keys/legacy?enabled=false`` they get 401 ``{"message": "Legacy API keys are
  disabled", "hint"}`` in ``apikey:`` until they are turned back on.

The legacy pair the Management API lists (``GET /v1/projects/{ref}/api-keys``, ids ``anon`` and
``service_role``) are the very JWTs this stand-in accepts: :meth:`GatewayKeys.share_legacy_keys` puts
them in the model (``model.legacy_api_keys``), which every reset keeps.
"""

NEW_KEY_ROLES = (('sb_secret_', 'secret', 'service_role'), ('sb_publishable_', 'publishable', 'anon'))
INVALID_HINT = 'Double check your Supabase `anon` or `service_role` API key.'


class GatewayKeys(object):
    """``_gateway(request)`` -> the role a new key stands for (or None); ``_require_admin`` honours it."""

    def share_legacy_keys(self):
        """Make the Management API's legacy key pair these JWTs (now and after every reset)."""
        model = self.supabase.model
        with model.lock:
            model.legacy_api_keys = {'anon': self.anon_key, 'service_role': self.service_role_key}
            for key in model.security.keys:
                if key['type'] == 'legacy' and key['id'] in model.legacy_api_keys:
                    key['api_key'] = model.legacy_api_keys[key['id']]

    def _keys_now(self):
        model = self.supabase.model
        with model.lock:
            security = model.security
            return security.legacy_enabled, [(k['type'], k['api_key']) for k in security.keys]

    def _gateway(self, request):
        key = request.headers.get('apikey') or request.query.get('apikey')
        if not key:
            raise self.error(401, None, 'No API key found in request', gateway=True,
                             hint='No `apikey` request header or url param was found.')
        legacy_enabled, keys = self._keys_now()
        for prefix, kind, role in NEW_KEY_ROLES:
            if key.startswith(prefix):
                if (kind, key) not in keys:
                    raise self.error(401, None, 'Invalid API key', gateway=True, hint=INVALID_HINT)
                return role
        if key not in (self.anon_key, self.service_role_key):
            raise self.error(401, None, 'Invalid API key', gateway=True, hint=INVALID_HINT)
        if not legacy_enabled:
            raise self.error(401, None, 'Legacy API keys are disabled', gateway=True,
                             hint='Your legacy API keys (anon, service_role) were disabled; re-enable them or use '
                                  'the publishable and secret keys instead.')
        return None

    def _require_admin(self, request, key_role=None):
        header = request.headers.get('Authorization') or ''
        scheme, _sep, token = header.partition(' ')
        token = token.strip()
        apikey = request.headers.get('apikey') or request.query.get('apikey')
        if key_role and (not header or token == apikey):
            claims = {'role': key_role}  # the JWT the gateway mints for a new key
        else:
            if scheme.lower() != 'bearer' or not token:
                raise self.error(401, 'no_authorization', 'This endpoint requires a valid Bearer token')
            try:
                claims = self.verify(token)
            except ValueError as exc:
                raise self.error(403, 'bad_jwt', 'invalid JWT: unable to parse or verify signature, %s' % exc)
        if claims.get('role') not in self.admin_roles:
            raise self.error(403, 'not_admin', 'User not allowed')
        return claims

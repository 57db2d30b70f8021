# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The HTTP options every API module shares (module_utils/http.py JsonSession); the vendor fragments
    # (pourtrait.ops.vercel, pourtrait.ops.supabase) add the credentials and the base URL.
    # Use: extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.vercel]
    DOCUMENTATION = r'''
options:
  validate_certs:
    description:
      - Verify the API's TLS certificate. Turn off only for a throw-away test server.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each HTTP answer (connecting waits at most 10 seconds).
    type: int
    default: 30
  ca_path:
    description:
      - CA bundle (PEM) used to verify the API's certificate instead of the system store.
      - Falls back to E(VERCEL_CA_PATH) in the vercel_* modules, E(SUPABASE_CA_PATH) in the supabase_* ones.
    type: path
  retries:
    description:
      - How many times a request is retried after HTTP 429, a 5xx answer or a connection error, with jittered
        exponential backoff that honours C(Retry-After) (and Supabase's C(X-RateLimit-Reset)). C(0) disables
        retries.
      - A change that is not idempotent (a Vercel rollback, promote or create; a Supabase restore) is never sent
        again blindly; the module first re-reads the project, the deployment list or the project's status to
        learn whether the first attempt took effect.
    type: int
    default: 4
requirements:
  - requests
notes:
  - Set the connection once per play with C(module_defaults) and the module's action group,
    C(group/pourtrait.ops.vercel) or C(group/pourtrait.ops.supabase).
  - 'Errors are one line naming the cause and the fix, for example C(401: the Vercel token was rejected; check VERCEL_TOKEN)
    or C(401: the Supabase access token was rejected; check SUPABASE_ACCESS_TOKEN).'
'''

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options of the modules that call a project's Auth (GoTrue) admin API
    # (module_utils/supabase_auth.py AuthModule): what the app itself is configured with.
    DOCUMENTATION = r'''
options:
  supabase_url:
    description:
      - The project's API base URL, C(https://<ref>.supabase.co); the Auth API is served beneath it at C(/auth/v1)
        (a trailing C(/auth/v1) is accepted). Only this differs between Supabase and a local stand-in.
      - Falls back to E(SUPABASE_URL).
    type: str
  service_role_key:
    description:
      - "The project's C(service_role) key (a JWT) or a secret key (C(sb_secret_...)), sent as C(apikey) and as
        C(Authorization: Bearer). The C(anon) and publishable keys are refused before any call, without echoing
        the key."
      - Falls back to E(SUPABASE_SERVICE_ROLE_KEY). Never logged.
    type: str
  validate_certs:
    description:
      - Verify the API's TLS certificate. Turn off only for a throw-away test server.
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle (PEM) used to verify the API's certificate instead of the system store.
      - Falls back to E(SUPABASE_CA_PATH).
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer (connecting waits at most 10 seconds).
    type: int
    default: 30
  retries:
    description:
      - How many times a request is retried after HTTP 429, a 5xx answer or a connection error, with jittered
        exponential backoff that honours C(Retry-After). Generating a recovery link is never sent twice blindly.
    type: int
    default: 4
requirements:
  - requests
notes:
  - Set the connection once per play with C(module_defaults) and the C(group/pourtrait.ops.supabase_auth) action
    group.
attributes: {action_group: {support: full, membership: [pourtrait.ops.supabase_auth]}}
'''

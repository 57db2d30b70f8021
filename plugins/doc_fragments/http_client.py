# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The HTTP options every API module shares (module_utils/http.py JsonSession); the vendor fragments
    # (pourtrait.ops.vercel, pourtrait.ops.supabase) add the credentials, the base URL, ca_path and retries.
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
'''

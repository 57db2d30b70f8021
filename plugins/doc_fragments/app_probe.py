# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The options of the modules of the action group app (module_utils/app.py probe_argument_spec): the app's
    # origin and how to talk to it, set once per play with module_defaults for group/pourtrait.ops.app.
    # Use: extends_documentation_fragment: [pourtrait.ops.app_probe]
    DOCUMENTATION = r'''
options:
  base_url:
    description:
      - The app's origin, for example C(https://pourtrait.app) or a deployment's own URL; endpoints are joined to it.
      - A play sets it once for every module of the action group C(app) (M(pourtrait.ops.app_health),
        M(pourtrait.ops.deployment_verify)) with C(module_defaults), together with O(validate_certs), O(ca_path) and
        O(headers) - C(module_defaults) for C(group/pourtrait.ops.app), as the collection's playbooks do from the
        inventory's C(pourtrait_app).
      - If not set, the value of the E(APP_URL) environment variable is used.
    type: str
  timeout:
    description:
      - Seconds one request may take.
    type: float
    default: 10
  validate_certs:
    description:
      - Verify the app's TLS certificate.
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle (PEM) to verify the certificate with.
    type: path
  headers:
    description:
      - Extra request headers on every request (for example a protection-bypass token).
    type: dict
    default: {}
attributes: {action_group: {support: full, membership: [pourtrait.ops.app]}}
'''

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The request options of the modules that probe the app (module_utils/app.py probe_argument_spec).
    # Use: extends_documentation_fragment: [pourtrait.ops.app_probe]
    DOCUMENTATION = r'''
options:
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
attributes: {action_group: {support: none, membership: []}}
'''

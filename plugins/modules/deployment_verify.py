#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: deployment_verify
short_description: Watch a release's health, error rate and latency for a window and give a verdict
version_added: 0.1.0
description:
  - Measures every check in O(checks) once per round, O(count) rounds O(interval) seconds apart after an
    O(initial_delay), and returns the verdict C(pass), C(fail) or C(inconclusive) with every measurement, the way
    Argo Rollouts analysis runs do.
  - Each measurement is C(pass), C(fail), C(inconclusive) (no data, too few requests) or C(error) (could not measure).
  - Per check, more than O(failure_limit) failures fail the verification, and so do more than
    O(consecutive_error_limit) errors in a row; a failing C(critical) check fails it at once. Time to detect a bad
    release is about O(interval) x (O(failure_limit) + 1).
  - Inconclusive is never success - more than O(inconclusive_limit) inconclusive measurements of a check, or a check that
    never passed, make the verdict C(inconclusive).
  - Read-only.
author: Pourtrait engineering (@pourtrait)
options:
  path:
    description:
      - Health endpoint of the default checks (their critical C(health) check), joined to O(base_url).
      - Ignored when O(checks) are given - each check names its own O(checks[].path).
    type: str
    default: /health
    version_added: 1.1.0
  checks:
    description:
      - What to measure. The default is a critical C(health) check on O(path), an C(error_rate) check on
        C(/api/monitoring/errors) (at most 0.05, at least 10 requests) and a C(latency) check on
        C(/api/monitoring/performance) (p95 at most 1000 ms, at least 10 requests).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the check in the results.
        type: str
        required: true
      kind:
        description:
          - C(health) requires status healthy and every service healthy; C(error_rate) compares the error rate (0..1)
            with O(checks[].threshold); C(latency) compares the O(checks[].stat) latency in milliseconds.
        type: str
        required: true
        choices: [health, error_rate, latency]
      path:
        description: Endpoint, joined to O(base_url) (a full URL is used as it is).
        type: str
        required: true
      threshold:
        description: Highest passing value (error rate as a fraction, latency in milliseconds). Required for
          C(error_rate) and C(latency).
        type: float
      stat:
        description: Latency statistic to compare.
        type: str
        choices: [p50, p95, p99, avg]
        default: p95
      min_requests:
        description: Fewer requests than this in the answer makes the measurement inconclusive.
        type: int
        default: 0
      critical:
        description: A failure of this check fails the verification at once.
        type: bool
        default: false
      services:
        description: For C(health), services that must be present and healthy.
        type: list
        elements: str
        default: []
  interval:
    description:
      - Seconds between the starts of two rounds.
    type: float
    default: 30
  count:
    description:
      - Number of rounds.
    type: int
    default: 10
  initial_delay:
    description:
      - Seconds to wait before the first round, to let the release warm up.
    type: float
    default: 0
  failure_limit:
    description:
      - Failures of one check tolerated before the verdict is C(fail).
    type: int
    default: 0
  consecutive_error_limit:
    description:
      - Errors in a row (could not measure) of one check tolerated before the verdict is C(fail).
    type: int
    default: 4
  inconclusive_limit:
    description:
      - Inconclusive measurements of one check tolerated before the verdict is C(inconclusive).
    type: int
    default: 0
  fail_on:
    description:
      - Verdicts that make the task fail (the result still carries the verdict and every measurement).
    type: list
    elements: str
    choices: [fail, inconclusive]
    default: [fail, inconclusive]
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.attributes.info_module,
                                 pourtrait.ops.controller_fast_path, pourtrait.ops.app_probe]
'''

EXAMPLES = r'''
# base_url (the app's origin), TLS and headers are usually set once per play:
#   module_defaults: {group/pourtrait.ops.app: {base_url: https://pourtrait.app}}
- name: Watch the new release for 5 minutes
  pourtrait.ops.deployment_verify:
    interval: 30
    count: 10
    initial_delay: 30
    failure_limit: 1
  register: verify

- name: Custom thresholds, report only
  pourtrait.ops.deployment_verify:
    base_url: "{{ deploy.deployment.url }}"
    fail_on: []
    checks:
      - {name: health, kind: health, path: /health, critical: true, services: [database]}
      - {name: errors, kind: error_rate, path: /api/monitoring/errors, threshold: 0.01, min_requests: 50}
      - {name: p99, kind: latency, path: /api/monitoring/performance, stat: p99, threshold: 2500}
'''

RETURN = r'''
base_url:
  description: The app's origin the checks were joined to.
  returned: always
  type: str
  sample: https://pourtrait.app
  version_added: 1.1.0
verdict:
  description: C(pass), C(fail) or C(inconclusive).
  returned: always
  type: str
  sample: pass
reason:
  description: Why - which check decided it and how.
  returned: always
  type: str
measurements:
  description: Every measurement - check, kind, round, at (epoch seconds), url, result (pass/fail/inconclusive/error),
    value, threshold, requests, detail, http_status, timing (curl-style), and for health checks services and
    unhealthy_services.
  returned: always
  type: list
  elements: dict
summary:
  description: Per check - passed, failed, inconclusive, errors, max_consecutive_errors, critical.
  returned: always
  type: dict
rounds:
  description: Rounds measured (fewer than O(count) when the verdict came early).
  returned: always
  type: int
elapsed_s:
  description: Seconds the watch took.
  returned: always
  type: float
'''

import time

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError
from ansible_collections.pourtrait.ops.plugins.module_utils.app import DEFAULT_CHECKS, NO_BASE_URL, AppProbeModule, verify


class DeploymentVerify(AppProbeModule):
    argument_spec = dict(
        path=dict(type='str', default='/health'),
        checks=dict(type='list', elements='dict', options=dict(
            name=dict(type='str', required=True),
            kind=dict(type='str', required=True, choices=['health', 'error_rate', 'latency']),
            path=dict(type='str', required=True),
            threshold=dict(type='float'),
            stat=dict(type='str', choices=['p50', 'p95', 'p99', 'avg'], default='p95'),
            min_requests=dict(type='int', default=0),
            critical=dict(type='bool', default=False),
            services=dict(type='list', elements='str', default=[]),
        )),
        interval=dict(type='float', default=30),
        count=dict(type='int', default=10),
        initial_delay=dict(type='float', default=0),
        failure_limit=dict(type='int', default=0),
        consecutive_error_limit=dict(type='int', default=4),
        inconclusive_limit=dict(type='int', default=0),
        fail_on=dict(type='list', elements='str', choices=['fail', 'inconclusive'], default=['fail', 'inconclusive']),
    )

    def run(self):
        """Fails (with the whole result) on a verdict in O(fail_on)."""
        p = self.params
        if not p['base_url']:
            raise OpsError(NO_BASE_URL, changed=False)
        checks = p['checks'] or [dict(c, path=p['path'] or c['path']) if c['kind'] == 'health' else dict(c)
                                 for c in DEFAULT_CHECKS]
        names = [c['name'] for c in checks]
        if len(set(names)) != len(names):
            raise OpsError('check names must be unique (got %s); rename the duplicates' % ', '.join(names))
        for check in checks:
            if check['kind'] != 'health' and check.get('threshold') is None:
                raise OpsError('check %s (%s) has no threshold; set checks[].threshold' % (check['name'], check['kind']))
        if p['count'] < 1 or p['interval'] < 0:
            raise OpsError('count must be at least 1 and interval not negative; fix count/interval')
        started = time.time()
        verdict, reason, measurements, summary, rounds = verify(
            checks, p['base_url'], interval=p['interval'], count=p['count'], initial_delay=p['initial_delay'],
            failure_limit=p['failure_limit'], consecutive_error_limit=p['consecutive_error_limit'],
            inconclusive_limit=p['inconclusive_limit'], timeout=p['timeout'], validate_certs=p['validate_certs'],
            ca_path=p['ca_path'], headers=p['headers'])
        result = dict(changed=False, base_url=p['base_url'], verdict=verdict, reason=reason, measurements=measurements, summary=summary,
                      rounds=rounds, elapsed_s=round(time.time() - started, 3))
        if verdict in p['fail_on']:
            raise OpsError('verification of %s: %s - %s; roll back or investigate before going on'
                           % (p['base_url'], verdict, reason), **result)
        return result


def main():
    DeploymentVerify.main()


if __name__ == '__main__':
    main()

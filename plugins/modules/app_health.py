#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: app_health
short_description: Check the Pourtrait app's health endpoint, with the curl-style timing breakdown
version_added: 0.1.0
description:
  - Requests the app's health endpoint (O(path) under O(base_url), or O(url)) and requires a JSON answer whose
    C(status) is O(expected_status) and whose every listed service (C(services) in the answer, plus any named in
    O(services)) is healthy.
  - Retries inside one call every O(interval) seconds until the answer is healthy or O(wait_timeout) has passed, so a
    playbook needs no C(until) loop.
  - Returns the timing breakdown the runbook takes from C(curl -w) - DNS, connect, TLS, first byte and total, each
    counted from the start of the request like curl's C(time_namelookup), C(time_connect), C(time_appconnect),
    C(time_starttransfer) and C(time_total).
  - Fails with a message naming the unhealthy services. Read-only.
author: Pourtrait engineering (@pourtrait)
options:
  path:
    description:
      - Endpoint to request, joined to O(base_url) (the app's origin, usually set once per play with
        C(module_defaults) for C(group/pourtrait.ops.app)), for example C(/health) or C(/api/wines?limit=1).
      - A full C(http(s\)://) URL is requested as it is.
    type: str
    default: /health
    version_added: 1.1.0
  url:
    description:
      - Full URL to request, for example C(https://pourtrait.app/health). When given it wins over O(base_url) and
        O(path) (the way this module was called before they existed).
    type: str
  method:
    description:
      - HTTP method of the request. Retrying (O(wait_timeout)) asks the same request again, so use it with C(POST) only
        when the endpoint takes a repeat.
    type: str
    choices: [GET, POST, HEAD]
    default: GET
    version_added: 1.1.0
  body:
    description:
      - JSON body to send (for example with O(method=POST)).
    type: raw
    version_added: 1.1.0
  status_code:
    description:
      - With O(expect=ok) - the HTTP statuses that count as success; empty means any status below 400.
    type: list
    elements: int
    default: []
    version_added: 1.1.0
  expect:
    description:
      - C(health) - the answer must be a health JSON whose C(status) is O(expected_status) and whose services are
        healthy.
      - C(ok) - any answer with an HTTP status below 400 (or one of O(status_code)) will do and the body is not judged,
        to time or smoke-test an endpoint that is not a health endpoint (for example C(/api/wines) or
        C(/api/monitoring/performance)).
    type: str
    choices: [health, ok]
    default: health
    version_added: 1.0.0
  expected_status:
    description:
      - Value the answer's C(status) must have (with O(expect=health)).
    type: str
    default: healthy
  services:
    description:
      - Services that must be present and healthy in the answer (every service it lists must be healthy anyway).
    type: list
    elements: str
    default: []
  wait_timeout:
    description:
      - Keep retrying for up to this many seconds; C(0) checks once.
    type: float
    default: 60
  interval:
    description:
      - Seconds between two attempts.
    type: float
    default: 3
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.attributes.info_module,
                                 pourtrait.ops.controller_fast_path, pourtrait.ops.app_probe]
'''

EXAMPLES = r'''
# The app's origin, TLS and headers are usually set once per play, for every module of the group:
#   module_defaults:
#     group/pourtrait.ops.app:
#       base_url: https://pourtrait.app
#       headers: {x-vercel-protection-bypass: "{{ lookup('ansible.builtin.env', 'VERCEL_BYPASS') }}"}
- name: Production is healthy (wait up to 2 minutes after a rollback)
  pourtrait.ops.app_health:
    path: /health
    services: [database, auth]
    wait_timeout: 120
  register: health

- name: Show the timing
  ansible.builtin.debug:
    msg: "TTFB {{ health.timing.first_byte_s }}s total {{ health.timing.total_s }}s"

- name: A smoke POST, asked once, that must answer 200
  pourtrait.ops.app_health:
    path: /api/ai/chat
    method: POST
    body: {message: "health check: reply OK"}
    expect: ok
    status_code: [200]
    wait_timeout: 0

- name: A full URL still works (it wins over base_url and path)
  pourtrait.ops.app_health:
    url: https://pourtrait.app/health
    wait_timeout: 0
'''

RETURN = r'''
url:
  description: The URL requested.
  returned: always
  type: str
  sample: https://pourtrait.app/health
  version_added: 1.1.0
healthy:
  description: True when the answer was healthy (with O(expect=ok), when its HTTP status was below 400).
  returned: always
  type: bool
status:
  description: The answer's C(status); null with O(expect=ok).
  returned: when the app answered JSON
  type: str
  sample: healthy
services:
  description: Status text of each service the answer lists.
  returned: always
  type: dict
  sample: {database: healthy, auth: healthy}
unhealthy_services:
  description: Services that are not healthy (C(name (status))).
  returned: always
  type: list
  elements: str
http_status:
  description: HTTP status of the last answer.
  returned: when the app answered
  type: int
timing:
  description: Seconds from the start of the last request, as C(curl -w) reports them.
  returned: always
  type: dict
  contains:
    dns_s: {description: Name lookup done (time_namelookup)., type: float, returned: always}
    connect_s: {description: TCP connected (time_connect)., type: float, returned: always}
    tls_s: {description: TLS handshake done (time_appconnect); 0 for http., type: float, returned: always}
    first_byte_s: {description: First byte of the answer (time_starttransfer)., type: float, returned: always}
    total_s: {description: Whole answer read (time_total)., type: float, returned: always}
attempts:
  description: Number of requests made.
  returned: always
  type: int
elapsed_s:
  description: Seconds the call took.
  returned: always
  type: float
body:
  description: The decoded JSON answer (when it is a JSON object).
  returned: when the app answered JSON
  type: dict
'''

import time

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError
from ansible_collections.pourtrait.ops.plugins.module_utils.app import (
    AppProbeModule, ProbeError, evaluate_health, probe, target_url,
)


class AppHealth(AppProbeModule):
    argument_spec = dict(
        path=dict(type='str', default='/health'),
        url=dict(type='str'),
        method=dict(type='str', choices=['GET', 'POST', 'HEAD'], default='GET'),
        body=dict(type='raw'),
        status_code=dict(type='list', elements='int', default=[]),
        expect=dict(type='str', choices=['health', 'ok'], default='health'),
        expected_status=dict(type='str', default='healthy'),
        services=dict(type='list', elements='str', default=[]),
        wait_timeout=dict(type='float', default=60),
        interval=dict(type='float', default=3),
    )

    def run(self):
        """Fails (with the whole result) when the app is not healthy."""
        p = self.params
        url, error = target_url(p)
        if error:
            raise OpsError(error, changed=False)
        started = time.time()
        deadline = started + max(0.0, p['wait_timeout'])
        attempts = 0
        result = dict(changed=False, url=url, healthy=False, services={}, unhealthy_services=[], timing={})
        problem = ''
        while True:
            attempts += 1
            try:
                answer = probe(url, timeout=p['timeout'], validate_certs=p['validate_certs'], ca_path=p['ca_path'],
                               headers=p['headers'], method=p['method'], body=p['body'])
            except ProbeError as exc:
                problem = str(exc)
                result.update(timing=exc.timing, healthy=False)
                if exc.permanent:
                    break
            else:
                if p['expect'] == 'ok':
                    wanted = p['status_code']
                    healthy = answer.status in wanted if wanted else answer.status < 400
                    status, services, unhealthy = None, {}, []
                    problem = '' if healthy else 'HTTP %s%s' % (
                        answer.status, (', expected %s' % ' or '.join(str(c) for c in wanted)) if wanted else '')
                else:
                    healthy, status, services, unhealthy, problem = evaluate_health(
                        answer, p['expected_status'], p['services'])
                result.update(healthy=healthy, status=status, services=services, unhealthy_services=unhealthy,
                              http_status=answer.status, timing=answer.timing)
                body = answer.json()
                if isinstance(body, dict):
                    result['body'] = body
                if healthy:
                    break
            if time.time() + p['interval'] > deadline:
                break
            time.sleep(p['interval'])
        result.update(attempts=attempts, elapsed_s=round(time.time() - started, 3))
        if not result['healthy']:
            fix = 'check those services and the latest deployment' if result['unhealthy_services'] else \
                'check the URL and the latest deployment'
            raise OpsError('%s is not healthy after %d attempt(s) in %.0fs: %s; %s'
                           % (url, attempts, result['elapsed_s'], problem, fix), **result)
        return result


def main():
    AppHealth.main()


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: vercel_logs_info
short_description: Read a Vercel deployment's runtime logs (filtered, bounded) and its build events
version_added: 1.1.0
description:
  - Reads the runtime log lines of a deployment (the production one by default) and keeps those in a time window
    that match a level, a status code (C(500), C(5xx), C(4xx)), a path prefix, a request id or a text.
  - Vercel serves runtime logs as a live stream that stays open; this module reads it line by line and stops at
    O(limit) lines or after O(deadline) seconds (every read is bounded by what is left), at the first line past
    O(until), or when a window that ended before the read began goes quiet - never an unbounded read. RV(truncated)
    says whether more lines may exist.
  - Optionally the deployment's build events too (O(build_events)).
  - Read-only.
author: Pourtrait engineering (@pourtrait)
options:
  deployment:
    description:
      - The deployment id or URL. Default - the project's current production deployment.
    type: str
  since:
    description:
      - Start of the window - ISO 8601, epoch seconds, or a duration meaning that long ago (C(30m), C(2h)).
    type: str
    default: 1h
  until:
    description:
      - End of the window (same forms as O(since)); unset is open (read until O(limit) or O(deadline)).
    type: str
  level:
    description:
      - Only lines of these levels.
    type: list
    elements: str
    choices: [error, warning, info]
  status_code:
    description:
      - Only request lines with these response statuses - a code (C(500)) or a class (C(5xx), C(4xx)).
    type: list
    elements: str
  path:
    description:
      - Only lines whose request path starts with this.
    type: str
  request_id:
    description:
      - Only the line(s) of this request (the line's C(requestId), or its C(rowId)).
    type: str
  contains:
    description:
      - Only lines whose message contains this text.
    type: str
  limit:
    description:
      - The most lines to return (1 to 10000).
    type: int
    default: 200
  deadline:
    description:
      - The most seconds to spend reading the stream (1 to 300).
    type: int
    default: 10
  build_events:
    description:
      - Also return the deployment's build events (RV(build_events)), up to O(build_events_limit).
    type: bool
    default: false
  build_events_limit:
    description:
      - The most build events to return (1 to 1000).
    type: int
    default: 100
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes,
                                 pourtrait.ops.attributes.info_module, pourtrait.ops.vercel,
                                 pourtrait.ops.controller_fast_path]
'''

EXAMPLES = r'''
- name: Server errors of production in the last 30 minutes
  pourtrait.ops.vercel_logs_info:
    since: 30m
    status_code: [5xx]
    limit: 100
    deadline: 15
  register: errors

- name: One request, by id
  pourtrait.ops.vercel_logs_info:
    request_id: "{{ suspicious_request }}"
    since: 2h

- name: Why did that build fail?
  pourtrait.ops.vercel_logs_info:
    deployment: dpl_123
    level: [error]
    build_events: true
    deadline: 5
'''

RETURN = r'''
deployment_id:
  description: The deployment read.
  returned: always
  type: str
lines:
  description: The matching runtime log lines, oldest first - time, timestamp_ms, level, status, method, path, domain,
    source, message, truncated_message, row_id, request_id.
  returned: always
  type: list
  elements: dict
count:
  description: How many lines were returned.
  returned: always
  type: int
read:
  description: How many lines were read from the stream (before filtering).
  returned: always
  type: int
truncated:
  description: Whether more matching lines may exist - the reading stopped at O(limit) or at O(deadline).
  returned: always
  type: bool
stopped:
  description: Why the reading stopped - C(limit), C(deadline), C(until) (a line past the window), C(caught_up) (a past
    window went quiet) or C(end) (the stream ended).
  returned: always
  type: str
counts:
  description: Totals of the returned lines - by_level, by_status (code -> count) and by_path (the 10 busiest paths).
  returned: always
  type: dict
window:
  description: The window - since and until (ISO 8601; until null when open).
  returned: always
  type: dict
build_events:
  description: The build events (time, type, level, text), oldest first.
  returned: when O(build_events=true)
  type: list
  elements: dict
msg: {description: One-line summary., returned: always, type: str}
'''

import time

from ansible_collections.pourtrait.ops.plugins.module_utils._module import check_range
from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import VercelError, VercelModule, host_of, iso_ms
from ansible_collections.pourtrait.ops.plugins.module_utils.vercel_firewall import parse_window
from ansible_collections.pourtrait.ops.plugins.module_utils.vercel_logs import (
    build_events, line_matches, line_view, parse_status_filters, read_stream,
)

MAX_WINDOW_S = 3 * 86400  # Vercel keeps runtime logs at most 3 days (Enterprise; 1 day on Pro, 1 hour on Hobby)


def tally(lines):
    by_level, by_status, by_path = {}, {}, {}
    for line in lines:
        by_level[line['level']] = by_level.get(line['level'], 0) + 1
        if line['status'] is not None:
            key = str(line['status'])
            by_status[key] = by_status.get(key, 0) + 1
        by_path[line['path']] = by_path.get(line['path'], 0) + 1
    busiest = sorted(by_path.items(), key=lambda kv: (-kv[1], str(kv[0])))[:10]
    return dict(by_level=by_level, by_status=by_status, by_path=[dict(path=k, count=v) for k, v in busiest])


class LogsInfo(VercelModule):
    argument_spec = dict(
        deployment=dict(type='str'),
        since=dict(type='str', default='1h'),
        until=dict(type='str'),
        level=dict(type='list', elements='str', choices=['error', 'warning', 'info']),
        status_code=dict(type='list', elements='str'),
        path=dict(type='str'),
        request_id=dict(type='str'),
        contains=dict(type='str'),
        limit=dict(type='int', default=200),
        deadline=dict(type='int', default=10),
        build_events=dict(type='bool', default=False),
        build_events_limit=dict(type='int', default=100),
    )

    def preflight(self):
        VercelModule.preflight(self)
        p = self.params
        check_range('limit', p['limit'], minimum=1, maximum=10000)
        check_range('deadline', p['deadline'], minimum=1, maximum=300)
        check_range('build_events_limit', p['build_events_limit'], minimum=1, maximum=1000)
        self.now = int(time.time() * 1000)
        since, until = parse_window(p['since'], p['until'], MAX_WINDOW_S, self.now,
                                    '3 days (the longest Vercel keeps runtime logs)')
        self.filters = dict(since=since, until=until, levels=p['level'], status=parse_status_filters(p['status_code']),
                            path=p['path'], request_id=p['request_id'], contains=p['contains'])

    def run(self):
        p = self.params
        client = self.client
        proj = self.project()
        if p['deployment']:
            dep_id = client.deployment(p['deployment'])['id']
        else:
            dep_id = client.live_id(proj)
            if not dep_id:
                raise VercelError('project %s has no production deployment; set deployment to the one to read'
                                  % proj.get('name'))
        flt = self.filters
        lines, seen, stopped = read_stream(
            client, '/v1/projects/%s/deployments/%s/runtime-logs' % (proj['id'], host_of(dep_id)), {}, p['limit'],
            p['deadline'], keep=lambda line: line_matches(line, flt), until_ms=flt['until'])
        views = [line_view(line) for line in lines]
        result = dict(changed=False, deployment_id=dep_id, lines=views, count=len(views), read=seen,
                      truncated=stopped in ('limit', 'deadline'), stopped=stopped, counts=tally(views),
                      window=dict(since=iso_ms(flt['since']), until=iso_ms(flt['until'])))
        if p['build_events']:
            result['build_events'] = build_events(client, dep_id, limit=p['build_events_limit'])
        result['msg'] = '%d matching log lines of %s (%d read; stopped: %s%s)' % (
            len(views), dep_id, seen, stopped, ', more may exist' if result['truncated'] else '')
        return result


def main():
    LogsInfo.main()


if __name__ == '__main__':
    main()

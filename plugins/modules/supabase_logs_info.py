#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: supabase_logs_info
short_description: Run a SQL query over a Supabase project's logs for a time window
version_added: 1.1.0
description:
  - Runs O(sql) on C(GET /v1/projects/{ref}/analytics/endpoints/logs.all) for the window O(start) .. O(end). Sources
    queried in the SQL are the project's log tables, such as C(edge_logs) (API requests), C(postgres_logs),
    C(auth_logs), C(function_edge_logs).
  - One call takes a window of at most 24 hours. A longer window is split into 24-hour pieces, one call each, and
    their rows are merged - duplicates (the same C(id)) dropped, ordered by C(timestamp) (O(order)). A C(limit) in
    the SQL applies to each piece; O(limit) caps the merged rows.
  - A window whose end is before its start, or longer than O(max_window_hours), is refused before any call.
  - Read-only; never reports a change.
author: Pourtrait engineering (@pourtrait)
options:
  sql:
    description:
      - The query, e.g. C(select id, timestamp, event_message from edge_logs order by timestamp desc limit 100).
    type: str
    required: true
  start:
    description:
      - Start of the window, ISO 8601 (C(2026-03-01T14:00:00Z)) or unix seconds. Default O(end) minus one hour.
    type: str
  end:
    description:
      - End of the window, ISO 8601 or unix seconds. Default now.
    type: str
  max_window_hours:
    description:
      - The longest window accepted (Supabase keeps logs for 1 to 90 days depending on the plan; every 24 hours
        costs one call).
    type: float
    default: 168
  order:
    description:
      - Order of the merged rows by their C(timestamp) column (rows without one keep the order they came in).
    type: str
    choices: [desc, asc]
    default: desc
  limit:
    description:
      - At most this many merged rows are returned (RV(truncated) says when more were found). 0 means no cap.
    type: int
    default: 10000
extends_documentation_fragment: [pourtrait.ops.http_client, pourtrait.ops.attributes,
                                 pourtrait.ops.attributes.info_module, pourtrait.ops.supabase]
'''

EXAMPLES = r'''
- name: Failed logins at the API edge over the incident's two days
  pourtrait.ops.supabase_logs_info:
    sql: >-
      select id, timestamp, event_message from edge_logs
      where event_message like '%/auth/v1/token%' and event_message like '% 400 %'
    start: "2026-03-01T00:00:00Z"
    end: "2026-03-03T00:00:00Z"
  register: failed_logins

- name: Postgres log lines of the last hour
  pourtrait.ops.supabase_logs_info:
    sql: select timestamp, event_message from postgres_logs order by timestamp desc limit 200
'''

RETURN = r'''
rows:
  description: The merged rows, as the API returns them (C(timestamp) in microseconds since the epoch).
  returned: always
  type: list
  elements: dict
count:
  description: Number of rows in RV(rows).
  returned: always
  type: int
truncated:
  description: Whether more rows were found than O(limit).
  returned: always
  type: bool
calls:
  description: How many logs.all calls the window took.
  returned: always
  type: int
windows:
  description: The pieces queried, C({start, end}) in ISO 8601.
  returned: always
  type: list
  elements: dict
start:
  description: Start of the window (ISO 8601).
  returned: always
  type: str
end:
  description: End of the window (ISO 8601).
  returned: always
  type: str
msg: {description: One-line summary., returned: always, type: str}
'''

import time

from ansible_collections.pourtrait.ops.plugins.module_utils._module import check_range
from ansible_collections.pourtrait.ops.plugins.module_utils.supabase import SupabaseError, SupabaseModule, parse_time
from ansible_collections.pourtrait.ops.plugins.module_utils.supabase_security import (
    iso_ms, merge_rows, query_logs, split_window,
)


class LogsInfo(SupabaseModule):
    argument_spec = dict(
        sql=dict(type='str', required=True),
        start=dict(type='str'),
        end=dict(type='str'),
        max_window_hours=dict(type='float', default=168.0),
        order=dict(type='str', choices=['desc', 'asc'], default='desc'),
        limit=dict(type='int', default=10000),
    )

    def validate(self):
        params = self.params
        if not (params['sql'] or '').strip():
            raise SupabaseError('sql is empty; give a query such as: select id, timestamp, event_message from '
                                'edge_logs limit 100')
        check_range('max_window_hours', params['max_window_hours'], above=0)
        check_range('limit', params['limit'], minimum=0)
        end = parse_time(params['end'], 'end') if params['end'] else time.time()
        start = parse_time(params['start'], 'start') if params['start'] else end - 3600
        if end < start:
            raise SupabaseError('the log window ends (%s) before it starts (%s); swap start and end'
                                % (iso_ms(end), iso_ms(start)))
        hours = (end - start) / 3600.0
        if hours > params['max_window_hours']:
            raise SupabaseError('the log window is %.1f hours long, over max_window_hours (%g); narrow start/end, or '
                                'raise max_window_hours (each 24 hours is one call)'
                                % (hours, params['max_window_hours']))
        self.window = (start, end)

    def run(self):
        start, end = self.window
        pieces = split_window(start, end)
        chunks = [query_logs(self.client, self.ref, self.params['sql'], a, b) for a, b in pieces]
        rows = merge_rows(chunks, self.params['order'])
        limit = self.params['limit']
        truncated = bool(limit) and len(rows) > limit
        if truncated:
            rows = rows[:limit]
        return dict(changed=False, rows=rows, count=len(rows), truncated=truncated, calls=len(pieces),
                    windows=[dict(start=iso_ms(a), end=iso_ms(b)) for a, b in pieces], start=iso_ms(start),
                    end=iso_ms(end), msg='%d row(s) from %s to %s in %d call(s)%s'
                    % (len(rows), iso_ms(start), iso_ms(end), len(pieces),
                       ' (truncated to limit %d)' % limit if truncated else ''))


def main():
    LogsInfo.main()


if __name__ == '__main__':
    main()

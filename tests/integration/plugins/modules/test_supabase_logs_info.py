"""supabase_logs_info against the Supabase stand-in: one call for a short window, a long window split into
24-hour calls whose rows are merged (ordered, without duplicates), SQL errors and bad windows."""

import time
import urllib.parse

from tests.conftest import assert_one_line_error, run_module

EDGE = 'select id, timestamp, event_message from edge_logs'


def logs(supabase, check_mode=False, **args):
    return run_module('supabase_logs_info', args, check_mode=check_mode, env=supabase.env)


def log_calls(supabase):
    return supabase.requests(method='GET', path_prefix='/v1/projects/%s/analytics' % supabase.project_ref)


def test_one_window_is_one_call(supabase):
    end = int(time.time())
    result = logs(supabase, sql=EDGE, start=str(end - 3 * 3600), end=str(end))
    assert not result.get('failed') and result['changed'] is False, result
    assert result['calls'] == 1 and result['count'] == 9 and len(log_calls(supabase)) == 1
    stamps = [r['timestamp'] for r in result['rows']]
    assert stamps == sorted(stamps, reverse=True)
    query = urllib.parse.parse_qs(log_calls(supabase)[0]['query'])
    assert query['sql'] == [EDGE] and query['iso_timestamp_start'][0].endswith('Z')


def test_a_long_window_is_split_and_merged(supabase):
    end = time.time()
    start = end - 60 * 3600
    # a row exactly on a piece's boundary is in two answers: merged once
    boundary = start + 24 * 3600
    supabase.admin('POST', '/supabase/logs', [{'source': 'edge_logs', 'timestamp': boundary, 'id': 'edge-boundary',
                                               'event_message': 'GET | 200 | 192.0.2.1 | /boundary'}])
    result = logs(supabase, sql=EDGE, start='%.3f' % start, end='%.3f' % end, order='asc')
    assert not result.get('failed'), result
    assert result['calls'] == 3 and len(log_calls(supabase)) == 3 and len(result['windows']) == 3
    ids = [r['id'] for r in result['rows']]
    assert len(ids) == len(set(ids)) and ids.count('edge-boundary') == 1
    stamps = [r['timestamp'] for r in result['rows']]
    assert stamps == sorted(stamps)
    assert result['count'] == 180 + 1  # one row every 20 minutes over 60 hours, plus the boundary row
    capped = logs(supabase, sql=EDGE, start='%.3f' % start, end='%.3f' % end, limit=10)
    assert capped['count'] == 10 and capped['truncated'] is True


def test_sources_and_sql_errors(supabase):
    result = logs(supabase, sql="select count(*) as logins from auth_logs where event_message like '%login%'",
                  start='2000-01-01T00:00:00Z', end='2000-01-01T12:00:00Z')
    assert result['rows'] == [{'logins': 0}]
    bad = logs(supabase, sql='select nope from nowhere')
    assert_one_line_error(bad, 'Supabase could not run the logs query: no such table: nowhere')


def test_bad_windows_are_refused_before_any_call(supabase):
    end = int(time.time())
    assert_one_line_error(logs(supabase, sql=EDGE, start=str(end), end=str(end - 60)),
                          'the log window ends', 'before it starts')
    assert_one_line_error(logs(supabase, sql=EDGE, start=str(end - 8 * 86400), end=str(end)),
                          'the log window is 192.0 hours long, over max_window_hours (168)')
    assert_one_line_error(logs(supabase, sql=EDGE, start='last tuesday'), "start='last tuesday' is not a time")
    assert log_calls(supabase) == []

"""vercel_logs_info against the Vercel stand-in, whose runtime-log stream stays open (as Vercel's live stream
does): the module returns within its deadline, filters by window, level, status, path and request id, stops at
its limit, and reads build events."""

import time

from tests.conftest import assert_one_line_error, run_module


def conn(vercel, **extra):
    args = dict(api_token=vercel.token, team_id=vercel.team_id, project=vercel.project_name, api_url=vercel.api_url)
    args.update(extra)
    return args


def seed_lines(vercel, uid, lines):
    return vercel.admin('POST', '/vercel/runtime_logs', {'deployment': uid, 'lines': lines})['lines']


def traffic(vercel):
    """A few real requests to production (each one a runtime log line)."""
    vercel.app('/health')
    vercel.app('/api/wines')
    vercel.app('/nope')


def test_filters_and_deadline_on_an_open_stream(vercel):
    live = vercel.live()
    seeded = seed_lines(vercel, live['uid'], [
        {'level': 'error', 'message': 'old failure', 'requestPath': '/api/wines', 'responseStatusCode': 500,
         'offset_s': -7200},
        {'level': 'error', 'message': 'db down', 'requestPath': '/api/wines', 'responseStatusCode': 503,
         'offset_s': -60},
        {'level': 'warning', 'message': 'slow', 'requestPath': '/api/ai/chat', 'responseStatusCode': 200,
         'offset_s': -30}])
    traffic(vercel)

    started = time.time()
    result = run_module('vercel_logs_info', conn(vercel, since='30m', status_code=['5xx'], deadline=2))
    took = time.time() - started
    assert result['changed'] is False and result['deployment_id'] == live['uid']
    assert [line['message'] for line in result['lines']] == ['db down']  # the 2 h old line is outside the window
    assert result['stopped'] == 'deadline' and result['truncated'] is True and result['read'] == 6
    assert took < 2 + 5, took  # the stream never ends: the deadline did
    assert result['counts']['by_status'] == {'503': 1}

    paths = run_module('vercel_logs_info', conn(vercel, since='30m', path='/api/', level=['warning', 'error'],
                                                deadline=1))
    assert sorted(line['path'] for line in paths['lines']) == ['/api/ai/chat', '/api/wines']

    four = run_module('vercel_logs_info', conn(vercel, since='30m', status_code=['404'], deadline=1))
    assert [(line['path'], line['level']) for line in four['lines']] == [('/nope', 'warning')]

    by_id = run_module('vercel_logs_info', conn(vercel, since='1h', request_id=seeded[2]['rowId'], deadline=1))
    assert [line['message'] for line in by_id['lines']] == ['slow']


def test_limit_and_a_past_window(vercel):
    live = vercel.live()
    seed_lines(vercel, live['uid'], [{'message': 'line %d' % i, 'offset_s': -600 + i} for i in range(20)])
    limited = run_module('vercel_logs_info', conn(vercel, since='1h', limit=5, deadline=30))
    assert limited['count'] == 5 and limited['stopped'] == 'limit' and limited['truncated'] is True
    assert [line['message'] for line in limited['lines']] == ['line %d' % i for i in range(5)]

    started = time.time()
    past = run_module('vercel_logs_info', conn(vercel, since='1h', until='5m', deadline=30))
    assert past['count'] == 20 and past['truncated'] is False and past['stopped'] == 'caught_up'
    assert time.time() - started < 15  # a window in the past ends when the stream goes quiet, not at the deadline


def test_build_events_of_a_failed_build(vercel):
    failed = vercel.seed_deployment(state='ERROR', created_offset_s=-600)
    result = run_module('vercel_logs_info', conn(vercel, deployment=failed['uid'], build_events=True, deadline=1))
    events = result['build_events']
    assert events[0]['text'].startswith('Running build in')
    assert any(e['level'] == 'error' and 'exited with 1' in (e['text'] or '') for e in events)
    assert result['deployment_id'] == failed['uid']


def test_bad_input(vercel):
    cases = [
        (dict(since='2h', until='3h'), ['the window is backwards: since', 'swap them']),
        (dict(since='5d'), ['is longer than 3 days', 'narrow since/until']),
        (dict(since='last tuesday'), ["since='last tuesday' is not a time"]),
        (dict(status_code=['5x']), ["status_code='5x' is not a status code", 'such as 500 or a class such as 5xx']),
        (dict(deadline=0), ['deadline must be 1 or more and 300 or less (got 0)']),
        (dict(limit=100000), ['limit must be 1 or more and 10000 or less (got 100000)']),
        (dict(deployment='dpl_doesnotexist0000000000000000'), ["deployment 'dpl_doesnotexist0000000000000000' not found"]),
    ]
    for extra, fragments in cases:
        assert_one_line_error(run_module('vercel_logs_info', conn(vercel, **extra)), *fragments)


def test_lines_written_while_reading_arrive_live(vercel):
    """The stream follows the deployment: a request served while the module reads is one of its lines."""
    import threading
    timer = threading.Timer(1.0, lambda: vercel.app('/api/ai/chat'))
    timer.start()
    try:
        result = run_module('vercel_logs_info', conn(vercel, since='1m', path='/api/ai/chat', limit=1, deadline=20))
    finally:
        timer.join()
    assert result['stopped'] == 'limit' and [line['path'] for line in result['lines']] == ['/api/ai/chat']
    assert result['lines'][0]['status'] == 200 and result['lines'][0]['level'] == 'info'

"""End-to-end runs of playbooks/maintenance_window.yml with ansible-playbook against
the test's own Vercel, app and webhook stand-ins (inventory/production: the
modules read VERCEL_*, DATABASE_URL / PG* and SLACK_WEBHOOK_URL from the
environment) and a real PostgreSQL database for the maintenance task.

The stand-in deployment snapshots the project's env vars when it is built, and
the app answers 503 ``{"status": "maintenance"}`` while the live deployment's
MAINTENANCE_MODE is "true" - so the tests see what a visitor would see."""

import json
import os

from tests.conftest import ROOT
from tests.helpers import playbook_command, playbook_env, run_playbook

FAST = ['-e', 'maintenance_window_poll_interval=0.1', '-e', 'maintenance_window_health_interval=0.2',
        '-e', 'maintenance_window_health_wait_timeout=10']
WEEKLY = [{'role': 'db_maintenance', 'name': 'weekly database maintenance',
           'vars': {'db_maintenance_schedule': 'weekly', 'db_maintenance_report': False}}]
NEVER_ANALYZED = "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = 'public' AND last_analyze IS NULL"


def extra(tasks=None, **more):
    values = dict(more)
    if tasks is not None:
        values['maintenance_window_tasks'] = tasks
    return ['-e', json.dumps(values)]


def stand_in_env(vercel, db_env, roles_dir=None):
    """The environment of one ansible-playbook run against inventory/production (the stand-ins, the database)."""
    env = dict(vercel.env, SLACK_WEBHOOK_URL=vercel.webhook_url, **db_env)
    if roles_dir:
        env['ANSIBLE_ROLES_PATH'] = '%s:%s' % (roles_dir, os.path.join(ROOT, 'roles'))
    return env


def command(name, vercel, db_env, *args, roles_dir=None, reports_dir=None):
    """(argv, env) of one ansible-playbook run against inventory/production, for tests that start it themselves."""
    argv, _vars = playbook_command(name, *(FAST + list(args)))
    return argv, playbook_env(stand_in_env(vercel, db_env, roles_dir), reports_dir=reports_dir)


def playbook(name, vercel, db_env, *args, roles_dir=None, reports_dir=None):
    result = run_playbook(name, *(FAST + list(args)), env=stand_in_env(vercel, db_env, roles_dir),
                          reports_dir=reports_dir)
    out = result.output
    # the webhook URL is a secret: never in the output
    assert vercel.webhook_url.rsplit('/', 1)[1] not in out, out
    return result.rc, out


def health(vercel):
    status, body, _headers = vercel.app('/health')
    return status, (body or {}).get('status') if isinstance(body, dict) else body


def assert_window_closed(vercel):
    """MAINTENANCE_MODE off, the live build made without it, production serving the app."""
    assert vercel.env_value('MAINTENANCE_MODE') == 'false'
    live = vercel.live()
    assert live['env'].get('MAINTENANCE_MODE') == 'false', live
    assert health(vercel) == (200, 'healthy')
    return live


def maintenance_builds(vercel):
    """Production builds made with MAINTENANCE_MODE=true, and whether each went live."""
    state = vercel.state()
    return [(d['uid'], d['uid'] in state['history']) for d in state['deployments']
            if d['env'].get('MAINTENANCE_MODE') == 'true' and d['target'] == 'production']


def make_role(base, name, tasks_yaml):
    path = base / name / 'tasks'
    path.mkdir(parents=True)
    (path / 'main.yml').write_text('---\n' + tasks_yaml)


def test_check_mode_then_a_window_with_database_maintenance(vercel, db):
    before = vercel.live()['uid']
    assert db.scalar(NEVER_ANALYZED) > 0

    rc, out = playbook('maintenance_window', vercel, db.env, '--check', *extra(WEEKLY))
    assert rc == 0, out
    assert 'Would set MAINTENANCE_MODE=true, redeploy production %s' % before in out, out
    assert 'Would then turn maintenance mode off again' in out
    assert vercel.env_value('MAINTENANCE_MODE') is None
    assert vercel.requests(method='POST', path_prefix='/v13/deployments') == []
    assert vercel.webhook_messages() == []
    assert db.scalar(NEVER_ANALYZED) > 0

    rc, out = playbook('maintenance_window', vercel, db.env,
                       *extra(WEEKLY, maintenance_window_reason='weekly maintenance'))
    assert rc == 0, out
    assert 'Task 1/1 weekly database maintenance: done' in out, out
    # the maintenance ran (every table analyzed) behind the maintenance page, which went live and off again
    assert db.scalar(NEVER_ANALYZED) == 0
    builds = maintenance_builds(vercel)
    assert len(builds) == 1 and builds[0][1], builds
    live = assert_window_closed(vercel)
    assert live['uid'] not in (before, builds[0][0])
    assert len(vercel.requests(method='POST', path_prefix='/v13/deployments')) == 2
    texts = [m['text'] for m in vercel.webhook_messages()]
    assert len(texts) == 2, texts
    assert texts[0].startswith('[production] Maintenance window starting (weekly maintenance)')
    assert texts[1].startswith('[production] Maintenance window ended (weekly maintenance): 1 task(s) done')
    assert 'production %s serves the app again' % live['uid'] in texts[1]


def test_a_failing_task_still_closes_the_window_and_fails_the_play(vercel, db):
    # the database is unreachable: db_maintenance fails inside the window
    broken_db = dict(db.env, PGPORT='1', DATABASE_URL=db.url.replace(':%s/' % db.server.port, ':1/'))
    assert broken_db['DATABASE_URL'] != db.url
    rc, out = playbook('maintenance_window', vercel, broken_db,
                       *extra(WEEKLY + [{'role': 'db_maintenance', 'name': 'never reached'}]))
    assert rc == 2, out
    fatal = [line for line in out.splitlines() if line.startswith('fatal:') and 'Maintenance task 1/2' in line]
    assert len(fatal) == 1, out
    assert 'Maintenance task 1/2 (weekly database maintenance) failed at ' in fatal[0]
    assert '0 of 2 task(s) had completed. The window was closed: MAINTENANCE_MODE=false' in fatal[0]
    assert 'Task 2/2 never reached: not run' in out
    builds = maintenance_builds(vercel)
    assert len(builds) == 1 and builds[0][1], builds
    assert_window_closed(vercel)
    texts = [m['text'] for m in vercel.webhook_messages()]
    assert len(texts) == 2 and 'Maintenance window FAILED' in texts[1], texts
    assert 'Maintenance mode is off' in texts[1]


def test_open_then_close(vercel):
    rc, out = playbook('maintenance_window', vercel, {}, '-e', 'maintenance_window_action=open')
    assert rc == 0, out
    assert 'Maintenance mode stays ON' in out
    assert health(vercel) == (503, 'maintenance')
    status, page, headers = vercel.app('/')
    assert status == 503 and 'maintenance' in page and headers['Retry-After'] == '300'
    # open again: already open, nothing rebuilt
    rc, out = playbook('maintenance_window', vercel, {}, '-e', 'maintenance_window_action=open')
    assert rc == 0 and 'changed=0' in out, out
    assert len(vercel.requests(method='POST', path_prefix='/v13/deployments')) == 1

    rc, out = playbook('maintenance_window', vercel, {}, '-e', 'maintenance_window_action=close')
    assert rc == 0, out
    assert 'Maintenance mode off: MAINTENANCE_MODE=false; production rebuilt as' in out, out
    assert_window_closed(vercel)


def test_bad_input_is_refused_before_anything_changes(vercel):
    rc, out = playbook('maintenance_window', vercel, {}, '-e', 'maintenance_window_action=start')
    assert rc == 2, out
    assert 'value of maintenance_window_action must be one of: run, open, close, got: start' in out, out

    rc, out = playbook('maintenance_window', vercel, {})
    assert rc == 2, out
    assert 'maintenance_window_tasks is empty: list the maintenance tasks' in out, out

    rc, out = playbook('maintenance_window', vercel, {}, *extra([{'vars': {'x': 1}}]))
    assert rc == 2, out
    assert 'missing required arguments: role' in out, out
    assert vercel.env_value('MAINTENANCE_MODE') is None
    assert vercel.requests(method='POST') == []
    assert vercel.webhook_messages() == []

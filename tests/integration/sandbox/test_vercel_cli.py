"""The official ``vercel`` CLI (npm ``vercel`` at tests/sandbox/vercel_cli.py's VERSION) works against the Vercel
stand-in: ``ls``, ``inspect``, ``rollback`` (and ``rollback status``), ``promote`` and ``env ls/add/rm``, over
HTTPS with the sandbox CA, the token in VERCEL_TOKEN only. Each test asserts what the user sees and what the
stand-in holds afterwards, and that the stand-in served every call the CLI made.

The CLI is installed into .vercel-cli/ when missing (``make setup`` does it too); without Node.js/npm, or
when npm cannot install it, these tests are skipped and say why."""

import json
import subprocess

import pytest

from tests.sandbox.vercel_cli import PACKAGE, VERSION, CliMissing, cli_env, find_cli


@pytest.fixture(scope='module')
def cli_command():
    try:
        return find_cli(install=True)
    except CliMissing as exc:
        pytest.skip('the %s CLI %s cannot run here: %s' % (PACKAGE, VERSION, exc))


class Cli(object):
    """The CLI as a user of the sandbox runs it (from an empty directory, the project linked by id)."""

    def __init__(self, command, vercel, home):
        self.command, self.vercel, self.home = command, vercel, home
        self.cwd = home / 'project'
        self.cwd.mkdir()

    def run(self, *args, stdin=None, scope=True, timeout=60):
        vercel = self.vercel
        argv = self.command + ['--api', vercel.https_url, '--no-color']
        if scope and vercel.team_owned:
            argv += ['--scope', vercel.team_slug]
        argv += list(args)
        assert vercel.token not in ' '.join(argv)  # the token travels in the environment only
        org_id = vercel.team_id if vercel.team_owned else vercel.user_id
        env = cli_env(vercel.token, org_id, vercel.project_id, vercel.ca_path, str(self.home))
        vercel.clear_requests()
        proc = subprocess.run(argv, input=stdin if stdin is not None else '', capture_output=True, text=True,
                              env=env, cwd=str(self.cwd), timeout=timeout, check=False)
        proc.seen = proc.stdout + proc.stderr
        proc.calls = [(r['method'], r['path'], r['status']) for r in vercel.requests(service='vercel')]
        return proc


@pytest.fixture
def cli(cli_command, vercel, tmp_path):
    return Cli(cli_command, vercel, tmp_path)


def served(proc, *allowed):
    """Every call the CLI made was answered (not 404/405: no path it needs is missing), except ``allowed``
    (method, path prefix, status)."""
    for method, path, status in proc.calls:
        if any(method == m and path.startswith(p) and status == s for m, p, s in allowed):
            continue
        assert status is not None and status < 400, ('unserved call %s %s -> %s' % (method, path, status), proc.seen)


def ok(proc, *allowed):
    assert proc.returncode == 0, (proc.returncode, proc.seen)
    served(proc, *allowed)
    return proc


def test_ls_lists_the_deployments_newest_first(cli, vercel):
    deployments = vercel.deployments()
    proc = ok(cli.run('ls'))
    assert proc.stdout.split() == ['https://%s' % d['url'] for d in deployments]
    assert 'Deployments for pourtrait-team/pourtrait' in proc.stderr
    assert proc.stderr.count('Ready') == 3 and proc.stderr.count('Production') == 3
    assert ('GET', '/v6/deployments', 200) in proc.calls
    preview = vercel.seed_deployment(target='preview', created_offset_s=-5)
    proc = ok(cli.run('ls', '--environment', 'preview'))
    assert proc.stdout.split() == ['https://%s' % preview['url']]


def test_a_personal_account_needs_no_scope(cli, vercel):
    vercel.reset(owner='personal')
    live = vercel.live()
    # the CLI asks for the linked account as a team (GET /teams/<user id>: 404), carries on without its name
    # ("Deployments for /pourtrait") and lists with teamId=<user id>: the personal scope
    proc = ok(cli.run('ls'), ('GET', '/teams/', 404))
    assert proc.stdout.split() == ['https://%s' % d['url'] for d in vercel.deployments()]
    proc = ok(cli.run('inspect', live['url']))
    assert live['uid'] in proc.seen and 'in oncall' in proc.seen


def test_without_node_the_reason_is_clear(monkeypatch):
    monkeypatch.setenv('PATH', '/nonexistent')
    with pytest.raises(CliMissing, match='Node.js'):
        find_cli(install=False)


def test_inspect_shows_the_deployment_its_aliases_and_its_build(cli, vercel):
    live = vercel.live()
    proc = ok(cli.run('inspect', 'https://%s' % live['url']))
    for shown in (live['uid'], 'target\tproduction', 'status\t● Ready', 'https://pourtrait.app', 'Builds',
                  'package.json', 'λ api/health', '[iad1]'):
        assert shown in proc.seen, (shown, proc.seen)
    assert ('GET', '/v11/deployments/%s/builds' % live['uid'], 200) in proc.calls
    as_json = json.loads(ok(cli.run('inspect', live['uid'], '--json')).stdout)
    assert as_json['id'] == live['uid'] and as_json['readyState'] == 'READY' and as_json['target'] == 'production'
    assert [o['path'] for o in as_json['builds'][0]['output'] if o['type'] == 'lambda'] == [
        'api/health', 'api/monitoring/errors', 'api/monitoring/performance']
    broken = vercel.seed_deployment(target='preview', state='ERROR', created_offset_s=-5)
    proc = cli.run('inspect', broken['url'])
    assert proc.returncode == 1 and 'status\t● Error' in proc.seen and 'target\tpreview' in proc.seen
    served(proc)
    proc = cli.run('inspect', 'pourtrait-nosuchone-pourtrait-team.vercel.app')
    assert proc.returncode == 1 and "Can't find the deployment" in proc.seen


def test_rollback_moves_production_and_status_reports_it(cli, vercel):
    live, previous = vercel.deployments()[:2]
    proc = ok(cli.run('rollback', 'https://%s' % previous['url']))
    assert 'Success! pourtrait was rolled back to %s (%s)' % (previous['url'], previous['uid']) in proc.seen
    assert vercel.live()['uid'] == previous['uid']
    assert vercel.project()['autoAssignCustomDomains'] is False  # a rollback stops auto-promotion
    proc = ok(cli.run('rollback', 'status'))
    assert 'Checking rollback status of pourtrait' in proc.seen
    assert 'rolled back to %s (%s)' % (previous['url'], previous['uid']) in proc.seen
    # a job that fails: production stays, the CLI names the aliases that were not moved, exit 1
    vercel.next_job(fail=True)
    proc = cli.run('rollback', live['uid'])
    assert proc.returncode == 1, proc.seen
    assert 'Failed to remap all aliases to the requested deployment %s (%s)' % (live['url'], live['uid']) in proc.seen
    assert 'pourtrait.app (%s)' % live['uid'] in proc.seen
    served(proc)
    assert vercel.live()['uid'] == previous['uid']
    # the API's refusal reaches the user as its message: a Hobby plan rolls back one step only
    vercel.set_plan('hobby')
    oldest = vercel.deployments()[2]
    proc = cli.run('rollback', oldest['uid'])
    assert proc.returncode == 1 and 'Hobby plans can only roll back to the previous production deployment' \
        in proc.seen, proc.seen
    served(proc, ('POST', '/v9/projects/%s/rollback/' % vercel.project_id, 402))
    assert vercel.live()['uid'] == previous['uid']


def test_promote_moves_production_back_and_turns_auto_assignment_on(cli, vercel):
    live, previous = vercel.deployments()[:2]
    ok(cli.run('rollback', previous['uid']))
    vercel.next_job(fail=True)
    proc = cli.run('promote', live['url'])
    assert proc.returncode == 1 and 'Failed to remap all aliases' in proc.seen, proc.seen
    assert 'www.pourtrait.app (%s)' % live['uid'] in proc.seen  # read from /v9/.../promote/aliases
    served(proc)
    assert vercel.live()['uid'] == previous['uid']
    proc = ok(cli.run('promote', live['url']))
    assert 'Success! pourtrait was promoted to %s (%s)' % (live['url'], live['uid']) in proc.seen
    assert vercel.live()['uid'] == live['uid'] and vercel.project()['autoAssignCustomDomains'] is True
    assert ('POST', '/v10/projects/%s/promote/%s' % (vercel.project_id, live['uid']), 201) in proc.calls
    proc = ok(cli.run('promote', 'status'))
    assert 'promoted to %s (%s)' % (live['url'], live['uid']) in proc.seen
    # a preview cannot be promoted as is: with --yes the CLI builds it anew for production
    preview = vercel.seed_deployment(target='preview', created_offset_s=-5)
    proc = ok(cli.run('promote', preview['url'], '--yes'))
    rebuilt = vercel.deployments()[0]
    assert rebuilt['target'] == 'production' and rebuilt['meta']['originalDeploymentId'] == preview['uid']
    assert 'Successfully created new deployment of pourtrait at %s' % rebuilt['inspectorUrl'] in proc.seen


def test_env_ls_add_rm_change_the_project_variables(cli, vercel):
    proc = ok(cli.run('env', 'ls'))
    assert 'Environment Variables found for pourtrait-team/pourtrait' in proc.seen
    for key in ('NEXT_PUBLIC_SUPABASE_URL', 'DATABASE_URL', 'OPENAI_API_KEY'):
        assert key in proc.stdout
    assert ('GET', '/projects/%s/custom-environments' % vercel.project_id, 200) in proc.calls
    assert 'sandbox@db.example.invalid' not in proc.seen  # encrypted values stay hidden
    proc = ok(cli.run('env', 'ls', 'development'))
    assert 'NEXT_PUBLIC_SUPABASE_URL' in proc.stdout and 'DATABASE_URL' not in proc.stdout

    secret = 'cli-added-value-7f3a'
    proc = ok(cli.run('env', 'add', 'FEATURE_FLAG_KEY', 'production', stdin=secret))
    assert 'Added Environment Variable FEATURE_FLAG_KEY to Project pourtrait' in proc.seen
    assert secret not in proc.seen
    added = [e for e in vercel.env_vars() if e['key'] == 'FEATURE_FLAG_KEY']
    assert len(added) == 1 and added[0]['target'] == ['production'] and added[0]['value'] == secret
    assert 'FEATURE_FLAG_KEY' in ok(cli.run('env', 'ls', 'production')).stdout
    proc = cli.run('env', 'add', 'FEATURE_FLAG_KEY', 'production', stdin='again')
    assert proc.returncode == 1 and 'already exists' in proc.seen
    assert vercel.env_value('FEATURE_FLAG_KEY') == secret

    proc = ok(cli.run('env', 'rm', 'FEATURE_FLAG_KEY', 'production', '--yes'))
    assert 'Removed Environment Variable' in proc.seen
    assert [e for e in vercel.env_vars() if e['key'] == 'FEATURE_FLAG_KEY'] == []
    assert 'FEATURE_FLAG_KEY' not in ok(cli.run('env', 'ls')).stdout

"""examples/ci/deploy.yml, the GitHub Actions pipeline, checked structurally (actionlint is not
available offline): it parses, runs the deploy runbook through pourtrait-ops with options the real
command accepts, takes every credential from GitHub secrets through the environment, and uploads the
report and the JUnit XML whatever the outcome."""

import os
import re
import shlex
import sys

import yaml

from tests.conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, 'tools', 'pourtrait_ops_cli'))

from pourtrait_ops_cli.cli import build_parser  # noqa: E402

WORKFLOW = os.path.join(ROOT, 'examples', 'ci', 'deploy.yml')


def load():
    with open(WORKFLOW) as handle:
        return yaml.safe_load(handle)


def steps():
    return load()['jobs']['deploy']['steps']


def deploy_step():
    found = [s for s in steps() if 'pourtrait-ops run deploy' in s.get('run', '')]
    assert len(found) == 1, 'exactly one step runs pourtrait-ops run deploy'
    return found[0]


def expand(text, env):
    """Shell-expand $VARS the way the runner's bash would, with placeholder values."""
    return re.sub(r'\$\{?([A-Z_]+)\}?', lambda m: env.get(m.group(1), 'value-of-' + m.group(1)), text)


def test_workflow_triggers_and_job_shape():
    workflow = load()
    assert set(workflow['on']) == {'push', 'workflow_dispatch'}  # "on" is quoted: YAML 1.1 reads on as true
    job = workflow['jobs']['deploy']
    assert job['runs-on'].startswith('ubuntu-')
    assert workflow['concurrency']['cancel-in-progress'] is False
    for step in job['steps']:
        assert 'uses' in step or 'run' in step, step
        assert step.get('name'), step
    uses = [s['uses'].split('@')[0] for s in job['steps'] if 'uses' in s]
    assert uses[:2] == ['actions/checkout', 'actions/setup-python']
    assert 'make setup' in [s.get('run', '').strip() for s in job['steps']]
    names = [s.get('run', '') + s.get('uses', '') for s in job['steps']]
    assert names.index('make setup') < names.index(deploy_step()['run'])


def test_deploy_step_runs_the_real_command_line():
    step = deploy_step()
    argv = shlex.split(expand(step['run'], {}))
    assert argv[0] == '.venv/bin/pourtrait-ops'
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.playbook, args.inventory) == ('run', 'deploy', 'inventory/production')
    assert args.junit and args.json_summary
    assert os.path.isfile(os.path.join(ROOT, 'playbooks', args.playbook + '.yml'))
    assert os.path.isdir(os.path.join(ROOT, args.inventory))
    extra = dict(e.split('=', 1) for e in args.extra_vars)
    # verification and the automatic rollback are asked for explicitly
    assert extra['deploy_verify'] == 'true' and extra['deploy_rollback_on_failure'] == 'true'
    assert extra['deploy_git_sha'] == 'value-of-DEPLOY_SHA'
    # every variable set is one the roles know
    with open(os.path.join(ROOT, 'roles', 'deploy', 'defaults', 'main.yml')) as handle:
        known = set(yaml.safe_load(handle))
    with open(os.path.join(ROOT, 'roles', 'db_backup', 'defaults', 'main.yml')) as handle:
        known |= set(yaml.safe_load(handle))
    assert set(extra) <= known, set(extra) - known


def test_credentials_come_from_github_secrets_through_the_environment_only():
    step = deploy_step()
    env = step['env']
    for name in ('VERCEL_TOKEN', 'DATABASE_URL'):
        assert env[name] == '${{ secrets.%s }}' % name
    # no secret on the command line (argv is visible to every process), none in -e
    assert 'secrets.' not in step['run'] and '${{' not in step['run']
    for other in steps():
        if other['name'] != step['name']:
            assert 'secrets.' not in yaml.safe_dump(other), other


def test_report_and_junit_are_uploaded_even_when_the_deploy_fails():
    args = build_parser().parse_args(shlex.split(expand(deploy_step()['run'], {}))[1:])
    uploads = [s for s in steps() if s.get('uses', '').startswith('actions/upload-artifact@')]
    assert len(uploads) == 1
    upload = uploads[0]
    assert upload['if'] == 'always()'
    path = upload['with']['path'].rstrip('/')
    assert args.junit.startswith(path + '/') and args.json_summary.startswith(path + '/')
    # the runbook_report callback writes its report there too
    assert load()['jobs']['deploy']['env']['POURTRAIT_REPORTS_DIR'].endswith('/' + path)
    junit = [s for s in steps() if 'report_paths' in s.get('with', {})]
    assert junit and junit[0]['with']['report_paths'] == args.junit and junit[0]['if'] == 'always()'

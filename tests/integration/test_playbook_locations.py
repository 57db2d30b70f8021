"""The playbooks run from anywhere, against the default inventory (inventory/local, the sandbox), as a user's
shell runs them - no ANSIBLE_CONFIG, no ANSIBLE_COLLECTIONS_PATH, a HOME of its own (so no collection of the
machine's ~/.ansible is found):

* from inside playbooks/: ``cd playbooks && ansible-playbook rollback.yml`` (reads playbooks/ansible.cfg);
* from another folder: ``ansible-playbook /path/to/checkout/playbooks/rollback.yml`` (no ansible.cfg at all:
  the collection through playbooks/collections, inventory/local's variables through the plays' vars_files);
* by FQCN, the collection installed from its built tarball: ``ansible-playbook pourtrait.ops.rollback``.

Each way runs a read-only playbook (health_check) and rollback.yml against the test's own sandbox: the
stand-ins and a database of the test server, described by a .sandbox/env file of its own
(POURTRAIT_SANDBOX_DIR), as ``make sandbox-up`` writes it.
"""

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT, base_env, run_playbook

WAYS = ('inside_playbooks', 'other_folder', 'installed_fqcn')
GALAXY = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')
FAST = ['-e', 'rollback_poll_interval=0.1', '-e', 'rollback_health_interval=0.2']


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """HOME with the collection built from the checkout and installed where ansible-galaxy puts it by default
    (~/.ansible/collections): the user's side of ``ansible-galaxy collection build`` + ``install``."""
    work = tmp_path_factory.mktemp('installed')
    home = work / 'home'
    home.mkdir()
    env = dict(base_env(), HOME=str(home))
    build = subprocess.run([GALAXY, 'collection', 'build',
                            '--output-path', str(work / 'dist'), ROOT], cwd=str(work), env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    [tarball] = list((work / 'dist').glob('pourtrait-ops-*.tar.gz'))
    install = subprocess.run([GALAXY, 'collection', 'install',
                              '--offline', str(tarball)], cwd=str(work), env=env, capture_output=True, text=True,
                             timeout=120, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    collection = home / '.ansible' / 'collections' / 'ansible_collections' / 'pourtrait' / 'ops'
    assert (collection / 'playbooks' / 'rollback.yml').is_file(), install.stdout
    # the link and the settings that only make sense in a checkout are not in the tarball
    assert not (collection / 'playbooks' / 'collections').exists()
    assert not (collection / 'playbooks' / 'ansible.cfg').exists()
    return home


@pytest.fixture
def sandbox_dir(vercel, supabase, db, tmp_path):
    """A sandbox directory whose env file points at the test's stand-ins and database (what inventory/local
    reads through POURTRAIT_SANDBOX_DIR)."""
    directory = tmp_path / 'sandbox'
    directory.mkdir()
    values = dict(vercel.env, **supabase.env)
    values.update(PGHOST='127.0.0.1', PGPORT=str(db.server.port), PGUSER=db.server.user,
                  PGPASSWORD=db.server.password, PGDATABASE=db.name)
    (directory / 'env').write_text(''.join('%s=%s\n' % item for item in sorted(values.items())))
    os.chmod(str(directory / 'env'), 0o600)
    return directory


def run(way, name, sandbox_dir, tmp_path, home, *args):
    """``name`` (health_check, rollback) run the ``way`` a user would, against the default inventory."""
    env = {'POURTRAIT_SANDBOX_DIR': str(sandbox_dir), 'HOME': str(home)}
    reports = tmp_path / ('reports-%s-%s' % (way, name))
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir(exist_ok=True)
    if way == 'inside_playbooks':
        playbook, cwd = name + '.yml', os.path.join(ROOT, 'playbooks')
    elif way == 'other_folder':
        playbook, cwd = os.path.join(ROOT, 'playbooks', name + '.yml'), str(elsewhere)
    else:
        playbook, cwd = 'pourtrait.ops.' + name, str(elsewhere)
    result = run_playbook(playbook, *args, inventory=None, config=False, env=env, cwd=cwd, reports_dir=reports,
                          timeout=180)
    # a user's shell: nothing of the checkout's Ansible settings was handed over
    assert not [arg for arg in result.argv if arg in ('-i', '--inventory')]
    return result


@pytest.fixture
def home(tmp_path, installed, request):
    """The installed collection's HOME for the FQCN way; an empty HOME otherwise."""
    if request.node.callspec.params['way'] == 'installed_fqcn':
        return installed
    empty = tmp_path / 'home'
    empty.mkdir()
    return empty


@pytest.mark.parametrize('way', WAYS)
def test_read_only_playbook_runs_against_the_sandbox(way, sandbox_dir, tmp_path, home, vercel):
    result = run(way, 'health_check', sandbox_dir, tmp_path, home)
    out = result.output
    assert result.rc == 0, out
    assert "the role 'pourtrait.ops" not in out and 'could not be found' not in out, out
    assert 'failed=0' in out, out
    # it asked the sandbox: the app stand-in saw the health probe
    assert [r for r in vercel.requests(service='app') if r['path'].startswith('/health')], vercel.requests()
    # the run report: where an ansible.cfg enables the callback (from inside playbooks/); without one the
    # callback is not enabled (ANSIBLE_CALLBACKS_ENABLED=pourtrait.ops.runbook_report enables it)
    if way == 'inside_playbooks':
        assert result.report is not None and result.report['outcome'] == 'succeeded', out
        assert result.report['playbook']['name'] == 'health_check'
        assert 'Run report: ' in result.stderr and 'Run report: ' not in result.stdout
    else:
        assert result.report is None and 'Run report: ' not in out


@pytest.mark.parametrize('way', WAYS)
def test_rollback_runs_against_the_sandbox(way, sandbox_dir, tmp_path, home, vercel):
    previous = vercel.live()['uid']
    broken = vercel.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    assert vercel.live()['uid'] == broken

    result = run(way, 'rollback', sandbox_dir, tmp_path, home, *FAST)
    out = result.output
    assert result.rc == 0, out
    assert 'Rolled production back from %s' % broken in out, out
    assert vercel.live()['uid'] == previous
    status, body, _headers = vercel.app('/health')
    assert (status, body['status'], body['deploymentId']) == (200, 'healthy', previous)
    # the sandbox's token reached the API (the inventory's pourtrait_vercel), and never the output
    assert vercel.env['VERCEL_TOKEN'] not in out
    if way == 'inside_playbooks':
        rollback = [t for t in result.report['tasks'] if t['action'] == 'pourtrait.ops.vercel_rollback']
        assert len(rollback) == 1 and rollback[0]['outcome'] == 'changed'


def test_an_inventory_given_wins_over_the_sandbox_defaults(sandbox_dir, tmp_path, vercel):
    """-i inventory/production from another folder: the plays load nothing of inventory/local (its connection
    would point at the sandbox); the modules read the environment, as on-call runs them."""
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    result = run_playbook(os.path.join(ROOT, 'playbooks', 'rollback.yml'), '--check', *FAST, inventory='production',
                          config=False, cwd=str(elsewhere), reports_dir=tmp_path / 'reports',
                          env={'POURTRAIT_SANDBOX_DIR': str(tmp_path / 'no-sandbox'), 'HOME': str(tmp_path)})
    # no sandbox file is read (it would fail: there is none), and without VERCEL_PROJECT the module says so
    assert result.rc != 0, result.output
    assert 'the sandbox is not running' not in result.output, result.output
    assert 'no Vercel project: set project or the VERCEL_PROJECT environment variable' in result.output, \
        result.output

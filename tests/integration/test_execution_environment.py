"""execution-environment.yml renders a build context with ansible-builder (offline: `create` only
writes the context; building the image needs podman or docker), holding the collection tarball
built from this checkout and only the run-time dependencies; and the introspection the image
build runs resolves to exactly those dependencies, not the collection's development requirements."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from tests.conftest import ROOT, clean_env

BIN = os.path.dirname(sys.executable)
EE_FILE = os.path.join(ROOT, 'execution-environment.yml')


def galaxy_version():
    with open(os.path.join(ROOT, 'galaxy.yml')) as handle:
        galaxy = yaml.safe_load(handle)
    return galaxy['namespace'], galaxy['name'], galaxy['version']


def requirement_names(lines):
    return sorted(re.split(r'[<>=!~ \[;#]', line.strip(), maxsplit=1)[0].lower()
                  for line in lines if line.strip() and not line.strip().startswith('#'))


def run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, '%s failed:\n%s\n%s' % (' '.join(cmd), proc.stdout[-3000:], proc.stderr[-3000:])
    return proc.stdout


@pytest.fixture(scope='module')
def context(tmp_path_factory):
    """ansible-galaxy collection build + ansible-builder create, as the README says, in a scratch copy."""
    tmp = tmp_path_factory.mktemp('ee')
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--force', '--output-path', str(tmp), ROOT], ROOT)
    shutil.copy(EE_FILE, str(tmp / 'execution-environment.yml'))
    out = run([os.path.join(BIN, 'ansible-builder'), 'create', '-f', 'execution-environment.yml', '-c', 'context'],
              str(tmp))
    assert 'The build context can be found at' in out, out
    return tmp


def test_definition_is_version_3_and_names_the_tarball_of_this_version():
    with open(EE_FILE) as handle:
        ee = yaml.safe_load(handle)
    namespace, name, version = galaxy_version()
    tarball = '%s-%s-%s.tar.gz' % (namespace, name, version)
    assert ee['version'] == 3
    assert ee['additional_build_files'] == [{'src': tarball, 'dest': 'collections'}]
    assert ee['dependencies']['galaxy']['collections'] == [{'name': '/build/collections/' + tarball, 'type': 'file'}]
    assert ee['dependencies']['exclude']['all_from_collections'] == ['%s.%s' % (namespace, name)]
    # the Python dependencies are a subset of requirements.txt, the ones the modules import
    with open(os.path.join(ROOT, 'requirements.txt')) as handle:
        project = requirement_names(handle)
    assert requirement_names(ee['dependencies']['python']) == ['boto3', 'isal', 'psycopg2-binary', 'requests']
    assert set(requirement_names(ee['dependencies']['python'])) <= set(project)


def test_context_holds_the_collection_tarball_and_the_dependency_files(context):
    namespace, name, version = galaxy_version()
    tarball = '%s-%s-%s.tar.gz' % (namespace, name, version)
    build = context / 'context' / '_build'
    shipped = build / 'collections' / tarball
    assert shipped.is_file()
    assert shipped.read_bytes() == (context / tarball).read_bytes()
    with tarfile.open(str(shipped)) as tar:
        manifest = json.load(tar.extractfile('MANIFEST.json'))
        names = tar.getnames()
    assert (manifest['collection_info']['namespace'], manifest['collection_info']['name'],
            manifest['collection_info']['version']) == (namespace, name, version)
    assert 'plugins/modules/postgres_dump.py' in names and 'playbooks/rollback.yml' in names
    assert not [n for n in names if n.startswith(('.venv', '.collections', '.sandbox', 'backups/'))]

    galaxy = yaml.safe_load((build / 'requirements.yml').read_text())
    assert galaxy == {'collections': [{'name': '/build/collections/' + tarball, 'type': 'file'}]}
    assert requirement_names((build / 'requirements.txt').read_text().splitlines()) == ['boto3', 'isal', 'psycopg2-binary', 'requests']
    bindep = (build / 'bindep.txt').read_text().splitlines()
    assert 'postgresql-client [platform:dpkg]' in bindep
    assert (build / 'exclude-collections.txt').read_text().split() == ['%s.%s' % (namespace, name)]

    containerfile = (context / 'context' / 'Dockerfile').read_text()
    assert 'COPY _build /build' in containerfile
    assert 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml' in containerfile
    assert '--exclude-collection-reqs=exclude-collections.txt' in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core>=2.19,<2.20 ansible-runner>=2.4,<2.5"' in containerfile


def test_image_dependencies_resolve_to_the_run_time_subset(context, tmp_path):
    """The introspection step of the image build, run here on the tarball installed as the image installs it:
    the collection's development requirements (pytest, molecule, a PostgreSQL server) stay out."""
    namespace, name, version = galaxy_version()
    tarball = str(context / ('%s-%s-%s.tar.gz' % (namespace, name, version)))
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline', '-p', str(tmp_path / 'coll'),
         tarball], str(tmp_path))
    build = context / 'context' / '_build'
    run([sys.executable, str(build / 'scripts' / 'introspect.py'), 'introspect', '--user-pip=requirements.txt',
         '--user-bindep=bindep.txt', '--exclude-collection-reqs=exclude-collections.txt',
         '--write-pip=%s' % (tmp_path / 'pip.txt'), '--write-bindep=%s' % (tmp_path / 'bindep.txt'),
         str(tmp_path / 'coll')], str(build))
    assert requirement_names((tmp_path / 'pip.txt').read_text().splitlines()) == ['boto3', 'isal', 'psycopg2-binary', 'requests']
    system = requirement_names((tmp_path / 'bindep.txt').read_text().splitlines())
    assert system == ['postgresql-client', 'postgresql17']

"""Every play of playbooks/ loads inventory/local's variables when ansible-playbook was given no inventory
(no -i, no ansible.cfg: run from another folder or by FQCN), and only then: one vars_files entry per file of
inventory/local/group_vars/all, each conditional on an empty inventory. A file added to inventory/local needs its
entry in every play (this test names the missing ones)."""

import glob
import os

import pytest
import yaml

from tests.helpers import ROOT

PLAYBOOKS = sorted(glob.glob(os.path.join(ROOT, 'playbooks', '*.yml')))
LOCAL_DIR = os.path.join(ROOT, 'inventory', 'local', 'group_vars', 'all')
LOCAL_VARS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(LOCAL_DIR, '*.yml')))
ENTRY = ("{{ playbook_dir }}/../inventory/{{ 'local' if groups['all'] == [] else '-' }}"
         "/group_vars/all/%s")


def plays(path):
    with open(path) as handle:
        return [play for play in yaml.safe_load(handle) if 'hosts' in play]


def test_there_are_playbooks_and_local_variables():
    assert len(PLAYBOOKS) >= 10 and 'main.yml' in LOCAL_VARS


@pytest.mark.parametrize('path', PLAYBOOKS, ids=[os.path.basename(p) for p in PLAYBOOKS])
def test_every_play_loads_inventory_local_when_there_is_no_inventory(path):
    for play in plays(path):
        assert play['hosts'] == 'localhost', play['name']
        assert play.get('vars_files') == [ENTRY % name for name in LOCAL_VARS], (
            '%s: play %r must load every file of inventory/local/group_vars/all: %s'
            % (os.path.basename(path), play['name'], ', '.join(LOCAL_VARS)))


def test_the_link_that_finds_the_collection_beside_the_playbooks():
    link = os.path.join(ROOT, 'playbooks', 'collections', 'ansible_collections', 'pourtrait', 'ops')
    assert os.path.islink(link) and os.readlink(link) == '../../../..'
    assert os.path.samefile(link, ROOT)
    with open(os.path.join(ROOT, 'galaxy.yml')) as handle:
        ignored = yaml.safe_load(handle)['build_ignore']
    assert 'playbooks/collections' in ignored and 'playbooks/ansible.cfg' in ignored


def test_implicit_localhost_gets_the_checkout_paths():
    """inventory_dir, which inventory/local's paths are built from, is given for the implicit localhost."""
    with open(os.path.join(ROOT, 'inventory', 'local', 'group_vars', 'all', 'main.yml')) as handle:
        main = yaml.safe_load(handle)
    assert main['inventory_dir'] == '{{ playbook_dir | dirname }}/inventory/local'


def test_playbooks_ansible_cfg_is_the_checkouts_with_paths_from_playbooks():
    """cd playbooks && ansible-playbook ... reads playbooks/ansible.cfg: the same settings as the checkout's."""
    import configparser
    checkout, playbooks = configparser.ConfigParser(), configparser.ConfigParser()
    checkout.read(os.path.join(ROOT, 'ansible.cfg'))
    playbooks.read(os.path.join(ROOT, 'playbooks', 'ansible.cfg'))
    assert playbooks.sections() == checkout.sections()
    paths = {'collections_path', 'inventory', 'roles_path', 'reports_dir'}
    for section in checkout.sections():
        assert set(playbooks[section]) == set(checkout[section]), section
        for key, value in checkout[section].items():
            if key in paths:
                expected = ':'.join(('..' + part[1:]) if part.startswith('./') else
                                    ('../' + part if not part.startswith('/') else part) for part in value.split(':'))
                assert playbooks[section][key] == expected, (section, key)
            else:
                assert playbooks[section][key] == value, (section, key)

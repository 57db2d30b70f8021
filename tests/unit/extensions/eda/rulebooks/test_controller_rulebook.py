"""extensions/eda/rulebooks/alert_response_controller.yml (the AWX EDA controller variant, run_job_template) is
generated from alert_response.yml by tools/controller_rulebook.py: it is up to date, it has the same rules, and
both are rulebooks ansible-rulebook accepts (its JSON schema, then its parser, as at start). Running it against a
controller: tests/integration/eda/test_controller_rulebook.py."""

import importlib.util
import os

import pytest
import yaml
from ansible_rulebook import rules_parser
from ansible_rulebook.validators import Validate

from tests.helpers import ROOT

RULEBOOKS = os.path.join(ROOT, 'extensions', 'eda', 'rulebooks')


def load_tool():
    spec = importlib.util.spec_from_file_location('controller_rulebook',
                                                  os.path.join(ROOT, 'tools', 'controller_rulebook.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()


def read(name):
    with open(os.path.join(RULEBOOKS, name), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def test_the_controller_rulebook_is_generated_from_alert_response_and_up_to_date():
    assert tool.main(['--check']) == 0, 'edit alert_response.yml, then run python tools/controller_rulebook.py'


def test_same_sources_and_rules_each_playbook_a_job_template_with_the_same_extra_vars():
    local, controller = read('alert_response.yml'), read('alert_response_controller.yml')
    assert [r['sources'] for r in local] == [r['sources'] for r in controller]
    launched = []
    for mine, theirs in zip(local[0]['rules'], controller[0]['rules']):
        assert (mine['name'], mine['condition'], mine.get('throttle')) == (
            theirs['name'], theirs['condition'], theirs.get('throttle'))
        if 'run_playbook' not in mine['action']:
            assert theirs['action'] == mine['action']
            continue
        play, job = mine['action']['run_playbook'], theirs['action']['run_job_template']
        assert job['name'] == play['name'].replace('{{ playbook_prefix }}', '{{ job_template_prefix }}')
        assert job['organization'] == '{{ controller_organization }}'
        assert job['job_args'] == {'extra_vars': play['extra_vars']}
        launched.append(job['name'])
    assert len(local[0]['rules']) == len(controller[0]['rules'])
    assert sorted(set(launched)) == ['{{ job_template_prefix }}incident', '{{ job_template_prefix }}performance_triage']
    variables = read('alert_response_controller.vars.yml')
    assert 'playbook_prefix' not in variables
    assert dict(variables, playbook_prefix='x') == dict(read('alert_response.vars.yml'), playbook_prefix='x',
                                                        job_template_prefix='pourtrait.ops ',
                                                        controller_organization='Default')


@pytest.mark.parametrize('name, vars_name', [('alert_response.yml', 'alert_response.vars.yml'),
                                             ('alert_response_controller.yml', 'alert_response_controller.vars.yml')])
def test_ansible_rulebook_accepts_it(name, vars_name):
    data = read(name)
    Validate.rulebook(data)  # ansible-rulebook's JSON schema: raises on an unknown action or option
    rulesets = rules_parser.parse_rule_sets(data, read(vars_name))
    assert [len(r.rules) for r in rulesets] == [6]


def test_a_playbook_name_without_the_prefix_is_refused():
    with pytest.raises(ValueError, match='does not start with'):
        tool.controller_action({'run_playbook': {'name': 'incident'}})

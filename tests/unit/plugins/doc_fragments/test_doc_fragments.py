"""Unit tests of plugins/doc_fragments/: every fragment is YAML that ansible-doc can render, and the
connection options it documents are exactly the ones the shared argument spec accepts.

These catch in a second what `ansible-test sanity` (validate-modules, ansible-doc) would report for
every module that extends the fragment, e.g. an unquoted `C(key: value)` turning a description line
into a mapping.
"""

import glob
import importlib
import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import COLLECTIONS, ROOT, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

FRAGMENT_DIR = os.path.join(ROOT, 'plugins', 'doc_fragments')
FRAGMENTS = sorted(os.path.splitext(os.path.basename(p))[0]
                   for p in glob.glob(os.path.join(FRAGMENT_DIR, '*.py')) if not p.endswith('__init__.py'))
# fragment name -> (module_utils module, function returning the argument spec it documents, with the fragments
# a module extends together with it)
ARGSPECS = {
    'postgres': ('postgres', 'postgres_argument_spec', ()),
    'vercel': ('vercel', 'vercel_argument_spec', ('http_client',)),
    'supabase': ('supabase', 'supabase_argument_spec', ('http_client',)),
    'app_probe': ('app', 'probe_argument_spec', ()),
    'supabase_auth': ('supabase_auth', 'auth_argument_spec', ()),
}
COMMON_ATTRIBUTES = ('check_mode', 'diff_mode', 'action_group')


def fragment_docs(name):
    """Every documentation string the fragment class carries, parsed: {variable: mapping}."""
    module = importlib.import_module('ansible_collections.pourtrait.ops.plugins.doc_fragments.%s' % name)
    docs = {}
    for var, value in vars(module.ModuleDocFragment).items():
        if var.isupper() and isinstance(value, str):
            docs[var] = yaml.safe_load(value)
    return docs


def text_problems(where, value):
    """Why a description-like value is not a string or a list of strings (empty list if it is)."""
    if isinstance(value, str):
        return []
    if isinstance(value, list):
        return ['%s[%d] is a %s, not a string (quote a line containing ": ")' % (where, i, type(item).__name__)
                for i, item in enumerate(value) if not isinstance(item, str)]
    return ['%s is a %s, not a string or a list of strings' % (where, type(value).__name__)]


def option_problems(prefix, options):
    problems = []
    for name, spec in options.items():
        where = '%s.%s' % (prefix, name)
        if not isinstance(spec, dict):
            problems.append('%s is not a mapping' % where)
            continue
        if 'description' not in spec:
            problems.append('%s has no description' % where)
        problems += text_problems(where + '.description', spec.get('description', ''))
        if 'suboptions' in spec:
            problems += option_problems(where + '.suboptions', spec['suboptions'])
    return problems


@pytest.mark.parametrize('name', FRAGMENTS)
def test_fragment_yaml_is_renderable(name):
    docs = fragment_docs(name)
    assert 'DOCUMENTATION' in docs, 'ModuleDocFragment.DOCUMENTATION missing in %s.py' % name
    # every module extends pourtrait.ops.attributes, which describes each attribute once; another fragment (a
    # family's action group, pourtrait.ops.attributes.info_module) gives only support, membership or details
    shared = fragment_docs('attributes')['DOCUMENTATION']['attributes']
    problems = []
    for var, doc in docs.items():
        where = '%s.%s' % (name, var)
        if not isinstance(doc, dict) or not ('options' in doc or 'attributes' in doc):
            problems.append('%s has neither options nor attributes' % where)
            continue
        problems += option_problems(where + '.options', doc.get('options') or {})
        for attr, spec in (doc.get('attributes') or {}).items():
            description = (spec or {}).get('description') or (shared.get(attr) or {}).get('description')
            problems += text_problems('%s.attributes.%s.description' % (where, attr), description)
        for key in ('notes', 'requirements'):
            if key in doc:
                problems += text_problems('%s.%s' % (where, key), doc[key])
    assert problems == []


def test_attributes_fragment_describes_the_common_attributes():
    shared = fragment_docs('attributes')['DOCUMENTATION']['attributes']
    assert sorted(shared) == sorted(COMMON_ATTRIBUTES)
    for attr in COMMON_ATTRIBUTES:
        assert isinstance(shared[attr]['description'], str) and shared[attr]['description']


def module_docs():
    """(file name, parsed DOCUMENTATION) of every module."""
    for path in sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py'))):
        with open(path) as handle:
            source = handle.read()
        yield os.path.basename(path), yaml.safe_load(source.split("DOCUMENTATION = r\'\'\'", 1)[1].split("\'\'\'", 1)[0])


def test_every_module_takes_attribute_descriptions_from_the_one_fragment():
    """Modules give only support/membership; the descriptions live once, in pourtrait.ops.attributes."""
    missing = []
    for name, doc in module_docs():
        if 'pourtrait.ops.attributes' not in (doc.get('extends_documentation_fragment') or []):
            missing.append(name)
    assert missing == []


def _normalized(spec):
    """The parts of an option that its documentation and its argument spec must agree on."""
    return {
        'type': spec.get('type', 'str'),
        'default': spec.get('default'),
        'aliases': sorted(spec.get('aliases') or []),
        'choices': spec.get('choices'),
        'elements': spec.get('elements'),
    }


@pytest.mark.parametrize('name', sorted(ARGSPECS))
def test_fragment_options_match_argument_spec(name):
    utils_name, func_name, companions = ARGSPECS[name]
    utils = importlib.import_module('ansible_collections.pourtrait.ops.plugins.module_utils.%s' % utils_name)
    argspec = getattr(utils, func_name)()
    options = dict(fragment_docs(name)['DOCUMENTATION']['options'])
    for companion in companions:
        shared = fragment_docs(companion)['DOCUMENTATION']['options']
        assert not set(shared) & set(options), 'documented twice: %s' % sorted(set(shared) & set(options))
        options.update(shared)
    assert sorted(options) == sorted(argspec)
    mismatched = {opt: {'doc': _normalized(options[opt]), 'argspec': _normalized(argspec[opt])}
                  for opt in argspec if _normalized(options[opt]) != _normalized(argspec[opt])}
    assert mismatched == {}


def test_every_module_of_a_fragment_extends_its_companions():
    """A module documenting the Vercel or Supabase options also takes the shared HTTP options."""
    missing = []
    for module, doc in module_docs():
        extends = doc.get('extends_documentation_fragment') or []
        for name, (_utils, _func, companions) in ARGSPECS.items():
            if 'pourtrait.ops.' + name in extends:
                missing += ['%s: %s' % (module, c) for c in companions if 'pourtrait.ops.' + c not in extends]
    assert missing == []


FAMILY_GROUPS = {'postgres': ['pourtrait.ops.postgres'], 'vercel': ['pourtrait.ops.vercel'],
                 'supabase': ['pourtrait.ops.supabase'], 'app_probe': ['pourtrait.ops.app'],
                 'supabase_auth': ['pourtrait.ops.supabase_auth'], 's3': ['pourtrait.ops.s3']}


def test_every_module_renders_with_complete_attributes_and_its_familys_action_group():
    """ansible-doc merges pourtrait.ops.attributes (descriptions, check mode, no diff by default), the family's
    fragment (its action group) and the module's own details: every attribute has a description and a support
    level, and the action group is the family's (a module of two families, such as supabase_auth_user with
    the Auth API and the database, is in both groups, in the order it extends them)."""
    names = [name[:-3] for name, _doc in module_docs()]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-doc'), '-t', 'module', '--json']
                          + ['pourtrait.ops.%s' % n for n in names], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    rendered = json.loads(proc.stdout)
    problems = []
    for module, doc in module_docs():
        name = module[:-3]
        families = [e.rsplit('.', 1)[1] for e in doc['extends_documentation_fragment']
                    if e.startswith('pourtrait.ops.') and e.rsplit('.', 1)[1] in FAMILY_GROUPS]
        attributes = rendered['pourtrait.ops.%s' % name]['doc']['attributes']
        if not families:
            problems.append('%s: extends no family fragment' % name)
            continue
        for attr in COMMON_ATTRIBUTES:
            spec = attributes.get(attr) or {}
            if not spec.get('description') or spec.get('support') not in ('full', 'partial', 'none', 'N/A'):
                problems.append('%s: %s is %r' % (name, attr, spec))
        if attributes['action_group'].get('membership') != sum((FAMILY_GROUPS[f] for f in families), []):
            problems.append('%s: action group %r' % (name, attributes['action_group'].get('membership')))
    assert problems == []

"""Unit tests of plugins/doc_fragments/: every fragment is YAML that ansible-doc can render, and the
connection options it documents are exactly the ones the shared argument spec accepts.

These catch in a second what `ansible-test sanity` (validate-modules, ansible-doc) would report for
every module that extends the fragment, e.g. an unquoted `C(key: value)` turning a description line
into a mapping.
"""

import glob
import importlib
import os
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
    problems = []
    for var, doc in docs.items():
        where = '%s.%s' % (name, var)
        if not isinstance(doc, dict) or not ('options' in doc or 'attributes' in doc):
            problems.append('%s has neither options nor attributes' % where)
            continue
        problems += option_problems(where + '.options', doc.get('options') or {})
        for attr, spec in (doc.get('attributes') or {}).items():
            problems += text_problems('%s.attributes.%s.description' % (where, attr), (spec or {}).get('description'))
        for key in ('notes', 'requirements'):
            if key in doc:
                problems += text_problems('%s.%s' % (where, key), doc[key])
    assert problems == []


def test_attributes_fragment_describes_the_common_attributes():
    shared = fragment_docs('attributes')['DOCUMENTATION']['attributes']
    assert sorted(shared) == sorted(COMMON_ATTRIBUTES)
    for attr in COMMON_ATTRIBUTES:
        assert isinstance(shared[attr]['description'], str) and shared[attr]['description']


def test_every_module_takes_attribute_descriptions_from_the_one_fragment():
    """Modules give only support/membership; the descriptions live once, in pourtrait.ops.attributes."""
    missing = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py'))):
        with open(path) as handle:
            source = handle.read()
        doc = yaml.safe_load(source.split("DOCUMENTATION = r\'\'\'", 1)[1].split("\'\'\'", 1)[0])
        if 'pourtrait.ops.attributes' not in (doc.get('extends_documentation_fragment') or []):
            missing.append(os.path.basename(path))
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
    for path in sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py'))):
        with open(path) as handle:
            source = handle.read()
        doc = yaml.safe_load(source.split("DOCUMENTATION = r\'\'\'", 1)[1].split("\'\'\'", 1)[0])
        extends = doc.get('extends_documentation_fragment') or []
        for name, (_utils, _func, companions) in ARGSPECS.items():
            if 'pourtrait.ops.' + name in extends:
                missing += ['%s: %s' % (os.path.basename(path), c) for c in companions if 'pourtrait.ops.' + c not in extends]
    assert missing == []

"""Unit tests of plugins/module_utils/app.py: how the probe modules find the URL they request
(base_url + path, a full url that wins, APP_URL through the argument spec)."""

import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils import app  # noqa: E402


@pytest.mark.parametrize('base,path,joined', [
    ('https://pourtrait.app', '/health', 'https://pourtrait.app/health'),
    ('https://pourtrait.app/', '/health', 'https://pourtrait.app/health'),
    ('https://pourtrait.app//', 'health', 'https://pourtrait.app/health'),
    ('https://pourtrait.app', '/api/wines?limit=1', 'https://pourtrait.app/api/wines?limit=1'),
    ('https://x.vercel.app/_d/dpl', '/health', 'https://x.vercel.app/_d/dpl/health'),
    ('https://pourtrait.app', 'https://status.example/health', 'https://status.example/health'),
    ('https://pourtrait.app', 'HTTP://status.example/health', 'HTTP://status.example/health'),
    ('https://pourtrait.app', '', 'https://pourtrait.app/'),
])
def test_join_url(base, path, joined):
    assert app.join_url(base, path) == joined


def test_target_url_url_wins_then_base_url_and_path():
    assert app.target_url(dict(url='http://a/h', base_url='http://b', path='/x')) == ('http://a/h', None)
    assert app.target_url(dict(url=None, base_url='http://b/', path='/x')) == ('http://b/x', None)
    assert app.target_url(dict(url=None, base_url=None, path='https://c/health')) == ('https://c/health', None)
    url, error = app.target_url(dict(url=None, base_url=None, path='/health'))
    assert url is None and 'base_url' in error and 'APP_URL' in error and '\n' not in error
    assert app.target_url(dict(url='', base_url='', path='/health'))[0] is None


def test_base_url_is_in_the_group_options_with_its_environment_fallback():
    spec = app.probe_argument_spec()
    assert set(spec) == {'base_url', 'timeout', 'validate_certs', 'ca_path', 'headers'}
    assert spec['base_url']['fallback'][1] == ['APP_URL'] and 'required' not in spec['base_url']

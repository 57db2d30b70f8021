"""plugins/module_utils/source_args.py: the event sources' argument check (types, bounds, the environment
fallback, defaults) and its one-line errors."""

import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils.source_args import (  # noqa: E402
    SourceArgumentError, check_args,
)

SPEC = dict(interval=dict(type=float, default=30.0, above=0, variable='monitor_interval', example='30'),
            port=dict(type=int, default=5001, minimum=0, maximum=65535),
            enabled=dict(type=bool, default=True),
            url=dict(env='POURTRAIT_TEST_SOURCE_URL', default='https://example.test'))


def test_values_from_the_arguments_the_environment_and_the_defaults(monkeypatch):
    monkeypatch.setenv('POURTRAIT_TEST_SOURCE_URL', 'http://127.0.0.1:9')
    assert check_args('src', {'interval': '0.5', 'port': '8080', 'enabled': 'no'}, SPEC) == dict(
        interval=0.5, port=8080, enabled=False, url='http://127.0.0.1:9')
    monkeypatch.delenv('POURTRAIT_TEST_SOURCE_URL')
    assert check_args('src', {'interval': 2, 'port': 80.0, 'enabled': True, 'url': ''}, SPEC) == dict(
        interval=2.0, port=80, enabled=True, url='https://example.test')
    assert check_args('src', None, SPEC) == dict(interval=30.0, port=5001, enabled=True, url='https://example.test')


@pytest.mark.parametrize('args, message', [
    ({'interval': 'abc'}, "src: argument interval (the rulebook variable monitor_interval) is 'abc', not a number; "
                          "fix it in the rulebook variables (e.g. 30)"),
    ({'interval': 'nan'}, "src: argument interval (the rulebook variable monitor_interval) is 'nan', not a number"),
    ({'interval': True}, "src: argument interval (the rulebook variable monitor_interval) is 'True', not a number"),
    ({'interval': -1}, 'src: argument interval (the rulebook variable monitor_interval) must be more than 0 (got '
                       '-1.0); fix it in the rulebook variables'),
    ({'port': '80.5'}, "src: argument port is '80.5', not a whole number; fix it in the rulebook variables"),
    ({'port': 70000}, 'src: argument port must be 0 or more and 65535 or less (got 70000)'),
    ({'enabled': 'maybe'}, "src: argument enabled is 'maybe', not true or false"),
])
def test_a_value_that_does_not_parse_is_one_line_naming_the_argument(args, message):
    with pytest.raises(SourceArgumentError) as info:
        check_args('src', args, SPEC)
    assert str(info.value).startswith(message) and '\n' not in str(info.value)
    assert isinstance(info.value, ValueError)

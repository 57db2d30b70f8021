"""Unit tests of plugins/module_utils/_module.py: the one module base (OpsModule) and the one error type (OpsError).

A toy module exercises the base the way every module uses it: the argument spec merged from the family's shared
spec, check and diff mode, warnings, failing with extra fields, and ``execute()`` (the controller fast path) giving
the same result as ``main()`` (a module process, run here in-process through AnsibleModule).
"""

import contextlib
import glob
import importlib
import io
import json
import os
import re
import sys
from unittest import mock

import pytest

from tests.conftest import COLLECTIONS, ROOT, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible.module_utils import basic  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils import _module as base  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.app import AppProbeModule, ProbeError  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.http import ApiModule, HttpError  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.migrations import MigrationFailed  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (  # noqa: E402
    PgModuleError, PostgresModule, psycopg2,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.client import S3Module  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.supabase import SupabaseError, SupabaseModule  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import VercelError, VercelModule  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.plugin_utils.fast_path import module_entry  # noqa: E402

OpsError, OpsModule = base.OpsError, base.OpsModule


class Toy(OpsModule):
    """A module of a family whose shared spec has ``shared`` and ``size`` (the module overrides ``size``)."""

    argument_spec = dict(
        name=dict(type='str', required=True),
        size=dict(type='int', default=3),
        secret=dict(type='str', no_log=True),
        left=dict(type='bool', default=False),
        right=dict(type='bool', default=False),
    )
    module_kwargs = dict(mutually_exclusive=[('left', 'right')])

    @classmethod
    def shared_argument_spec(cls):
        return dict(shared=dict(type='str', default='from the family'), size=dict(type='int', default=0))

    def run(self):
        p = self.params
        base.check_range('size', p['size'], minimum=1, maximum=10)
        if p['name'] == 'broken':
            raise OpsError('the toy\nbroke   here', hint='fix it', nothing=None, count=0)
        self.warn('toy %s warns' % p['name'])
        self.diff({'size': 0}, {'size': p['size']})
        return dict(changed=not self.check_mode, name=p['name'], shared=p['shared'], check_mode=self.check_mode)


@contextlib.contextmanager
def module_args(args):
    """What Ansible hands a module process: the arguments (with the check/diff flags) and the profile."""
    saved = basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE
    basic._ANSIBLE_ARGS = json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode('utf-8')
    basic._ANSIBLE_PROFILE = 'legacy'
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = saved


def run_main(cls, args, check_mode=False, diff=False):
    """``cls.main()`` as a module process runs it: the JSON it prints (with the warnings it gave AnsibleModule,
    which in this process - the controller's - would go to the display) and its exit code."""
    out = io.StringIO()
    warned = []
    payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff, _ansible_tmpdir=None)
    with module_args(payload), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited, \
            mock.patch.object(basic.AnsibleModule, 'warn', lambda _self, warning: warned.append(warning)):
        cls.main()
    result = json.loads(out.getvalue())
    if warned:
        result['warnings'] = warned
    return result, exited.value.code


def validated(cls, args):
    """The parameters AnsibleModule validates ``args`` into (what the fast path hands ``execute``)."""
    from ansible.module_utils.common.arg_spec import ModuleArgumentSpecValidator
    outcome = ModuleArgumentSpecValidator(cls.full_argument_spec(), **cls.module_kwargs).validate(args)
    assert not outcome.errors.errors, outcome.errors.msg
    return outcome.validated_parameters


# -- the argument spec -----------------------------------------------------------------------------
def test_the_spec_is_the_family_spec_plus_the_module_spec_and_the_module_wins():
    spec = Toy.full_argument_spec()
    assert sorted(spec) == ['left', 'name', 'right', 'secret', 'shared', 'size']
    assert spec['size']['default'] == 3 and spec['shared']['default'] == 'from the family'
    assert Toy.shared_argument_spec()['size']['default'] == 0  # the family's spec is not changed
    assert OpsModule.full_argument_spec() == {}


def test_each_family_adds_its_connection_spec():
    assert {'login_host', 'login_password', 'database_url'} <= set(PostgresModule.full_argument_spec())
    assert {'api_token', 'team_id', 'project', 'api_url', 'ca_path', 'retries'} <= set(VercelModule.full_argument_spec())
    assert {'access_token', 'project_ref', 'api_url', 'validate_certs', 'timeout'} <= set(SupabaseModule.full_argument_spec())
    assert {'ca_path', 'headers', 'timeout', 'validate_certs'} <= set(AppProbeModule.full_argument_spec())
    assert PostgresModule.full_argument_spec()['login_password']['no_log'] is True
    assert VercelModule.full_argument_spec()['api_token']['no_log'] is True


def test_module_kwargs_reach_the_module_process():
    result, code = run_main(Toy, dict(name='a', left=True, right=True))
    assert code == 1 and result['failed'] is True
    assert result['msg'] == 'parameters are mutually exclusive: left|right'


# -- check mode, diff mode, warnings ---------------------------------------------------------------
def test_check_mode_and_diff_mode_are_public_attributes():
    toy = Toy({'name': 'a'}, check_mode=True, diff_mode=False)
    assert (toy.check_mode, toy.diff_mode, toy.module) == (True, False, None)


def test_diff_only_in_diff_mode():
    params = validated(Toy, dict(name='a', size=4))
    plain, _warnings = Toy.execute(params)
    assert 'diff' not in plain
    with_diff, _warnings = Toy.execute(params, diff_mode=True)
    assert with_diff['diff'] == {'before': {'size': 0}, 'after': {'size': 4}}
    toy = Toy(params)
    assert toy.diff(1, 2) is None


def test_warnings_are_returned_beside_the_result():
    result, warnings = Toy.execute(validated(Toy, dict(name='w')), check_mode=True)
    assert warnings == ['toy w warns'] and 'warnings' not in result
    assert result['changed'] is False and result['check_mode'] is True


# -- failing --------------------------------------------------------------------------------------
def test_a_failure_is_one_line_with_its_extra_fields_and_none_left_out():
    result, warnings = Toy.execute(validated(Toy, dict(name='broken')))
    assert result == dict(failed=True, msg='the toy broke here', hint='fix it', count=0)
    assert warnings == []


def test_an_error_class_can_keep_fields_that_are_none():
    err = MigrationFailed('1_a.sql failed', failed_file='1_a.sql', failed_statement=None, sqlstate=None, partial=False,
                          recorded=None)
    assert err.result() == dict(failed=True, msg='1_a.sql failed', failed_file='1_a.sql', failed_statement=None,
                                sqlstate=None, partial=False)


def test_an_extra_msg_gives_way_to_the_errors_message():
    error = SupabaseError('the real one', msg='a summary', ok=True)
    assert error.result() == dict(failed=True, msg='the real one', ok=True)


def test_a_range_check_fails_through_the_same_path():
    result, _warnings = Toy.execute(validated(Toy, dict(name='a', size=11)))
    assert result == dict(failed=True, msg='size must be 1 or more and 10 or less (got 11)')


def test_library_errors_become_one_line_through_the_family_hook():
    class Broken(PostgresModule):
        def run(self):
            raise psycopg2.errors.UndefinedTable('relation "nope" does not exist\nLINE 1: SELECT ...')

    result, _warnings = Broken.execute(validated(Broken, {}))
    assert result['failed'] is True and '\n' not in result['msg']
    assert result['msg'].startswith('relation "nope" does not exist')


def test_a_missing_library_is_reported_in_one_place():
    class NeedsLib(Toy):
        libraries = ((None, 'frobnicate (pip install frobnicate)', 'Traceback ...'),)

    result, warnings = NeedsLib.execute(validated(NeedsLib, dict(name='a')))
    assert result['failed'] is True and warnings == []
    assert 'frobnicate (pip install frobnicate)' in result['msg'] and '\n' not in result['msg']
    main_result, code = run_main(NeedsLib, dict(name='a'))
    assert code == 1 and main_result['msg'] == result['msg']


# -- main() and execute() share one path --------------------------------------------------------------
@pytest.mark.parametrize('args,check_mode,diff', [
    (dict(name='a', size=5), False, False),
    (dict(name='a', size=5), True, True),
    (dict(name='broken'), False, True),
    (dict(name='a', size=0), False, False),
])
def test_execute_gives_what_main_gives(args, check_mode, diff):
    module_result, code = run_main(Toy, args, check_mode=check_mode, diff=diff)
    result, warnings = Toy.execute(validated(Toy, args), check_mode, diff)
    assert code == (1 if result.get('failed') else 0)
    assert module_result.pop('warnings', []) == warnings
    module_result.pop('invocation')
    assert module_result == result


def test_no_log_values_stay_out_of_what_main_prints():
    module_result, _code = run_main(Toy, dict(name='a', secret='hunter2-hunter2'))
    assert 'hunter2-hunter2' not in json.dumps(module_result)


# -- errors ----------------------------------------------------------------------------------------
def test_one_line():
    assert base.one_line('a\n  b\tc \r\n') == 'a b c'
    assert base.one_line(ValueError('x\ny')) == 'x y'
    assert OpsError('first\nsecond').args == ('first second',)


@pytest.mark.parametrize('kwargs,value,message', [
    (dict(minimum=0), -5, 'older_than_days must be 0 or more (got -5)'),
    (dict(minimum=1, hint='leave it out for no limit'), 0,
     'older_than_days must be 1 or more (got 0); leave it out for no limit'),
    (dict(above=0), 0, 'older_than_days must be more than 0 (got 0)'),
    (dict(maximum=3), 4, 'older_than_days must be 3 or less (got 4)'),
    (dict(minimum=0, below=1), 1.5, 'older_than_days must be 0 or more and less than 1 (got 1.5)'),
    (dict(minimum=0, below=1, use='a fraction from 0 to below 1'), 2.0,
     'older_than_days is 2.0; use a fraction from 0 to below 1'),
    (dict(minimum=1, use='a whole number, 1 or more'), 0, 'older_than_days is 0; use a whole number, 1 or more'),
])
def test_check_range_messages(kwargs, value, message):
    with pytest.raises(OpsError) as err:
        base.check_range('older_than_days', value, **kwargs)
    assert str(err.value) == message


@pytest.mark.parametrize('kwargs,value', [
    (dict(minimum=0), 0), (dict(minimum=0, below=1), 0.99), (dict(above=0), 0.1), (dict(maximum=3), 3),
    (dict(minimum=1), None),
])
def test_check_range_passes_values_within_bounds(kwargs, value):
    base.check_range('x', value, **kwargs)


def test_check_shape_says_missing_or_malformed_without_the_value():
    pattern = re.compile(r'\A[a-z]{3}\Z')
    base.check_shape('abc', pattern, 'missing', 'malformed')
    for value, message in (('', 'missing'), (None, 'missing'), ('ABCD', 'malformed')):
        with pytest.raises(VercelError) as err:
            base.check_shape(value, pattern, 'missing', 'malformed', VercelError)
        assert str(err.value) == message


@pytest.mark.parametrize('error', [
    HttpError('x', status=500, code='e'), VercelError('x', status=404), SupabaseError('x', status=401),
    PgModuleError('x', table='t'), ProbeError('x', timing={'dns_s': 0.1}, permanent=True),
    MigrationFailed('x', failed_file='1_a.sql'),
])
def test_every_client_error_is_an_ops_error(error):
    assert isinstance(error, OpsError) and str(error) == 'x'
    assert error.result()['failed'] is True and error.result()['msg'] == 'x'


def test_client_errors_keep_their_own_details():
    http = HttpError('x', status=503, code='busy', body={'a': 1}, attempts=3, method='GET', path='/p')
    assert (http.status, http.code, http.body, http.attempts, http.method, http.path) == \
        (503, 'busy', {'a': 1}, 3, 'GET', '/p')
    assert http.result() == dict(failed=True, msg='x')  # details are attributes, not result fields
    probe = ProbeError('a\nb', timing={'dns_s': 0.1}, permanent=True)
    assert (str(probe), probe.timing, probe.permanent) == ('a b', {'dns_s': 0.1}, True)
    assert ProbeError('y').timing == {} and ProbeError('y').permanent is False
    assert SupabaseError('y', status=404).extra == {'status': 404}
    assert issubclass(MigrationFailed, PgModuleError)


# -- every module uses the base ---------------------------------------------------------------------
MODULE_FILES = sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py')))


@pytest.mark.parametrize('path', MODULE_FILES, ids=os.path.basename)
def test_every_module_is_one_subclass_of_the_base_with_the_fast_path_entry(path):
    name = os.path.splitext(os.path.basename(path))[0]
    module = importlib.import_module('ansible_collections.pourtrait.ops.plugins.modules.%s' % name)
    entry = module_entry(module)
    assert issubclass(entry, OpsModule)
    assert issubclass(entry, (PostgresModule, ApiModule, AppProbeModule, S3Module))
    assert entry.execute.__func__ is OpsModule.execute.__func__
    assert entry.main.__func__ is OpsModule.main.__func__
    assert isinstance(entry.full_argument_spec(), dict)
    with open(path) as handle:
        source = handle.read()
    assert 'module._diff' not in source and 'fail_json' not in source and 'exit_json' not in source

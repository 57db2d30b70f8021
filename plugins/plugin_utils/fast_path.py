# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side fast path for the hot modules (DESIGN.md, Performance).

A module task run on localhost costs about 0.45 s: packaging the module
(AnsiballZ) and a fresh Python process that imports Ansible again. An action
plugin with the module's name that subclasses :class:`FastPathAction` runs the
module's own logic inside the controller's worker process instead, when the
task runs on the controller itself:

* the connection is ``local`` (``localhost``, ``connection: local`` or
  ``delegate_to: localhost``), without ``become`` and without ``async``;
* the host's ``ansible_python_interpreter``, when set, is the controller's
  Python (``{{ ansible_playbook_python }}``, as the inventories set it);
* the variable ``pourtrait_controller_fast_path`` is not false.

Otherwise, or when the module's logic cannot be loaded in the controller, the
module runs as usual (``_execute_module``). With ``-vvv`` the plugin says
which way it went.

The module side: every module is a subclass of the one module base
(``OpsModule``, plugins/module_utils/_module.py), so every module offers the
same entry:

* ``full_argument_spec()`` - the module's complete argument spec,
* ``module_kwargs`` - AnsibleModule's other keywords (``mutually_exclusive``,
  ``required_if``, ``required_together``, ``required_one_of``, ``required_by``),
* ``execute(params, check_mode, diff_mode)`` - the logic on validated
  parameters, returning ``(result, warnings)``; a failure is a result with
  ``failed`` and ``msg``.

The module's ``main()`` goes through the same ``execute()``, so both ways share
one code path. An action plugin only names the module; the entry is the module
file's ``OpsModule`` subclass.
Here the task arguments are validated as AnsibleModule validates them (same
aliases, defaults, choices, environment fallbacks - honouring the task's
``environment`` - and the same one-line errors), and the result is finished as
``exit_json``/``fail_json`` finish it: ``invocation``, warnings, and every value
of a ``no_log`` option replaced (``remove_values``) in the result, its
warnings and any error text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import importlib
import json
import os
import sys
import traceback
import warnings

from ansible.module_utils.common.arg_spec import ModuleArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash
from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsModule

display = Display()

OPT_OUT_VAR = 'pourtrait_controller_fast_path'
# ansible_collections.<namespace>.<name>.plugins.modules: the modules beside this collection's plugin_utils
MODULES_PACKAGE = __name__.rsplit('.plugin_utils.', 1)[0] + '.modules'
VALIDATOR_KWARGS = ('mutually_exclusive', 'required_together', 'required_one_of', 'required_if', 'required_by')


@contextlib.contextmanager
def task_environment(env):
    """The task's ``environment:`` in os.environ while the logic runs (the module process would get it)."""
    saved = dict((key, os.environ.get(key)) for key in env)
    try:
        for key, value in env.items():
            os.environ[str(key)] = str(value)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def same_python(interpreter, executable=None):
    """True when ``interpreter`` is the controller's Python (also python3 beside it in the same venv)."""
    executable = os.path.abspath(executable or sys.executable)
    wanted = os.path.abspath(os.path.expanduser(str(interpreter).strip()))
    if wanted == executable:
        return True
    return os.path.dirname(wanted) == os.path.dirname(executable) and os.path.basename(wanted).startswith('python') \
        and os.path.realpath(wanted) == os.path.realpath(executable)


def module_entry(module):
    """The OpsModule subclass a module file defines (its entry for ``execute``)."""
    found = [value for value in vars(module).values() if isinstance(value, type) and issubclass(value, OpsModule)
             and value.__module__ == module.__name__]
    if len(found) != 1:
        raise ImportError('%s defines %d module classes, not one' % (module.__name__, len(found)))
    return found[0]


def validate(entry, args, module_name):
    """(params, no_log values, one-line error or None): ``args`` checked as AnsibleModule checks them."""
    kwargs = dict(entry.module_kwargs or {})
    validator = ModuleArgumentSpecValidator(entry.full_argument_spec(), *[kwargs.get(k) for k in VALIDATOR_KWARGS])
    outcome = validator.validate(args)
    params = dict(outcome.validated_parameters)
    error = None
    if outcome.errors.errors:
        error = outcome.errors.msg
        if isinstance(outcome.errors.errors[0], UnsupportedError):
            error = 'Unsupported parameters for (%s) module: %s' % (module_name, error)
    return params, set(outcome._no_log_values), error


def finish(result, warning_list, params, no_log_values):
    """The result as exit_json / fail_json would return it: invocation, warnings, no_log values removed."""
    result = dict(result)
    if warning_list:
        result['warnings'] = list(warning_list)
    result.setdefault('invocation', {'module_args': params})
    preserved = dict((k, v) for k, v in result.items() if v is None or isinstance(v, bool))
    result = remove_values(result, no_log_values)
    result.update(preserved)
    # the types a module's JSON answer has (tuples become lists, ...)
    return json.loads(json.dumps(result))


class FastPathAction(ActionBase):
    """Run the module ``module`` (its OpsModule subclass) in the controller process when the task runs there."""

    _supports_check_mode = True
    _supports_async = True

    module = None

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars if task_vars is not None else {}
        result = super(FastPathAction, self).run(tmp, task_vars)
        del tmp
        refusal = self._refusal(task_vars)
        entry = args = None
        if refusal is None:
            try:
                entry = module_entry(importlib.import_module('%s.%s' % (MODULES_PACKAGE, self.module)))
            except Exception as exc:  # pylint: disable=broad-except
                # then the module still runs the normal way
                refusal = 'its code cannot be loaded in the controller (%s)' % type(exc).__name__
        if refusal is None:
            try:
                # what the module process would receive: plain JSON types
                args = json.loads(json.dumps(dict(self._task.args)))
            except (TypeError, ValueError):
                refusal = 'an argument is not plain JSON'
        if refusal is not None:
            display.vvv('%s: running the module (%s)' % (self._task.action, refusal), host=self._play_context.remote_addr)
            return self._run_module(result, task_vars)
        display.vvv('%s: running in the controller process (fast path; %s=false runs the module instead)'
                    % (self._task.action, OPT_OUT_VAR), host=self._play_context.remote_addr)
        result.update(self._run_in_process(entry, args))
        return result

    # -- the decision ------------------------------------------------------------------------------
    def _refusal(self, task_vars):
        """Why the module must run the normal way, or None for the fast path."""
        wanted = task_vars.get(OPT_OUT_VAR, True)
        if not isinstance(wanted, bool):
            wanted = boolean(self._templar.template(wanted), strict=False)
        if not wanted:
            return '%s is false' % OPT_OUT_VAR
        transport = getattr(self._connection, 'transport', None)
        if transport != 'local':
            return 'connection %s, not local' % transport
        if self._play_context.become:
            return 'become is set'
        if self._task.async_val:
            return 'async'
        host_vars = task_vars
        if self._task.delegate_to:
            host_vars = (task_vars.get('ansible_delegated_vars') or {}).get(self._task.delegate_to) or {}
        interpreter = host_vars.get('ansible_python_interpreter')
        if interpreter is not None:
            interpreter = self._templar.template(interpreter)
            if interpreter and not str(interpreter).startswith('auto') and not same_python(interpreter):
                return 'ansible_python_interpreter %s is not the controller\'s Python' % interpreter
        return None

    def _run_module(self, result, task_vars):
        """The normal way: AnsiballZ and a module process (on the target)."""
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    # -- the fast path -----------------------------------------------------------------------------
    def _run_in_process(self, entry, args):
        env = {}
        self._compute_environment_string(raw_environment_out=env)
        params, no_log_values, validated = {}, set(), False
        with task_environment(env), warnings.catch_warnings():
            # a module's Python warnings go to its stderr, which nobody sees; here they would reach the terminal
            warnings.simplefilter('ignore')
            try:
                params, no_log_values, error = validate(entry, args, self._task.action)
                validated = True
                if error:
                    return finish(dict(failed=True, msg=error), [], params, no_log_values)
                result, warning_list = entry.execute(params, bool(self._task.check_mode), bool(self._task.diff))
                return finish(result, warning_list, params, no_log_values)
            except Exception as exc:  # pylint: disable=broad-except
                # a bug in the logic must not leak a secret through a traceback
                # Before validation has listed the no_log values nothing of the arguments is shown.
                detail = type(exc).__name__
                if validated:
                    display.vvv(remove_values(traceback.format_exc(), no_log_values), host=self._play_context.remote_addr)
                    detail = remove_values('%s: %s' % (detail, ' '.join(str(exc).split())), no_log_values)
                msg = 'MODULE FAILURE in the controller process: %s (rerun with %s=false to run the module the normal ' \
                      'way)' % (detail, OPT_OUT_VAR)
                return finish(dict(failed=True, msg=msg), [], params if validated else {}, no_log_values)

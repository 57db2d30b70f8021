# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one module base and the one error type of every pourtrait.ops module.

A module is a subclass of a family base (``PostgresModule``, ``VercelModule``,
``SupabaseModule``, ``AppProbeModule``), which is a subclass of :class:`OpsModule`:

* the argument spec is the family's ``shared_argument_spec()`` plus the module's
  ``argument_spec``; ``module_kwargs`` holds AnsibleModule's other keywords
  (``mutually_exclusive``, ``required_if``, ...);
* ``run()`` returns the result dict; ``self.check_mode`` / ``self.diff_mode`` say how the
  task runs, ``self.warn()`` adds a warning and ``self.diff(before, after)`` the
  ``{before, after}`` a ``--diff`` run shows;
* a failure is an :class:`OpsError` (or a subclass) raised from anywhere: its one-line
  message becomes ``msg`` and its ``extra`` fields join the failed result; a library's
  own errors (psycopg2's) become one line through the family's ``describe_library_error``;
* ``main()`` runs it as a module process, ``execute(params, check_mode, diff_mode)``
  on parameters already validated (the controller-side fast path,
  plugins/plugin_utils/fast_path.py); both go through ``outcome()``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


def one_line(text):
    """Collapse a (possibly multi-line) message into one line."""
    return re.sub(r'\s+', ' ', str(text)).strip()


class OpsError(Exception):
    """A failure the user can act on; ``str()`` is one line.

    ``extra`` fields join the failed result; ones that are None are left out, except the
    class's ``fields``, which a failed result of that kind always carries.
    """

    fields = ()

    def __init__(self, message, **extra):
        super(OpsError, self).__init__(one_line(message))
        self.extra = extra

    def result(self):
        """The failed result: ``failed``, ``msg`` and the extra fields."""
        out = dict((k, v) for k, v in self.extra.items() if v is not None or k in self.fields)
        # an extra ``msg`` (a result's own message) gives way to the error's
        out.update(failed=True, msg=str(self))
        return out


def check_range(name, value, minimum=None, maximum=None, above=None, below=None, use=None, hint=None):
    """Raise OpsError unless ``value`` is within the bounds (``minimum``/``maximum`` inclusive, ``above``/``below``
    exclusive; None: no bound). A None value passes.

    The message is ``<name> must be <N> or more (got <value>)`` (``<N> or less``, ``more than <N>``,
    ``less than <N>``, joined with ``and``), or with ``use``: ``<name> is <value>; use <use>``; then
    ``; <hint>`` when given.
    """
    if value is None:
        return
    bounds = ((minimum, lambda b: value >= b, '%s or more'), (above, lambda b: value > b, 'more than %s'),
              (maximum, lambda b: value <= b, '%s or less'), (below, lambda b: value < b, 'less than %s'))
    if all(bound is None or inside(bound) for bound, inside, _text in bounds):
        return
    if use:
        msg = '%s is %s; use %s' % (name, value, use)
    else:
        wanted = ' and '.join(text % bound for bound, _inside, text in bounds if bound is not None)
        msg = '%s must be %s (got %s)' % (name, wanted, value)
    raise OpsError('%s; %s' % (msg, hint) if hint else msg)


def check_shape(value, pattern, missing, malformed, error=OpsError):
    """Raise ``error(missing)`` for an empty value, ``error(malformed)`` for one ``pattern`` does not match (a
    secret's message must not echo it)."""
    if not value:
        raise error(missing)
    if not pattern.match(value):
        raise error(malformed)


class OpsModule(object):
    """Base of every module (see the module docstring).

    A family base sets ``libraries`` (``(imported module or None, name, import traceback)`` each, checked
    before anything runs), ``shared_argument_spec()`` and, for a library raising its own errors,
    ``library_errors()`` / ``describe_library_error(exc)``; it may add ``preflight()`` (checks that run
    before ``run()``). A module sets ``argument_spec``, optional ``module_kwargs``, and implements ``run()``.
    """

    argument_spec = {}
    module_kwargs = {}
    libraries = ()

    def __init__(self, params, check_mode=False, diff_mode=False, module=None):
        self.params = params
        self.check_mode = check_mode
        self.diff_mode = diff_mode
        # the AnsibleModule when running as a module process, None in the controller
        self.module = module
        self.warnings = []
        self._diff = None

    # -- declaration ---------------------------------------------------------------------------
    @classmethod
    def shared_argument_spec(cls):
        """The family's options (documented once in its doc fragment)."""
        return {}

    @classmethod
    def full_argument_spec(cls):
        """The family's shared options plus the module's own."""
        spec = cls.shared_argument_spec()
        spec.update(cls.argument_spec)
        return spec

    @classmethod
    def missing_library(cls):
        """(one-line message, import traceback) for the first required library that is missing, or None."""
        from ansible.module_utils.basic import missing_required_lib
        for library, name, import_error in cls.libraries:
            if library is None:
                return missing_required_lib(name), import_error
        return None

    @classmethod
    def library_errors(cls):
        """Exception types of the family's library that ``describe_library_error`` turns into one line."""
        return ()

    @classmethod
    def describe_library_error(cls, exc):
        return one_line(exc)

    # -- while running -------------------------------------------------------------------------
    def warn(self, msg):
        self.warnings.append(msg)

    def diff(self, before, after):
        """Record what changed; the result carries ``diff: {before, after}`` only in diff mode."""
        if self.diff_mode:
            self._diff = dict(before=before, after=after)
        return self._diff

    def preflight(self):
        """Checks that need no connection; they run before ``run()``."""

    def run(self):
        raise NotImplementedError

    def outcome(self):
        """(result, warnings): the run's result, or ``failed``/``msg`` and the error's fields."""
        try:
            self.preflight()
            result = self.run()
        except OpsError as exc:
            result = exc.result()
        except self.library_errors() as exc:  # pylint: disable=catching-non-exception
            result = dict(failed=True, msg=self.describe_library_error(exc))
        else:
            if self._diff is not None:
                result.setdefault('diff', self._diff)
        return result, list(self.warnings)

    # -- entries -------------------------------------------------------------------------------
    @classmethod
    def execute(cls, params, check_mode=False, diff_mode=False, module=None):
        """Run on validated parameters in this process; returns (result, warnings) like ``outcome()``."""
        missing = cls.missing_library()
        if missing:
            result = dict(failed=True, msg=missing[0])
            if module is not None:
                # a module process reports the import error as AnsibleModule does (shown with -vvv)
                result['exception'] = missing[1]
            return result, []
        return cls(params, check_mode, diff_mode, module).outcome()

    @classmethod
    def ansible_module(cls):
        from ansible.module_utils.basic import AnsibleModule
        module = AnsibleModule(argument_spec=cls.full_argument_spec(), supports_check_mode=True, **cls.module_kwargs)
        _keep_own_fields(module)
        return module

    @classmethod
    def main(cls):
        """Run as a module process: the same ``execute()`` on the parameters AnsibleModule validated."""
        module = cls.ansible_module()
        result, warnings = cls.execute(module.params, module.check_mode, module._diff, module)
        for warning in warnings:
            module.warn(warning)
        if result.get('failed'):
            module.fail_json(**result)
        module.exit_json(**result)


def _keep_own_fields(module):
    """AnsibleModule adds the stat() details of a result's ``path`` (or ``dest``) to it - size, mode, owner, group,
    uid, gid, state - over the module's own fields of those names (a directory dump's size became the directory's
    4096, the bytes a download fetched the same): the module's own fields win, the details fill in the rest."""
    add_path_info = module.add_path_info

    def add_missing_path_info(kwargs):
        own = dict(kwargs)
        add_path_info(kwargs)
        kwargs.update(own)
        return kwargs

    module.add_path_info = add_missing_path_info

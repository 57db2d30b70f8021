# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument check of the collection's event sources (extensions/eda/plugins/event_source/).

ansible-rulebook hands a source its arguments after substituting the rulebook's variables, so a variable that
does not parse (``monitor_interval: abc``, a port ``x``) reaches the source as text. ``check_args`` converts each
argument to its type and checks its bounds before anything starts; a bad one is a ``SourceArgumentError`` whose
one line names the source, the argument, the rulebook variable it came from and the fix. ansible-rulebook logs it
(``Source error: SourceArgumentError: ...``) and stops: no event, so no action.

A spec is ``{name: dict(type=float|int|bool|str, default=..., minimum=..., above=..., maximum=...,
variable='the rulebook variable', env='FALLBACK_VARIABLE', example='30')}``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import os

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, check_range

TRUE_WORDS = ('true', 'yes', 'on', '1')
FALSE_WORDS = ('false', 'no', 'off', '0')
TYPE_WORDS = {float: 'a number', int: 'a whole number', bool: 'true or false', str: 'text'}


class SourceArgumentError(OpsError, ValueError):
    """An event source argument that does not parse or is out of bounds; one line."""


def _convert(kind, value):
    """``value`` as ``kind``, or ValueError."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise ValueError(word)
    if kind in (int, float):
        if isinstance(value, bool):
            raise ValueError(value)
        number = float(str(value).strip())
        if math.isnan(number) or math.isinf(number):
            raise ValueError(value)
        if kind is int:
            if number != int(number):
                raise ValueError(value)
            return int(number)
        return number
    return value if isinstance(value, str) else str(value)


def check_args(source, args, spec):
    """The converted arguments of ``source`` (its name, for messages): each from ``args``, else its ``env``
    variable, else its ``default``. Raises SourceArgumentError on the first one that does not parse."""
    args = args or {}
    out = {}
    for name, rule in spec.items():
        value = args.get(name)
        if value in (None, '') and rule.get('env'):
            value = os.environ.get(rule['env'])
        if value in (None, ''):
            out[name] = rule.get('default')
            continue
        kind = rule.get('type', str)
        origin = ' (the rulebook variable %s)' % rule['variable'] if rule.get('variable') else ''
        example = rule.get('example')
        try:
            out[name] = _convert(kind, value)
        except (TypeError, ValueError):
            raise SourceArgumentError('%s: argument %s%s is %r, not %s; fix it in the rulebook variables%s'
                                      % (source, name, origin, str(value)[:60], TYPE_WORDS[kind],
                                         ' (e.g. %s)' % example if example else ''))
        if kind in (int, float):
            try:
                check_range('%s: argument %s%s' % (source, name, origin), out[name], minimum=rule.get('minimum'),
                            above=rule.get('above'), maximum=rule.get('maximum'),
                            hint='fix it in the rulebook variables')
            except OpsError as exc:
                raise SourceArgumentError(str(exc))
    return out

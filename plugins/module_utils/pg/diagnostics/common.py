# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every diagnostics part shares: its declaration and small formatting helpers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pourtrait.ops.plugins.module_utils._module import one_line

SYSTEM_SCHEMA_FILTER = ("n.nspname NOT IN ('pg_catalog', 'information_schema') "
                        "AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'")

# Candidate rows taken (by catalog estimate) before exact figures are measured.
SIZE_CANDIDATES_EXTRA = 100


class Part(object):
    """One ``gather_subset`` part: ``build(params, meta)`` -> (query, args) or None (nothing to run),
    ``shape(rows, params, meta)`` -> the returned value, ``empty`` the value when it cannot be gathered."""

    def __init__(self, name, build, shape, empty=list):
        self.name = name
        self.build = build
        self.shape = shape
        self.empty = empty


def shorten(text, length):
    """One line, at most ``length`` characters plus ``...`` when cut."""
    if text is None:
        return None
    text = one_line(text)
    if len(text) > length:
        return text[:length].rstrip() + '...'
    return text


def isotime(value):
    return value.isoformat() if value is not None else None


def qualified(schema, name):
    return '%s.%s' % (schema, name)


def ratio(part, whole, digits=4):
    """part / whole rounded, None when whole is 0 or unknown."""
    if not whole or part is None:
        return None
    return round(float(part) / float(whole), digits)


def cut_length(params):
    """Characters read from the server for a query text (shortened afterwards on one line)."""
    return params['query_max_length'] * 4 + 64


def version_major(meta):
    return meta['server_version_num'] // 10000

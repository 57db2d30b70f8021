# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a recovery point lives in the bucket (pure functions, no I/O)::

    <prefix>/<database>/<name>/dump/<name>                  the dump file (custom/plain/tar), or
    <prefix>/<database>/<name>/dump/<name>/<file>           each file of a directory dump
    <prefix>/<database>/<name>/dump/<name>.manifest.json    the dump's own manifest (postgres_dump's)
    <prefix>/<database>/<name>/app/app.tar.gz               git archive of the commit production ran (optional)
    <prefix>/<database>/<name>/app/app.json                 that commit, ref, repo, deployment id/url, env NAMES
    <prefix>/<database>/<name>/recovery-point.json          written LAST: the recovery point is complete

Encrypted objects carry ``ENCRYPTED_SUFFIX``. Downloading ``<rp>/dump/`` into a folder gives back
exactly what postgres_dump wrote (after decryption), which postgres_restore reads. A recovery point
without ``recovery-point.json`` is an upload that did not finish: never a backup.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

RECORD_NAME = 'recovery-point.json'
RECORD_VERSION = 1
DUMP_DIR = 'dump'
APP_DIR = 'app'
APP_ARCHIVE = 'app.tar.gz'
APP_INFO = 'app.json'
ENCRYPTED_SUFFIX = '.penc'
_SEGMENT = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+=@-]*$')


class LayoutError(ValueError):
    """A prefix, database or name that cannot be part of a key; the message is one line."""


def check_prefix(prefix):
    """The prefix without leading/trailing slashes; LayoutError for ``..``, ``.``, empty segments or odd
    characters (an empty prefix is allowed: objects start at the bucket's root)."""
    prefix = (prefix or '').strip('/')
    if not prefix:
        return ''
    for segment in prefix.split('/'):
        if segment in ('', '.', '..') or not _SEGMENT.match(segment):
            raise LayoutError('prefix "%s" has the segment "%s"; use letters, digits and . _ - + = @ between '
                              'single slashes, without "." or ".." segments' % (prefix, segment))
    return prefix


def check_segment(what, value):
    if not value or value in ('.', '..') or not _SEGMENT.match(value):
        raise LayoutError('%s "%s" cannot be part of an object key; use letters, digits and . _ - + = @'
                          % (what, value))
    return value


def database_prefix(prefix, database):
    """``<prefix>/<database>/`` (what a listing of one database's recovery points uses)."""
    prefix = check_prefix(prefix)
    return '/'.join(p for p in (prefix, check_segment('database', database)) if p) + '/'


def point_prefix(prefix, database, name):
    """``<prefix>/<database>/<name>/``."""
    return database_prefix(prefix, database) + check_segment('name', name) + '/'


def dump_keys(prefix, database, name, files, encrypted=False):
    """{relative dump path: key} for the dump's files (``[name]`` for a single file, ``name/<file>`` for each file
    of a directory dump) and its manifest (``<name>.manifest.json``)."""
    base = point_prefix(prefix, database, name) + DUMP_DIR + '/'
    suffix = ENCRYPTED_SUFFIX if encrypted else ''
    out = {}
    for rel in files:
        parts = rel.split('/')
        if any(p in ('', '.', '..') for p in parts):
            raise LayoutError('dump file "%s" cannot be part of an object key' % rel)
        out[rel] = base + rel + suffix
    return out


def record_key(prefix, database, name):
    return point_prefix(prefix, database, name) + RECORD_NAME


def split_point_keys(db_prefix, keys):
    """{name: [keys]} of the objects under ``<prefix>/<database>/`` grouped by recovery point name."""
    points = {}
    for key in keys:
        rest = key[len(db_prefix):]
        if '/' not in rest:
            continue
        points.setdefault(rest.split('/', 1)[0], []).append(key)
    return points


def app_keys(prefix, database, name):
    """``(archive key, info key)`` of a recovery point's application snapshot (``<rp>/app/app.tar.gz``,
    ``<rp>/app/app.json``)."""
    base = point_prefix(prefix, database, name) + APP_DIR + '/'
    return base + APP_ARCHIVE, base + APP_INFO

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three dump formats (custom, directory, plain): their suffixes and default names, telling a
dump's format from the dump itself, and which tables with data it holds (its table of contents,
``pg_restore --list``, or the ``COPY`` lines of plain SQL).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re
import tempfile

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.manifest import manifest_path_for
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.programs import run_program
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.stream import hash_file


FORMATS = ('custom', 'directory', 'plain')
SUFFIXES = {'custom': '.dump', 'directory': '.dir', 'plain': '.sql'}
NAME_TIME_FORMAT = '%Y%m%dT%H%M%SZ'


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def default_name(dbname, now=None):
    """``<dbname>-<UTC %Y%m%dT%H%M%SZ>``."""
    return '%s-%s' % (dbname, (now or utcnow()).strftime(NAME_TIME_FORMAT))


def dump_filename(name, fmt):
    """The dump's file or directory name: the suffix of its format is added unless present."""
    suffix = SUFFIXES[fmt]
    return name if name.endswith(suffix) else name + suffix


def next_free_path(final_path, fmt):
    """``name-2.dump``, ``name-3.dump``...: the first name with neither dump nor manifest."""
    suffix = SUFFIXES[fmt]
    stem = final_path[:-len(suffix)] if final_path.endswith(suffix) else final_path
    for counter in range(2, 1000):
        candidate = '%s-%d%s' % (stem, counter, suffix)
        if not os.path.lexists(candidate) and not os.path.lexists(manifest_path_for(candidate)):
            return candidate
    raise PgModuleError('no free name for %s; remove old dumps or set name' % final_path)


_TOC_DATA_RE = re.compile(r'^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) (\S+)$')


def toc_listing(pg_restore, path, env):
    """The text of ``pg_restore --list`` of a custom or directory dump."""
    with tempfile.NamedTemporaryFile(prefix='toc-', suffix='.txt') as out:
        run_program([pg_restore, '--list', path], env, program='pg_restore', stdout_path=out.name)
        with open(out.name, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')


def list_toc(pg_restore, path, env, allow_empty=False):
    """``pg_restore --list``: (number of entries, [(schema, table)] having data).

    No entries at all means a broken dump, unless the source had nothing to
    dump (``allow_empty``).
    """
    text = toc_listing(pg_restore, path, env)
    entries = 0
    tables = []
    for line in text.splitlines():
        if not line or line.startswith(';'):
            continue
        entries += 1
        match = _TOC_DATA_RE.match(line)
        if match:
            tables.append((match.group(1), match.group(2)))
    if entries == 0 and not allow_empty:
        raise PgModuleError('pg_restore --list found no entries in %s; the dump is empty or corrupt' % path)
    return entries, tables


def detect_format(path):
    """custom, directory or plain, from the dump itself."""
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, 'toc.dat')):
            return 'directory'
        raise PgModuleError('%s is a directory without toc.dat; it is not a pg_dump directory-format dump' % path)
    if not os.path.isfile(path):
        raise PgModuleError('dump %s does not exist; check path' % path)
    with open(path, 'rb') as handle:
        head = handle.read(5)
    if head == b'PGDMP':
        return 'custom'
    if head[:2] == b'\x1f\x8b':
        raise PgModuleError('%s is gzip-compressed SQL; decompress it first (gunzip) and restore the .sql file' % path)
    return 'plain'


def restore_tables(fmt, path, env, pg_restore=None, plain_digest=None):
    """Tables whose data the dump holds: from the TOC, or the COPY lines of a plain dump."""
    if fmt == 'plain':
        digest = plain_digest or hash_file(path, scan_copy=True)
        return list(digest.copy_tables)
    return list_toc(pg_restore, path, env)[1]

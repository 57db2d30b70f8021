# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifest of a dump, ``<dump>.manifest.json`` beside it: what was dumped, when, by which
programs, the sha256 of the dump (one per file for the directory format), its verification and,
optionally, the table checksums as of the dump's snapshot.

One reader (``load_manifest_file``; ``read_manifest`` for a restore, ``read_checksum_manifest``
for postgres_compare), one writer (``write_manifest``) and one checker (``check_manifest``: does the
dump still match its manifest?).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError, one_line
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.checksums import TABLE_CHECKSUM_METHOD
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.files import write_json_atomic
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.stream import combined_digest, hash_directory, hash_file

MANIFEST_SUFFIX = '.manifest.json'
MANIFEST_VERSION = 1
TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


class UnreadableManifest(Exception):
    """A manifest file that cannot be read or is not JSON; the message is one line."""


def manifest_path_for(path):
    return path.rstrip(os.sep) + MANIFEST_SUFFIX


def load_manifest_file(mpath):
    """The JSON value in a manifest file; UnreadableManifest when it cannot be read or parsed."""
    try:
        with open(mpath) as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise UnreadableManifest(one_line(exc))


def is_dump_manifest(data):
    """True for a manifest written by pourtrait.ops (a JSON object with the dump's sha256)."""
    return isinstance(data, dict) and 'sha256' in data


def write_manifest(mpath, manifest):
    """Write the manifest atomically (temporary name, fsync, rename), 0600."""
    write_json_atomic(mpath, manifest)


def read_manifest(path):
    """The manifest of the dump ``path`` (dict), None when missing; an error when unreadable."""
    mpath = manifest_path_for(path)
    if not os.path.exists(mpath):
        return None
    try:
        data = load_manifest_file(mpath)
    except UnreadableManifest as exc:
        raise PgModuleError('cannot read manifest %s: %s; restore it from the backup set or set verify_checksum=false'
                            % (mpath, exc))
    if not is_dump_manifest(data):
        raise PgModuleError('manifest %s has no sha256; it was not written by pourtrait.ops' % mpath)
    return data


def read_checksum_manifest(path):
    """(manifest path, manifest) of a dump, from the manifest's path or the dump's; the manifest must hold
    table checksums of this collection's method (postgres_compare's source)."""
    path = path.rstrip(os.sep) or path
    mpath = path if path.endswith(MANIFEST_SUFFIX) else manifest_path_for(path)
    if not os.path.isfile(mpath):
        raise PgModuleError('manifest %s does not exist; set manifest to a dump\'s <dump>%s or to the dump itself'
                            % (mpath, MANIFEST_SUFFIX))
    try:
        data = load_manifest_file(mpath)
    except UnreadableManifest as exc:
        raise PgModuleError('cannot read manifest %s: %s; restore it from the backup set' % (mpath, exc))
    if not is_dump_manifest(data):
        raise PgModuleError('%s is not a dump manifest written by pourtrait.ops; set manifest to a dump\'s '
                            '<dump>%s' % (mpath, MANIFEST_SUFFIX))
    if not isinstance(data.get('table_checksums'), dict):
        raise PgModuleError('manifest %s has no table_checksums: dump taken without table_checksums: true; take the '
                            'dump with postgres_dump table_checksums=true, or leave manifest unset to compare with '
                            'the live source' % mpath)
    method = data.get('table_checksum_method')
    if method != TABLE_CHECKSUM_METHOD:
        raise PgModuleError('manifest %s has table checksums computed as "%s", this module computes "%s"; take a new '
                            'dump with table_checksums=true' % (mpath, method, TABLE_CHECKSUM_METHOD))
    return mpath, data


def manifest_checksums(mpath, data):
    """{(schema, table): (rows, checksum)} from a manifest's table_checksums."""
    found = {}
    for name, entry in data['table_checksums'].items():
        try:
            if 'schema' in entry and 'table' in entry:
                key = (entry['schema'], entry['table'])
            else:
                key = tuple(name.split('.', 1))
            found[key] = (int(entry['rows']), entry.get('checksum'))
        except (AttributeError, KeyError, TypeError, ValueError):
            raise PgModuleError('manifest %s has an unreadable table_checksums entry "%s"; take a new dump with '
                                'table_checksums=true' % (mpath, name))
    return found


def check_manifest(path, fmt, manifest, workers=2):
    """Check a dump against its manifest; raise a one-line error on any difference.

    Returns the plain-format StreamDigest (for its COPY list) or None."""
    if manifest.get('format') and manifest['format'] != fmt:
        raise PgModuleError('%s is a %s dump but its manifest %s says %s; the manifest belongs to another dump'
                            % (path, fmt, manifest_path_for(path), manifest['format']))
    if fmt == 'directory':
        files, _overall, _size = hash_directory(path, workers)
        check_digests(path, fmt, manifest, files)
        return None
    digest = hash_file(path, scan_copy=(fmt == 'plain'))
    check_digests(path, fmt, manifest, digest.hexdigest(), digest.size)
    return digest


def check_digests(path, fmt, manifest, digests, size=None):
    """Check SHA-256 digests computed elsewhere (while downloading, for example) against the manifest:
    ``digests`` is ``{relative path: sha256}`` for a directory dump, else the file's sha256. One-line error
    on any difference."""
    mpath = manifest_path_for(path)
    if manifest.get('format') and manifest['format'] != fmt:
        raise PgModuleError('%s is a %s dump but its manifest %s says %s; the manifest belongs to another dump'
                            % (path, fmt, mpath, manifest['format']))
    if fmt == 'directory':
        files = digests
        expected = manifest.get('files') or {}
        missing = sorted(set(expected) - set(files))
        extra = sorted(set(files) - set(expected))
        changed = sorted(n for n in files if n in expected and files[n] != expected[n])
        if missing or extra or changed or combined_digest(files) != manifest['sha256']:
            detail = []
            if changed:
                detail.append('changed: %s' % ', '.join(changed[:5]))
            if missing:
                detail.append('missing: %s' % ', '.join(missing[:5]))
            if extra:
                detail.append('unexpected: %s' % ', '.join(extra[:5]))
            raise PgModuleError('checksum of %s does not match its manifest %s (%s); the dump is truncated or '
                                'corrupt, restore from another dump' % (path, mpath, '; '.join(detail) or 'digest'))
        return
    if digests != manifest['sha256']:
        size_note = ''
        if manifest.get('size') is not None and size is not None and manifest['size'] != size:
            size_note = ', %d bytes instead of %d' % (size, manifest['size'])
        raise PgModuleError('checksum of %s does not match its manifest %s (sha256 %s..., expected %s...%s); the dump '
                            'is truncated or corrupt, restore from another dump'
                            % (path, mpath, digests[:12], manifest['sha256'][:12], size_note))

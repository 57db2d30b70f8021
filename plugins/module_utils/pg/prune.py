# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pruning old dumps from the backup directory: keep the ``keep`` newest and those newer than
``max_age_days`` (either rule keeps a dump), never a dump without a manifest, and only dumps of
the same database and kind.

(Deleting old rows from tables is retention, the postgres_retention module: another thing.)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.files import remove_path
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.formats import utcnow
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.manifest import (
    MANIFEST_SUFFIX,
    TIME_FORMAT,
    UnreadableManifest,
    load_manifest_file,
)


def parse_time(text):
    try:
        return datetime.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def existing_dumps(backup_dir, dbname, kind=None):
    """This database's dumps in backup_dir that have a manifest, newest first:
    [{path, manifest_path, created}]. Only dumps of the same ``kind`` count (the
    manifest's ``kind``; postgres_dump writes none), so the dumps of one module are
    never pruned by another's."""
    found = []
    try:
        names = os.listdir(backup_dir)
    except OSError:
        return found
    for name in names:
        if not name.endswith(MANIFEST_SUFFIX) or name.startswith('.'):
            continue
        mpath = os.path.join(backup_dir, name)
        try:
            data = load_manifest_file(mpath)
        except UnreadableManifest:
            continue
        if not isinstance(data, dict) or data.get('database') != dbname or data.get('kind') != kind:
            continue
        dump_name = name[:-len(MANIFEST_SUFFIX)]
        created = parse_time(data.get('created'))
        if created is None:
            continue
        found.append(dict(path=os.path.join(backup_dir, dump_name), manifest_path=mpath, created=created))
    found.sort(key=lambda d: (d['created'], d['path']), reverse=True)
    return found


def plan_prune(backup_dir, dbname, keep=None, max_age_days=None, now=None, protect=(), pending=0, kind=None):
    """Dumps to prune. A dump is kept when it is among the ``keep`` newest or newer than
    ``max_age_days`` (either rule keeps it, as restic's --keep-last/--keep-within do);
    with neither set nothing is pruned. ``pending`` counts new dumps not on disk yet
    (check mode) toward ``keep``; paths in ``protect`` are never pruned."""
    if keep is None and max_age_days is None:
        return []
    now = now or utcnow()
    prune = []
    rank = pending
    for item in existing_dumps(backup_dir, dbname, kind=kind):
        protected = item['path'] in protect
        rank += 1
        kept_by_count = keep is not None and rank <= keep
        kept_by_age = max_age_days is not None and now - item['created'] <= datetime.timedelta(days=max_age_days)
        if protected or kept_by_count or kept_by_age:
            continue
        prune.append(item)
    return prune


def apply_prune(prune):
    """Remove the planned dumps and their manifests; returns the removed dump paths."""
    removed = []
    for item in prune:
        remove_path(item['path'])
        remove_path(item['manifest_path'])
        removed.append(item['path'])
    return removed

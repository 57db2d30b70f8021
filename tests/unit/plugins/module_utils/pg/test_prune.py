"""Unit tests of plugins/module_utils/pg/prune.py: pruning old dumps (keep, max_age_days)."""

import datetime
import json
import os

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import manifest, prune


def _fake_dump(backup_dir, name, dbname, created):
    path = os.path.join(backup_dir, name)
    with open(path, 'w') as handle:
        handle.write('x')
    with open(path + manifest.MANIFEST_SUFFIX, 'w') as handle:
        json.dump(dict(database=dbname, created=created.strftime(manifest.TIME_FORMAT), sha256='0'), handle)
    return path


def test_prune_keep_and_age(tmp_path):
    d = str(tmp_path)
    now = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)
    paths = [_fake_dump(d, 'app-%d.dump' % i, 'app', now - datetime.timedelta(days=i)) for i in range(5)]
    other = _fake_dump(d, 'other-9.dump', 'other', now - datetime.timedelta(days=90))
    orphan = os.path.join(d, 'app-99.dump')
    open(orphan, 'w').close()  # no manifest: never counted, never removed

    def pruned(**kw):
        return [p['path'] for p in prune.plan_prune(d, 'app', now=now, **kw)]

    assert pruned() == []
    assert pruned(keep=3) == paths[3:]
    assert pruned(keep=3, pending=1) == paths[2:]
    assert pruned(max_age_days=2) == paths[3:]
    # either rule keeps a dump
    assert pruned(keep=1, max_age_days=2) == paths[3:]
    assert pruned(keep=4, max_age_days=1) == paths[4:]
    assert pruned(keep=1, protect=(paths[2],)) == [paths[1], paths[3], paths[4]]
    removed = prune.apply_prune(prune.plan_prune(d, 'app', keep=2, now=now))
    assert removed == paths[2:]
    assert sorted(os.listdir(d)) == sorted(
        [os.path.basename(p) for p in paths[:2] + [other, orphan]]
        + [os.path.basename(p) + manifest.MANIFEST_SUFFIX for p in paths[:2] + [other]])

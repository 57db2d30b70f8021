"""Unit tests of plugins/module_utils/pg/files.py: the backup directory and durable writes."""

import json
import os
import stat

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import files
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError


def test_ensure_backup_dir_creates_0700_and_refuses_a_file(tmp_path):
    target = tmp_path / 'a' / 'b'
    assert files.ensure_backup_dir(str(target))
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o700
    assert os.listdir(str(target)) == []
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    with pytest.raises(PgModuleError, match='is not a directory'):
        files.ensure_backup_dir(str(blocker))
    with pytest.raises(PgModuleError, match='cannot create backup_dir'):
        files.ensure_backup_dir(str(blocker / 'sub'))


def test_write_json_atomic_is_0600(tmp_path):
    path = str(tmp_path / 'm.json')
    files.write_json_atomic(path, {'a': 1})
    assert json.load(open(path)) == {'a': 1}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(str(tmp_path)) == ['m.json']


def test_a_manifest_being_written_survives_another_runs_cleanup(tmp_path, monkeypatch):
    """Two dumps into one folder: the other run's cleanup of leftovers comes while this one writes its manifest.
    The manifest's temporary name is claimed, so it is left alone and the manifest lands; nothing else stays."""
    real_dump = json.dump
    seen = []

    def dump_then_cleanup(data, handle, **kwargs):
        real_dump(data, handle, **kwargs)
        seen.append(files.discard_leftovers(str(tmp_path)))
    monkeypatch.setattr(files.json, 'dump', dump_then_cleanup)
    target = tmp_path / 'db-20261203T000000Z.dump.manifest.json'
    files.write_json_atomic(str(target), {'name': 'x'})
    monkeypatch.setattr(files.json, 'dump', real_dump)
    assert seen == [[]]
    assert json.loads(target.read_text()) == {'name': 'x'}
    assert sorted(os.listdir(str(tmp_path))) == [target.name]

"""plugins/lookup/run_lock.py: taking, refusing and taking over the production lock file."""

import json
import os
import subprocess
import sys

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.lookup import run_lock  # noqa: E402


def me():
    return dict(pid=os.getpid(), start=run_lock.process_start(os.getpid()), owner='test', since='now')


def test_first_taker_wins_and_a_live_holder_is_kept(tmp_path):
    path = str(tmp_path / 'production.lock')
    assert run_lock.try_take(path, me()) is True
    assert run_lock.try_take(path, me()) is False
    holder = run_lock.read_holder(path)
    assert holder['pid'] == os.getpid() and run_lock.alive(holder)
    assert run_lock.take_over_if_dead(path, holder) is False and os.path.exists(path)
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'


def test_a_lock_whose_process_is_gone_is_taken_over(tmp_path):
    path = str(tmp_path / 'production.lock')
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    with open(path, 'w') as handle:
        json.dump(dict(pid=proc.pid, start=12345, owner='killed run'), handle)
    holder = run_lock.read_holder(path)
    assert not run_lock.alive(holder)
    assert run_lock.take_over_if_dead(path, holder) is True and not os.path.exists(path)
    assert run_lock.try_take(path, me()) is True
    assert os.listdir(str(tmp_path)) == ['production.lock']


def test_a_reused_pid_is_not_the_holder(tmp_path):
    holder = dict(pid=os.getpid(), start=(run_lock.process_start(os.getpid()) or 0) + 1)
    assert not run_lock.alive(holder)

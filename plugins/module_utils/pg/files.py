# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files in the backup directory: the directory itself, temporary names and the claims of running
dumps on them, what killed runs left behind, no-clobber placement and durable (fsync'd) writes.

A dump is written under a temporary name (``.<name>.partial-<id>``) next to its final place and
only renamed into place when complete; a running dump holds a ``flock`` claim on its temporary
name so that no other run removes it (``discard_leftovers`` removes only unclaimed ones).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import re
import shutil
import uuid

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError


def ensure_backup_dir(path, create=True):
    """Create the backup directory 0700 if missing and prove it is writable."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise PgModuleError('backup_dir %s exists and is not a directory; point backup_dir at a directory' % path)
    if not os.path.isdir(path):
        if not create:
            return False
        try:
            os.makedirs(path, 0o700)
            os.chmod(path, 0o700)
        except FileExistsError:
            if not os.path.isdir(path):  # another run made it meanwhile - fine if it is a directory
                raise PgModuleError('backup_dir %s exists and is not a directory; point backup_dir at a directory'
                                    % path)
        except OSError as exc:
            raise PgModuleError('cannot create backup_dir %s: %s; choose a writable location'
                                % (path, exc.strerror or exc))
    probe = os.path.join(path, '.write-test-%s' % uuid.uuid4().hex[:8])
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PgModuleError('backup_dir %s is not writable (%s); fix its permissions or choose another directory'
                            % (path, exc.strerror or exc))
    return True


def remove_path(path):
    """Remove a file or directory tree if it exists; never raises."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
    except OSError:
        pass


def temp_name(final_path):
    head, tail = os.path.split(final_path)
    return os.path.join(head, '.%s.partial-%s' % (tail, uuid.uuid4().hex[:8]))


_PARTIAL_RE = re.compile(r'^\..+\.partial-[0-9a-f]{8}$')
CLAIM_SUFFIX = '.lock'


class PartialClaim(object):
    """A running dump's claim on its temporary name: ``<temp>.lock``, created before the temporary dump and
    removed after it is renamed or removed, held with ``flock`` for the whole run. The kernel drops the lock
    when the process ends, however it ends, so a lock nobody holds marks the leftover of a killed run."""

    def __init__(self, temp_path):
        self.path = temp_path + CLAIM_SUFFIX
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise PgModuleError('cannot write in %s: %s; check its permissions and free space'
                                % (os.path.dirname(self.path), exc.strerror or exc))
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self):
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def _claimed(lock_path):
    """True while a live run holds ``lock_path``; False when nobody does (or it is gone)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def discard_leftovers(backup_dir, check_mode=False):
    """Remove what killed runs left in ``backup_dir``: temporary dumps (``.<name>.partial-<id>``) whose claim
    no live run holds, and such claims. Never touches a dump of a running run. Returns the removed paths
    (in check mode, the ones that would be)."""
    try:
        names = os.listdir(backup_dir)
    except OSError:
        return []
    removed = []
    for name in sorted(names):
        if _PARTIAL_RE.match(name):
            path = os.path.join(backup_dir, name)
            if _claimed(path + CLAIM_SUFFIX):
                continue
            if not check_mode:
                remove_path(path)
                remove_path(path + CLAIM_SUFFIX)
            removed.append(path)
        elif name.endswith(CLAIM_SUFFIX) and _PARTIAL_RE.match(name[:-len(CLAIM_SUFFIX)]) \
                and name[:-len(CLAIM_SUFFIX)] not in names:
            path = os.path.join(backup_dir, name)
            if not check_mode and not _claimed(path):
                remove_path(path)
    return removed


def place_no_clobber(tmp_path, final_path):
    """Move a finished dump into place; never replace anything already there.

    Files are hard-linked (fails if the name exists) then unlinked; a
    directory rename fails when the target is a non-empty directory, and an
    empty one is never ours. Raises FileExistsError when the name is taken.
    """
    if os.path.isdir(tmp_path):
        if os.path.lexists(final_path):
            raise FileExistsError(final_path)
        try:
            os.rename(tmp_path, final_path)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise FileExistsError(final_path)
            raise
        return
    os.link(tmp_path, final_path)
    os.unlink(tmp_path)


def fsync_path(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path, data):
    """Write ``data`` as JSON to a temporary name, fsync, rename into place. The temporary name is claimed while it
    is written (``PartialClaim``), so another run cleaning up leftovers in the same folder leaves it alone."""
    tmp = temp_name(path)
    claim = PartialClaim(tmp)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write('\n')
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except Exception:
        remove_path(tmp)
        raise
    finally:
        claim.release()

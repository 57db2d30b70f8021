# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing a directory-format dump: who compresses its table data (``choose_compressor``) and,
with ISA-L, gzipping each data file on worker threads while pg_dump is still writing it
(``DataFileCompressor``), hashing the compressed bytes on the way (``dump_to_directory``).

pg_restore reads ``<id>.dat.gz`` when ``<id>.dat`` is absent, so the result is an ordinary
directory dump.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import hashlib
import os
import re
import subprocess
import threading
import time

try:
    from isal import isal_zlib
    HAS_ISAL = True
except ImportError:  # optional: pg_dump compresses by itself without it
    isal_zlib = None
    HAS_ISAL = False

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.files import fsync_path, remove_path
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.programs import run_program, tool_error
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.stream import (
    CHUNK,
    combined_digest,
    directory_files,
    hash_file,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.workers import parallel_map


COMPRESSORS = ('auto', 'isal', 'pg_dump')
WRITEBACK_BYTES = 8 << 20  # start writing a compressed file to disk every this many bytes


def _sync_file_range():
    """Linux's sync_file_range (None elsewhere): starts the writeback of a file's range without waiting."""
    try:
        func = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (AttributeError, OSError, TypeError):
        return None
    func.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    func.restype = ctypes.c_int
    return func


_SYNC_FILE_RANGE = _sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd, offset, length):
    """Have the kernel start writing ``length`` bytes of ``fd`` from ``offset`` to disk now, so that the final
    fsync finds little left to write (the disk works while the CPU compresses). Best effort: a no-op when the
    call is missing or refused."""
    if _SYNC_FILE_RANGE is not None and length > 0:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


ISAL_LEVELS = (1, 2, 3)


def choose_compressor(fmt, compression, requested='auto'):
    """Who compresses the table data: ``isal`` (this module, with ISA-L, directory format only), ``pg_dump``,
    or None (nothing is compressed). ``requested``: auto, isal or pg_dump."""
    requested = requested or 'auto'
    if requested not in COMPRESSORS:
        raise PgModuleError('compressor must be one of %s, got %s' % (', '.join(COMPRESSORS), requested))
    if fmt == 'plain' or not compression:
        return None
    if requested == 'isal':
        if fmt != 'directory':
            raise PgModuleError('compressor=isal works with the directory format only; use format=directory or '
                                'compressor=auto')
        if compression not in ISAL_LEVELS:
            raise PgModuleError('compressor=isal has levels 1-3, got compression=%s; use compression 1-3 or '
                                'compressor=pg_dump' % compression)
        if not HAS_ISAL:
            raise PgModuleError('compressor=isal needs the Python package isal on the managed host; install it '
                                '(pip install isal) or use compressor=auto')
        return 'isal'
    if requested == 'auto' and fmt == 'directory' and compression in ISAL_LEVELS and HAS_ISAL:
        return 'isal'
    return 'pg_dump'


_FINISHED_ITEM_RE = re.compile(r'finished item (\d+) ')
_PROGRAM_PREFIX_RE = re.compile(r'^(?:pg_dump:\s*)+')
_KEPT_MESSAGES = ('error:', 'detail:', 'hint:', 'warning:', 'fatal:')


def _is_progress_line(line):
    match = _PROGRAM_PREFIX_RE.match(line)
    return bool(match) and not line[match.end():].lower().startswith(_KEPT_MESSAGES)


class DataFileCompressor(object):
    """gzip the data files of an uncompressed directory dump (``<id>.dat`` into ``<id>.dat.gz``) with ISA-L on
    ``workers`` threads (ISA-L and hashlib release the GIL) while pg_dump writes them, hashing each compressed
    file as it is written.

    pg_restore reads ``<id>.dat.gz`` when ``<id>.dat`` is absent (the PostgreSQL documentation of the directory
    format: its files can be compressed with gzip). ISA-L level 1 is several times faster than zlib level 1
    and about as small as zlib level 6.

    A file is taken up as soon as it appears (``submit``) and followed as it grows; it is complete, and its
    compressed copy closed, once pg_dump has reported its item finished (``finished``) or has exited
    (``all_finished``). ``finish`` takes up whatever is left and waits for all."""

    POLL = 0.02

    def __init__(self, path, level, workers):
        self.path, self.level = path, level
        # by compressed file name: its sha256 and size; the (data file, exception) of failures
        self.digests, self.sizes, self.errors = {}, {}, []
        # data files taken up, reported finished by pg_dump, waiting for a worker
        self._queued, self._finished, self._pending = set(), set(), []
        self._all_finished = self._closing = False
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._threads = [threading.Thread(target=self._work) for dummy in range(max(1, workers))]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    @staticmethod
    def is_data_file(name):
        return name.endswith('.dat') and name != 'toc.dat' and os.sep not in name

    def submit(self, name):
        with self._cond:
            if name in self._queued or self._closing:
                return
            self._queued.add(name)
            self._pending.append(name)
            self._cond.notify()

    def submit_new_files(self):
        """Take up the data files pg_dump has created since the last look."""
        try:
            names = os.listdir(self.path)
        except OSError:
            return
        for name in sorted(names):
            if self.is_data_file(name) and name not in self._queued:
                self.submit(name)

    def finished(self, name):
        with self._lock:
            self._finished.add(name)

    def all_finished(self):
        with self._lock:
            self._all_finished = True

    def _complete(self, name):
        with self._lock:
            return self._all_finished or name in self._finished

    def _work(self):
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending or self.errors:
                    return
                name = self._pending.pop(0)
            try:
                self._compress(name)
            except Exception as exc:  # pylint: disable=broad-except  # re-raised by finish()
                with self._cond:
                    self.errors.append((name, exc))
                    self._pending = []
                    self._all_finished = True
                    self._cond.notify_all()
                return

    def _compress(self, name):
        source = os.path.join(self.path, name)
        target = source + '.gz'
        digest = hashlib.sha256()
        size = 0
        compressor = isal_zlib.compressobj(self.level, isal_zlib.DEFLATED, 31)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(source, 'rb') as src, os.fdopen(fd, 'wb') as out:
            done = False
            started = 0  # bytes whose writeback has been started
            while True:
                chunk = src.read(4 * CHUNK)
                if chunk:
                    data = compressor.compress(chunk)
                    if data:
                        out.write(data)
                        digest.update(data)
                        size += len(data)
                        if size - started >= WRITEBACK_BYTES:
                            out.flush()
                            start_writeback(fd, started, size - started)
                            started = size
                    continue
                if done:
                    break
                # At the end of what pg_dump has written so far: once its item is reported finished, one
                # more read takes what was written before the report; until then, wait for more.
                done = self._complete(name)
                if not done:
                    time.sleep(self.POLL)
            data = compressor.flush()
            out.write(data)
            digest.update(data)
            size += len(data)
            out.flush()
            os.fsync(out.fileno())
        os.unlink(source)
        with self._lock:
            self.digests[name + '.gz'] = digest.hexdigest()
            self.sizes[name + '.gz'] = size

    def finish(self):
        """Compress every data file not taken up yet, wait for all; raise a one-line error on failure."""
        self.all_finished()
        self.submit_new_files()
        self._stop()
        if self.errors:
            name, exc = self.errors[0]
            raise PgModuleError('cannot compress %s of the dump: %s; check the free space in backup_dir, or set '
                                'compressor=pg_dump' % (name, exc))

    def _stop(self):
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def abort(self):
        with self._cond:
            self._pending = []
            self._all_finished = True
        self._stop()


def _run_dump_compressing(argv, env, temp_path, compressor):
    """Run pg_dump --verbose while ``compressor`` follows the data files it writes: each file is taken up when
    it appears and closed when pg_dump reports its item finished. Raise the one-line error of a failed pg_dump."""
    env = dict(env, LC_MESSAGES='C')  # the progress lines are read: untranslated
    env.pop('LC_ALL', None)
    kept = []
    try:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
    except OSError as exc:
        raise PgModuleError('cannot run pg_dump: %s; check bin_dir' % exc)
    stopped = threading.Event()

    def watch():
        while not stopped.wait(compressor.POLL):
            compressor.submit_new_files()

    watcher = threading.Thread(target=watch)
    watcher.daemon = True
    watcher.start()
    try:
        for raw in proc.stderr:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            match = _FINISHED_ITEM_RE.search(line)
            if match:
                compressor.finished('%s.dat' % match.group(1))
            elif not _is_progress_line(line):
                kept.append(line)
    finally:
        proc.stderr.close()
        returncode = proc.wait()
        stopped.set()
        watcher.join()
        compressor.all_finished()
    if returncode != 0:
        raise PgModuleError(tool_error('pg_dump', returncode, '\n'.join(kept)))


def dump_to_directory(argv, env, temp_path, workers, compressor=None, level=1):
    """Run pg_dump -Fd into ``temp_path`` (it creates the directory), compressing its data files with ISA-L
    while it runs when ``compressor`` is ``isal`` (pg_dump then writes them uncompressed, ``--verbose``),
    then hash each file not hashed yet. Files end up 0600, the directory 0700. Returns (files, sha256, size)."""
    old = os.umask(0o077)
    packer = None
    try:
        if compressor == 'isal':
            packer = DataFileCompressor(temp_path, level, workers)
            _run_dump_compressing(argv, env, temp_path, packer)
            packer.finish()
        else:
            run_program(argv, env)
    except BaseException:
        if packer is not None:
            packer.abort()
        remove_path(temp_path)
        raise
    finally:
        os.umask(old)
    try:
        os.chmod(temp_path, 0o700)
        for name in directory_files(temp_path):
            os.chmod(os.path.join(temp_path, name), 0o600)
        done = packer.digests if packer is not None else {}
        rest = [name for name in directory_files(temp_path) if name not in done]
        digests = parallel_map(lambda name: hash_file(os.path.join(temp_path, name)), rest, workers)
        files = dict(done)
        files.update((name, d.hexdigest()) for name, d in zip(rest, digests))
        size = sum(d.size for d in digests) + sum((packer.sizes if packer is not None else {}).values())
        for name in rest + ['']:
            fsync_path(os.path.join(temp_path, name))
    except BaseException:
        remove_path(temp_path)
        raise
    return files, combined_digest(files), size

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Downloading a recovery point (``DownloadJob``; layout in ``layout.py``, choosing it in ``choose_point``).

Steps: download every object of ``<rp>/dump/`` into a staging folder beside the destination - files in
parallel, ranged GETs (parts) in parallel, each streamed to its place in the file (a chunk in memory at a
time), each object's SHA-256 computed in order, reading back every part once those before it are in -
then verify each digest against the recovery point record, decrypt the encrypted ones with
the private key, check the dump against its manifest (``pg/manifest.py``), and only then move the
folder into place, the record written last as ``recovery-point.json`` (what marks a complete, verified
local copy). Any failure removes the staging folder: nothing half-downloaded is left to restore.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import os
import shutil
import threading
import time
import uuid

from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import crypto, layout
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.client import S3Error
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.points import TIME_FORMAT, parse_time

SHOWN_POINTS = 5
READ_ATTEMPTS = 4

try:
    from botocore.exceptions import BotoCoreError
except ImportError:  # pragma: no cover - S3Module reports the missing library
    BotoCoreError = OSError


class PointError(S3Error):
    """A recovery point that does not exist, or does not verify; one line."""


def parse_point_time(text):
    """An aware UTC datetime from ``YYYY-MM-DDTHH:MM:SSZ`` or an ISO 8601 time (naive means UTC); None when
    ``text`` is not a time."""
    found = parse_time(text)
    if found is not None:
        return found
    try:
        value = datetime.datetime.fromisoformat(str(text).replace('Z', '+00:00'))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def _names(points):
    shown = ', '.join('%s (%s)' % (p['name'], p['created'].strftime(TIME_FORMAT)) for p in points[:SHOWN_POINTS])
    return shown + (', ...' if len(points) > SHOWN_POINTS else '')


def choose_point(complete, point, where, require_verified=True):
    """The recovery point ``point`` (``latest``, a name, or a time: the newest at or before it) among ``complete``
    (newest first, as ``points.list_points`` returns them); PointError naming the newest available ones."""
    usable = [p for p in complete if p.get('record') and (p['verified'] or not require_verified)]
    if not usable:
        raise PointError('no %srecovery point for this database in %s; upload one with backup_upload (backup.yml)'
                         % ('verified ' if require_verified else '', where))
    if point in (None, '', 'latest'):
        return usable[0]
    by_name = [p for p in usable if p['name'] == point]
    if by_name:
        return by_name[0]
    when = parse_point_time(point)
    if when is not None:
        older = [p for p in usable if p['created'] <= when]
        if older:
            return older[0]
        raise PointError('no recovery point at or before %s in %s; the oldest is %s'
                         % (when.strftime(TIME_FORMAT), where, _names(usable[-1:])))
    raise PointError('recovery point "%s" does not exist in %s; the newest are: %s; set point to latest, one of '
                     'these names, or a time' % (point, where, _names(usable)))


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b''):
            digest.update(block)
    return digest.hexdigest()


STREAM_CHUNK = 1024 * 1024   # bytes read from a response body and written at once
READBACK_CHUNK = 4 * 1024 * 1024   # bytes read back from the file at once to hash a finished part


class _OrderedFileHash(object):
    """SHA-256 of a file written in parts that finish out of order: each part is read back from the file and hashed
    as soon as every part before it is in (from the page cache; no part stays in memory meanwhile)."""

    def __init__(self, fd):
        self.fd, self.digest, self.next, self.waiting = fd, hashlib.sha256(), 0, {}
        self.lock = threading.Lock()
        self.buffer = memoryview(bytearray(READBACK_CHUNK))   # used under the lock only

    def done(self, index, offset, length):
        """Part ``index`` (``length`` bytes at ``offset``) is written; hash what is now complete from the start."""
        with self.lock:
            self.waiting[index] = (offset, length)
            while self.next in self.waiting:
                self._hash(*self.waiting.pop(self.next))
                self.next += 1

    def _hash(self, offset, length):
        while length > 0:
            got = os.preadv(self.fd, [self.buffer[:min(length, len(self.buffer))]], offset)
            if got <= 0:
                raise OSError('the file ended %d bytes early while it was read back' % length)
            self.digest.update(self.buffer[:got])
            offset, length = offset + got, length - got


def _write_all(fd, data, offset):
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def fetch_range(s3, key, fd, start, end, attempts=READ_ATTEMPTS):
    """Write ``bytes=start-end`` of ``key`` at the same offsets of ``fd``, streaming the body (at most a chunk in
    memory); returns (GetObject answer, bytes written). botocore retries the request; a body that breaks off while
    it is read (a dropped connection) is asked for again, ``attempts`` times in all, and written over. A failure
    to write the file (disk full) is raised as it is."""
    for attempt in range(attempts):
        answer = s3.call('get_object', key, Key=key, Range='bytes=%d-%d' % (start, end))
        body, offset, broke = answer['Body'], start, None
        while offset <= end + 1:   # one read past the range tells a body longer than asked for
            try:
                chunk = body.read(STREAM_CHUNK)
            except (OSError, BotoCoreError) as exc:
                broke = exc
                break
            if not chunk:
                break
            _write_all(fd, chunk, offset)
            offset += len(chunk)
        if broke is None:
            return answer, offset - start
        if attempt + 1 >= attempts:
            raise S3Error('download of s3://%s/%s broke off %d times (%s); check the connection to the endpoint '
                          'and run again' % (s3.bucket, key, attempts, str(broke).split('\n', 1)[0][:200]))
        time.sleep(0.2 * (attempt + 1))
    raise AssertionError('unreachable')


def ranged_download(s3, key, path, size, part_size, pool, window):
    """Download ``key`` (``size`` bytes) into ``path`` with ranged GETs run by ``pool`` (at most ``window`` parts in
    flight), each streamed to its place in the file and hashed in order from the file once the parts before it are
    in; returns the SHA-256 of the bytes written."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    hasher = _OrderedFileHash(fd)
    gate = threading.Semaphore(max(1, window))
    try:
        if size == 0:
            return hasher.digest.hexdigest()

        def part(index):
            try:
                start = index * part_size
                end = min(size, start + part_size) - 1
                answer, got = fetch_range(s3, key, fd, start, end)
                total = str(answer.get('ContentRange') or '').rpartition('/')[2]
                if got != end - start + 1 or (total.isdigit() and int(total) != size):
                    raise PointError('s3://%s/%s is %s bytes, the recovery point record says %d: the object was altered '
                                     'after the upload (tampered or corrupt); nothing was restored, choose another '
                                     'recovery point' % (s3.bucket, key, total or got, size))
                hasher.done(index, start, got)
            finally:
                gate.release()
        futures = []
        for index in range((size + part_size - 1) // part_size):
            gate.acquire()
            if any(f.done() and f.exception() for f in futures):
                gate.release()
                break
            futures.append(pool.submit(part, index))
        for future in futures:
            future.result()
        return hasher.digest.hexdigest()
    finally:
        os.close(fd)


class DownloadJob(object):
    """One recovery point (``point``: an entry of ``points.list_points``) into ``dest``/<name>/.

    ``options``: private_key (loaded or None), part_size, parts, workers."""

    def __init__(self, s3, point, dest, options):
        self.s3, self.point, self.opts = s3, point, options
        self.record = point['record']
        self.name = point['name']
        self.folder = os.path.join(dest, self.name)
        self.dump = self.record.get('dump') or {}
        objects = self.dump.get('objects') or {}
        if not isinstance(objects, dict) or not objects or not self.dump.get('manifest_key'):
            raise PointError('s3://%s/%s lists no dump objects; it was not written by backup_upload'
                             % (s3.bucket, point['record_key']))
        self.objects = []
        for rel, entry in sorted(objects.items()):
            parts = rel.split('/')
            if any(p in ('', '.', '..') for p in parts) or not entry.get('key', '').startswith(point['prefix']):
                raise PointError('s3://%s/%s names the object "%s" outside the recovery point; refusing it'
                                 % (s3.bucket, point['record_key'], rel))
            self.objects.append(dict(entry, rel=rel))
        manifest_rel = [o['rel'] for o in self.objects if o['key'] == self.dump['manifest_key']]
        if not manifest_rel:
            raise PointError('s3://%s/%s has no manifest object; it was not written by backup_upload'
                             % (s3.bucket, point['record_key']))
        self.manifest_rel = manifest_rel[0]
        self.dump_rel = self.manifest_rel[:-len('.manifest.json')]
        self.encrypted = any(o.get('encrypted') for o in self.objects)
        self.plain = {}

    @property
    def keys(self):
        return [o['key'] for o in self.objects]

    @property
    def dump_path(self):
        return os.path.join(self.folder, self.dump_rel)

    @property
    def record_path(self):
        return os.path.join(self.folder, layout.RECORD_NAME)

    def local_copy(self, check):
        """True when ``dest``/<name>/ holds this recovery point already: the same record, and ``check(dump_path)``
        (the manifest check) passes."""
        try:
            with open(self.record_path) as handle:
                same = json.load(handle) == self.record
        except (OSError, ValueError):
            return False
        if not same:
            return False
        try:
            check(self.dump_path)
        except Exception:  # any difference: download it again
            return False
        return True

    # -- the download ---------------------------------------------------------------------------
    def run(self, check):
        """Download, verify, decrypt, then ``check(dump path in staging, plaintext digests)`` (the manifest check);
        returns the timings."""
        from concurrent.futures import ThreadPoolExecutor
        parent = os.path.dirname(self.folder)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o700)
        staging = os.path.join(parent, '.%s.partial-%s' % (self.name, uuid.uuid4().hex[:8]))
        os.mkdir(staging, 0o700)
        timings = {}
        try:
            started = time.time()
            parts = max(1, int(self.opts['parts']))
            with ThreadPoolExecutor(max_workers=parts * max(1, int(self.opts['workers']))) as part_pool, \
                    ThreadPoolExecutor(max_workers=max(1, int(self.opts['workers']))) as file_pool:
                digests = list(file_pool.map(lambda o: self._fetch(o, staging, part_pool, parts), self.objects))
            timings['download_s'] = round(time.time() - started, 3)
            started = time.time()
            for obj, digest in zip(self.objects, digests):
                self._verify(obj, digest)
            timings['verify_s'] = round(time.time() - started, 3)
            if self.encrypted:
                started = time.time()
                with ThreadPoolExecutor(max_workers=max(1, int(self.opts['workers']))) as pool:
                    list(pool.map(lambda o: self._decrypt(o, staging), [o for o in self.objects if o.get('encrypted')]))
                timings['decrypt_s'] = round(time.time() - started, 3)
            started = time.time()
            check(os.path.join(staging, self.dump_rel), self._dump_digests())
            timings['verify_s'] = round(timings['verify_s'] + time.time() - started, 3)
            with open(os.path.join(staging, layout.RECORD_NAME), 'w') as handle:
                json.dump(self.record, handle, indent=1, sort_keys=True)
            if os.path.lexists(self.folder):
                shutil.rmtree(self.folder)
            os.rename(staging, self.folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return timings

    def _local(self, staging, obj):
        path = os.path.join(staging, obj['rel'])
        if obj.get('encrypted'):
            path += layout.ENCRYPTED_SUFFIX
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            try:
                os.makedirs(folder, 0o700)
            except OSError:  # another file of the same directory made it
                pass
        return path

    def _fetch(self, obj, staging, pool, parts):
        size = obj.get('stored_size')
        if not isinstance(size, int):
            head = self.s3.head(obj['key'])
            if head is None:
                raise PointError('s3://%s/%s is missing: the recovery point %s is incomplete; choose another point'
                                 % (self.s3.bucket, obj['key'], self.name))
            size = head['ContentLength']
        part_size = max(1024 * 1024, int(self.opts['part_size']))
        return ranged_download(self.s3, obj['key'], self._local(staging, obj), size, part_size, pool, parts)

    def _dump_digests(self):
        """The plaintext digests of the dump: ``{file: sha256}`` (directory dump) or the file's sha256."""
        if self.dump_rel in self.plain:
            return self.plain[self.dump_rel]
        inside = self.dump_rel + '/'
        return dict((rel[len(inside):], digest) for rel, digest in self.plain.items() if rel.startswith(inside))

    def _verify(self, obj, digest):
        if not obj.get('encrypted'):
            self.plain[obj['rel']] = digest
        expected = obj.get('stored_sha256') or obj.get('sha256')
        if digest != expected:
            raise PointError('s3://%s/%s has SHA-256 %s..., the recovery point record says %s...: the object was '
                             'altered after the upload (tampered or corrupt); nothing was restored, choose another '
                             'recovery point' % (self.s3.bucket, obj['key'], digest[:12], str(expected)[:12]))

    def _decrypt(self, obj, staging):
        source = self._local(staging, obj)
        target = source[:-len(layout.ENCRYPTED_SUFFIX)]
        try:
            plain = crypto.decrypt_file(source, target, self.opts['private_key'])
        except crypto.CryptoError as exc:
            raise PointError('s3://%s/%s: %s; nothing was restored'
                             % (self.s3.bucket, obj['key'], str(exc).replace(source, 'the object')))
        finally:
            os.unlink(source)
        self.plain[obj['rel']] = plain
        if plain != obj.get('sha256'):
            raise PointError('s3://%s/%s decrypts to SHA-256 %s..., the record says %s...; nothing was restored'
                             % (self.s3.bucket, obj['key'], plain[:12], str(obj.get('sha256'))[:12]))

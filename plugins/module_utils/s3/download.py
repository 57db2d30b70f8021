# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Downloading a recovery point (``DownloadJob``; layout in ``layout.py``, choosing it in ``choose_point``).

Steps: download every object of ``<rp>/dump/`` into a staging folder beside the destination - files in
parallel, ranged GETs (parts) in parallel into part buffers used over and over, each object's SHA-256
computed in order while its parts arrive - then verify each digest against the recovery point record, decrypt the encrypted ones with
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


STREAM_CHUNK = 1024 * 1024   # bytes read from a response body at once


class _OrderedHash(object):
    """SHA-256 of a file whose parts arrive out of order: parts are hashed in order as soon as they can be;
    ``on_hashed(index)``, when given, is told of each part once it is hashed (its buffer may then be reused)."""

    def __init__(self, on_hashed=None):
        self.digest, self.next, self.waiting = hashlib.sha256(), 0, {}
        self.lock = threading.Lock()
        self.on_hashed = on_hashed

    def add(self, index, data):
        with self.lock:
            self.waiting[index] = data
            while self.next in self.waiting:
                self.digest.update(self.waiting.pop(self.next))
                if self.on_hashed is not None:
                    self.on_hashed(self.next)
                self.next += 1


class _Buffers(object):
    """Part-sized buffers used over and over (the memory of a download stays ``count`` parts, and is touched once
    rather than once per part)."""

    def __init__(self, size, count):
        self.size, self.count, self.free, self.made, self.aborted = size, max(1, count), [], 0, False
        self.available = threading.Semaphore(self.count)
        self.lock = threading.Lock()

    def take(self):
        """A buffer, or None once a part failed (the parts waiting to be hashed will never give theirs back)."""
        self.available.acquire()
        with self.lock:
            if self.aborted:
                return None
            if self.free:
                return self.free.pop()
            self.made += 1
        return memoryview(bytearray(self.size))

    def abort(self):
        with self.lock:
            self.aborted = True
        for dummy in range(self.count):
            self.available.release()

    def give(self, buffer):
        with self.lock:
            self.free.append(buffer)
        self.available.release()


def fetch_range(s3, key, buffer, start, end, attempts=READ_ATTEMPTS):
    """Read ``bytes=start-end`` of ``key`` into ``buffer`` (a memoryview at least that long, filled a chunk at a
    time); returns (GetObject answer, bytes read). botocore retries the request; a body that breaks off while it is
    read (a dropped connection) is asked for again, ``attempts`` times in all."""
    want = end - start + 1
    for attempt in range(attempts):
        answer = s3.call('get_object', key, Key=key, Range='bytes=%d-%d' % (start, end))
        body, got = answer['Body'], 0
        try:
            while True:
                chunk = body.read(STREAM_CHUNK)
                if not chunk:
                    return answer, got
                if got + len(chunk) > want:   # a body longer than asked for: its length tells
                    return answer, got + len(chunk)
                buffer[got:got + len(chunk)] = chunk
                got += len(chunk)
        except (OSError, BotoCoreError) as exc:
            if attempt + 1 >= attempts:
                raise S3Error('download of s3://%s/%s broke off %d times (%s); check the connection to the endpoint '
                              'and run again' % (s3.bucket, key, attempts, str(exc).split('\n', 1)[0][:200]))
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError('unreachable')


def _write_all(fd, data, offset):
    while data:
        written = os.pwrite(fd, data, offset)
        data, offset = data[written:], offset + written


def ranged_download(s3, key, path, size, part_size, pool, window):
    """Download ``key`` (``size`` bytes) into ``path`` with ranged GETs run by ``pool`` (at most ``window`` parts in
    flight, at most twice that many part buffers in use, reused), hashing in order on the way; returns the SHA-256
    of the bytes written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    buffers = _Buffers(min(part_size, max(size, 1)), 2 * max(1, window))
    held = {}
    hasher = _OrderedHash(on_hashed=lambda index: buffers.give(held.pop(index)))
    gate = threading.Semaphore(max(1, window))
    try:
        if size == 0:
            return hasher.digest.hexdigest()

        def part(index, buffer):
            try:
                start = index * part_size
                end = min(size, start + part_size) - 1
                answer, got = fetch_range(s3, key, buffer, start, end)
                total = str(answer.get('ContentRange') or '').rpartition('/')[2]
                if got != end - start + 1 or (total.isdigit() and int(total) != size):
                    raise PointError('s3://%s/%s is %s bytes, the recovery point record says %d: the object was altered '
                                     'after the upload (tampered or corrupt); nothing was restored, choose another '
                                     'recovery point' % (s3.bucket, key, total or got, size))
                _write_all(fd, buffer[:got], start)
                hasher.add(index, buffer[:got])
            except BaseException:
                buffers.abort()
                raise
            finally:
                gate.release()
        futures = []
        for index in range((size + part_size - 1) // part_size):
            buffer = buffers.take()   # before the gate: a part waiting to be hashed keeps its buffer
            if buffer is None:
                break
            held[index] = buffer
            gate.acquire()
            if any(f.done() and f.exception() for f in futures):
                gate.release()
                break
            futures.append(pool.submit(part, index, buffer))
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

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Uploading a verified dump off-site as a recovery point (``UploadJob``; layout in ``layout.py``).

Steps: check the dump against its manifest, plan the keys, compare with what the bucket holds
(same dump already there: nothing to do; a different dump under the same name: refused), abort the
multipart uploads a killed run left under the recovery point, upload the missing objects (files in
parallel, parts in parallel, every body checked by the server with SHA-256, the file's own SHA-256
in the object's metadata, compared with the manifest from the very bytes sent before the object is completed,
and checked again after the upload), and write ``recovery-point.json`` last.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import hashlib
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.stream import hash_file
from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import app_snapshot, crypto, layout
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.client import S3Error
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.stream import ChecksumMismatch, PartPool, send_file
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.points import read_record, write_record

try:
    from urllib.parse import urlencode
except ImportError:  # pragma: no cover
    urlencode = None

META_SHA256 = 'sha256'          # x-amz-meta-sha256: the plaintext file's own SHA-256 (what the manifest says)
META_STORED_SHA256 = 'stored-sha256'   # of the bytes stored (differs from sha256 when encrypted)
ORPHAN_AGE_S = 24 * 3600


def sha256_file(path):
    return hash_file(path).hexdigest()


class UploadJob(object):
    """One dump to one recovery point. ``dump`` is ``{path, manifest_path, manifest}`` (checked by the caller);
    ``options``: prefix, database, name, public_key (loaded or None), sse, kms_key_id, storage_class, tags,
    object_lock_mode, object_lock_days, multipart_threshold, part_size, parts, workers, tmp_dir."""

    def __init__(self, s3, dump, options, warn=None):
        self.s3, self.dump, self.opts = s3, dump, options
        self.warn = warn or (lambda msg: None)
        manifest = dump['manifest']
        self.database = options.get('database') or manifest.get('database')
        self.name = options.get('name') or manifest.get('name') or os.path.basename(dump['path'].rstrip('/'))
        self.files = self._files()
        enc = options.get('public_key') is not None
        data_keys = layout.dump_keys(options['prefix'], self.database, self.name,
                                     [f['rel'] for f in self.files if not f['is_manifest']], encrypted=enc)
        data_keys.update(layout.dump_keys(options['prefix'], self.database, self.name,
                                          [f['rel'] for f in self.files if f['is_manifest']]))
        for item in self.files:
            item['key'] = data_keys[item['rel']]
        self.record_key = layout.record_key(options['prefix'], self.database, self.name)
        self.point_prefix = layout.point_prefix(options['prefix'], self.database, self.name)
        self.stored = []   # (key, version id) of every object this run stored

    def _files(self):
        path, manifest = self.dump['path'].rstrip('/'), self.dump['manifest']
        out = []
        if os.path.isdir(path):
            for rel, sha in sorted((manifest.get('files') or {}).items()):
                out.append({'rel': '%s/%s' % (self.name, rel), 'path': os.path.join(path, rel), 'sha256': sha})
        else:
            out.append({'rel': self.name, 'path': path, 'sha256': manifest['sha256']})
        for item in out:
            item['size'], item['is_manifest'] = os.path.getsize(item['path']), False
        mpath = self.dump['manifest_path']
        out.append({'rel': self.name + '.manifest.json', 'path': mpath, 'sha256': sha256_file(mpath),
                    'size': os.path.getsize(mpath), 'is_manifest': True})
        return out

    @property
    def keys(self):
        return [f['key'] for f in self.files] + [self.record_key]

    # -- compare -------------------------------------------------------------------------------
    def existing(self):
        """(record or None, [files whose object is missing or differs])."""
        record = read_record(self.s3, self.record_key)
        if record is not None and (record.get('dump') or {}).get('sha256') != self.dump['manifest']['sha256']:
            raise S3Error('s3://%s/%s already holds another dump named %s (sha256 %s..., this one %s...); choose '
                          'another name or prefix' % (self.s3.bucket, self.point_prefix, self.name,
                                                      str((record.get('dump') or {}).get('sha256'))[:12],
                                                      self.dump['manifest']['sha256'][:12]))
        todo = []
        for item in self.files:
            head = self.s3.head(item['key'])
            if head is None or (head.get('Metadata') or {}).get(META_SHA256) != item['sha256']:
                todo.append(item)
        return record, todo

    # -- upload --------------------------------------------------------------------------------
    def abort_orphans(self):
        """Abort multipart uploads a killed run left: any under this recovery point, and any under the database's
        prefix older than a day. Returns their keys."""
        db_prefix = layout.database_prefix(self.opts['prefix'], self.database)
        now = datetime.datetime.now(datetime.timezone.utc)
        stale = [u for u in self.s3.multipart_uploads(db_prefix)
                 if u['key'].startswith(self.point_prefix)
                 or (u.get('initiated') and (now - u['initiated']).total_seconds() > ORPHAN_AGE_S)]
        return self.s3.abort_uploads(stale)

    def extra_args(self, item, stored_sha):
        opts = self.opts
        extra = {'Metadata': {META_SHA256: item['sha256'], META_STORED_SHA256: stored_sha,
                              'database': self.database, 'recovery-point': self.name}}
        if opts.get('sse'):
            extra['ServerSideEncryption'] = opts['sse']
            if opts['sse'] == 'aws:kms' and opts.get('kms_key_id'):
                extra['SSEKMSKeyId'] = opts['kms_key_id']
        if opts.get('storage_class'):
            extra['StorageClass'] = opts['storage_class']
        if opts.get('tags'):
            extra['Tagging'] = urlencode(sorted(opts['tags'].items()))
        if opts.get('object_lock_mode'):
            extra['ObjectLockMode'] = opts['object_lock_mode']
            extra['ObjectLockRetainUntilDate'] = (datetime.datetime.now(datetime.timezone.utc)
                                                  + datetime.timedelta(days=opts['object_lock_days']))
        return extra

    def mismatch(self, item):
        """The error for a file whose bytes are not those its manifest names (``stream.send_file``)."""
        mpath = self.dump['manifest_path'] if not item['is_manifest'] else item['path']

        def error(actual, size):
            return ChecksumMismatch('checksum of %s does not match its manifest %s (sha256 %s..., expected %s..., %d '
                                    'bytes); the dump is truncated or corrupt, restore from another dump'
                                    % (item['path'], mpath, actual[:12], item['sha256'][:12], size))
        return error

    def check_local(self, todo):
        """Hash the dump files that will not be uploaded (already in the bucket, check mode) and compare them
        with the manifest; those in ``todo`` are hashed on their way up."""
        sending = set(i['key'] for i in todo)
        for item in self.files:
            if not item['is_manifest'] and item['key'] not in sending:
                actual = sha256_file(item['path'])
                if actual != item['sha256']:
                    raise self.mismatch(item)(actual, os.path.getsize(item['path']))

    def upload_one(self, item, tmp_dir, pool):
        """Upload one file (encrypted first when a public key is set), its SHA-256 compared with the manifest
        before its object is completed; check the stored object."""
        source, stored_sha = item['path'], item['sha256']
        encrypted = self.opts.get('public_key') is not None and not item['is_manifest']
        if encrypted:
            actual = sha256_file(item['path'])
            if actual != item['sha256']:
                raise self.mismatch(item)(actual, os.path.getsize(item['path']))
            source = os.path.join(tmp_dir, hashlib.sha256(item['rel'].encode('utf-8')).hexdigest()[:24] + '.penc')
            stored_sha = crypto.encrypt_file(item['path'], source, self.opts['public_key'])[0]
        try:
            stored_sha, stored_size = send_file(pool, source, item['key'], self.extra_args(item, stored_sha),
                                                stored_sha, self.opts['multipart_threshold'],
                                                self.opts['part_size'], self.mismatch(item), stored=self.stored)
        finally:
            if encrypted:
                os.unlink(source)
        head = self.s3.head(item['key'])
        self.check_stored(item, head, stored_sha, stored_size)
        return {'key': item['key'], 'size': item['size'], 'sha256': item['sha256'], 'stored_size': stored_size,
                'stored_sha256': stored_sha, 'encrypted': encrypted}

    def check_stored(self, item, head, stored_sha, stored_size):
        where = 's3://%s/%s' % (self.s3.bucket, item['key'])
        if head is None:
            raise S3Error('%s is missing right after its upload; check the bucket\'s lifecycle rules' % where)
        if head.get('ContentLength') != stored_size or (head.get('Metadata') or {}).get(META_SHA256) != item['sha256']:
            raise S3Error('%s does not match what was sent (%s bytes, sent %d); upload again'
                          % (where, head.get('ContentLength'), stored_size))
        checksum = head.get('ChecksumSHA256') or ''
        single_put = stored_size < self.opts['multipart_threshold']  # a multipart object's is over its parts
        if single_put and checksum and '-' not in checksum and checksum != base64.b64encode(bytes.fromhex(stored_sha)).decode():
            raise S3Error('%s has SHA-256 %s on the server, sent %s; upload again' % (where, checksum, stored_sha))

    def record(self, uploaded_objects):
        manifest, opts = self.dump['manifest'], self.opts
        key = opts.get('public_key')
        return {
            'record_version': layout.RECORD_VERSION, 'tool': 'pourtrait.ops', 'kind': 'recovery_point',
            'database': self.database, 'name': self.name, 'created': manifest.get('created'),
            'uploaded': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
            'verified': bool((manifest.get('verification') or {}).get('ok')),
            'dump': {'format': manifest.get('format'), 'sha256': manifest['sha256'], 'size': manifest.get('size'),
                     'manifest_key': [f['key'] for f in self.files if f['is_manifest']][0],
                     'objects': uploaded_objects},
            'encryption': ({'alg': 'hybrid (see pourtrait.ops s3/crypto.py)', 'key_id': crypto.key_id(key),
                            'suffix': layout.ENCRYPTED_SUFFIX} if key is not None else None),
            'server_side_encryption': opts.get('sse'), 'storage_class': opts.get('storage_class'),
            'object_lock': ({'mode': opts['object_lock_mode'], 'days': opts['object_lock_days']}
                            if opts.get('object_lock_mode') else None),
        }

    def _upload_all(self, items, tmp_dir, parts):
        """Upload ``items`` on ``workers`` threads; on the first failure the files not started yet are left alone
        and the failure is raised once those under way have stopped."""
        with ThreadPoolExecutor(max_workers=max(1, int(self.opts['workers']))) as pool:
            futures = [pool.submit(self.upload_one, item, tmp_dir, parts) for item in items]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def discard_stored(self):
        """After a file was found not to match its manifest: delete the objects (the very versions) this run
        stored, so a corrupt dump leaves nothing behind. Returns what to add to the error."""
        if not self.stored:
            return ''
        try:
            refused = self.s3.delete([{'key': key, 'version_id': version} for key, version in self.stored])
        except S3Error as exc:
            refused = [(self.stored[0][0], self.stored[0][1], str(exc))] * len(self.stored)
        if not refused:
            return '; the %d object(s) uploaded before it were deleted' % len(self.stored)
        return ('; %d of the %d object(s) uploaded before it could not be deleted (%s: %s), delete them by hand'
                % (len(refused), len(self.stored), refused[0][0], refused[0][2]))

    def upload(self, todo):
        """Upload ``todo`` (files), then the record last. Returns ``(aborted keys, uploaded keys, record)``."""
        aborted = self.abort_orphans()
        tmp_dir = None   # only encryption writes a temporary file (a killed run leaves nothing otherwise)
        if self.opts.get('public_key') is not None:
            tmp_dir = tempfile.mkdtemp(prefix='.pourtrait-upload-', dir=self.opts.get('tmp_dir') or None)
        try:
            with PartPool(self.s3, self.opts['parts']) as parts:
                # the dump's files first (each compared with the manifest as it goes up), its manifest after them
                done = self._upload_all([i for i in todo if not i['is_manifest']], tmp_dir, parts)
                done += [self.upload_one(item, tmp_dir, parts) for item in todo if item['is_manifest']]
        except ChecksumMismatch as exc:
            raise ChecksumMismatch('%s%s' % (exc, self.discard_stored()))
        finally:
            if tmp_dir:
                shutil.rmtree(tmp_dir, ignore_errors=True)
        by_key = dict((d['key'], d) for d in done)
        objects = {}
        for item in self.files:
            if item['key'] in by_key:
                entry = by_key[item['key']]
            else:   # already there from an earlier run: what its metadata says
                head = self.s3.head(item['key']) or {}
                meta = head.get('Metadata') or {}
                entry = {'key': item['key'], 'size': item['size'], 'sha256': item['sha256'],
                         'stored_size': head.get('ContentLength'), 'stored_sha256': meta.get(META_STORED_SHA256),
                         'encrypted': item['key'].endswith(layout.ENCRYPTED_SUFFIX)}
            objects[item['rel']] = entry
        record = self.record(objects)
        # an app snapshot stored first (backup_app_snapshot) joins the point: dump + app commit + deployment id
        record['app'] = app_snapshot.point_app_section(self.s3, self.opts['prefix'], self.database, self.name)
        write_record(self.s3, self.record_key, record, self.opts.get('sse'), self.opts.get('kms_key_id'))
        return aborted, [d['key'] for d in done], record

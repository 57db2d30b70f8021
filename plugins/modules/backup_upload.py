#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: backup_upload
short_description: Upload a verified dump off-site as a recovery point in an S3-compatible bucket
description:
  - Uploads a dump written by M(pourtrait.ops.postgres_dump) and its manifest under
    C(<prefix>/<database>/<name>/) - the dump under C(dump/) (each file of a directory dump, or the one file),
    its manifest as C(dump/<name>.manifest.json), and C(recovery-point.json) last, so a listing never shows a
    recovery point whose data is incomplete.
  - The dump's shape (format, files, size) is checked against its manifest first; each file's bytes are hashed
    as they are read for the upload and its SHA-256 compared with the manifest before its object is completed
    (a difference aborts the upload - nothing is stored, and the objects of the same dump this run already
    stored are deleted again, every version, so a corrupt dump leaves nothing in the bucket). Every body is checked by the server
    (C(ChecksumAlgorithm=SHA256), each part of a multipart upload); each object keeps the file's own SHA-256
    in its metadata (C(x-amz-meta-sha256)), checked again after the upload.
  - Large files go multipart with O(parallel_parts) parts in flight; the files of a directory dump go
    O(parallel_files) at a time. A failed multipart upload is aborted; multipart uploads a killed run left under
    the recovery point (and any under the database's prefix older than a day) are aborted on the next run.
  - Idempotent - the same dump already in the bucket (same SHA-256 in each object's metadata and in the record)
    is no change; a run after a killed one uploads only what is missing. A different dump under the same name is
    refused.
  - With O(encryption_public_key) every dump file is encrypted before it leaves the machine (AES-256-GCM,
    the data key wrapped to an RSA or X25519 public key), so the machine that uploads cannot read old backups.
  - Check mode checks the dump and names the keys it would write; nothing is uploaded.
version_added: 1.1.0
author: Pourtrait engineering (@pourtrait)
options:
  path:
    description:
      - The dump (a file, or the directory of a directory dump) or its C(<dump>.manifest.json), as
        M(pourtrait.ops.postgres_dump) returns them in RV(pourtrait.ops.postgres_dump#module:path).
    type: path
    required: true
  prefix:
    description:
      - Key prefix of every recovery point; segments of letters, digits and C(. _ - + = @), no C(..).
    type: str
    default: pourtrait
  database:
    description:
      - The database segment of the keys. Default - the manifest's C(database).
    type: str
  name:
    description:
      - The recovery point's name. Default - the dump's name (the manifest's C(name)).
    type: str
  require_verified:
    description:
      - Refuse a dump whose manifest does not record a successful verification.
    type: bool
    default: true
  server_side_encryption:
    description:
      - Encryption at rest by the server - V(AES256) or V(aws:kms) (with O(kms_key_id)).
    type: str
    choices: [AES256, 'aws:kms']
  kms_key_id:
    description:
      - The KMS key of O(server_side_encryption=aws:kms); unset - the account's default key.
    type: str
  encryption_public_key:
    description:
      - An RSA (2048 bits or more) or X25519 public key in PEM, or the path of a PEM file - encrypt each dump file
        to it before the upload (objects get the C(.penc) suffix). Only the private key's holder can read them.
    type: str
  storage_class:
    description:
      - The objects' storage class (V(STANDARD), V(STANDARD_IA), V(GLACIER_IR), ... - what the provider offers).
    type: str
  tags:
    description:
      - Object tags (key - value), on every object of the dump.
    type: dict
  object_lock_mode:
    description:
      - S3 Object Lock on every object - V(GOVERNANCE) or V(COMPLIANCE), for O(object_lock_days). The bucket must
        have Object Lock enabled (created with it).
    type: str
    choices: [GOVERNANCE, COMPLIANCE]
  object_lock_days:
    description:
      - Days the objects stay locked (retain-until date = upload time + days). Required with O(object_lock_mode).
    type: int
  multipart_threshold_mb:
    description:
      - Files of this size (MiB) or more go multipart.
    type: float
    default: 16
  part_size_mb:
    description:
      - Size of one part (MiB, at least 5 as S3 requires; the last part may be smaller).
    type: float
    default: 8
  parallel_parts:
    description:
      - Parts in flight at once, shared by the files uploaded together.
    type: int
    default: 10
  parallel_files:
    description:
      - Files uploaded at once (directory dumps).
    type: int
    default: 2
  tmp_dir:
    description:
      - Where encrypted copies are written before their upload (removed after). Default - the system's.
    type: path
extends_documentation_fragment:
  - pourtrait.ops.attributes
  - pourtrait.ops.s3
attributes:
  check_mode:
    details: Checks the dump and lists the keys it would write; uploads nothing.
  diff_mode:
    support: full
    details: The recovery point's keys before and after.
notes:
  - The dump's manifest object is not encrypted (it holds checksums, table names and row estimates, no data) so
    a restore can check what it downloads before it decrypts.
'''

EXAMPLES = r'''
- name: Dump and verify
  pourtrait.ops.postgres_dump:
    db: pourtrait
    backup_dir: /var/backups/pourtrait
  register: dump

- name: Upload it off-site (bucket, endpoint and keys from POURTRAIT_BACKUP_BUCKET and AWS_*)
  pourtrait.ops.backup_upload:
    path: "{{ dump.path }}"
    server_side_encryption: AES256
    encryption_public_key: /etc/pourtrait/backup-recipient.pub.pem
    storage_class: STANDARD_IA
    tags: {app: pourtrait, kind: db-dump}

- name: Upload to Cloudflare R2 with a 30-day lock
  pourtrait.ops.backup_upload:
    path: "{{ dump.path }}"
    bucket: pourtrait-backups
    endpoint_url: https://ACCOUNT.r2.cloudflarestorage.com
    region: auto
    object_lock_mode: GOVERNANCE
    object_lock_days: 30
'''

RETURN = r'''
bucket:
  description: The bucket.
  returned: always
  type: str
prefix:
  description: The recovery point's prefix, C(<prefix>/<database>/<name>/).
  returned: always
  type: str
  sample: pourtrait/pourtrait/pourtrait-20260101T020000Z.dir/
keys:
  description: Every key of the recovery point, the record (C(recovery-point.json)) last.
  returned: always
  type: list
  elements: str
uploaded:
  description: Keys uploaded by this run (in check mode - the keys it would upload).
  returned: always
  type: list
  elements: str
aborted_uploads:
  description: Keys of the abandoned multipart uploads this run aborted.
  returned: always
  type: list
  elements: str
record:
  description: The recovery point record (C(recovery-point.json)) - database, name, created, verified, the dump's
    sha256 and each object's key, size and sha256, encryption key id. Null in check mode when not uploaded yet.
  returned: always
  type: dict
size:
  description: Bytes of the dump and its manifest.
  returned: always
  type: int
duration:
  description: Seconds the run took.
  returned: always
  type: float
'''

import os
import time

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, check_range
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.manifest import (
    MANIFEST_SUFFIX, check_digests, check_manifest, manifest_path_for, read_manifest,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.stream import directory_files
from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import crypto, layout
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.client import MB, S3Error, S3Module
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.upload import UploadJob


def local_dump(path, require_verified, deep=True):
    """``{path, manifest_path, manifest}`` of a dump checked against its manifest: every byte hashed when
    ``deep``, else its shape only (format, the files of a directory dump, the size), its bytes then hashed on
    their way up (``UploadJob``)."""
    path = path.rstrip(os.sep) or path
    if path.endswith(MANIFEST_SUFFIX):
        path = path[:-len(MANIFEST_SUFFIX)]
    if not os.path.exists(path):
        raise OpsError('dump %s does not exist; set path to what postgres_dump returned' % path)
    manifest = read_manifest(path)
    if manifest is None:
        raise OpsError('dump %s has no manifest %s; upload dumps written by postgres_dump'
                       % (path, manifest_path_for(path)))
    fmt = manifest.get('format') or ('directory' if os.path.isdir(path) else 'custom')
    if deep:
        check_manifest(path, fmt, manifest)
    else:
        check_shape(path, fmt, manifest)
    if require_verified and not (manifest.get('verification') or {}).get('ok'):
        raise OpsError('dump %s was not verified (its manifest records no successful verification); take it with '
                       'postgres_dump verify enabled, or set require_verified=false' % path)
    return {'path': path, 'manifest_path': manifest_path_for(path), 'manifest': manifest}


def check_shape(path, fmt, manifest):
    """What can be checked without reading the dump: its format, a directory dump's file names (and the
    manifest's own overall digest of them), a file's size."""
    mpath = manifest_path_for(path)
    if (fmt == 'directory') != os.path.isdir(path):
        raise OpsError('%s is %s but its manifest %s says %s; the manifest belongs to another dump'
                       % (path, 'a directory' if os.path.isdir(path) else 'a file', mpath, fmt))
    if fmt == 'directory':
        expected = manifest.get('files') or {}
        check_digests(path, fmt, manifest, dict((n, expected.get(n, '')) for n in directory_files(path)))
        return
    check_digests(path, fmt, manifest, manifest['sha256'])   # the format
    size = os.path.getsize(path)
    if manifest.get('size') is not None and manifest['size'] != size:
        raise OpsError('checksum of %s does not match its manifest %s (%d bytes instead of %d); the dump is '
                       'truncated or corrupt, restore from another dump' % (path, mpath, size, manifest['size']))


class BackupUpload(S3Module):
    name = 'backup_upload'
    argument_spec = dict(
        path=dict(type='path', required=True),
        prefix=dict(type='str', default='pourtrait'),
        database=dict(type='str'),
        name=dict(type='str'),
        require_verified=dict(type='bool', default=True),
        server_side_encryption=dict(type='str', choices=['AES256', 'aws:kms']),
        kms_key_id=dict(type='str'),
        encryption_public_key=dict(type='str'),
        storage_class=dict(type='str'),
        tags=dict(type='dict'),
        object_lock_mode=dict(type='str', choices=['GOVERNANCE', 'COMPLIANCE']),
        object_lock_days=dict(type='int'),
        multipart_threshold_mb=dict(type='float', default=16),
        part_size_mb=dict(type='float', default=8),
        parallel_parts=dict(type='int', default=10),
        parallel_files=dict(type='int', default=2),
        tmp_dir=dict(type='path'),
    )
    module_kwargs = dict(required_together=[('object_lock_mode', 'object_lock_days')])

    def preflight(self):
        S3Module.preflight(self)
        p = self.params
        try:
            self.prefix = layout.check_prefix(p['prefix'])
            for what in ('database', 'name'):
                if p.get(what):
                    layout.check_segment(what, p[what])
        except layout.LayoutError as exc:
            raise OpsError(str(exc))
        check_range('object_lock_days', p.get('object_lock_days'), minimum=1)
        check_range('multipart_threshold_mb', p['multipart_threshold_mb'], above=0)
        check_range('part_size_mb', p['part_size_mb'], minimum=5)
        check_range('parallel_parts', p['parallel_parts'], minimum=1, maximum=64)
        check_range('parallel_files', p['parallel_files'], minimum=1, maximum=32)
        if p.get('kms_key_id') and p.get('server_side_encryption') != 'aws:kms':
            raise OpsError('kms_key_id needs server_side_encryption=aws:kms')
        self.public_key = None
        if p.get('encryption_public_key'):
            try:
                self.public_key = crypto.load_public_key(p['encryption_public_key'])
            except crypto.CryptoError as exc:
                raise OpsError(str(exc))

    def options(self, dump):
        p = self.params
        opts = dict(prefix=self.prefix, database=p.get('database'), name=p.get('name'), public_key=self.public_key,
                    sse=p.get('server_side_encryption'), kms_key_id=p.get('kms_key_id'),
                    storage_class=p.get('storage_class'), tags=p.get('tags'),
                    object_lock_mode=p.get('object_lock_mode'), object_lock_days=p.get('object_lock_days'),
                    multipart_threshold=int(p['multipart_threshold_mb'] * MB), part_size=int(p['part_size_mb'] * MB),
                    parts=p['parallel_parts'], workers=p['parallel_files'], tmp_dir=p.get('tmp_dir'))
        try:
            return UploadJob(self.s3, dump, opts, self.warn)
        except layout.LayoutError as exc:
            raise OpsError(str(exc))

    def run(self):
        started = time.time()
        dump = local_dump(self.params['path'], self.params['require_verified'], deep=False)
        job = self.options(dump)
        if self.params.get('object_lock_mode') and not self.s3.object_lock_enabled():
            raise S3Error('bucket %s has no Object Lock (it must be created with it); unset object_lock_mode or use '
                          'a bucket with Object Lock' % self.s3.bucket)
        record, todo = job.existing()
        complete = record is not None and not todo
        # what goes up is hashed on its way (and compared before its object exists); the rest is hashed here
        job.check_local([] if complete or self.check_mode else todo)
        present = [k for k in job.keys if k not in set(i['key'] for i in todo)] if record is not None else \
            [f['key'] for f in job.files if f not in todo]
        self.diff({'keys': sorted(present)}, {'keys': sorted(job.keys)})
        result = dict(bucket=self.s3.bucket, prefix=job.point_prefix, keys=job.keys, aborted_uploads=[],
                      size=sum(f['size'] for f in job.files), record=record)
        if complete:
            result.update(changed=False, uploaded=[])
        elif self.check_mode:
            result.update(changed=True, uploaded=[i['key'] for i in todo] + [job.record_key])
        else:
            aborted, uploaded, record = job.upload(todo)
            result.update(changed=True, uploaded=uploaded + [job.record_key], aborted_uploads=aborted, record=record)
        result['duration'] = round(time.time() - started, 3)
        return result


def main():
    BackupUpload.main()


if __name__ == '__main__':
    main()

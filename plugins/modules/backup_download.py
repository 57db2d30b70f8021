#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: backup_download
short_description: Download, verify and decrypt an off-site recovery point from an S3-compatible bucket
description:
  - Fetches one recovery point that M(pourtrait.ops.backup_upload) wrote under C(<prefix>/<database>/) into
    C(<dest>/<name>/) - the dump exactly as M(pourtrait.ops.postgres_dump) wrote it, with its manifest beside it,
    ready for M(pourtrait.ops.postgres_restore) (RV(path)).
  - O(point) chooses it - V(latest) (the newest complete, verified one), a recovery point's name, or a time (the
    newest at or before it, C(YYYY-MM-DDTHH:MM:SSZ) or any ISO 8601 time; without a zone - UTC). A point that
    does not exist is refused with the newest available ones named.
  - Files are downloaded O(parallel_files) at a time, each in ranged parts, O(parallel_parts) in flight, read
    into part buffers that are used over and over (at most twice O(parallel_parts) per file); every object's
    SHA-256 is computed in order while its parts arrive and compared with the recovery point record. Encrypted
    points are decrypted with O(private_key). Last the dump is checked against its manifest.
  - Everything goes to a staging folder beside the destination first, moved into place only when every check
    passed. A tampered or corrupt object (its SHA-256 differs from the record), a wrong key, or any failure
    removes the partial copy - nothing is left to restore by mistake.
  - Idempotent - a complete local copy of the same recovery point (the same record, the dump matching its
    manifest) is no change and downloads nothing.
  - Check mode chooses the recovery point and names the keys it would fetch; nothing is downloaded.
version_added: 1.1.0
author: Pourtrait engineering (@pourtrait)
options:
  database:
    description: The database whose recovery point is fetched (the key segment after O(prefix)).
    type: str
    required: true
  point:
    description:
      - Which recovery point - V(latest), a recovery point's name (for example C(postgres-20260101T020000Z.dir)),
        or a time (the newest recovery point created at or before it).
    type: str
    default: latest
  dest:
    description: Local directory; the recovery point goes to C(<dest>/<name>/) (created C(0700)).
    type: path
    required: true
  prefix:
    description: Key prefix of the recovery points, as given to M(pourtrait.ops.backup_upload).
    type: str
    default: pourtrait
  require_verified:
    description: Only consider recovery points whose dump was verified when it was taken.
    type: bool
    default: true
  private_key:
    description:
      - The private key (PEM, or the path of a PEM file) that opens an encrypted recovery point - the pair of the
        O(pourtrait.ops.backup_upload#module:encryption_public_key) it was uploaded with. Needed only for encrypted
        points. Never logged.
    type: str
  private_key_passphrase:
    description: The passphrase of an encrypted O(private_key). Never logged.
    type: str
  part_size_mb:
    description: Size of one ranged GET (MiB).
    type: float
    default: 16
  parallel_parts:
    description: Parts of one file in flight at once.
    type: int
    default: 8
  parallel_files:
    description: Files downloaded at once (directory dumps).
    type: int
    default: 4
extends_documentation_fragment:
  - pourtrait.ops.attributes
  - pourtrait.ops.s3
attributes:
  check_mode:
    details: Chooses the recovery point and lists the keys it would fetch; downloads nothing.
  diff_mode:
    support: none
notes:
  - The timings are returned split in RV(timings) - C(download_s) (downloading, the SHA-256 computed on the way),
    C(verify_s) (comparing with the record, and the manifest check), C(decrypt_s).
'''

EXAMPLES = r'''
- name: Fetch the newest recovery point of the production database
  pourtrait.ops.backup_download:
    database: postgres
    dest: /var/backups/pourtrait/restore
  register: fetched

- name: Restore it
  pourtrait.ops.postgres_restore:
    path: "{{ fetched.path }}"
    target_db: postgres_restored
    create: true

- name: The state of last Tuesday night, encrypted to the recovery key
  pourtrait.ops.backup_download:
    database: postgres
    point: "2026-03-10T03:00:00Z"
    dest: /var/backups/pourtrait/restore
    private_key: "{{ lookup('ansible.builtin.file', '/etc/pourtrait/backup-recovery.key.pem') }}"
'''

RETURN = r'''
bucket:
  description: The bucket.
  returned: always
  type: str
point:
  description: The recovery point's name.
  returned: always
  type: str
  sample: postgres-20260101T020000Z.dir
path:
  description: The local dump (file, or the directory of a directory dump), its manifest beside it. In check mode -
    where it would be.
  returned: always
  type: str
manifest_path:
  description: The dump's manifest.
  returned: always
  type: str
keys:
  description: The keys of the dump's objects (in check mode - the keys it would fetch).
  returned: always
  type: list
  elements: str
downloaded:
  description: Keys downloaded by this run (empty when the local copy was already complete).
  returned: always
  type: list
  elements: str
record:
  description: The recovery point record (C(recovery-point.json)).
  returned: always
  type: dict
created:
  description: When the recovery point's dump was taken (UTC).
  returned: always
  type: str
encrypted:
  description: Whether the recovery point was encrypted (and decrypted here).
  returned: always
  type: bool
size:
  description: Bytes downloaded.
  returned: always
  type: int
available:
  description: Names of the complete recovery points of the database, newest first (at most 20).
  returned: always
  type: list
  elements: str
timings:
  description: Seconds spent - C(download_s), C(verify_s), and C(decrypt_s) for an encrypted point. Empty when
    nothing was downloaded.
  returned: always
  type: dict
  sample: {download_s: 41.2, verify_s: 0.3, decrypt_s: 6.1}
duration:
  description: Seconds the run took.
  returned: always
  type: float
'''

import os
import time

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, check_range
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.manifest import (
    check_digests, check_manifest, manifest_path_for, read_manifest,
)
from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import crypto, layout
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.client import MB, S3Module
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.download import DownloadJob, PointError, choose_point
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.points import TIME_FORMAT, list_points


def check_local_dump(record):
    """``check(path, digests=None)``: the dump at ``path`` matches its manifest (re-hashed, or the ``digests``
    computed on the way), and the manifest is the record's dump."""
    def check(path, digests=None):
        manifest = read_manifest(path)
        if manifest is None:
            raise PointError('the recovery point has no manifest %s; it was not written by backup_upload'
                             % manifest_path_for(path))
        if manifest.get('sha256') != (record.get('dump') or {}).get('sha256'):
            raise PointError('the manifest of %s is not the dump of the recovery point record; choose another point'
                             % path)
        fmt = manifest.get('format') or ('directory' if os.path.isdir(path) else 'custom')
        if digests is None:
            check_manifest(path, fmt, manifest)
        else:
            check_digests(path, fmt, manifest, digests)
    return check


class BackupDownload(S3Module):
    name = 'backup_download'
    argument_spec = dict(
        database=dict(type='str', required=True),
        point=dict(type='str', default='latest'),
        dest=dict(type='path', required=True),
        prefix=dict(type='str', default='pourtrait'),
        require_verified=dict(type='bool', default=True),
        private_key=dict(type='str', no_log=True),
        private_key_passphrase=dict(type='str', no_log=True),
        part_size_mb=dict(type='float', default=16),
        parallel_parts=dict(type='int', default=8),
        parallel_files=dict(type='int', default=4),
    )

    def preflight(self):
        S3Module.preflight(self)
        p = self.params
        try:
            self.prefix = layout.check_prefix(p['prefix'])
            layout.database_prefix(self.prefix, p['database'])
        except layout.LayoutError as exc:
            raise OpsError(str(exc))
        check_range('part_size_mb', p['part_size_mb'], minimum=1)
        check_range('parallel_parts', p['parallel_parts'], minimum=1, maximum=64)
        check_range('parallel_files', p['parallel_files'], minimum=1, maximum=32)
        self.private_key = None
        if p.get('private_key'):
            try:
                self.private_key = crypto.load_private_key(p['private_key'], p.get('private_key_passphrase'))
            except OSError as exc:
                raise OpsError('cannot read the private key file %s: %s; set private_key to the PEM private key or '
                               'its path' % (p['private_key'], exc.strerror))
            except crypto.CryptoError as exc:
                raise OpsError('%s; give the PEM private key paired with the upload\'s encryption_public_key (and '
                               'private_key_passphrase when it is encrypted)' % exc)

    def choose(self):
        p = self.params
        where = 's3://%s/%s' % (self.s3.bucket, layout.database_prefix(self.prefix, p['database']))
        complete, _incomplete = list_points(self.s3, self.prefix, p['database'])
        point = choose_point(complete, p['point'], where, p['require_verified'])
        return point, [c['name'] for c in complete[:20]]

    def run(self):
        started = time.time()
        p = self.params
        point, available = self.choose()
        job = DownloadJob(self.s3, point, p['dest'], dict(part_size=int(p['part_size_mb'] * MB),
                                                          parts=p['parallel_parts'], workers=p['parallel_files'],
                                                          private_key=self.private_key))
        if job.encrypted and self.private_key is None:
            raise OpsError('recovery point %s is encrypted (key id %s); set private_key to the matching private key'
                           % (job.name, (job.record.get('encryption') or {}).get('key_id')))
        check = check_local_dump(job.record)
        result = dict(bucket=self.s3.bucket, point=job.name, path=job.dump_path,
                      manifest_path=manifest_path_for(job.dump_path), keys=job.keys, record=job.record,
                      created=point['created'].strftime(TIME_FORMAT), encrypted=job.encrypted, available=available,
                      downloaded=[], size=0, timings={})
        if job.local_copy(check):
            result['changed'] = False
        elif self.check_mode:
            result.update(changed=True, downloaded=job.keys)
        else:
            result['timings'] = job.run(check)
            result.update(changed=True, downloaded=job.keys,
                          size=sum(o.get('stored_size') or 0 for o in job.objects))
        result['duration'] = round(time.time() - started, 3)
        return result


def main():
    BackupDownload.main()


if __name__ == '__main__':
    main()

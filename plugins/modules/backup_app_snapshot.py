#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: backup_app_snapshot
short_description: Store the application production runs beside a recovery point's database dump
description:
  - Reads the live production deployment of a Vercel project, the commit it was built from
    (C(meta.githubCommitSha), with C(githubCommitRef), C(githubOrg)/C(githubRepo)) and the B(names) of the
    project's production environment variables (their values are never requested nor stored).
  - Runs C(git archive) of exactly that commit in a local checkout (O(app_repo_path)) and stores, under the
    recovery point C(<prefix>/<database>/<name>/), C(app/app.tar.gz) (the archive) and C(app/app.json) (commit,
    ref, repository, deployment id and URL, env var names, the archive's SHA-256).
  - Run it before M(pourtrait.ops.backup_upload) - the point stays incomplete (no C(recovery-point.json)) until
    the upload writes the record, which then carries the app section, so the record ties the dump, the app commit,
    the deployment id and the time into one recovery point. Run after it, it rewrites the record with the app
    section added (one PUT).
  - Idempotent - the same commit, deployment and env var names already stored is no change. A point whose record
    already holds another app snapshot is refused.
  - Check mode reads Vercel and the checkout, checks the commit is there, and names the keys it would write.
version_added: 1.1.0
author: Pourtrait engineering (@pourtrait)
options:
  app_repo_path:
    description:
      - A local git checkout (or bare clone) of the app; it must contain the commit production runs (C(git fetch)
        first).
    type: path
    required: true
  path:
    description:
      - The dump (or its manifest) this snapshot goes beside, as M(pourtrait.ops.postgres_dump) returned it; gives
        the default O(database) and O(name). Either O(path) or O(name) is required.
    type: path
  database:
    description:
      - The database segment of the keys. Default - the dump manifest's C(database). Required with O(name) alone.
    type: str
  name:
    description:
      - The recovery point's name. Default - the dump's name (its manifest's C(name)).
    type: str
  prefix:
    description:
      - Key prefix of every recovery point (as in M(pourtrait.ops.backup_upload)).
    type: str
    default: pourtrait
  server_side_encryption:
    description:
      - Encryption at rest by the server - V(AES256) or V(aws:kms) (with O(kms_key_id)).
    type: str
    choices: [AES256, 'aws:kms']
  kms_key_id:
    description:
      - The KMS key of O(server_side_encryption=aws:kms).
    type: str
  tmp_dir:
    description:
      - Where the archive is written before its upload (removed after). Default - the system's.
    type: path
  vercel_api_token:
    description:
      - The Vercel token. If not set, E(VERCEL_TOKEN) is used.
    type: str
  vercel_team_id:
    description:
      - The Vercel team (id or slug). If not set, E(VERCEL_TEAM_ID) is used.
    type: str
  vercel_project:
    description:
      - The Vercel project (name or id). If not set, E(VERCEL_PROJECT) is used.
    type: str
  vercel_api_url:
    description:
      - The Vercel API. If not set, E(VERCEL_API_URL) is used, else C(https://api.vercel.com).
    type: str
    default: https://api.vercel.com
  vercel_ca_path:
    description:
      - A CA bundle for the Vercel API. If not set, E(VERCEL_CA_PATH) is used.
    type: path
  vercel_validate_certs:
    description:
      - Verify the Vercel API's TLS certificate.
    type: bool
    default: true
extends_documentation_fragment:
  - pourtrait.ops.attributes
  - pourtrait.ops.s3
attributes:
  check_mode:
    details: Reads Vercel and the checkout and names the keys it would write; uploads nothing.
  diff_mode:
    support: full
    details: The stored app snapshot (commit, deployment, env var names) before and after.
notes:
  - The Vercel options carry a C(vercel_) prefix because the C(s3) group's options already use C(validate_certs),
    C(ca_path) and C(timeout).
'''

EXAMPLES = r'''
- name: Dump and verify
  pourtrait.ops.postgres_dump:
    db: pourtrait
    backup_dir: /var/backups/pourtrait
  register: dump

- name: Snapshot the app production runs, beside the dump
  pourtrait.ops.backup_app_snapshot:
    path: "{{ dump.path }}"
    app_repo_path: /srv/checkouts/pourtrait

- name: Then upload the dump; its record ties both into one recovery point
  pourtrait.ops.backup_upload:
    path: "{{ dump.path }}"
'''

RETURN = r'''
commit:
  description: The commit production runs (the deployment's C(meta.githubCommitSha)).
  returned: always
  type: str
ref:
  description: Its branch (C(meta.githubCommitRef)).
  returned: always
  type: str
repo:
  description: C(<githubOrg>/<githubRepo>).
  returned: always
  type: str
deployment_id:
  description: The live production deployment.
  returned: always
  type: str
deployment_url:
  description: Its URL.
  returned: always
  type: str
env_names:
  description: Names of the project's production environment variables (never their values).
  returned: always
  type: list
  elements: str
keys:
  description: The archive's and the info's keys.
  returned: always
  type: list
  elements: str
archive:
  description: The stored archive - key, format, sha256, size (null in check mode before the first run).
  returned: always
  type: dict
record_updated:
  description: Whether an existing C(recovery-point.json) was rewritten with the app section.
  returned: always
  type: bool
'''

import json
import os
import shutil
import tempfile

from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.manifest import MANIFEST_SUFFIX, read_manifest
from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import app_snapshot, layout
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.client import S3Error, S3Module
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.points import read_record, write_record
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.upload import META_SHA256


def point_of(params):
    """(database, name) of the recovery point, from the options or the dump's manifest."""
    database, name = params.get('database'), params.get('name')
    if params.get('path'):
        path = params['path'].rstrip(os.sep) or params['path']
        if path.endswith(MANIFEST_SUFFIX):
            path = path[:-len(MANIFEST_SUFFIX)]
        manifest = read_manifest(path) if os.path.exists(path) else None
        if manifest is None:
            raise OpsError('dump %s has no manifest; set path to what postgres_dump returned, or set database and name'
                           % path)
        database = database or manifest.get('database')
        name = name or manifest.get('name') or os.path.basename(path)
    if not (database and name):
        raise OpsError('no recovery point: set path (the dump) or database and name')
    return database, name


class BackupAppSnapshot(S3Module):
    name = 'backup_app_snapshot'
    argument_spec = dict(
        app_snapshot.vercel_options(),
        app_repo_path=dict(type='path', required=True),
        path=dict(type='path'),
        database=dict(type='str'),
        name=dict(type='str'),
        prefix=dict(type='str', default='pourtrait'),
        server_side_encryption=dict(type='str', choices=['AES256', 'aws:kms']),
        kms_key_id=dict(type='str'),
        tmp_dir=dict(type='path'),
    )
    module_kwargs = dict(required_one_of=[('path', 'name')])

    def preflight(self):
        S3Module.preflight(self)
        from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import VercelError, check_token
        p = self.params
        app_snapshot.check_repo(p['app_repo_path'])     # local checks first: no call before they pass
        check_token(p.get('vercel_api_token'))
        if not p.get('vercel_project'):
            raise VercelError('no Vercel project: set vercel_project or the VERCEL_PROJECT environment variable')
        if p.get('kms_key_id') and p.get('server_side_encryption') != 'aws:kms':
            raise OpsError('kms_key_id needs server_side_encryption=aws:kms')
        self.database, self.point = point_of(p)
        try:
            self.prefix = layout.check_prefix(p['prefix'])
            self.archive_key, self.info_key = layout.app_keys(self.prefix, self.database, self.point)
            self.record_key = layout.record_key(self.prefix, self.database, self.point)
        except layout.LayoutError as exc:
            raise OpsError(str(exc))

    def extra(self, sha256=None, content_type=None):
        extra = {'Metadata': {'database': self.database, 'recovery-point': self.point}}
        if sha256:
            extra['Metadata'][META_SHA256] = sha256
        if content_type:
            extra['ContentType'] = content_type
        if self.params.get('server_side_encryption'):
            extra['ServerSideEncryption'] = self.params['server_side_encryption']
            if self.params.get('kms_key_id'):
                extra['SSEKMSKeyId'] = self.params['kms_key_id']
        return extra

    def stored(self):
        """(app.json or None when it or its archive is missing/different, record or None)."""
        info = app_snapshot.read_info(self.s3, self.info_key)
        if info is not None:
            head = self.s3.head(self.archive_key)
            if head is None or (head.get('Metadata') or {}).get(META_SHA256) != (info.get('archive') or {}).get('sha256'):
                info = None
        return info, read_record(self.s3, self.record_key)

    def store(self, wanted):
        p = self.params
        tmp = tempfile.mkdtemp(prefix='.pourtrait-app-', dir=p.get('tmp_dir') or None)
        try:
            out = os.path.join(tmp, layout.APP_ARCHIVE)
            top = '%s-%s' % ((wanted.get('repo') or 'app').split('/')[-1], wanted['commit'][:12])
            sha256, size = app_snapshot.archive(p['app_repo_path'], wanted['commit'], out, top)
            self.s3.upload_file(out, self.archive_key, self.extra(sha256, 'application/gzip'), threshold=64 * 1024 * 1024)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        info = app_snapshot.info_document(wanted, self.database, self.point, self.archive_key, sha256, size)
        self.s3.put_bytes(self.info_key, json.dumps(info, indent=1, sort_keys=True).encode('utf-8'),
                          self.extra(content_type='application/json'))
        return info

    def run(self):
        p = self.params
        wanted = app_snapshot.production(app_snapshot.vercel_client(p), p['vercel_project'])
        app_snapshot.check_commit(p['app_repo_path'], wanted['commit'])
        info, record = self.stored()
        in_record = (record or {}).get('app')
        if in_record and not app_snapshot.same(in_record, wanted):
            raise S3Error('recovery point s3://%s/%s already holds the app snapshot of commit %s (deployment %s); '
                          'production now runs %s: take a new backup (another name)'
                          % (self.s3.bucket, self.record_key[:-len(layout.RECORD_NAME)], in_record.get('commit'),
                             in_record.get('deployment_id'), wanted['commit']))
        fresh = app_snapshot.same(info, wanted)
        record_todo = record is not None and not in_record
        keep = dict((f, (info or {}).get(f)) for f in app_snapshot.SAME_FIELDS) if info else None
        self.diff({'app': keep}, {'app': dict((f, wanted[f]) for f in app_snapshot.SAME_FIELDS)})
        changed = not fresh or record_todo
        if changed and not self.check_mode:
            if not fresh:
                info = self.store(wanted)
            if record is not None:
                record['app'] = app_snapshot.record_section(info, self.info_key)
                write_record(self.s3, self.record_key, record, record.get('server_side_encryption'),
                             p.get('kms_key_id'))
        result = dict(wanted, changed=changed, bucket=self.s3.bucket, keys=[self.archive_key, self.info_key],
                      archive=(info or {}).get('archive') if fresh or not self.check_mode else None,
                      record_updated=bool(changed and record is not None))
        return result


def main():
    BackupAppSnapshot.main()


if __name__ == '__main__':
    main()

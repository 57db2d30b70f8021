# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The application half of a recovery point: what production runs (the live Vercel deployment, its
``meta.githubCommitSha``, the NAMES of its production env vars) and a ``git archive`` of that commit from a
local checkout, stored as ``<rp>/app/app.tar.gz`` + ``<rp>/app/app.json`` (keys in ``layout.py``).

``git`` always gets an argument list (never a shell string), the commit is checked to be a hex SHA before it
reaches argv, and env var values are never requested (``decrypt=false``) nor kept: names only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import subprocess
import time

from ansible.module_utils.basic import env_fallback
from ansible_collections.pourtrait.ops.plugins.module_utils._module import OpsError, one_line
from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import layout
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.points import read_json_object

SHA_RE = re.compile(r'\A[0-9a-f]{7,64}\Z')
INFO_VERSION = 1
# what makes two snapshots the same (the archive is the commit's, so its digest follows from the commit)
SAME_FIELDS = ('commit', 'deployment_id', 'env_names')


def vercel_options():
    """The Vercel connection of a module of the ``s3`` group, prefixed ``vercel_`` (the s3 options already use
    ``validate_certs``/``ca_path``/``timeout``); same environment fallbacks as the vercel_* modules."""
    return dict(
        vercel_api_token=dict(type='str', no_log=True, fallback=(env_fallback, ['VERCEL_TOKEN'])),
        vercel_team_id=dict(type='str', fallback=(env_fallback, ['VERCEL_TEAM_ID'])),
        vercel_project=dict(type='str', fallback=(env_fallback, ['VERCEL_PROJECT'])),
        vercel_api_url=dict(type='str', default='https://api.vercel.com', fallback=(env_fallback, ['VERCEL_API_URL'])),
        vercel_ca_path=dict(type='path', fallback=(env_fallback, ['VERCEL_CA_PATH'])),
        vercel_validate_certs=dict(type='bool', default=True),
    )


def vercel_client(params):
    from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import VercelClient
    return VercelClient(params.get('vercel_api_token'), team=params.get('vercel_team_id') or None,
                        api_url=params.get('vercel_api_url'), validate_certs=params.get('vercel_validate_certs', True),
                        ca_path=params.get('vercel_ca_path'))


def production(client, project_name):
    """What production runs: ``{project_id, deployment_id, deployment_url, commit, ref, repo, env_names}``."""
    from ansible_collections.pourtrait.ops.plugins.module_utils.vercel import VercelError
    project = client.project(project_name)
    live = client.live_id(project)
    if not live:
        raise VercelError('project %s has no production deployment; deploy it first (playbooks/deploy.yml)'
                          % project_name)
    dep = client.deployment(live)
    meta = dep.get('meta') or {}
    commit = str(meta.get('githubCommitSha') or (dep.get('gitSource') or {}).get('sha') or '').lower()
    if not commit:
        raise VercelError('production deployment %s has no meta.githubCommitSha (not built from Git); deploy from '
                          'Git so the commit production runs is known' % live)
    if not SHA_RE.match(commit):
        raise VercelError('production deployment %s has meta.githubCommitSha %r, not a commit SHA' % (live, commit[:80]))
    repo = '/'.join(x for x in (meta.get('githubOrg'), meta.get('githubRepo')) if x) or None
    url = dep.get('url')
    names = set()
    for env in client.list_env(project.get('id'), decrypt=False):
        targets = env.get('target') or []
        targets = [targets] if isinstance(targets, str) else targets
        if 'production' in targets and env.get('key'):
            names.add(env['key'])
    return {'project_id': project.get('id'), 'deployment_id': dep.get('id') or dep.get('uid') or live,
            'deployment_url': ('https://%s' % url) if url and not url.startswith('http') else url,
            'commit': commit, 'ref': meta.get('githubCommitRef'), 'repo': repo, 'env_names': sorted(names)}


# -- git ---------------------------------------------------------------------------------------------------------

def _git(repo_path, args, timeout=600):
    env = dict(os.environ, GIT_TERMINAL_PROMPT='0', LC_ALL='C')
    try:
        proc = subprocess.run(['git', '-C', repo_path] + list(args), capture_output=True, env=env, timeout=timeout,
                              check=False)
    except OSError as exc:
        raise OpsError('cannot run git (%s); install git on the machine running the backup' % one_line(exc))
    return proc.returncode, proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')


def check_repo(repo_path):
    """Raise a one-line error unless ``repo_path`` is a git repository (a work tree or a bare one)."""
    if not repo_path or not os.path.isdir(repo_path):
        raise OpsError('app_repo_path %s is not a directory; set it to a git checkout of the app' % repo_path)
    code, out, err = _git(repo_path, ['rev-parse', '--git-dir'])
    if code != 0:
        reason = one_line(err).replace('fatal: ', '')[:200] or 'git rev-parse failed'
        raise OpsError('app_repo_path %s is not a git repository (%s); set it to a git checkout of the app'
                       % (repo_path, reason))


def check_commit(repo_path, commit):
    """Raise a one-line error unless the commit is in the local repository."""
    if not SHA_RE.match(commit or ''):
        raise OpsError('%r is not a commit SHA' % str(commit)[:80])
    code, _out, _err = _git(repo_path, ['cat-file', '-e', commit + '^{commit}'])
    if code != 0:
        raise OpsError('commit %s (what production runs) is not in %s; run git fetch there (git -C %s fetch '
                       'origin) and rerun' % (commit, repo_path, repo_path))


def archive(repo_path, commit, out_path, top):
    """``git archive`` of ``commit`` into ``out_path`` (tar.gz, every path under ``top/``); ``(sha256, size)``."""
    check_commit(repo_path, commit)
    code, _out, err = _git(repo_path, ['archive', '--format=tar.gz', '--prefix=%s/' % top, '-o', out_path, commit])
    if code != 0:
        raise OpsError('git archive of %s in %s failed: %s' % (commit, repo_path, one_line(err)[:200]))
    digest = hashlib.sha256()
    with open(out_path, 'rb') as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b''):
            digest.update(block)
    return digest.hexdigest(), os.path.getsize(out_path)


# -- in the bucket -----------------------------------------------------------------------------------------------

def read_info(s3, key):
    """The ``app.json`` at ``key`` (dict) or None."""
    return read_json_object(s3, key, 'an app snapshot')


def same(info, wanted):
    return info is not None and all(info.get(f) == wanted.get(f) for f in SAME_FIELDS)


def info_document(wanted, database, name, archive_key, sha256, size):
    doc = dict(wanted, kind='app_snapshot', info_version=INFO_VERSION, database=database, name=name,
               captured=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
               archive={'key': archive_key, 'format': 'tar.gz', 'sha256': sha256, 'size': size})
    return doc


def record_section(info, info_key):
    """What a recovery point record keeps of an app snapshot (``record['app']``)."""
    if not info:
        return None
    arch = info.get('archive') or {}
    return {'commit': info.get('commit'), 'ref': info.get('ref'), 'repo': info.get('repo'),
            'deployment_id': info.get('deployment_id'), 'deployment_url': info.get('deployment_url'),
            'env_names': info.get('env_names'), 'captured': info.get('captured'), 'info_key': info_key,
            'archive_key': arch.get('key'), 'archive_sha256': arch.get('sha256'), 'archive_size': arch.get('size')}


def point_app_section(s3, prefix, database, name):
    """The ``app`` section for a record being written: from ``<rp>/app/app.json`` when the snapshot was stored
    first (``backup_app_snapshot`` before ``backup_upload``), else None."""
    _archive_key, info_key = layout.app_keys(prefix, database, name)
    return record_section(read_info(s3, info_key), info_key)

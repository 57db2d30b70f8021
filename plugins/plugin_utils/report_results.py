# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The key results of the runbook_report callback: which result fields each module family contributes, how they
are picked from a result (loops included), and the derived times to mitigate and to verify."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text
from ansible_collections.pourtrait.ops.plugins.plugin_utils.report_markdown import action_family

# Key results per module family: dotted paths into the result; `[]` maps over a list.
KEY_RESULTS = {
    'vercel_rollback': ('from.id', 'to.id', 'job_status', 'duration_s', 'auto_assign_paused'),
    'vercel_promote': ('from.id', 'to.id', 'job_status', 'rebuilt', 'duration_s'),
    'vercel_deployment': ('deployment.id', 'deployment.url', 'deployment.state', 'created', 'promoted', 'canceled',
                          'elapsed_s'),
    'vercel_deployment_info': ('production.id', 'previous.id', 'deployment.id'),
    'vercel_env': ('env.key', 'env.target', 'value_changed', 'removed', 'redeploy_needed'),
    'app_health': ('healthy', 'status', 'http_status', 'unhealthy_services', 'attempts', 'elapsed_s'),
    'deployment_verify': ('verdict', 'reason', 'rounds', 'elapsed_s'),
    'postgres_dump': ('path', 'manifest_path', 'format', 'size', 'sha256', 'verification.method', 'verification.ok',
                      'removed', 'duration'),
    'supabase_db_dump': ('path', 'manifest_path', 'dump_mode', 'size', 'sha256', 'verification.ok', 'removed',
                         'duration'),
    'backup_download': ('point', 'created', 'path', 'encrypted', 'size', 'timings.download_s', 'timings.verify_s',
                        'timings.decrypt_s', 'duration'),
    'postgres_restore': ('target_db', 'format', 'checksum_ok', 'terminated_sessions', 'duration'),
    'supabase_backup_restore': ('kind', 'recovery_time', 'backup.id', 'status', 'duration_s'),
    'supabase_backup_info': ('latest_completed.id', 'latest_completed_age_hours', 'completed_count', 'pitr_enabled'),
    'supabase_migration': ('applied[].version', 'pending', 'repaired', 'failed_file', 'sqlstate'),
    'supabase_project_info': ('status', 'healthy', 'unhealthy_services'),
    'supabase_network_ban': ('banned', 'removed'),
    'postgres_terminate': ('terminated', 'cancelled', 'still_running'),
    'postgres_maintenance': ('tables[].table', 'tables[].status'),
    'postgres_retention': ('table', 'function', 'deleted', 'batches', 'complete', 'cutoff'),
    'postgres_diagnostics': ('diagnostics.connections.total', 'diagnostics.long_running[].pid'),
    # the security modules (their Evidence and Containment lines: plugin_utils/report_security.py); never a value
    'vercel_firewall': ('actions', 'config_version', 'attack_mode.enabled', 'attack_mode.active_until'),
    'vercel_firewall_info': ('event_counts.total', 'config.version', 'attack_mode.enabled'),
    'vercel_logs_info': ('deployment_id', 'count', 'truncated', 'stopped'),
    'supabase_auth_user': ('users[].email', 'access_tokens_valid_until'),
    'supabase_auth_audit_info': ('total', 'truncated'),
    'supabase_logs_info': ('count', 'calls', 'truncated'),
    'supabase_api_key': ('key.name', 'key.type', 'created', 'deleted', 'legacy_enabled'),
    'supabase_db_password': ('target.user', 'target.host', 'rotated_at', 'verified'),
}
MITIGATION_ACTIONS = frozenset(('vercel_rollback', 'vercel_promote', 'vercel_env', 'supabase_backup_restore',
                                'postgres_restore'))
# containment that stops the harm of a security incident (report_security.py's measures): a block, a rate limit,
# attack mode, a ban, a sign-out, a deleted key, a new database password, sessions ended, legacy keys turned off
MITIGATING_MEASURES = frozenset(('ip_block', 'rate_limit', 'attack_mode', 'network_ban', 'user_ban', 'sign_out',
                                 'key_deleted', 'db_password', 'sessions_ended'))
VERIFICATION_ACTIONS = frozenset(('app_health', 'deployment_verify', 'supabase_project_info'))
SUCCESS = frozenset(('ok', 'changed'))
_MISSING = object()


def _plain(value):
    """JSON-safe plain data (tagged strings and containers of Ansible become str, dict, list)."""
    if isinstance(value, dict):
        return dict((to_text(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return to_text(value)


def pick(result, path):
    """Value at a dotted path (`a.b`, `items[].version`) of a result, or _MISSING."""
    head, _sep, rest = path.partition('.')
    if head.endswith('[]'):
        items = result.get(head[:-2]) if isinstance(result, dict) else None
        if not isinstance(items, list):
            return _MISSING
        picked = [pick(item, rest) if rest else item for item in items]
        return [item for item in picked if item is not _MISSING]
    if not isinstance(result, dict) or head not in result:
        return _MISSING
    value = result[head]
    if not rest:
        return value
    return pick(value, rest) if value is not None else _MISSING


def _message(result):
    msg = result.get('msg')
    if msg is None:
        msg = result.get('skip_reason')
    if isinstance(msg, (list, tuple)):
        msg = '\n'.join(to_text(line) for line in msg)
    return None if msg in (None, '') else to_text(msg)


def extract_key_results(family, result):
    """(key results, msg) of one module result: the family's table, else nothing; loops give one dict per item."""
    if not isinstance(result, dict):
        return {}, None
    paths = KEY_RESULTS.get(family, ())
    key = {}
    if paths:
        if isinstance(result.get('results'), list):
            items = []
            for item in result['results']:
                if isinstance(item, dict):
                    picked = dict((p, _plain(v)) for p in paths for v in (pick(item, p),) if v is not _MISSING)
                    if picked:
                        items.append(picked)
            if items:
                key['items'] = items
        else:
            for path in paths:
                value = pick(result, path)
                if value is not _MISSING:
                    key[path] = _plain(value)
    return key, _message(result)


def _seconds(value):
    return None if value is None else round(value, 3)


def mitigates(family, task):
    """Whether a successful task mitigated: a rollback, promote, env var change or restore, or a containment
    measure (its ``security`` record) done or already in force - never one only planned in check mode."""
    if family in MITIGATION_ACTIONS:
        return True
    if task.get('check_mode'):
        return False
    measures = (task.get('security') or {}).get('containment') or []
    return any(m.get('kind') in MITIGATING_MEASURES or (m.get('kind') == 'legacy_keys' and m.get('target') == 'off')
               for m in measures)


def derive_times(started, tasks, check_mode=False):
    """Time to mitigate and time to verify, in seconds from `started`, with the tasks that decided them."""
    mitigation = verification = None
    for task in tasks:
        if task['outcome'] not in SUCCESS:
            continue
        family = action_family(task['action'])
        if mitigates(family, task) and not check_mode:
            if mitigation is None or task['_end'] < mitigation['_end']:
                mitigation = task
        elif family in VERIFICATION_ACTIONS:
            key = task.get('key_results') or {}
            if key.get('healthy') is False or key.get('verdict') not in (None, 'pass'):
                continue
            if verification is None or task['_end'] >= verification['_end']:
                verification = task
    derived = dict(time_to_mitigate_s=None, mitigated_by=None, time_to_verify_s=None, verified_by=None)
    if mitigation is not None:
        derived['time_to_mitigate_s'] = _seconds(mitigation['_end'] - started)
        derived['mitigated_by'] = dict(task=mitigation['name'], host=mitigation['host'], at=mitigation['end'])
    if verification is not None:
        derived['time_to_verify_s'] = _seconds(verification['_end'] - started)
        derived['verified_by'] = dict(task=verification['name'], host=verification['host'], at=verification['end'])
    return derived

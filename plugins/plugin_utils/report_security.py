# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Evidence and Containment sections of the run report (runbook_report callback).

Evidence: what the read-only security modules found, counted, with times (firewall events, runtime log lines, the
auth audit trail, Supabase log rows). Containment: what the security modules blocked, banned, signed out, ended,
created, deleted or rotated, and what stays in force until when. Both are taken from module results, recognised by
action name, so any playbook gets them. Secret result fields (passwords, key values, recovery links) are never read:
their values are only handed back so the callback can mask them wherever else they appear."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text

# Result fields that carry a credential when a task asked for it (return_password, return_key,
# return_recovery_link): never copied into the report.
SECRET_RESULT_FIELDS = frozenset(('password', 'api_key', 'recovery_links', 'action_link', 'value', 'secret'))
TOP = 10  # busiest items kept per count
HIDDEN = 'details hidden: no_log task'

# Arguments that name what a task acted on (never a value), kept for no_log tasks whose results Ansible censors.
SAFE_ARGS = {
    'supabase_db_password': ('db_user', 'db_host', 'db_name'),
    'supabase_api_key': ('name', 'id', 'type', 'state', 'legacy_enabled', 'reason'),
    'supabase_auth_user': ('users', 'banned', 'ban_duration', 'sign_out', 'remove_mfa', 'password_reset'),
    'vercel_env': ('key', 'target', 'state'),
    'vercel_firewall': ('ip', 'action', 'hostname', 'state', 'expires_in', 'expires_at', 'attack_mode'),
    'supabase_network_ban': ('ban', 'unban'),
    'postgres_terminate': ('roles', 'pids', 'action'),
}

# kind -> (done, planned, already in force): the verb of a line of the Containment section
VERBS = {
    'ip_block': ('blocked', 'would block', 'still blocked'),
    'ip_unblock': ('lifted the block of', 'would lift the block of', 'block lifted of'),
    'rate_limit': ('rate limit set on', 'would set a rate limit on', 'rate limit in force on'),
    'rate_limit_removed': ('rate limit removed from', 'would remove the rate limit from', 'no rate limit on'),
    'attack_mode': ('attack challenge mode on for', 'would turn attack challenge mode on for',
                    'attack challenge mode still on for'),
    'attack_mode_off': ('attack challenge mode off for', 'would turn attack challenge mode off for',
                        'attack challenge mode off for'),
    'network_ban': ('banned at the database network', 'would ban at the database network',
                    'still banned at the database network'),
    'network_unban': ('lifted the database network ban of', 'would lift the database network ban of',
                      'not banned at the database network'),
    'user_ban': ('banned user', 'would ban user', 'user still banned'),
    'user_unban': ('unbanned user', 'would unban user', 'user not banned'),
    'sign_out': ('signed out everywhere', 'would sign out everywhere', 'signed out'),
    'mfa_removed': ('removed the MFA factors of', 'would remove the MFA factors of', 'no MFA factors for'),
    'recovery': ('password recovery requested for', 'would request password recovery for',
                 'password recovery requested for'),
    'sessions_ended': ('ended database sessions', 'would end database sessions', 'no database session to end'),
    'key_created': ('created API key', 'would create API key', 'API key exists'),
    'key_deleted': ('deleted API key', 'would delete API key', 'API key absent'),
    'legacy_keys': ('legacy API keys turned', 'would turn legacy API keys', 'legacy API keys'),
    'db_password': ('rotated the database password of', 'would rotate the database password of',
                    'database password unchanged for'),
    'env_var': ('changed the value of the Vercel env var', 'would change the value of the Vercel env var',
                'Vercel env var unchanged'),
    'env_var_removed': ('removed the Vercel env var', 'would remove the Vercel env var', 'Vercel env var absent'),
    'changed': ('changed', 'would change', 'unchanged'),
}


def _measure(kind, target, detail=None, until=None, changed=True):
    return dict(kind=kind, target=to_text(target) if target is not None else None, detail=detail, until=until,
                changed=bool(changed))


def _top(items, size=TOP):
    return list(items or [])[:size]


def _path(value):
    """A request path without its query string (tokens ride in query strings)."""
    return to_text(value).split('?', 1)[0].split('#', 1)[0]


def _times(values):
    values = sorted(to_text(v) for v in values if v)
    return (values[0], values[-1]) if values else (None, None)


# --- Evidence --------------------------------------------------------------------------------------------------

def _firewall_evidence(result):
    counts = result.get('event_counts') or {}
    events = result.get('events') or []
    first, _last = _times(e.get('start_time') for e in events)
    _first, last = _times(e.get('end_time') or e.get('start_time') for e in events)
    out = dict(source='vercel firewall', window=result.get('window'), first=first, last=last,
               events=counts.get('total', len(events) if 'events' in result else None),
               by_ip=[dict(ip=i.get('ip'), count=i.get('count')) for i in _top(counts.get('by_ip'))],
               by_action=counts.get('by_action') or {})
    if 'ip_blocks' in result:
        out['ip_blocks'] = len(result.get('ip_blocks') or [])
        out['expired_blocks'] = len(result.get('expired') or [])
    mode = result.get('attack_mode') or {}
    if mode:
        out['attack_mode'] = dict(enabled=mode.get('enabled'), active_until=mode.get('active_until'))
    if 'attack_status' in result:
        out['anomalies'] = len(result.get('attack_status') or [])
    return out


def _logs_evidence(result):
    counts = result.get('counts') or {}
    lines = result.get('lines') or []
    first, last = _times(line.get('time') for line in lines)
    by_path = counts.get('by_path') or {}
    if isinstance(by_path, dict):
        by_path = dict((_path(k), v) for k, v in list(by_path.items())[:TOP])
    else:
        by_path = [dict(item, path=_path(item.get('path'))) if isinstance(item, dict) else item
                   for item in _top(by_path)]
    return dict(source='vercel runtime logs', deployment_id=result.get('deployment_id'), window=result.get('window'),
                first=first, last=last, lines=result.get('count'), read=result.get('read'),
                truncated=result.get('truncated'), stopped=result.get('stopped'),
                by_status=counts.get('by_status') or {}, by_level=counts.get('by_level') or {}, by_path=by_path,
                build_events=len(result['build_events']) if isinstance(result.get('build_events'), list) else None)


def _audit_evidence(result):
    keep = ('ip', 'events', 'actors', 'first', 'last')
    return dict(source='supabase auth audit', window=result.get('window'), entries=result.get('total'),
                truncated=result.get('truncated'), by_action=result.get('by_action') or {},
                by_ip=[dict((k, item.get(k)) for k in keep) for item in _top(result.get('by_ip'))],
                login_bursts=len(result.get('login_bursts') or []),
                suspicious=[dict((k, item.get(k)) for k in ('ip', 'source', 'reason', 'actors', 'events', 'first',
                                                            'last')) for item in _top(result.get('suspicious'))])


def _supabase_logs_evidence(result):
    return dict(source='supabase logs', window=dict(since=result.get('start'), until=result.get('end')),
                rows=result.get('count'), truncated=result.get('truncated'), calls=result.get('calls'))


EVIDENCE = {
    'vercel_firewall_info': _firewall_evidence,
    'vercel_logs_info': _logs_evidence,
    'supabase_auth_audit_info': _audit_evidence,
    'supabase_logs_info': _supabase_logs_evidence,
}


# --- Containment -----------------------------------------------------------------------------------------------

def _firewall(result, args):
    done = ' '.join(to_text(a) for a in result.get('actions') or [])
    words = done.split()
    out = []
    for block in result.get('ip_blocks') or []:
        ip = block.get('ip')
        detail = '%s on %s' % (block.get('action'), block.get('hostname'))
        if block.get('reason'):
            detail += ', %s' % block['reason']
        out.append(_measure('ip_block', ip, detail, block.get('expires_at'), changed=bool(ip) and ip in words))
    for block in result.get('removed_expired') or []:
        detail = 'on %s, expired %s' % (block.get('hostname'), block.get('expires_at'))
        out.append(_measure('ip_unblock', block.get('ip'), detail))
    for text in result.get('actions') or []:
        parts = to_text(text).split()  # unblock <ip> on <hostname>
        if len(parts) >= 4 and parts[0] == 'unblock':
            out.append(_measure('ip_unblock', parts[1], 'on %s' % parts[3]))
    rule = result.get('rate_limit')
    if rule:
        limit = rule.get('rate_limit') or {}
        detail = '%s requests per %s s per IP, then %s' % (limit.get('limit'), limit.get('window'),
                                                           limit.get('action') or rule.get('action'))
        out.append(_measure('rate_limit', ', '.join(to_text(p) for p in rule.get('paths') or []) or rule.get('name'),
                            detail, changed='the rule' in done))
    elif 'remove the rule' in done:
        out.append(_measure('rate_limit_removed', 'a path'))
    mode = result.get('attack_mode') or {}
    if 'attack challenge mode' in done.lower():
        if mode.get('enabled'):
            out.append(_measure('attack_mode', 'the project', until=mode.get('active_until')))
        else:
            out.append(_measure('attack_mode_off', 'the project'))
    elif mode.get('enabled'):
        out.append(_measure('attack_mode', 'the project', until=mode.get('active_until'), changed=False))
    return out


def _network_ban(result, args):
    before = set(result.get('banned_before') or [])
    out = [_measure('network_ban', ip, changed=ip not in before) for ip in result.get('banned') or []]
    return out + [_measure('network_unban', ip) for ip in result.get('removed') or []]


def _auth_user(result, args):
    out = []
    valid = result.get('access_tokens_valid_until')
    for user in result.get('users') or []:
        who = user.get('email') or user.get('id')
        before, after = user.get('banned_until_before'), user.get('banned_until')
        if after and after != before:
            out.append(_measure('user_ban', who, until=after))
        elif before and not after:
            out.append(_measure('user_unban', who))
        if user.get('sessions_revoked'):
            out.append(_measure('sign_out', who, '%s session(s), %s refresh token(s) revoked; access tokens already '
                                'issued stay valid until %s' % (user.get('sessions_revoked'),
                                                                user.get('refresh_tokens_revoked'), valid or '?'),
                                until=valid))
        factors = user.get('factors_removed') or []
        if factors:
            out.append(_measure('mfa_removed', who, ', '.join(sorted(to_text(f.get('factor_type')) for f in factors))))
        if user.get('recovery_requested'):
            out.append(_measure('recovery', who, 'requested at %s' % user['recovery_sent_at']
                                if user.get('recovery_sent_at') else None))
    return out


def _terminate(result, args):
    terminated, cancelled = result.get('terminated') or [], result.get('cancelled') or []
    stopping = [c for c in result.get('candidates') or []
                if c.get('outcome') in ('would stop', 'terminated', 'cancelled')]
    if not (terminated or cancelled or stopping):
        return []
    roles = sorted(set(to_text(c.get('usename')) for c in stopping if c.get('usename')))
    databases = sorted(set(to_text(c.get('datname')) for c in stopping if c.get('datname')))
    detail = '%d terminated, %d cancelled' % (len(terminated), len(cancelled)) if terminated or cancelled else (
        '%d session(s)' % len(stopping))
    if result.get('still_running'):
        detail += ', %d still running' % len(result['still_running'])
    target = 'of %s' % ', '.join(roles) if roles else ''
    if databases:
        target += ' on %s' % ', '.join(databases)
    return [_measure('sessions_ended', target.strip() or 'pids %s' % (terminated + cancelled), detail)]


def _api_key(result, args):
    key = result.get('key') or {}
    name = key.get('name') or key.get('id') or args.get('name') or args.get('id')
    label = '%s (%s)' % (name, key.get('type')) if key.get('type') else name
    out = []
    if result.get('created'):
        out.append(_measure('key_created', label))
    if result.get('deleted'):
        out.append(_measure('key_deleted', label, 'as compromised: %s' % args['reason'] if args.get('reason')
                            else 'as compromised'))
    if result.get('changed') and not out and 'legacy_enabled' in result:
        out.append(_measure('legacy_keys', 'on' if result['legacy_enabled'] else 'off'))
    return out


def _db_password(result, args):
    if not result.get('changed'):
        return []
    target = result.get('target') or {}
    where = '%s@%s/%s' % (target.get('user'), target.get('host'), target.get('dbname')) if target else None
    detail = 'verified' if result.get('verified') else 'not verified'
    if result.get('rotated_at'):
        detail = 'at %s, %s' % (result['rotated_at'], detail)
    return [_measure('db_password', where, detail + '; sessions opened before keep running until ended')]


def _env(result, args):
    env = result.get('env') or {}
    key = env.get('key') or args.get('key')
    out = []
    if result.get('removed'):
        out.append(_measure('env_var_removed', key))
    elif result.get('value_changed') or (result.get('changed') and result.get('value_changed') is None):
        targets = env.get('target')
        detail = 'targets %s' % ', '.join(targets) if isinstance(targets, list) else None
        if result.get('redeploy_needed'):
            detail = (detail + '; ' if detail else '') + 'in effect after a redeploy'
        out.append(_measure('env_var', key, detail))
    return out


CONTAINMENT = {
    'vercel_firewall': _firewall,
    'supabase_network_ban': _network_ban,
    'supabase_auth_user': _auth_user,
    'postgres_terminate': _terminate,
    'supabase_api_key': _api_key,
    'supabase_db_password': _db_password,
    'vercel_env': _env,
}


def _hidden(family, args):
    """What a changed no_log task did, from its (literal) arguments: Ansible hands callbacks no result of it."""
    def arg(name, default='?'):
        value = args.get(name)
        return default if value in (None, '') else value
    if family == 'supabase_db_password':
        return [_measure('db_password', '%s@%s/%s' % (arg('db_user'), arg('db_host'), arg('db_name')), HIDDEN)]
    if family == 'supabase_api_key':
        if args.get('legacy_enabled') is not None and not args.get('name') and not args.get('id'):
            return [_measure('legacy_keys', 'on' if args['legacy_enabled'] else 'off', HIDDEN)]
        kind = 'key_deleted' if args.get('state') == 'absent' else 'key_created'
        return [_measure(kind, arg('name', None) or arg('id'), HIDDEN)]
    if family == 'vercel_env':
        return [_measure('env_var_removed' if args.get('state') == 'absent' else 'env_var', arg('key'), HIDDEN)]
    if family == 'supabase_auth_user':
        users = args.get('users')
        who = ', '.join(to_text(u) for u in users) if isinstance(users, list) else arg('users')
        flags = (('banned', 'user_ban'), ('sign_out', 'sign_out'), ('remove_mfa', 'mfa_removed'),
                 ('password_reset', 'recovery'))
        out = [_measure(kind, who, HIDDEN) for name, kind in flags if args.get(name) is True]
        if args.get('banned') is False:
            out.append(_measure('user_unban', who, HIDDEN))
        return out or [_measure('changed', who, HIDDEN)]
    return [_measure('changed', family, HIDDEN)]


# --- per task, then per report -----------------------------------------------------------------------------------

def safe_args(family, args):
    """The literal arguments of SAFE_ARGS[family] (a templated or secret-looking one is left out)."""
    if family not in SAFE_ARGS or not isinstance(args, dict):
        return {}
    out = {}
    for name in SAFE_ARGS[family]:
        value = args.get(name)
        if value is None or '{{' in to_text(value) or '{%' in to_text(value):
            continue
        if isinstance(value, (list, tuple)):
            value = [to_text(v) for v in value]
        elif not isinstance(value, (bool, int, float)):
            value = to_text(value)
        out[name] = value
    return out


def secret_values(result):
    """Every string under a secret result field of a result (and its loop items): for the callback to mask."""
    found = []

    def walk(value, secret):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, secret or to_text(key) in SECRET_RESULT_FIELDS)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, secret)
        elif secret and isinstance(value, (str, bytes)) and len(to_text(value)) >= 6:
            found.append(to_text(value))
    walk(result, False)
    return found


def _without_secrets(result):
    return dict((k, v) for k, v in result.items() if to_text(k) not in SECRET_RESULT_FIELDS)


def security_record(family, result, censored=False, args=None):
    """What one task result adds to the Evidence and Containment sections: {evidence: [...], containment: [...]},
    or None for other modules. A loop gives one entry per item. A censored (no_log) result gives, when it changed
    something, what its arguments say it did, and nothing of its result."""
    if family not in EVIDENCE and family not in CONTAINMENT or not isinstance(result, dict):
        return None
    args = args or {}
    if censored:
        if family in CONTAINMENT and result.get('changed'):
            return dict(evidence=[], containment=_hidden(family, args))
        return None
    items = [r for r in result['results'] if isinstance(r, dict)] if isinstance(result.get('results'), list) \
        else [result]
    evidence, containment = [], []
    for item in items:
        if item.get('failed') or item.get('skipped'):
            continue
        if item.get('censored') or item.get('_ansible_no_log'):
            if family in CONTAINMENT and item.get('changed'):
                containment += _hidden(family, args)
            continue
        item = _without_secrets(item)
        if family in EVIDENCE:
            evidence.append(EVIDENCE[family](item))
        else:
            containment += CONTAINMENT[family](item, args)
    return dict(evidence=evidence, containment=containment) if evidence or containment else None


def measure_text(measure, status):
    """One line: '<verb> <target> (<detail>) until <time>' with the verb of the status (done, would, in force)."""
    verbs = VERBS.get(measure['kind'], VERBS['changed'])
    verb = verbs[{'done': 0, 'would': 1}.get(status, 2)]
    text = '%s %s' % (verb, measure['target']) if measure.get('target') else verb
    if measure.get('detail'):
        text += ' (%s)' % measure['detail']
    if measure.get('until') and measure['kind'] != 'sign_out':  # its detail says what lasts until then
        text += ' until %s' % measure['until']
    return text


def _in_force_text(measure):
    if measure['kind'] == 'sign_out':
        return 'access tokens of %s issued before the sign-out stay valid' % measure['target']
    return measure_text(dict(measure, until=None), 'done')


# kinds whose effect lasts (until a time, or until lifted), for "in force"
LASTING = frozenset(('ip_block', 'rate_limit', 'attack_mode', 'network_ban', 'user_ban', 'sign_out',
                     'legacy_keys'))
# a later measure on the same target ends an earlier one
ENDS = {'ip_unblock': 'ip_block', 'rate_limit_removed': 'rate_limit', 'attack_mode_off': 'attack_mode',
        'network_unban': 'network_ban', 'user_unban': 'user_ban'}


def build_sections(tasks, check_mode=False):
    """(evidence, containment) of a report from its tasks, each carrying the `security` record of _record.

    Evidence: one entry per module result, with the task (index, name, host) and its end time. Containment:
    {measures: one per thing done (status done, would or in force), in_force: what lasts after the run (until a
    time, or null: until lifted), planned: whether the run was in check mode}."""
    evidence, measures, lasting = [], [], {}
    for task in tasks:
        record = task.get('security')
        if not record or task['outcome'] not in ('ok', 'changed'):
            continue
        where = dict(index=task['index'], task=task['name'], host=task['host'], at=task['end'])
        for entry in record['evidence']:
            evidence.append(dict(where, **entry))
        planned = check_mode or task.get('check_mode')
        for measure in record['containment']:
            status = ('would' if planned else 'done') if measure['changed'] else 'in force'
            line = dict(where, status=status, kind=measure['kind'], target=measure['target'],
                        detail=measure['detail'], until=measure['until'], text=measure_text(measure, status))
            measures.append(line)
            if planned and measure['changed']:
                continue
            key = (measure['kind'], None if measure['kind'] == 'legacy_keys' else measure['target'])
            if measure['kind'] in LASTING:
                lasting[key] = line
            elif measure['kind'] in ENDS:
                lasting.pop((ENDS[measure['kind']], measure['target']), None)
    in_force = [dict(kind=m['kind'], target=m['target'], until=m['until'], since=m['at'], index=m['index'],
                     text=_in_force_text(m)) for m in lasting.values()]
    in_force.sort(key=lambda m: (m['until'] is None, m['until'] or ''))
    return evidence, dict(planned=bool(check_mode), measures=measures, in_force=in_force)


# --- Markdown ------------------------------------------------------------------------------------------------------

def _counts(value):
    if isinstance(value, dict):
        return ', '.join('%s %s' % (k, v) for k, v in value.items()) or 'none'
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict):
                name = item.get('ip') or item.get('path') or item.get('name')
                count = item.get('count', item.get('events'))
                parts.append('%s %s' % (name, count))
            else:
                parts.append(to_text(item))
        return ', '.join(parts) or 'none'
    return to_text(value)


def _window(window):
    if not isinstance(window, dict):
        return 'window not given'
    return '%s to %s' % (window.get('since') or '?', window.get('until') or 'now')


EVIDENCE_LINES = {
    'vercel firewall': (('events', 'Events'), ('by_ip', 'By IP'), ('by_action', 'By action'),
                        ('ip_blocks', 'IP blocks in the config'), ('expired_blocks', 'Expired blocks'),
                        ('anomalies', 'Anomalies')),
    'vercel runtime logs': (('deployment_id', 'Deployment'), ('lines', 'Lines'), ('by_status', 'By status'),
                            ('by_level', 'By level'), ('by_path', 'By path'), ('truncated', 'Truncated'),
                            ('stopped', 'Reading stopped')),
    'supabase auth audit': (('entries', 'Entries'), ('by_action', 'By action'), ('by_ip', 'By IP'),
                            ('login_bursts', 'Login bursts'), ('truncated', 'Truncated')),
    'supabase logs': (('rows', 'Rows'), ('calls', 'Calls'), ('truncated', 'Truncated')),
}


def evidence_markdown(evidence, cell):
    """The `## Evidence` section (empty list when the run gathered none)."""
    if not evidence:
        return []
    out = ['## Evidence', '', '_What the run found, counted; times in UTC._', '']
    for entry in evidence:
        out.append('%d. %s: %s (%s, read %s)' % (entry['index'], cell(entry['task']), entry['source'],
                                                 cell(entry['host']), entry['at']))
        out.append('   - Window: %s' % cell(_window(entry.get('window'))))
        if entry.get('first'):
            out.append('   - First / last: %s / %s' % (entry['first'], entry.get('last')))
        for name, label in EVIDENCE_LINES.get(entry['source'], ()):
            if entry.get(name) is not None:
                out.append('   - %s: %s' % (label, cell(_counts(entry[name]))))
        mode = entry.get('attack_mode')
        if mode:
            out.append('   - Attack challenge mode: %s' % (
                'on until %s' % mode.get('active_until') if mode.get('enabled') else 'off'))
        for item in entry.get('suspicious') or []:
            out.append('   - Suspicious: %s - %s (%s to %s)' % (
                cell(item.get('ip') or 'many addresses'), cell(item.get('reason')), item.get('first'),
                item.get('last')))
    return out + ['']


def containment_markdown(containment, cell):
    """The `## Containment` section: what was (or would be) done, then what stays in force until when."""
    if not containment or not containment['measures']:
        return []
    out = ['## Containment', '']
    if containment['planned']:
        out += ['_Check mode: nothing below was done; it is what the run would do._', '']
    out += ['| # | Time (UTC) | Task | Status | What |', '|---|---|---|---|---|']
    for m in containment['measures']:
        out.append('| %d | %s | %s | %s | %s |' % (m['index'], m['at'], cell(m['task']), m['status'],
                                                   cell(m['text'])))
    out += ['', '### In force after the run', '']
    if not containment['in_force']:
        out.append('_Nothing that lasts._' if not containment['planned'] else '_Nothing (check mode)._')
    for m in containment['in_force']:
        out.append('- %s: %s' % ('until %s' % m['until'] if m['until'] else 'until lifted', cell(m['text'])))
    return out + ['']

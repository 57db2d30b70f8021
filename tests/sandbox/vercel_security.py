"""The Vercel Firewall in the Vercel stand-in: its config, Attack Challenge Mode, attack status, firewall
events, and the screening of the app's traffic (composed into ``VercelService`` as a mixin).

=========================================================  ==========================================
call                                                       notes
=========================================================  ==========================================
PATCH /v1/security/firewall/config?projectId=              one action object ``{action, id, value}``:
                                                           ``firewallEnabled``, ``ip.insert|update|
                                                           remove``, ``rules.insert|update|remove|
                                                           priority``, ``crs.update|disable``,
                                                           ``managedRules.update``; 200 ``{}``
PUT   /v1/security/firewall/config?projectId=              the whole config -> 200 ``{active: config}``
GET   /v1/security/firewall/config/{configVersion}         ``active`` or a version number -> the config
POST  /v1/security/attack-mode                             ``{projectId, attackModeEnabled,
                                                           attackModeActiveUntil}`` -> 200
                                                           ``{attackModeEnabled, attackModeUpdatedAt}``
GET   /v1/security/firewall/attack-status?projectId=&since=  ``{anomalies: [...]}`` (seeded by admin)
GET   /v1/security/firewall/events?projectId=&startTimestamp=&endTimestamp=&hosts=
                                                           ``{actions: [{startTime, endTime, isActive,
                                                           action_type, host, public_ip, count}]}``
=========================================================  ==========================================

Every change makes a new config version (the live one is ``active``; older ones stay readable by
number). The project (``GET /v9/projects/{id}``) shows ``security {attackModeEnabled,
attackModeUpdatedAt, attackModeActiveUntil, firewallEnabled, firewallUpdatedAt, firewallConfigVersion}``.
Validation errors are 400 ``{"error": {"code": "bad_request", "message"}}``; an unknown ``id`` in
``ip.update/remove`` or ``rules.update/remove/priority`` is 404 ``not_found``; a missing
``projectId`` is 400.

How the app stand-in honours it (``screen()``), as Vercel's edge does:

* the client IP is the TCP peer address of the connection (Vercel's edge sees the real source address;
  a client-sent ``X-Forwarded-For``/``X-Real-IP`` is not trusted, Vercel overwrites them), so tests
  bind their client socket to another loopback address (127.0.0.2) to play the hostile client;
* the request's host is the production domain (``pourtrait.app``) for the production URL, the
  deployment's ``url`` for ``/_d/<url>``; an IP rule's ``hostname`` ``*`` matches every host;
* IP rules first (``deny`` -> 403, ``challenge`` -> 429 challenge page, ``log`` -> recorded only,
  ``bypass`` -> no custom rule nor attack mode applies), then active custom rules in order (condition
  groups OR'ed, conditions AND'ed; types ``host, path, raw_path, method, ip_address, user_agent,
  header, query``; ops ``eq, neq, pre, suf, sub, inc, ninc, re, ex, nex``; ``neg``), whose
  ``mitigate.action`` is ``deny``/``challenge``/``log``/``bypass`` or ``rate_limit`` (fixed window per
  client IP: ``limit`` requests per ``window`` seconds, then ``rateLimit.action``, default
  ``rate_limit`` -> 429); all this only while ``firewallEnabled``;
* Attack Challenge Mode (until ``attackModeActiveUntil`` ms, or until turned off) challenges every
  request that no bypass let through: 429 with the Security Checkpoint page;
* a mitigated answer carries ``x-vercel-mitigated: deny|challenge|rate_limit`` and ``x-vercel-id``;
  each one (and each ``log``) is recorded as a firewall event of ``action_type`` deny / challenge /
  rate_limit / log, per (action, host, IP) with its count; ``isActive`` while the last one is under
  5 minutes old.

Admin (under ``/_sandbox/vercel``): ``GET /firewall`` (config, attack mode, events);
``PUT /firewall/anomalies`` ``[anomaly, ...]`` as attack-status lists them;
``POST /firewall/events`` ``{action_type, host, public_ip, count, at_ms}`` seeds one.
"""

import datetime
import ipaddress
import re
import string
import time

from tests.sandbox.standin import HttpProblem, Response, json_response, now_ms, route

CRS_IDS = ('sd', 'ma', 'lfi', 'rfi', 'rce', 'php', 'gen', 'xss', 'sqli', 'sf', 'java')
IP_ACTIONS = ('deny', 'challenge', 'log', 'bypass')
MITIGATE_ACTIONS = ('log', 'challenge', 'deny', 'bypass', 'rate_limit', 'redirect')
RATE_LIMIT_ACTIONS = ('log', 'challenge', 'deny', 'rate_limit')
CONDITION_TYPES = ('host', 'path', 'method', 'header', 'query', 'cookie', 'target_path', 'route', 'raw_path',
                   'ip_address', 'region', 'protocol', 'scheme', 'environment', 'user_agent', 'geo_continent',
                   'geo_country', 'geo_country_region', 'geo_city', 'geo_as_number', 'ja4_digest', 'ja3_digest',
                   'rate_limit_api_id', 'server_action')
CONDITION_OPS = ('re', 'eq', 'neq', 'ex', 'nex', 'inc', 'ninc', 'pre', 'suf', 'sub', 'gt', 'gte', 'lt', 'lte')
MANAGED_IDS = ('ai_bots', 'bot_filter', 'bot_protection', 'owasp')
EVENT_ACTIVE_MS = 5 * 60 * 1000
CHALLENGE_PAGE = ('<!doctype html><title>Vercel Security Checkpoint</title><h1>We\'re verifying your browser</h1>'
                  '<p>Vercel Security Checkpoint</p><noscript>Enable JavaScript to continue.</noscript>\n')


def _iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000.0, datetime.timezone.utc).strftime(
        '%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def _bad(message):
    return HttpProblem(400, 'bad_request', message)


def _require(obj, names, where):
    if not isinstance(obj, dict):
        raise _bad('Invalid request: `%s` should be object.' % where)
    for name in names:
        if name not in obj:
            raise _bad("Invalid request: `%s` missing required property `%s`." % (where, name))


def validate_ip_value(value):
    """An ``ip.insert``/``ip.update`` value (or an ``ips[]`` item of a PUT)."""
    _require(value, ('hostname', 'ip', 'action'), 'value')
    unknown = set(value) - {'id', 'hostname', 'ip', 'notes', 'action'}
    if unknown:
        raise _bad('Invalid request: `value` should NOT have additional property `%s`.' % sorted(unknown)[0])
    if not isinstance(value['hostname'], str) or not value['hostname'].strip():
        raise _bad('Invalid request: `value.hostname` should be a non-empty string.')
    try:
        ipaddress.ip_network(str(value['ip']), strict=False)
    except ValueError:
        raise _bad('Invalid request: `value.ip` should be an IP address or a CIDR range (got "%s").' % value['ip'])
    if value['action'] not in IP_ACTIONS:
        raise _bad('Invalid request: `value.action` should be equal to one of the allowed values "%s".'
                   % '", "'.join(IP_ACTIONS))
    if 'notes' in value and not isinstance(value['notes'], str):
        raise _bad('Invalid request: `value.notes` should be string.')


def validate_rule(value):
    """A custom rule of ``rules.insert``/``rules.update`` (or ``rules[]`` of a PUT)."""
    _require(value, ('name', 'active', 'conditionGroup', 'action'), 'value')
    if not isinstance(value['name'], str) or not value['name'].strip():
        raise _bad('Invalid request: `value.name` should be a non-empty string.')
    if not isinstance(value['active'], bool):
        raise _bad('Invalid request: `value.active` should be boolean.')
    groups = value['conditionGroup']
    if not isinstance(groups, list) or not groups:
        raise _bad('Invalid request: `value.conditionGroup` should be a non-empty array.')
    for group in groups:
        _require(group, ('conditions',), 'conditionGroup[]')
        if not isinstance(group['conditions'], list) or not group['conditions']:
            raise _bad('Invalid request: `conditionGroup[].conditions` should be a non-empty array.')
        for cond in group['conditions']:
            _require(cond, ('type', 'op'), 'conditions[]')
            if cond['type'] not in CONDITION_TYPES:
                raise _bad('Invalid request: `conditions[].type` should be equal to one of the allowed values.')
            if cond['op'] not in CONDITION_OPS:
                raise _bad('Invalid request: `conditions[].op` should be equal to one of the allowed values.')
            if cond['op'] == 're':
                try:
                    re.compile(str(cond.get('value', '')))
                except re.error:
                    raise _bad('Invalid request: `conditions[].value` is not a valid regular expression.')
    _require(value['action'], ('mitigate',), 'value.action')
    mitigate = value['action']['mitigate']
    _require(mitigate, ('action',), 'value.action.mitigate')
    if mitigate['action'] not in MITIGATE_ACTIONS:
        raise _bad('Invalid request: `mitigate.action` should be equal to one of the allowed values "%s".'
                   % '", "'.join(MITIGATE_ACTIONS))
    limit = mitigate.get('rateLimit')
    if mitigate['action'] == 'rate_limit' and not limit:
        raise _bad('Invalid request: `mitigate.rateLimit` is required when `mitigate.action` is "rate_limit".')
    if limit:
        _require(limit, ('algo', 'window', 'limit', 'keys'), 'mitigate.rateLimit')
        if limit['algo'] not in ('fixed_window', 'token_bucket'):
            raise _bad('Invalid request: `rateLimit.algo` should be "fixed_window" or "token_bucket".')
        for name in ('window', 'limit'):
            if not isinstance(limit[name], (int, float)) or isinstance(limit[name], bool) or limit[name] < 1:
                raise _bad('Invalid request: `rateLimit.%s` should be a number of 1 or more.' % name)
        if limit.get('action') not in (None,) + RATE_LIMIT_ACTIONS:
            raise _bad('Invalid request: `rateLimit.action` should be equal to one of the allowed values.')


def _cond_subject(cond, req):
    kind = cond['type']
    if kind in ('path', 'raw_path', 'target_path', 'route'):
        return req['path']
    if kind == 'host':
        return req['host']
    if kind == 'method':
        return req['method']
    if kind == 'ip_address':
        return req['ip']
    if kind == 'user_agent':
        return req['user_agent']
    if kind == 'header':
        return req['headers'].get(cond.get('key') or '')
    if kind == 'query':
        return req['query'].get(cond.get('key') or '')
    return None


def _ip_in(ip, value):
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return False


def condition_matches(cond, req):
    subject = _cond_subject(cond, req)
    op, value = cond['op'], cond.get('value')
    values = value if isinstance(value, list) else [value]
    if op == 'ex':
        hit = subject is not None
    elif op == 'nex':
        hit = subject is None
    elif subject is None:
        hit = False
    elif cond['type'] == 'ip_address' and op in ('eq', 'inc', 'neq', 'ninc'):
        hit = any(_ip_in(subject, v) for v in values)
        hit = not hit if op in ('neq', 'ninc') else hit
    elif op in ('eq', 'inc'):
        hit = subject in [str(v) for v in values]
    elif op in ('neq', 'ninc'):
        hit = subject not in [str(v) for v in values]
    elif op == 'pre':
        hit = subject.startswith(str(value))
    elif op == 'suf':
        hit = subject.endswith(str(value))
    elif op == 'sub':
        hit = str(value) in subject
    elif op == 're':
        hit = re.search(str(value), subject) is not None
    else:
        hit = False
    return not hit if cond.get('neg') else hit


def rule_matches(rule, req):
    return any(all(condition_matches(c, req) for c in group['conditions']) for group in rule['conditionGroup'])


class FirewallState(object):
    """One project's firewall: config versions, attack mode, events, rate-limit windows."""

    def __init__(self, model):
        self.model = model
        rng = model.rng
        self.rng = rng
        now = now_ms()
        self.config = {'id': 'waf_' + self._alnum(24), 'version': 1, 'updatedAt': _iso(now), 'firewallEnabled': True,
                       'crs': dict((k, {'active': False, 'action': 'log'}) for k in CRS_IDS), 'rules': [],
                       'ips': [], 'changes': [], 'botIdEnabled': False,
                       'managedRules': dict((k, {'active': False, 'action': 'log'})
                                            for k in ('bot_protection', 'ai_bots', 'owasp'))}
        self.firewall_updated = now
        self.versions = {1: self._copy(self.config)}
        self.attack = {'attackModeEnabled': False, 'attackModeUpdatedAt': now, 'attackModeActiveUntil': None}
        self.events = []     # {action_type, host, public_ip, at}
        self.windows = {}    # (rule id, ip) -> (window start s, count)
        self.anomalies = []

    def _alnum(self, n):
        return ''.join(self.rng.choice(string.ascii_letters + string.digits) for _i in range(n))

    @staticmethod
    def _copy(config):
        import copy
        return copy.deepcopy(config)

    def view(self):
        out = self._copy(self.config)
        proj = self.model.project
        out['ownerId'] = proj['accountId']
        out['projectKey'] = proj['id']
        return out

    def commit(self, change):
        now = now_ms()
        cfg = self.config
        cfg['version'] += 1
        cfg['updatedAt'] = _iso(now)
        cfg['changes'] = [change]
        self.firewall_updated = now
        self.versions[cfg['version']] = self._copy(cfg)

    def attack_active(self, now=None):
        attack = self.attack
        if not attack['attackModeEnabled']:
            return False
        until = attack['attackModeActiveUntil']
        return until is None or until > (now or now_ms())

    def project_security(self):
        self.attack_active()
        return {'attackModeEnabled': self.attack_active(), 'attackModeUpdatedAt': self.attack['attackModeUpdatedAt'],
                'attackModeActiveUntil': self.attack['attackModeActiveUntil'] if self.attack_active() else None,
                'firewallEnabled': self.config['firewallEnabled'], 'firewallUpdatedAt': self.firewall_updated,
                'firewallConfigVersion': self.config['version']}

    # -- PATCH actions --------------------------------------------------------------------------
    def _find(self, kind, item_id):
        for item in self.config[kind]:
            if item['id'] == item_id:
                return item
        raise HttpProblem(404, 'not_found', 'No %s with id "%s" in the firewall configuration.'
                          % ('IP rule' if kind == 'ips' else 'rule', item_id))

    def apply(self, body):
        if not isinstance(body, dict) or not isinstance(body.get('action'), str):
            raise _bad('Invalid request: body should be an object with an `action` string.')
        action, item_id, value = body['action'], body.get('id'), body.get('value')
        cfg = self.config
        if action == 'firewallEnabled':
            if not isinstance(value, bool):
                raise _bad('Invalid request: `value` should be boolean.')
            cfg['firewallEnabled'] = value
        elif action in ('ip.insert', 'ip.update'):
            validate_ip_value(value)
            item = {'hostname': value['hostname'], 'ip': str(value['ip']), 'action': value['action']}
            if value.get('notes') is not None:
                item['notes'] = value['notes']
            if action == 'ip.insert':
                if any(i['ip'] == item['ip'] and i['hostname'] == item['hostname'] for i in cfg['ips']):
                    raise _bad('An IP rule for %s on %s already exists.' % (item['ip'], item['hostname']))
                item['id'] = 'ip_' + self._alnum(20)
                cfg['ips'].append(item)
            else:
                self._need_id(item_id)
                found = self._find('ips', item_id)
                found.clear()
                found.update(dict(item, id=item_id))
        elif action == 'ip.remove':
            self._need_id(item_id)
            cfg['ips'].remove(self._find('ips', item_id))
        elif action in ('rules.insert', 'rules.update'):
            validate_rule(value)
            rule = dict((k, value[k]) for k in ('name', 'description', 'active', 'conditionGroup', 'action')
                        if k in value)
            if action == 'rules.insert':
                slug = re.sub(r'[^a-z0-9]+', '-', value['name'].lower()).strip('-')[:30] or 'rule'
                rule['id'] = 'rule_%s_%s' % (slug, self._alnum(6))
                cfg['rules'].append(rule)
            else:
                self._need_id(item_id)
                found = self._find('rules', item_id)
                found.clear()
                found.update(dict(rule, id=item_id))
        elif action == 'rules.remove':
            self._need_id(item_id)
            cfg['rules'].remove(self._find('rules', item_id))
        elif action == 'rules.priority':
            self._need_id(item_id)
            rule = self._find('rules', item_id)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < len(cfg['rules']):
                raise _bad('Invalid request: `value` should be a position between 0 and %d.' % (len(cfg['rules']) - 1))
            cfg['rules'].remove(rule)
            cfg['rules'].insert(value, rule)
        elif action == 'crs.update':
            if item_id not in CRS_IDS:
                raise _bad('Invalid request: `id` should be one of %s.' % ', '.join(CRS_IDS))
            _require(value, ('active', 'action'), 'value')
            cfg['crs'][item_id] = {'active': bool(value['active']), 'action': value['action']}
        elif action == 'crs.disable':
            for key in CRS_IDS:
                cfg['crs'][key]['active'] = False
        elif action == 'managedRules.update':
            if item_id not in MANAGED_IDS:
                raise _bad('Invalid request: `id` should be one of %s.' % ', '.join(MANAGED_IDS))
            _require(value, ('active',), 'value')
            if item_id in cfg['managedRules']:
                cfg['managedRules'][item_id].update(dict((k, value[k]) for k in ('active', 'action') if k in value))
        else:
            raise _bad('Invalid request: `action` "%s" is not a known firewall action.' % action)
        self.commit({'action': action, 'id': item_id, 'value': value})

    @staticmethod
    def _need_id(item_id):
        if not isinstance(item_id, str) or not item_id:
            raise _bad('Invalid request: missing required property `id`.')

    def replace(self, body):
        if not isinstance(body, dict):
            raise _bad('Invalid request: body should be an object.')
        if not isinstance(body.get('firewallEnabled'), bool):
            raise _bad('Invalid request: missing required property `firewallEnabled`.')
        rules, ips = body.get('rules') or [], body.get('ips') or []
        for rule in rules:
            validate_rule(rule)
        for item in ips:
            validate_ip_value(item)
        cfg = self.config
        cfg['firewallEnabled'] = body['firewallEnabled']
        cfg['rules'] = []
        for rule in rules:
            kept = dict((k, rule[k]) for k in ('id', 'name', 'description', 'active', 'conditionGroup', 'action')
                        if k in rule)
            kept.setdefault('id', 'rule_%s' % self._alnum(10))
            cfg['rules'].append(kept)
        cfg['ips'] = [dict(dict((k, i[k]) for k in ('id', 'hostname', 'ip', 'notes', 'action') if k in i),
                           id=i.get('id') or 'ip_' + self._alnum(20)) for i in ips]
        if isinstance(body.get('crs'), dict):
            for key, value in body['crs'].items():
                if key in CRS_IDS and isinstance(value, dict):
                    cfg['crs'][key] = {'active': bool(value.get('active')), 'action': value.get('action', 'log')}
        if 'botIdEnabled' in body:
            cfg['botIdEnabled'] = bool(body['botIdEnabled'])
        self.commit({'action': 'replace'})

    # -- the app's traffic ----------------------------------------------------------------------
    def screen(self, req):
        """None (let through) or (action_type, rule id) for one request ``req`` {ip, host, path, method,
        user_agent, headers, query}; records the event."""
        now = now_ms()
        bypass = False
        if self.config['firewallEnabled']:
            for item in self.config['ips']:
                if item['hostname'] not in ('*', req['host']) or not _ip_in(req['ip'], item['ip']):
                    continue
                if item['action'] == 'bypass':
                    bypass = True
                    break
                self.record(item['action'], req, now)
                if item['action'] in ('deny', 'challenge'):
                    return item['action'], item['id']
            if not bypass:
                found = self._custom_rules(req, now)
                if found == 'bypass':
                    bypass = True
                elif found:
                    return found
        if not bypass and self.attack_active(now):
            self.record('challenge', req, now)
            return 'challenge', 'attack_mode'
        return None

    def _custom_rules(self, req, now):
        for rule in self.config['rules']:
            if not rule.get('active') or not rule_matches(rule, req):
                continue
            mitigate = rule['action']['mitigate']
            action = mitigate['action']
            if action == 'bypass':
                return 'bypass'
            if action == 'rate_limit':
                action = self._rate_limited(rule, mitigate['rateLimit'], req['ip'], now)
                if action is None:
                    continue
            self.record(action, req, now)
            if action in ('deny', 'challenge', 'rate_limit'):
                return action, rule['id']
        return None

    def _rate_limited(self, rule, limit, ip, now):
        window = float(limit['window'])
        key = (rule['id'], ip)
        start, count = self.windows.get(key, (now / 1000.0, 0))
        if now / 1000.0 - start >= window:
            start, count = now / 1000.0, 0
        count += 1
        self.windows[key] = (start, count)
        if count <= int(limit['limit']):
            return None
        return limit.get('action') or 'rate_limit'

    def record(self, action_type, req, at):
        self.events.append({'action_type': action_type, 'host': req['host'], 'public_ip': req['ip'], 'at': at})
        del self.events[:-20000]  # a long sandbox session keeps the newest events only

    def actions(self, start=None, end=None, hosts=None):
        groups = {}
        for event in self.events:
            if (start is not None and event['at'] < start) or (end is not None and event['at'] > end):
                continue
            if hosts and event['host'] not in hosts:
                continue
            key = (event['action_type'], event['host'], event['public_ip'])
            first, last, count = groups.get(key, (event['at'], event['at'], 0))
            groups[key] = (min(first, event['at']), max(last, event['at']), count + event.get('count', 1))
        now = now_ms()
        return [{'startTime': _iso(first), 'endTime': _iso(last), 'isActive': now - last < EVENT_ACTIVE_MS,
                 'action_type': action, 'host': host, 'public_ip': ip, 'count': count}
                for (action, host, ip), (first, last, count) in sorted(groups.items(), key=lambda kv: kv[1][0])]


def mitigated_response(action, rule_id, vercel_id):
    """The edge's answer to a mitigated request."""
    headers = {'x-vercel-mitigated': action, 'x-vercel-id': vercel_id, 'cache-control': 'private, no-store'}
    if action == 'deny':
        return Response(403, 'Forbidden\n', headers=headers, content_type='text/plain; charset=utf-8')
    if action == 'rate_limit':
        return Response(429, 'Too Many Requests\n', headers=dict(headers, **{'Retry-After': '60'}),
                        content_type='text/plain; charset=utf-8')
    return Response(429, CHALLENGE_PAGE, headers=headers, content_type='text/html; charset=utf-8')


class VercelSecurity(object):
    """Mixin of VercelService: the firewall routes (``self.model``, ``self._project`` come from the service)."""

    def security_reset(self):
        self.firewall = FirewallState(self.model)

    def security_view(self):
        return self.firewall.project_security()

    def _fw_project(self, request, scope, project_id=None):
        project_id = project_id if project_id is not None else request.query.get('projectId')
        if not project_id:
            raise _bad('Invalid request: missing required query parameter `projectId`.')
        return self._project(scope, project_id)

    def _fw_body(self, request):
        try:
            return request.json()
        except ValueError:
            raise _bad('Invalid JSON body.')

    @route('PATCH', '/v1/security/firewall/config')
    def firewall_patch(self, request, scope):
        self._fw_project(request, scope)
        self.firewall.apply(self._fw_body(request))
        return json_response({})

    @route('PUT', '/v1/security/firewall/config')
    def firewall_put(self, request, scope):
        self._fw_project(request, scope)
        self.firewall.replace(self._fw_body(request))
        return json_response({'active': self.firewall.view()})

    @route('GET', '/v1/security/firewall/config/{configVersion}')
    def firewall_get(self, request, scope, configVersion):
        self._fw_project(request, scope)
        fw = self.firewall
        if configVersion == 'active':
            return json_response(fw.view())
        if not re.match(r'^\d+$', configVersion):
            raise _bad('Invalid request: `configVersion` should be "active" or a version number.')
        version = fw.versions.get(int(configVersion))
        if version is None:
            raise HttpProblem(404, 'not_found', 'Firewall configuration version %s not found.' % configVersion)
        out = fw._copy(version)
        out.update(ownerId=self.model.project['accountId'], projectKey=self.model.project['id'])
        return json_response(out)

    @route('POST', '/v1/security/attack-mode')
    def attack_mode(self, request, scope):
        body = self._fw_body(request)
        _require(body, ('projectId', 'attackModeEnabled'), 'body')
        self._fw_project(request, scope, body['projectId'])
        if not isinstance(body['attackModeEnabled'], bool):
            raise _bad('Invalid request: `attackModeEnabled` should be boolean.')
        until = body.get('attackModeActiveUntil')
        if until is not None and (not isinstance(until, (int, float)) or isinstance(until, bool)):
            raise _bad('Invalid request: `attackModeActiveUntil` should be number or null.')
        now = now_ms()
        if until is not None and body['attackModeEnabled'] and until <= now:
            raise _bad('Invalid request: `attackModeActiveUntil` should be in the future.')
        attack = self.firewall.attack
        attack.update(attackModeEnabled=body['attackModeEnabled'], attackModeUpdatedAt=now,
                      attackModeActiveUntil=int(until) if (until is not None and body['attackModeEnabled']) else None)
        return json_response({'attackModeEnabled': attack['attackModeEnabled'], 'attackModeUpdatedAt': now})

    @route('GET', '/v1/security/firewall/attack-status')
    def attack_status(self, request, scope):
        self._fw_project(request, scope)
        since = request.query.get('since')
        if since is not None and not re.match(r'^\d+(\.\d+)?$', since):
            raise _bad('Invalid request: `since` should be number.')
        items = list(self.firewall.anomalies)
        if since is not None:
            items = [a for a in items if (a.get('endTime') or now_ms()) >= float(since)]
        return json_response({'anomalies': items})

    @route('GET', '/v1/security/firewall/events')
    def firewall_events(self, request, scope):
        self._fw_project(request, scope)
        q = request.query
        bounds = []
        for name in ('startTimestamp', 'endTimestamp'):
            value = q.get(name)
            if value is not None and not re.match(r'^\d+(\.\d+)?$', value):
                raise _bad('Invalid request: `%s` should be number.' % name)
            bounds.append(float(value) if value is not None else None)
        if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
            raise _bad('Invalid request: `startTimestamp` should be before `endTimestamp`.')
        hosts = [h for h in (q.get('hosts') or '').split(',') if h]
        return json_response({'actions': self.firewall.actions(bounds[0], bounds[1], hosts)})

    def security_admin(self, request, subpath, body):
        """The firewall's admin paths (None when ``subpath`` is not one)."""
        fw = self.firewall
        if subpath == '/firewall' and request.method == 'GET':
            return json_response({'config': fw.view(), 'attack': dict(fw.attack, active=fw.attack_active()),
                                  'events': list(fw.events), 'actions': fw.actions()})
        if subpath == '/firewall/anomalies' and request.method == 'PUT':
            if not isinstance(body, list):
                raise _bad('anomalies must be a list')
            fw.anomalies = list(body)
            return json_response({'anomalies': fw.anomalies})
        if subpath == '/firewall/events' and request.method == 'POST':
            fw.events.append({'action_type': body.get('action_type', 'deny'), 'host': body.get('host', 'pourtrait.app'),
                              'public_ip': body['public_ip'], 'at': int(body.get('at_ms') or now_ms()),
                              'count': int(body.get('count', 1))})
            return json_response({'events': len(fw.events)}, status=201)
        return None


def screen_app_request(vercel_service, request, host, path):
    """The firewall's decision on one app request: None, or the mitigated Response (app.py calls it)."""
    req = {'ip': request.client or '', 'host': host, 'path': path, 'method': request.method,
           'user_agent': request.headers.get('User-Agent'),
           'headers': dict((k.lower(), v) for k, v in request.headers.items()), 'query': dict(request.query)}
    with vercel_service.model.lock:
        found = vercel_service.firewall.screen(req)
    if found is None:
        return None
    action, rule_id = found
    vercel_id = 'iad1::%s-%d' % (action, int(time.time() * 1000))
    return mitigated_response(action, rule_id, vercel_id)

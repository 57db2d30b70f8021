#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: supabase_auth_user
short_description: Contain Supabase Auth accounts - ban, sign out everywhere, force a password reset, remove MFA
version_added: 1.1.0
description:
  - Acts on one or many users of a Supabase project's Auth (GoTrue), found by id or e-mail, in this order - ban or
    unban (C(PUT /auth/v1/admin/users/{id}) with C(ban_duration)), sign out everywhere (the user's C(auth.sessions)
    rows deleted in SQL, which deletes every refresh token with them; GoTrue has no admin endpoint for it), remove
    MFA factors (C(DELETE .../factors/{id})), generate a password-recovery link (C(POST /auth/v1/admin/generate_link)).
  - Every user is looked up before anything changes; an unknown user fails the task and changes nothing.
  - Idempotent - a user already banned until at least now + O(ban_duration) is not banned again; a user with no
    session is not signed out again; no factor, nothing to remove; a recovery requested within
    O(recovery_min_interval) is not requested again.
  - Signing out revokes refresh tokens only. Access tokens (JWTs) already issued stay valid until they expire
    (O(jwt_expiry) after they were issued); the result says until when. A banned user cannot refresh.
author: Pourtrait engineering (@pourtrait)
options:
  users:
    description:
      - The users, each a user id (UUID) or an e-mail address (case-insensitive).
    type: list
    elements: str
    required: true
  banned:
    description:
      - V(true) bans each user for O(ban_duration); V(false) lifts a ban. Unset leaves bans as they are.
    type: bool
  ban_duration:
    description:
      - How long a ban lasts - a number with a unit, V(30m), V(24h), V(7d), V(2w), V(1h30m). Default about
        100 years (V(876000h), what Supabase calls a permanent ban).
    type: str
  sign_out:
    description:
      - Revoke every refresh token of each user (all devices) by deleting their sessions in the project's database,
        and record a C(logout) entry in C(auth.audit_log_entries). Needs the database options (or E(DATABASE_URL)).
    type: bool
    default: false
  jwt_expiry:
    description:
      - The project's JWT expiry in seconds (Auth settings); used to say until when access tokens issued before the
        sign-out stay valid.
    type: int
    default: 3600
  remove_mfa:
    description:
      - Delete every MFA factor (TOTP, phone, WebAuthn) of each user; their sessions fall back to aal1.
    type: bool
    default: false
  password_reset:
    description:
      - Generate a password-recovery link for each user (the link signs the user in to set a new password). The
        link is a credential - it is not returned unless O(return_recovery_link=true).
      - This does not change the current password or send an e-mail; deliver the link yourself, or have the
        user use "forgot password".
    type: bool
    default: false
  recovery_min_interval:
    description:
      - A recovery requested for the user within this many seconds counts as done (no new link, which would
        replace the one already given). V(0) always generates a new one.
    type: int
    default: 3600
  redirect_to:
    description:
      - Where the recovery link leads after verification (one of the project's allowed redirect URLs).
    type: str
  return_recovery_link:
    description:
      - Return the generated links in RV(recovery_links). Refused unless the task has C(no_log=true), so the links
        never reach the output, logs or the run report; use the registered variable to deliver them.
    type: bool
    default: false
extends_documentation_fragment: [pourtrait.ops.attributes, pourtrait.ops.supabase_auth, pourtrait.ops.postgres]
attributes:
  check_mode:
    details: Looks every user up and counts sessions and factors; reports what would change and changes nothing.
  diff_mode:
    support: full
    details: Per user - banned_until, sessions, refresh tokens, MFA factors, recovery_sent_at; never a link or token.
  action_group:
    support: full
    membership: [pourtrait.ops.supabase_auth, pourtrait.ops.postgres]
notes:
  - The database options are needed only for O(sign_out); without them that option fails with a one-line error
    before anything changes.
'''

EXAMPLES = r'''
- name: Contain a compromised account
  pourtrait.ops.supabase_auth_user:
    users: [victim@example.com]
    banned: true
    ban_duration: 24h
    sign_out: true
    remove_mfa: true
  register: contained

- name: Force a password reset and keep the link for the support team
  pourtrait.ops.supabase_auth_user:
    users: [victim@example.com]
    password_reset: true
    return_recovery_link: true
    redirect_to: https://pourtrait.app/reset-password
  no_log: true
  register: reset

- name: Lift the ban
  pourtrait.ops.supabase_auth_user:
    users: [5f0c6c2e-1b8e-4a43-9a4f-7d1f2f3b9c11]
    banned: false
'''

RETURN = r'''
users:
  description: One entry per user, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: User id., type: str}
    email: {description: E-mail address., type: str}
    banned_until_before: {description: Ban end before the run (null - not banned)., type: str}
    banned_until: {description: 'Ban end after the run (in check mode: what it would be).', type: str}
    sessions_revoked: {description: 'Sessions deleted (in check mode: that would be).', type: int}
    refresh_tokens_revoked: {description: Refresh tokens not yet revoked that went with them., type: int}
    factors_removed: {description: "MFA factors removed: [{id, factor_type, friendly_name}]", type: list, elements: dict}
    recovery_requested: {description: Whether a recovery link was (or would be) generated., type: bool}
    recovery_sent_at: {description: When the last recovery was requested., type: str}
    actions: {description: 'What was (or would be) done, in words.', type: list, elements: str}
changed: {description: 'Whether anything changed (in check mode: would change).', returned: always, type: bool}
access_tokens_valid_until:
  description: After a sign-out, the time until which access tokens issued before it stay valid (now + jwt_expiry).
  returned: when sessions were (or would be) revoked
  type: str
recovery_links:
  description: E-mail -> recovery link. Only with O(return_recovery_link=true) on a C(no_log) task.
  returned: when links were generated and asked for
  type: dict
msg: {description: One-line summary., returned: always, type: str}
'''

import time

from ansible_collections.pourtrait.ops.plugins.module_utils.supabase_auth import (
    BAN_FOREVER, UUID_RE, AuthError, AuthModule, check_project_database, go_duration, iso, parse_api_time, parse_duration, session_counts,
    sign_out,
)


class AuthUser(AuthModule):
    name = 'supabase_auth_user'
    database = True
    argument_spec = dict(
        users=dict(type='list', elements='str', required=True),
        banned=dict(type='bool'),
        ban_duration=dict(type='str'),
        sign_out=dict(type='bool', default=False),
        jwt_expiry=dict(type='int', default=3600),
        remove_mfa=dict(type='bool', default=False),
        password_reset=dict(type='bool', default=False, no_log=False),
        recovery_min_interval=dict(type='int', default=3600),
        redirect_to=dict(type='str'),
        return_recovery_link=dict(type='bool', default=False),
    )

    def validate(self):
        params = self.params
        self.wanted = []
        for item in params['users'] or []:
            item = (item or '').strip()
            if not UUID_RE.match(item) and '@' not in item:
                raise AuthError('users: %r is neither a user id (UUID) nor an e-mail address' % item[:80])
            if item.lower() not in [w.lower() for w in self.wanted]:
                self.wanted.append(item)
        if not self.wanted:
            raise AuthError('users is empty; name each user by id or e-mail address')
        if params['ban_duration'] is not None and params['banned'] is not True:
            raise AuthError('ban_duration is set but banned is not true; add banned: true (or drop ban_duration)')
        self.ban_seconds = parse_duration(params['ban_duration'] or BAN_FOREVER, 'ban_duration')
        if params['jwt_expiry'] < 1 or params['recovery_min_interval'] < 0:
            raise AuthError('jwt_expiry must be 1 or more and recovery_min_interval 0 or more (seconds)')
        if params['sign_out'] and not self.has_database():
            raise AuthError('sign_out needs the project database (GoTrue has no admin sign-out endpoint): set '
                            'database_url or the DATABASE_URL environment variable (or login_host and the other '
                            'login_* options)')
        if params['return_recovery_link'] and not getattr(self.module, 'no_log', False):
            raise AuthError('return_recovery_link returns credentials: add no_log: true to the task (and read the '
                            'links from its registered variable)')
        if not (params['banned'] is not None or params['sign_out'] or params['remove_mfa'] or params['password_reset']):
            self.warn('nothing asked: set banned, sign_out, remove_mfa or password_reset')

    # -- reading ---------------------------------------------------------------------------------
    def find_users(self):
        """Every user, looked up before anything changes; an unknown one fails the task."""
        found, missing = [], []
        for item in self.wanted:
            user = self.client.user(item) if UUID_RE.match(item) else self.client.user_by_email(item)
            (found if user else missing).append(user or item)
        if self.params['password_reset']:
            missing += ['%s (no e-mail address: a recovery link needs one)' % u['id'] for u in found
                        if isinstance(u, dict) and not u.get('email')]
        if missing:
            raise AuthError('no such user in the project at %s: %s; check the id or e-mail (nothing was changed)'
                            % (self.client.base_url, ', '.join(missing)))
        unique = []
        for user in found:
            if user['id'] not in [u['id'] for u in unique]:
                unique.append(user)
        return unique

    def plan(self, user, counts, now):
        """(entry, steps) for one user: what the result shows and the changes to make."""
        params = self.params
        until = parse_api_time(user.get('banned_until'))
        sessions, tokens = counts.get(user['id'], (0, 0))
        factors = self.client.factors(user['id']) if params['remove_mfa'] else []
        sent = parse_api_time(user.get('recovery_sent_at'))
        entry = dict(id=user['id'], email=user.get('email'), banned_until_before=iso(until), banned_until=iso(until),
                     sessions_revoked=0, refresh_tokens_revoked=0, factors_removed=[], recovery_requested=False,
                     recovery_sent_at=iso(sent), actions=[])
        steps = []
        if params['banned'] is True and (until is None or until < now + self.ban_seconds - 60):
            steps.append('ban')
            entry['banned_until'] = iso(now + self.ban_seconds)
            entry['actions'].append('ban until %s' % entry['banned_until'])
        elif params['banned'] is False and until is not None and until > now:
            steps.append('unban')
            entry['banned_until'] = None
            entry['actions'].append('lift the ban (was until %s)' % iso(until))
        if params['sign_out'] and sessions:
            steps.append('sign_out')
            entry.update(sessions_revoked=sessions, refresh_tokens_revoked=tokens)
            entry['actions'].append('revoke %d session(s), %d refresh token(s)' % (sessions, tokens))
        if factors:
            steps.append('remove_mfa')
            entry['factors_removed'] = [dict(id=f['id'], factor_type=f.get('factor_type'),
                                             friendly_name=f.get('friendly_name')) for f in factors]
            entry['actions'].append('remove %d MFA factor(s)' % len(factors))
        interval = params['recovery_min_interval']
        if params['password_reset'] and (sent is None or interval == 0 or sent < now - interval):
            steps.append('password_reset')
            entry['recovery_requested'] = True
            entry['actions'].append('generate a recovery link')
        return entry, steps

    @staticmethod
    def state(entry, sessions, tokens, factors):
        return dict(banned_until=entry['banned_until'], sessions=sessions, refresh_tokens=tokens, mfa_factors=factors,
                    recovery_sent_at=entry['recovery_sent_at'])

    # -- acting ----------------------------------------------------------------------------------
    def apply(self, user, entry, steps, conn, links):
        client = self.client
        if 'ban' in steps or 'unban' in steps:
            body = {'ban_duration': go_duration(self.ban_seconds) if 'ban' in steps else 'none'}
            entry['banned_until'] = iso(parse_api_time(client.update_user(user['id'], body).get('banned_until')))
        if 'sign_out' in steps:
            with conn:
                with conn.cursor() as cur:
                    entry['sessions_revoked'] = sign_out(cur, user)
        for factor in entry['factors_removed'] if 'remove_mfa' in steps else []:
            client.delete_factor(user['id'], factor['id'])
        if 'password_reset' in steps:
            answer = client.recovery_link(user['email'], self.params['redirect_to'])
            entry['recovery_sent_at'] = iso(parse_api_time(answer.get('recovery_sent_at')) or time.time())
            if self.params['return_recovery_link']:
                links[user['email']] = answer.get('action_link')

    def run(self):
        params = self.params
        users = self.find_users()
        now = time.time()
        conn = self.connect() if params['sign_out'] else None
        try:
            counts = {}
            if conn is not None:
                with conn:
                    with conn.cursor() as cur:
                        check_project_database(cur, [u['id'] for u in users])
                        counts = session_counts(cur, [u['id'] for u in users])
            plans = [(user,) + self.plan(user, counts, now) for user in users]
            before, after, links = {}, {}, {}
            for user, entry, steps in plans:
                sessions, tokens = counts.get(user['id'], (0, 0))
                factors = len(entry['factors_removed'])
                key = entry['email'] or entry['id']
                before[key] = self.state(dict(entry, banned_until=entry['banned_until_before']),
                                         sessions, tokens, factors)
                if steps and not self.check_mode:
                    self.apply(user, entry, steps, conn, links)
                gone = 'sign_out' in steps
                after[key] = self.state(entry, 0 if gone else sessions, 0 if gone else tokens,
                                        0 if 'remove_mfa' in steps else factors)
        finally:
            if conn is not None:
                conn.close()
        return self.result(plans, before, after, links, now)

    def result(self, plans, before, after, links, now):
        entries = [entry for _user, entry, _steps in plans]
        changed = any(steps for _user, _entry, steps in plans)
        self.diff(before, after)
        result = dict(changed=changed, users=entries)
        if any(e['sessions_revoked'] for e in entries):
            result['access_tokens_valid_until'] = iso(now + self.params['jwt_expiry'])
        if links:
            result['recovery_links'] = links
        done = ['%s: %s' % (e['email'] or e['id'], ', '.join(e['actions'])) for e in entries if e['actions']]
        if not done:
            result['msg'] = 'nothing to change for %d user(s)' % len(entries)
        else:
            result['msg'] = '%s%s' % ('check mode, would do - ' if self.check_mode else '', '; '.join(done))
            if 'access_tokens_valid_until' in result:
                result['msg'] += ('; access tokens already issued stay valid until %s at the latest'
                                  % result['access_tokens_valid_until'])
        return result


def main():
    AuthUser.main()


if __name__ == '__main__':
    main()

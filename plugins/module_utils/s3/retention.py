# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which off-site recovery points a retention policy keeps (pure; the module lists and deletes)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime


class RetentionError(ValueError):
    """A policy that cannot be applied; the message is one line."""


def select(points, keep=None, max_age_days=None, now=None):
    """Split recovery points into ``(kept, deleted)`` (each newest first, with a ``reason`` on the kept ones).

    ``points``: ``[{name, created (aware datetime), verified (bool)}]``. Kept: the ``keep`` newest, and/or those
    younger than ``max_age_days`` (with both: a point stays when either rule keeps it), and always the newest
    verified one. A policy that would delete every point is refused.
    """
    if keep is None and max_age_days is None:
        raise RetentionError('no retention rule: set keep and/or max_age_days')
    if keep is not None and keep < 1:
        raise RetentionError('keep must be 1 or more (got %s); a retention that keeps nothing deletes every backup'
                             % keep)
    if max_age_days is not None and max_age_days <= 0:
        raise RetentionError('max_age_days must be more than 0 (got %s)' % max_age_days)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    ordered = sorted(points, key=lambda p: (p['created'], p['name']), reverse=True)
    newest_verified = next((p['name'] for p in ordered if p.get('verified')), None)
    kept, deleted = [], []
    for index, point in enumerate(ordered):
        reasons = []
        if keep is not None and index < keep:
            reasons.append('among the %d newest' % keep)
        if max_age_days is not None and now - point['created'] < datetime.timedelta(days=max_age_days):
            reasons.append('younger than %s days' % max_age_days)
        if point['name'] == newest_verified:
            reasons.append('the newest verified')
        if reasons:
            kept.append(dict(point, reason=', '.join(reasons)))
        else:
            deleted.append(point)
    if ordered and not kept:
        raise RetentionError('the retention would delete all %d recovery points; keep at least one' % len(ordered))
    return kept, deleted

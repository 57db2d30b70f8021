# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parts of ``postgres_diagnostics`` (``gather_subset``), one file per group:

- ``common``: the part declaration (``Part``), text and time helpers, the system-schema filter
- ``catalog``: sizes, index usage, unused indexes, dead tuples, connections, long-running, database
- ``statements``: ``pg_stat_statements`` - slow statements, statements by calls
- ``locks``: blocking trees (``pg_blocking_pids``) and the lock list; ``blocking_tree`` is pure
- ``health``: bloat estimates, cache hit ratios, vacuum and analyze state against the table's own thresholds
- ``activity``: roles against their connection limits, replication slots, sequential scans, traffic, database stats
- ``gather``: choosing parts, the session set-up, running the parts (``Gatherer``)
"""

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Activity: connections per role against its limit, replication slots and the WAL they hold back,
sequential scans, reads against writes per table, and the database's statistics (with WAL size and
checkpoints: ``pg_stat_checkpointer`` from 17, ``pg_stat_bgwriter`` before)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics.common import (
    Part, isotime, qualified, ratio, version_major,
)

ROLE_STATS_QUERY = """
SELECT r.rolname, r.rolconnlimit, count(a.pid),
       count(a.pid) FILTER (WHERE a.state = 'active'),
       count(a.pid) FILTER (WHERE a.state LIKE 'idle in transaction%%'),
       current_setting('superuser_reserved_connections')::int, r.rolsuper
  FROM pg_catalog.pg_roles r
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.usesysid = r.oid AND a.backend_type = 'client backend'
 WHERE r.rolcanlogin OR a.pid IS NOT NULL
 GROUP BY r.rolname, r.rolconnlimit, r.rolsuper
 ORDER BY count(a.pid) DESC, r.rolname
 LIMIT %(limit)s
"""


def _role_stats(rows, params, meta):
    reserved = rows[0][5] if rows else 0
    roles = [dict(role=r[0], connections=r[2], active=r[3], idle_in_transaction=r[4],
                  limit=r[1] if r[1] >= 0 else None, limit_used_ratio=ratio(r[2], r[1]) if r[1] > 0 else None,
                  superuser=r[6])
             for r in rows]
    return dict(max_connections=meta['max_connections'], superuser_reserved_connections=reserved,
                available_to_others=meta['max_connections'] - reserved, roles=roles)


# Retained WAL is measured from the current write position (the last received one on a standby).
SLOTS_QUERY = """
SELECT s.slot_name, s.slot_type, s.plugin, s.database, s.active, s.active_pid, s.temporary, s.wal_status,
       s.safe_wal_size,
       pg_catalog.pg_wal_lsn_diff(CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn()
                                       ELSE pg_catalog.pg_current_wal_lsn() END, s.restart_lsn)::bigint,
       s.restart_lsn::text, {inactive_since}
  FROM pg_catalog.pg_replication_slots s
 ORDER BY 10 DESC NULLS LAST, s.slot_name
 LIMIT %(limit)s
"""


def _build_slots(params, meta):
    since = 's.inactive_since' if version_major(meta) >= 17 else 'NULL::timestamptz'
    return SLOTS_QUERY.format(inactive_since=since), dict(limit=params['limit'])


def _slots(rows, params, meta):
    return [dict(slot_name=r[0], slot_type=r[1], plugin=r[2], database=r[3], active=r[4], active_pid=r[5],
                 temporary=r[6], wal_status=r[7], safe_wal_size_bytes=r[8], retained_wal_bytes=r[9],
                 restart_lsn=r[10], inactive_since=isotime(r[11]))
            for r in rows]


SEQ_SCANS_QUERY = """
SELECT s.schemaname, s.relname, s.seq_scan, s.seq_tup_read, coalesce(s.idx_scan, 0), s.n_live_tup, {last_seq_scan}
  FROM pg_catalog.pg_stat_user_tables s
 WHERE s.seq_scan > 0
 ORDER BY s.seq_scan DESC, s.seq_tup_read DESC, s.schemaname, s.relname
 LIMIT %(limit)s
"""


def _build_seq(params, meta):
    last = 's.last_seq_scan' if version_major(meta) >= 16 else 'NULL::timestamptz'
    return SEQ_SCANS_QUERY.format(last_seq_scan=last), dict(limit=params['limit'])


def _seq_scans(rows, params, meta):
    return [dict(table=qualified(r[0], r[1]), seq_scans=r[2], seq_rows_read=r[3], index_scans=r[4],
                 live_tuples=r[5], seq_scan_ratio=ratio(r[2], r[2] + r[4]),
                 avg_rows_per_seq_scan=round(float(r[3]) / r[2], 1) if r[2] else None, last_seq_scan=isotime(r[6]))
            for r in rows]


TRAFFIC_QUERY = """
SELECT schemaname, relname, reads, writes, n_tup_ins, n_tup_upd, n_tup_del
  FROM (SELECT s.schemaname, s.relname, s.seq_tup_read + coalesce(s.idx_tup_fetch, 0) AS reads,
               s.n_tup_ins + s.n_tup_upd + s.n_tup_del AS writes, s.n_tup_ins, s.n_tup_upd, s.n_tup_del
          FROM pg_catalog.pg_stat_user_tables s) t
 WHERE reads + writes > 0
 ORDER BY reads + writes DESC, schemaname, relname
 LIMIT %(limit)s
"""

# A table doing at least this share of reads (or writes) is read-heavy (write-heavy).
HEAVY_SHARE = 0.8


def _traffic(rows, params, meta):
    out = []
    for r in rows:
        read_share = ratio(r[2], r[2] + r[3])
        profile = 'read-heavy' if read_share >= HEAVY_SHARE else (
            'write-heavy' if read_share <= 1 - HEAVY_SHARE else 'balanced')
        out.append(dict(table=qualified(r[0], r[1]), rows_read=r[2], rows_written=r[3], inserted=r[4], updated=r[5],
                        deleted=r[6], read_share=read_share, profile=profile))
    return out


# WAL size needs pg_ls_waldir (superuser or pg_monitor): without it the size is null, with a note.
DB_STATS_QUERY = """
SELECT pg_catalog.pg_database_size(d.datname), d.numbackends, d.xact_commit, d.xact_rollback,
       d.blks_hit, d.blks_read, d.temp_files, d.temp_bytes, d.deadlocks, d.conflicts, d.stats_reset,
       {wal_size},
       current_setting('max_wal_size'), {checkpoints}
  FROM pg_catalog.pg_stat_database d
 WHERE d.datname = current_database()
"""

CHECKPOINTS_17 = """(SELECT ARRAY[c.num_timed, c.num_requested, c.buffers_written]::bigint[]
                       FROM pg_catalog.pg_stat_checkpointer c), (SELECT c.stats_reset FROM pg_catalog.pg_stat_checkpointer c)"""
CHECKPOINTS_OLD = """(SELECT ARRAY[b.checkpoints_timed, b.checkpoints_req, b.buffers_checkpoint]::bigint[]
                        FROM pg_catalog.pg_stat_bgwriter b), (SELECT b.stats_reset FROM pg_catalog.pg_stat_bgwriter b)"""


def _build_db_stats(params, meta):
    checkpoints = CHECKPOINTS_17 if version_major(meta) >= 17 else CHECKPOINTS_OLD
    # pg_ls_waldir is named only when allowed: its privilege is checked when the statement starts, CASE or not.
    wal = '(SELECT sum(w.size)::bigint FROM pg_catalog.pg_ls_waldir() w)' if meta.get('can_list_wal') else 'NULL::bigint'
    return DB_STATS_QUERY.format(checkpoints=checkpoints, wal_size=wal), None


def _db_stats(rows, params, meta):
    r = rows[0]
    timed, requested, written = (r[13] or [None, None, None])
    return dict(name=meta['dbname'], size_bytes=r[0], backends=r[1], commits=r[2], rollbacks=r[3],
                cache_hit_ratio=ratio(r[4], r[4] + r[5]), temp_files=r[6], temp_bytes=r[7], deadlocks=r[8],
                conflicts=r[9], stats_reset=isotime(r[10]), wal_bytes=r[11], max_wal_size=r[12],
                wal_note=None if r[11] is not None else 'the WAL size needs pg_monitor (pg_ls_waldir)',
                checkpoints=dict(timed=timed, requested=requested, buffers_written=written,
                                 stats_reset=isotime(r[14]),
                                 source='pg_stat_checkpointer' if version_major(meta) >= 17 else 'pg_stat_bgwriter'))


PARTS = (
    Part('role_stats', lambda p, m: (ROLE_STATS_QUERY, dict(limit=p['limit'])), _role_stats, empty=dict),
    Part('replication_slots', _build_slots, _slots),
    Part('seq_scans', _build_seq, _seq_scans),
    Part('traffic_profile', lambda p, m: (TRAFFIC_QUERY, dict(limit=p['limit'])), _traffic),
    Part('db_stats', _build_db_stats, _db_stats, empty=dict),
)

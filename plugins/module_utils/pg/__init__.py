# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL dumps, restores and database administration, one file per idea:

- ``programs``: finding and running the client programs (pg_dump, pg_restore, psql), their argument lists
- ``files``: the backup directory, temporary names and claims, no-clobber placement, durable writes
- ``workers``: work on N threads (hashing files, reading tables)
- ``stream``: sha256 while pg_dump writes, plain SQL rewritten on its way (StreamEdit), hashing files
- ``compress``: the directory format written with ISA-L compression while pg_dump writes
- ``formats``: dump formats, names, detecting a dump's format, its table of contents
- ``manifest``: the manifest beside a dump: its one reader, writer and checker
- ``checksums``: row counts and table checksums (postgres_dump, postgres_compare, restores)
- ``admin``: databases (exists, create, drop) and their sessions (list, end)
- ``verify``: verifying a dump (table of contents, trailer, scratch restore)
- ``prune``: pruning old dumps from the backup directory (keep, max_age_days)
- ``job``: what the dump and restore jobs share (options, check mode, ``Job.from_module(module).run()``)
- ``dump_job``: the dump as a job with named steps (DumpJob)
- ``restore_job``: the restore as a job with named steps (RestoreJob)
- ``supabase_dump``: ``supabase db dump`` as a DumpJob subclass (SupabaseDumpJob)
"""

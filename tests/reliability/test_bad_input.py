"""Bad input (issue 6): every invalid input is answered by a one-line error, no traceback, nothing changed.

One table, ``MODULE_ROWS``, of invalid inputs across the modules (PostgreSQL,
Vercel, Supabase, supabase_migration, app_health, deployment_verify), each run
as Ansible runs a module (tests/conftest.py ``run_module``, about 0.3 s), and
a short one, ``ROLE_ROWS``, of invalid role variables caught by the roles'
argument specs or first checks, each a real ``ansible-playbook -i
inventory/production`` run. For each row: the run failed, with a single-line
message holding the expected fragments (the problem and, mostly, the fix),
and nothing changed:

* PostgreSQL: the row counts of every table of the test database, its list of
  tables and the server's list of databases are the same before and after;
* Vercel / Supabase: the stand-in served no POST/PUT/PATCH/DELETE that
  succeeded (a write refused by the API is fine), production still points at
  the same deployment and the env vars and Supabase restores are unchanged;
* files: nothing appeared or disappeared under the rows' scratch directory.

Rows marked ``bug`` are real defects found here: they are strict xfails whose
reason says what is wrong; fixing the defect turns them into failures (XPASS)
until the mark is removed.
"""

import hashlib
import json
import os
import time

import pytest

from tests.conftest import TEMPLATE_DB, assert_one_line_error, run_module
from tests.helpers import run_playbook
from tests.reliability.conftest import vars_file

T = 'public.notifications'
DPL = 'dpl_nope000000000000'
WRITES = ('POST', 'PUT', 'PATCH', 'DELETE')


class Row(object):
    def __init__(self, ident, module, args, kind, fragments, bug=None, setup=None, slow_below=None):
        self.ident = ident
        self.module = module
        self.args = args
        self.kind = kind            # pg (connection options added), vercel, supabase, auth (env), none
        self.fragments = fragments
        self.bug = bug              # reason of a strict xfail
        self.setup = setup          # callable(ctx) run before, e.g. turning PITR off
        self.slow_below = slow_below  # the error must come within this many seconds

    def param(self):
        marks = [pytest.mark.xfail(strict=True, reason=self.bug)] if self.bug else []
        return pytest.param(self, id=self.ident, marks=marks)


def pitr_off(ctx):
    ctx.sandbox.admin('PUT', '/supabase/backups', {'pitr_enabled': False, 'walg_enabled': True, 'backups': None,
                                                   'earliest_unix': None, 'latest_unix': None})


def auth_on_row_db(ctx):
    """The Auth stand-in (and the Management API's SQL) on the rows' database, so a lookup finds its users."""
    ctx.sandbox.admin('PUT', '/supabase/database', {'url': ctx.pg.url(ctx.dbname)})


def offsite_point(ctx, tamper=False, verified=True):
    """A recovery point of database ``pourtrait`` in the bucket (record, dump, manifest), written directly; with
    ``tamper`` the dump object's body differs from what the record says (as if altered after the upload); with
    ``verified=False`` the dump was never verified (so no retention rule must keep it)."""
    import boto3
    info = ctx.sandbox.standins.info
    client = boto3.client('s3', endpoint_url=info['s3_url'], region_name=info['s3_region'],
                          aws_access_key_id=info['s3_access_key_id'], aws_secret_access_key=info['s3_secret_access_key'])
    body = b'PGDMP fake'
    manifest = json.dumps({'format': 'custom', 'sha256': hashlib.sha256(body).hexdigest(), 'database': 'pourtrait',
                           'name': 'fake.dump'}).encode()
    base = 'pourtrait/pourtrait/fake.dump/'
    objects = {'fake.dump': (b'PGDMP evil' if tamper else body, body),
               'fake.dump.manifest.json': (manifest, manifest)}
    entries = {}
    for rel, (stored, recorded) in objects.items():
        client.put_object(Bucket=info['s3_bucket'], Key=base + 'dump/' + rel, Body=stored)
        digest = hashlib.sha256(recorded).hexdigest()
        entries[rel] = {'key': base + 'dump/' + rel, 'size': len(recorded), 'sha256': digest,
                        'stored_size': len(recorded), 'stored_sha256': digest, 'encrypted': False}
    record = {'record_version': 1, 'database': 'pourtrait', 'name': 'fake.dump', 'created': '2026-01-01T02:00:00Z',
              'verified': verified, 'dump': {'format': 'custom', 'sha256': entries['fake.dump']['sha256'],
                                             'manifest_key': base + 'dump/fake.dump.manifest.json', 'objects': entries}}
    client.put_object(Bucket=info['s3_bucket'], Key=base + 'recovery-point.json', Body=json.dumps(record).encode())


def one_hour_ago():
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() - 3600))


MODULE_ROWS = [
    # -- postgres_maintenance
    Row('maint-injection-in-name', 'postgres_maintenance', {'operation': 'analyze', 'tables': ['wines; DROP TABLE wines']},
        'pg', ['"public.wines; drop table wines" does not exist', 'check the name (schema.table)']),
    Row('maint-missing-table', 'postgres_maintenance', {'operation': 'analyze', 'tables': ['public.no_such_table']},
        'pg', ['table "public.no_such_table" does not exist in database', 'check the name']),
    Row('maint-missing-schema', 'postgres_maintenance', {'operation': 'analyze', 'tables': ['nosuchschema.wines']},
        'pg', ['table "nosuchschema.wines" does not exist']),
    Row('maint-bad-lock-timeout', 'postgres_maintenance', {'operation': 'analyze', 'tables': [T], 'lock_timeout': '5 parsecs'},
        'pg', ['lock_timeout', '"5 parsecs"', 'use a duration such as 5s']),
    Row('maint-negative-statement-timeout', 'postgres_maintenance',
        {'operation': 'vacuum', 'tables': [T], 'statement_timeout': '-1'},
        'pg', ['statement_timeout', 'outside the valid range', 'use a duration']),
    Row('maint-bad-operation', 'postgres_maintenance', {'operation': 'bogus', 'tables': [T]},
        'pg', ['value of operation must be one of: analyze, vacuum, vacuum_analyze, reindex, got: bogus']),
    Row('maint-reindex-full', 'postgres_maintenance', {'operation': 'reindex', 'tables': [T], 'full': True},
        'pg', ['full: true is VACUUM FULL and needs operation vacuum or vacuum_analyze', 'drop full']),
    Row('maint-ratio-above-one', 'postgres_maintenance', {'operation': 'vacuum', 'tables': [T], 'dead_tuple_ratio': 2},
        'pg', ['dead_tuple_ratio is 2.0', 'use a fraction from 0 to below 1']),
    Row('maint-no-tables', 'postgres_maintenance', {'operation': 'vacuum', 'tables': []},
        'pg', ['tables is empty', 'list tables (schema.table) or use tables: auto']),
    # -- postgres_retention
    Row('ret-missing-days', 'postgres_retention', {'table': T}, 'pg', ['required by', 'older_than_days']),
    Row('ret-missing-function', 'postgres_retention', {'function': 'public.no_such_fn'},
        'pg', ['function "public.no_such_fn()" does not exist', 'check the name']),
    Row('ret-table-and-function', 'postgres_retention',
        {'table': T, 'older_than_days': 30, 'function': 'public.cleanup_monitoring_data'},
        'pg', ['mutually exclusive', 'table|function']),
    Row('ret-bad-column', 'postgres_retention', {'table': 'public.wines', 'timestamp_column': 'nope', 'older_than_days': 30},
        'pg', ['column "nope" does not exist in table "public.wines"', 'check timestamp_column']),
    Row('ret-batch-zero', 'postgres_retention', {'table': T, 'older_than_days': 30, 'batch_size': 0},
        'pg', ['batch_size must be 1 or more (got 0)']),
    Row('ret-negative-days', 'postgres_retention', {'table': T, 'older_than_days': -5},
        'pg', ['older_than_days must be 0 or more (got -5)']),
    Row('ret-three-part-name', 'postgres_retention', {'table': 'a.b.c', 'older_than_days': 30},
        'pg', ['"a.b.c" is not a table name', 'use table or schema.table']),
    Row('ret-bad-match-column', 'postgres_retention', {'table': T, 'older_than_days': 30, 'match': {'no_col': 1}},
        'pg', ['column "no_col" does not exist', 'check timestamp_column and match']),
    Row('ret-nothing-to-do', 'postgres_retention', {}, 'pg', ['one of the following is required: table, function']),
    Row('ret-bad-lock-timeout', 'postgres_retention', {'table': T, 'older_than_days': 30, 'lock_timeout': 'soon'},
        'pg', ['lock_timeout', '"soon"', 'use a duration']),
    # -- postgres_terminate / postgres_diagnostics
    Row('term-negative-active', 'postgres_terminate', {'active_seconds': -1}, 'pg', ['active_seconds must be 0 or more']),
    Row('term-bad-action', 'postgres_terminate', {'action': 'kill'}, 'pg', ['value of action must be one of', 'got: kill']),
    Row('term-negative-grace', 'postgres_terminate', {'grace_seconds': -1}, 'pg', ['grace_seconds must be 0 or more']),
    Row('diag-bad-subset', 'postgres_diagnostics', {'gather_subset': ['bogus']},
        'pg', ['unknown subset "bogus"', 'use all, slow_queries']),
    Row('diag-limit-zero', 'postgres_diagnostics', {'limit': 0}, 'pg', ['limit is 0', '1 or more']),
    Row('diag-bad-new-subset', 'postgres_diagnostics', {'gather_subset': ['blocking', 'bloats']},
        'pg', ['unknown subset "bloats"', 'bloat', 'replication_slots']),
    Row('term-bad-blocking-roots', 'postgres_terminate', {'blocking_roots': 'maybe'},
        'pg', ['blocking_roots', 'maybe']),
    # -- postgres_dump
    Row('dump-name-escapes-dir', 'postgres_dump', {'backup_dir': '@TMP/d', 'name': '../escape'},
        'pg', ['must be a plain file name', 'put the directory in backup_dir']),
    Row('dump-schema-and-data-only', 'postgres_dump', {'backup_dir': '@TMP/d', 'schema_only': True, 'data_only': True},
        'pg', ['schema_only and data_only are mutually exclusive']),
    Row('dump-compression-12', 'postgres_dump', {'backup_dir': '@TMP/d', 'compression': 12},
        'pg', ['compression must be between 0 and 9, got 12']),
    Row('dump-missing-table', 'postgres_dump', {'backup_dir': '@TMP/d', 'tables': ['public.no_such']},
        'pg', ['table "public.no_such" does not exist']),
    Row('dump-negative-keep', 'postgres_dump', {'backup_dir': '@TMP/d', 'keep': -1}, 'pg', ['keep must be 1 or more']),
    Row('dump-bad-bin-dir', 'postgres_dump', {'backup_dir': '@TMP/d', 'bin_dir': '/nonexistent'},
        'pg', ['pg_dump not found in bin_dir /nonexistent', 'set bin_dir to the directory holding']),
    Row('dump-backup-dir-is-a-file', 'postgres_dump', {'backup_dir': '@TMP/afile'},
        'pg', ['exists and is not a directory', 'point backup_dir at a directory']),
    Row('dump-bad-format', 'postgres_dump', {'backup_dir': '@TMP/d', 'format': 'tar'},
        'pg', ['value of format must be one of: custom, directory, plain']),
    Row('dump-table-both-in-and-out', 'postgres_dump',
        {'backup_dir': '@TMP/d', 'tables': ['public.wines'], 'exclude_tables': ['public.wines']},
        'pg', ['found no entries', 'the dump is empty']),
    # -- postgres_restore / postgres_compare / postgres_database
    Row('restore-missing-dump', 'postgres_restore', {'path': '@TMP/missing.dump', 'target_db': '@DB'},
        'pg', ['does not exist; check path']),
    Row('restore-not-a-dump', 'postgres_restore', {'path': '@TMP/emptymig', 'target_db': '@DB'},
        'pg', ['is a directory without toc.dat', 'not a pg_dump directory-format dump']),
    Row('compare-missing-db', 'postgres_compare', {'target_db': 'no_such_db'},
        'pg', ['target database "no_such_db" does not exist', 'check target_db']),
    Row('compare-missing-manifest', 'postgres_compare', {'target_db': '@DB', 'manifest': '@TMP/missing.json'},
        'pg', ['does not exist', 'set manifest to']),
    Row('compare-jobs-zero', 'postgres_compare', {'target_db': '@DB', 'jobs': 0}, 'pg', ['jobs must be 1 or more']),
    Row('database-drop-template', 'postgres_database', {'name': 'template1', 'state': 'absent'},
        'pg', ['cannot drop a template database']),
    Row('database-drop-login-db', 'postgres_database', {'name': '@DB', 'state': 'absent'},
        'pg', ['is the login database and cannot be dropped from itself', 'log in to another database']),
    Row('database-name-too-long', 'postgres_database', {'name': 'audit_' + 'x' * 64},
        'pg', ['63']),
    Row('database-name-with-nul', 'postgres_database', {'name': 'bad\x00name'},
        'pg', ['name']),
    # -- connection
    Row('conn-refused', 'postgres_diagnostics', {'login_host': '127.0.0.1', 'login_port': 1},
        'pg', ['cannot reach PostgreSQL at 127.0.0.1:1 (connection refused)', 'check login_host/login_port']),
    Row('conn-bad-password', 'postgres_diagnostics', {'login_password': 'wrong-password'},
        'pg', ['rejected the credentials of user', 'check login_password (PGPASSWORD / DATABASE_URL)']),
    Row('conn-missing-db', 'postgres_diagnostics', {'login_db': 'no_such_db'},
        'pg', ['database "no_such_db" does not exist', 'check login_db']),
    Row('conn-bad-url', 'postgres_diagnostics', {'database_url': 'not a url'},
        'none', ['is not a valid PostgreSQL URL', 'use postgresql://user:password@host:port/dbname']),
    Row('conn-unknown-user', 'postgres_diagnostics', {'login_user': 'nobody_here'},
        'pg', ['rejected the credentials of user "nobody_here"']),
    # -- supabase_migration
    Row('mig-missing-dir', 'supabase_migration', {'migrations_dir': '@TMP/missing'},
        'pg', ['does not exist', "point migrations_dir at the project's supabase/migrations directory"]),
    Row('mig-not-a-dir', 'supabase_migration', {'migrations_dir': '@TMP/afile'}, 'pg', ['is not a directory']),
    Row('mig-empty-dir', 'supabase_migration', {'migrations_dir': '@TMP/emptymig'},
        'pg', ['no migration files in', 'migrations are named <digits>_<name>.sql']),
    Row('mig-duplicate-versions', 'supabase_migration', {'migrations_dir': '@TMP/dup'},
        'pg', ['duplicate migration version 20260101000000', 'give one of them a new version']),
    Row('mig-repair-incomplete', 'supabase_migration', {'migrations_dir': '@TMP/onefile', 'state': 'repair'},
        'pg', ['state is repair but all of the following are missing: repair_status, versions']),
    Row('mig-repair-bad-version', 'supabase_migration',
        {'migrations_dir': '@TMP/onefile', 'state': 'repair', 'repair_status': 'applied', 'versions': ['abc']},
        'pg', ['versions must be digits', "got 'abc'"]),
    Row('mig-bad-lock-timeout', 'supabase_migration', {'migrations_dir': '@TMP/onefile', 'lock_timeout': 'bogus'},
        'pg', ['lock_timeout', '"bogus"', 'use a PostgreSQL duration']),
    Row('mig-bad-statement-timeout', 'supabase_migration',
        {'migrations_dir': '@TMP/onefile', 'statement_timeout': '10 fortnights'},
        'pg', ['statement_timeout', 'use a PostgreSQL duration']),
    Row('mig-negative-lock-wait', 'supabase_migration', {'migrations_dir': '@TMP/onefile', 'lock_wait_timeout': -1},
        'pg', ['lock_wait_timeout is -1', 'use 0 (try once) or more seconds']),
    Row('mig-bad-sql', 'supabase_migration', {'migrations_dir': '@TMP/badsql'},
        'pg', ['20260101000000_bad.sql statement 2 failed', 'syntax error', 'nothing from this file was applied']),
    # -- postgres_check
    Row('check-no-checks', 'postgres_check', {'checks': []},
        'pg', ['checks is empty', 'give at least one SQL statement']),
    Row('check-that-writes', 'postgres_check', {'checks': ['DELETE FROM public.wines RETURNING true']},
        'pg', ['1 of 1 SQL check(s) failed', 'cannot execute DELETE in a read-only transaction']),
    Row('check-bad-statement-timeout', 'postgres_check', {'checks': ['SELECT true'], 'statement_timeout': 'bogus'},
        'pg', ['statement_timeout', '"bogus"', 'use a duration']),
    Row('supabase-dump-roles-and-data', 'supabase_db_dump', {'backup_dir': '@TMP/sd', 'roles_only': True, 'data_only': True},
        'pg', ['data_only and roles_only are mutually exclusive']),
    # -- Vercel
    Row('vercel-token-malformed', 'vercel_deployment_info', {'api_token': 'short'},
        'vercel', ['the Vercel token is malformed (5 characters', 'check api_token / VERCEL_TOKEN']),
    Row('vercel-token-rejected', 'vercel_deployment_info', {'api_token': 'A' * 24},
        'vercel', ['401: the Vercel token was rejected', 'check VERCEL_TOKEN']),
    Row('vercel-wrong-team', 'vercel_deployment_info', {'team_id': 'team_someoneelse00000000'},
        'vercel', ['403', 'team_someoneelse00000000', 'check team_id (VERCEL_TEAM_ID)']),
    Row('vercel-unknown-project', 'vercel_deployment_info', {'project': 'nope-project'},
        'vercel', ["project 'nope-project' not found", 'check project (VERCEL_PROJECT)']),
    Row('vercel-info-unknown-deployment', 'vercel_deployment_info', {'deployment': DPL},
        'vercel', ["deployment '%s' not found" % DPL, 'check the id or URL']),
    Row('rollback-unknown-target', 'vercel_rollback', {'target': DPL},
        'vercel', ["rollback target '%s' not found" % DPL, 'vercel_deployment_info lists rollback_candidates']),
    Row('rollback-bad-not-before', 'vercel_rollback', {'not_before': 'yesterday-ish'},
        'vercel', ["not_before='yesterday-ish' is not a time", 'use ISO 8601']),
    Row('promote-unknown-deployment', 'vercel_promote', {'deployment': DPL},
        'vercel', ["deployment '%s' not found in project" % DPL]),
    Row('deploy-bad-target', 'vercel_deployment', {'target': 'staging'},
        'vercel', ['value of target must be one of: production, preview, got: staging']),
    Row('deploy-nothing-to-deploy', 'vercel_deployment', {}, 'vercel', ['nothing to deploy', 'set git_ref and/or git_sha']),
    Row('deploy-unknown-deployment', 'vercel_deployment', {'deployment': DPL},
        'vercel', ["deployment '%s' not found" % DPL]),
    Row('deploy-git-sha-not-a-sha', 'vercel_deployment', {'git_sha': 'not-a-sha', 'wait': False},
        'vercel', ['git_sha']),
    Row('env-bad-key', 'vercel_env', {'key': 'BAD KEY', 'value': 'value-for-a-bad-key', 'target': ['production']},
        'vercel', ['400: Vercel refused', '`key` must contain only letters, digits and underscores']),
    Row('env-bad-target', 'vercel_env', {'key': 'X', 'value': 'value-for-x', 'target': ['prod']},
        'vercel', ['value of target must be one or more of: production, preview, development']),
    Row('env-missing-value', 'vercel_env', {'key': 'X', 'target': ['production']},
        'vercel', ['state is present but all of the following are missing: value']),
    Row('env-branch-on-production', 'vercel_env',
        {'key': 'X', 'value': 'value-for-x', 'target': ['production'], 'git_branch': 'main'},
        'vercel', ['`gitBranch` can only be used with target "preview"']),
    Row('vercel-api-url-not-http', 'vercel_rollback', {'api_url': 'ftp://example.com'},
        'vercel', ['api_url']),
    Row('firewall-ip-not-an-ip', 'vercel_firewall', {'ip': ['203.0.113.999']},
        'vercel', ["ip='203.0.113.999' is not an IP address or CIDR range", 'use e.g. 203.0.113.7']),
    Row('firewall-cidr-too-wide', 'vercel_firewall', {'ip': ['10.0.0.0/8'], 'reason': 'INC-1'},
        'vercel', ['ip=10.0.0.0/8 covers 16777216 addresses (wider than /16)', 'set force: true']),
    Row('firewall-ipv6-too-wide', 'vercel_firewall', {'ip': ['2001:db8::/32']},
        'vercel', ['ip=2001:db8::/32 covers', 'wider than /48', 'set force: true']),
    Row('firewall-bad-duration', 'vercel_firewall', {'ip': ['203.0.113.7'], 'expires_in': '2 hours'},
        'vercel', ["expires_in='2 hours' is not a duration", 'such as 30m, 2h or 1d']),
    Row('firewall-expiry-in-past', 'vercel_firewall', {'ip': ['203.0.113.7'], 'expires_at': '2020-01-01T00:00:00Z'},
        'vercel', ['expires_at=2020-01-01T00:00:00.000Z is in the past']),
    Row('firewall-nothing-to-do', 'vercel_firewall', {},
        'vercel', ['nothing to do: set ip, rate_limit or attack_mode (or state: enforce_expiry)']),
    Row('firewall-info-bad-version', 'vercel_firewall_info', {'config_version': 'latest'},
        'vercel', ["config_version='latest' is not a version; use active or a version number"]),
    Row('firewall-info-window-backwards', 'vercel_firewall_info', {'since': '1h', 'until': '3h'},
        'vercel', ['the window is backwards: since', 'swap them']),
    Row('vercel-logs-window-backwards', 'vercel_logs_info', {'since': '2026-01-02T00:00:00Z', 'until': '2026-01-01T00:00:00Z'},
        'vercel', ['the window is backwards: since (2026-01-02T00:00:00.000Z) is after until', 'swap them']),
    Row('vercel-logs-window-too-long', 'vercel_logs_info', {'since': '7d'},
        'vercel', ['is longer than 3 days (the longest Vercel keeps runtime logs); narrow since/until']),
    Row('logs-bad-status-code', 'vercel_logs_info', {'status_code': ['5x']},
        'vercel', ["status_code='5x' is not a status code; use a code such as 500 or a class such as 5xx or 4xx"]),
    Row('logs-bad-deadline', 'vercel_logs_info', {'deadline': 3600},
        'vercel', ['deadline must be 1 or more and 300 or less (got 3600)']),
    # -- Supabase
    Row('supabase-token-malformed', 'supabase_project_info', {'access_token': 'sbp_short'},
        'supabase', ['the Supabase access token is malformed (9 characters', 'check access_token / SUPABASE_ACCESS_TOKEN']),
    Row('supabase-token-rejected', 'supabase_project_info', {'access_token': 'sbp_' + '0' * 40},
        'supabase', ['401: the Supabase access token was rejected', 'check SUPABASE_ACCESS_TOKEN']),
    Row('supabase-bad-ref', 'supabase_project_info', {'project_ref': 'ABC'},
        'supabase', ["project_ref 'ABC' is not a Supabase project ref (20 lowercase letters)", 'copy it from the dashboard']),
    Row('supabase-unknown-ref', 'supabase_project_info', {'project_ref': 'abcdefghijklmnopqrst'},
        'supabase', ['404: Supabase project abcdefghijklmnopqrst not found', 'check project_ref (SUPABASE_PROJECT_REF)']),
    Row('supabase-bad-service', 'supabase_project_info', {'services': ['bogus']},
        'supabase', ['value of services must be one or more of', 'Got no match for: bogus']),
    Row('supabase-negative-wait', 'supabase_project_info', {'wait': True, 'wait_timeout': -5},
        'supabase', ['wait_timeout must be 0 or more']),
    Row('backup-info-negative-age', 'supabase_backup_info', {'max_age_hours': -1},
        'supabase', ['max_age_hours must be more than 0, got -1.0']),
    Row('pitr-bad-time', 'supabase_backup_restore', {'recovery_time': 'yesterday', 'confirm': '@REF'},
        'supabase', ["recovery_time='yesterday' is not a time", 'use ISO 8601']),
    Row('pitr-impossible-date', 'supabase_backup_restore', {'recovery_time': '2026-13-45T99:00:00Z', 'confirm': '@REF'},
        'supabase', ['is not a time']),
    Row('pitr-in-the-future', 'supabase_backup_restore', {'recovery_time': '2099-01-01T00:00:00Z', 'confirm': '@REF'},
        'supabase', ['recovery_time 2099-01-01T00:00:00Z is in the future', 'pick a time in the recoverable window']),
    Row('pitr-before-the-window', 'supabase_backup_restore', {'recovery_time': '2000-01-01T00:00:00Z', 'confirm': '@REF'},
        'supabase', ['is outside the recoverable window', 'pick a time inside it']),
    Row('pitr-off', 'supabase_backup_restore', {'recovery_time': '@HOUR_AGO', 'confirm': '@REF'},
        'supabase', ['point-in-time recovery is off for project', 'restore a physical backup with backup_id'],
        setup=pitr_off),
    Row('pitr-without-confirm', 'supabase_backup_restore', {'recovery_time': '@HOUR_AGO'},
        'supabase', ['without confirmation', 'set confirm:']),
    Row('pitr-wrong-confirm', 'supabase_backup_restore', {'recovery_time': '@HOUR_AGO', 'confirm': 'x'},
        'supabase', ['confirm (x) does not match project_ref']),
    Row('pitr-time-and-backup', 'supabase_backup_restore',
        {'recovery_time': '@HOUR_AGO', 'backup_id': 1, 'confirm': '@REF'},
        'supabase', ['parameters are mutually exclusive: recovery_time|backup_id']),
    Row('restore-unknown-backup', 'supabase_backup_restore', {'backup_id': 999999, 'confirm': '@REF'},
        'supabase', ['backup 999999 not found in project', 'completed physical backups:']),
    Row('ban-not-an-ip', 'supabase_network_ban', {'unban': ['not-an-ip']},
        'supabase', ["'not-an-ip' is not an IPv4 address"]),
    Row('supabase-api-url-not-http', 'supabase_project_info', {'api_url': 'ftp://example.com'},
        'supabase', ['api_url']),
    # -- supabase_api_key / supabase_logs_info / supabase_db_password (security incident)
    Row('api-key-unknown-id', 'supabase_api_key', {'id': '22222222-2222-4222-8222-222222222222', 'state': 'absent'},
        'supabase', ['404: no API key with id 22222222-2222-4222-8222-222222222222', 'use an id from there']),
    Row('api-key-id-not-a-uuid', 'supabase_api_key', {'id': 'sb_secret_abc', 'state': 'absent'},
        'supabase', ["id 'sb_secret_abc' is not an API key id (a UUID", 'list the keys']),
    Row('api-key-legacy-delete', 'supabase_api_key', {'id': 'anon', 'state': 'absent'},
        'supabase', ['the legacy anon key cannot be deleted alone', 'legacy_enabled=false']),
    Row('api-key-bad-name', 'supabase_api_key', {'name': 'App Key!'},
        'supabase', ["API key name 'App Key!' is not valid", 'lowercase letters, digits and _']),
    Row('supabase-logs-window-backwards', 'supabase_logs_info',
        {'sql': 'select 1', 'start': '2026-03-02T00:00:00Z', 'end': '2026-03-01T00:00:00Z'},
        'supabase', ['the log window ends (2026-03-01T00:00:00.000Z) before it starts', 'swap start and end']),
    Row('supabase-logs-window-too-long', 'supabase_logs_info',
        {'sql': 'select 1', 'start': '2026-03-01T00:00:00Z', 'end': '2026-03-09T00:00:00Z'},
        'supabase', ['the log window is 192.0 hours long, over max_window_hours (168)', 'narrow start/end']),
    Row('logs-window-bad-time', 'supabase_logs_info', {'sql': 'select 1', 'end': 'tomorrow-ish'},
        'supabase', ["end='tomorrow-ish' is not a time"]),
    Row('db-password-too-short', 'supabase_db_password', {'password': 'hunter2'},
        'supabase', ['the new database password is 7 characters long; use at least 16']),
    Row('db-password-bad-characters', 'supabase_db_password', {'password': 'p@ss word/with:url#chars'},
        'supabase', ['characters other than letters, digits and - . _ ~', 'need percent-encoding in DATABASE_URL']),
    Row('db-password-app-on-another-database', 'supabase_db_password',
        {'app_database_url': 'postgresql://postgres:pw@db.otherprojectxxxxxxxx.supabase.co:5432/postgres'},
        'supabase', ["the app's DATABASE_URL points at db.otherprojectxxxxxxxx.supabase.co:5432 database postgres",
                     'fix DATABASE_URL']),
    # -- supabase_auth_user / supabase_auth_audit_info
    Row('auth-unknown-user', 'supabase_auth_user',
        {'users': ['user12@example.com', 'ghost@example.com'], 'banned': True, 'sign_out': True, 'remove_mfa': True},
        'auth', ['no such user in the project at', ': ghost@example.com', 'nothing was changed'], setup=auth_on_row_db),
    Row('auth-bad-ban-duration', 'supabase_auth_user', {'users': ['user12@example.com'], 'banned': True,
                                                        'ban_duration': 'a while'},
        'auth', ["ban_duration='a while' is not a duration", 'such as 30m, 24h, 7d or 1h30m'], setup=auth_on_row_db),
    Row('auth-anon-key', 'supabase_auth_user', {'users': ['user12@example.com'], 'banned': True,
                                                'service_role_key': '@ANON_KEY'},
        'auth', ['holds the anon key; the Auth admin API needs the service_role key']),
    Row('auth-link-without-no-log', 'supabase_auth_user',
        {'users': ['user12@example.com'], 'password_reset': True, 'return_recovery_link': True},
        'auth', ['return_recovery_link returns credentials: add no_log: true to the task'], setup=auth_on_row_db),
    Row('auth-audit-backwards-window', 'supabase_auth_audit_info', {'since': '1h', 'until': '3h'},
        'pg', ['the window is backwards or empty: since', 'swap them']),
    Row('auth-audit-window-too-long', 'supabase_auth_audit_info', {'since': '2026-01-01T00:00:00Z'},
        'pg', ['longer than max_window 7d', 'narrow since/until or raise max_window']),
    Row('auth-audit-bad-ip', 'supabase_auth_audit_info', {'ips': ['10.0.0.300']},
        'pg', ["ips: '10.0.0.300' is not an IP address"]),
    # -- app_health / deployment_verify
    Row('health-unreachable', 'app_health', {'url': 'http://127.0.0.1:9/health', 'wait_timeout': 0},
        'none', ['connecting to 127.0.0.1:9 failed (Connection refused)', 'check the URL']),
    Row('health-not-a-url', 'app_health', {'url': 'not a url', 'wait_timeout': 0},
        'none', ["'not a url' is not an http(s) URL", 'use e.g. https://pourtrait.app/health']),
    Row('health-not-a-url-is-retried', 'app_health', {'url': 'ftp://example.com/health', 'wait_timeout': 60, 'interval': 1},
        'none', ['is not an http(s) URL'], slow_below=20.0),
    Row('health-bad-expect', 'app_health', {'url': '@APP/health', 'expect': 'json'},
        'none', ['value of expect must be one of: health, ok, got: json']),
    Row('verify-latency-without-threshold', 'deployment_verify',
        {'base_url': '@APP', 'checks': [{'name': 'p95', 'kind': 'latency', 'path': '/api/monitoring/performance'}]},
        'none', ['check p95 (latency) has no threshold', 'set checks[].threshold']),
    Row('verify-count-zero', 'deployment_verify', {'base_url': '@APP', 'count': 0},
        'none', ['count must be at least 1', 'fix count/interval']),
    Row('verify-negative-interval', 'deployment_verify', {'base_url': '@APP', 'interval': -1},
        'none', ['interval not negative']),
    Row('verify-bad-kind', 'deployment_verify',
        {'base_url': '@APP', 'checks': [{'name': 'x', 'kind': 'bogus', 'path': '/health'}]},
        'none', ['value of kind must be one of: health, error_rate, latency, got: bogus']),
    Row('verify-duplicate-names', 'deployment_verify',
        {'base_url': '@APP', 'checks': [{'name': 'x', 'kind': 'health', 'path': '/health'},
                                        {'name': 'x', 'kind': 'health', 'path': '/health'}]},
        'none', ['check names must be unique (got x, x)', 'rename the duplicates']),
    Row('upload-prefix-dotdot', 'backup_upload', {'path': '@TMP/offsite/fake.dump', 'prefix': 'a/../b'},
        's3', ['prefix "a/../b" has the segment ".."']),
    Row('upload-public-key-unparsable', 'backup_upload',
        {'path': '@TMP/offsite/fake.dump', 'encryption_public_key': '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'},
        's3', ['the encryption public key does not parse', 'RSA (2048 bits or more) or X25519']),
    Row('upload-missing-bucket', 'backup_upload', {'path': '@TMP/offsite/fake.dump', 'bucket': 'no-such-bucket'},
        's3', ['bucket no-such-bucket does not exist', 'POURTRAIT_BACKUP_BUCKET']),
    Row('upload-wrong-secret', 'backup_upload', {'path': '@TMP/offsite/fake.dump', 'secret_key': 'x' * 40},
        's3', ['403 SignatureDoesNotMatch', 'check secret_key (AWS_SECRET_ACCESS_KEY)']),
    Row('upload-wrong-region', 'backup_upload', {'path': '@TMP/offsite/fake.dump', 'region': 'eu-west-1'},
        's3', ['is in region us-east-1, not eu-west-1', 'set region (AWS_REGION) to us-east-1']),
    Row('upload-endpoint-not-s3', 'backup_upload', {'path': '@TMP/offsite/fake.dump', 'endpoint_url': '@APP'},
        's3', ['is not an S3 endpoint', 'check endpoint_url (AWS_ENDPOINT_URL_S3)']),
    Row('upload-tampered-dump', 'backup_upload', {'path': '@TMP/offsite/tampered.dump'},
        's3', ['does not match its manifest']),
    Row('download-point-missing', 'backup_download', {'database': 'pourtrait', 'dest': '@TMP/dl', 'point': 'nope'},
        's3', ['recovery point "nope" does not exist', 'the newest are: fake.dump (2026-01-01T02:00:00Z)'],
        setup=offsite_point),
    Row('download-tampered-object', 'backup_download', {'database': 'pourtrait', 'dest': '@TMP/dl'},
        's3', ['pourtrait/pourtrait/fake.dump/dump/fake.dump', 'altered after the upload (tampered or corrupt)',
               'nothing was restored'], setup=lambda ctx: offsite_point(ctx, tamper=True)),
    Row('download-private-key-unparsable', 'backup_download',
        {'database': 'pourtrait', 'dest': '@TMP/dl',
         'private_key': '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----'},
        's3', ['the decryption private key does not parse', 'paired with the upload\'s encryption_public_key']),
    Row('offsite-retention-no-rule', 'backup_offsite_retention', {'database': 'pourtrait'},
        's3', ['no retention rule: set keep and/or max_age_days']),
    Row('offsite-retention-keep-zero', 'backup_offsite_retention', {'database': 'pourtrait', 'keep': 0},
        's3', ['keep must be 1 or more']),
    Row('app-snapshot-not-a-git-repo', 'backup_app_snapshot',
        {'app_repo_path': '@TMP', 'database': 'pourtrait', 'name': 'rp-1'},
        's3', ['app_repo_path @TMP is not a git repository', 'set it to a git checkout of the app']),
    Row('app-snapshot-repo-missing', 'backup_app_snapshot',
        {'app_repo_path': '@TMP/no-such-checkout', 'database': 'pourtrait', 'name': 'rp-1'},
        's3', ['app_repo_path @TMP/no-such-checkout is not a directory']),
    Row('freshness-max-age-no-unit', 'backup_freshness', {'database': 'pourtrait', 'max_age': '26', 'supabase': False},
        's3', ["max_age='26' is not an age (a number needs a unit)", 'such as 26h']),
    Row('freshness-max-age-garbage', 'backup_freshness', {'database': 'pourtrait', 'max_age': 'soon'},
        's3', ["max_age='soon' is not an age", 'w, d, h, m or s']),
    Row('freshness-missing-bucket', 'backup_freshness', {'database': 'pourtrait', 'bucket': 'no-such-bucket',
                                                         'supabase': False},
        's3', ['bucket no-such-bucket does not exist']),
    # -- issue 12's rows for every off-site module: missing bucket, wrong credentials (403), a bucket in another
    # region, an endpoint that is not S3, a prefix with "..", a policy that deletes everything, a point that does
    # not exist; the snapshot (taken after the setup) holds the buckets, so nothing uploaded or deleted
    Row('upload-wrong-access-key', 'backup_upload', {'path': '@TMP/offsite/fake.dump', 'access_key': 'AKIANOSUCHKEY0000000'},
        's3', ['403 InvalidAccessKeyId', 'check access_key (AWS_ACCESS_KEY_ID)']),
    Row('upload-endpoint-vercel', 'backup_upload', {'path': '@TMP/offsite/fake.dump', 'endpoint_url': '@VERCEL'},
        's3', ['is not an S3 endpoint', 'check endpoint_url (AWS_ENDPOINT_URL_S3)']),
    Row('download-missing-bucket', 'backup_download', {'database': 'pourtrait', 'dest': '@TMP/dl',
                                                       'bucket': 'no-such-bucket'},
        's3', ['bucket no-such-bucket does not exist'], setup=offsite_point),
    Row('download-wrong-secret', 'backup_download', {'database': 'pourtrait', 'dest': '@TMP/dl', 'secret_key': 'x' * 40},
        's3', ['403 SignatureDoesNotMatch', 'check secret_key (AWS_SECRET_ACCESS_KEY)'], setup=offsite_point),
    Row('download-wrong-region', 'backup_download', {'database': 'pourtrait', 'dest': '@TMP/dl', 'region': 'eu-west-1'},
        's3', ['is in region us-east-1, not eu-west-1', 'set region (AWS_REGION) to us-east-1'], setup=offsite_point),
    Row('download-endpoint-not-s3', 'backup_download', {'database': 'pourtrait', 'dest': '@TMP/dl', 'endpoint_url': '@APP'},
        's3', ['is not an S3 endpoint', 'check endpoint_url (AWS_ENDPOINT_URL_S3)'], setup=offsite_point),
    Row('download-prefix-dotdot', 'backup_download', {'database': 'pourtrait', 'dest': '@TMP/dl', 'prefix': '../pourtrait'},
        's3', ['prefix "../pourtrait" has the segment ".."'], setup=offsite_point),
    Row('download-point-before-every-backup', 'backup_download',
        {'database': 'pourtrait', 'dest': '@TMP/dl', 'point': '2000-01-01T00:00:00Z'},
        's3', ['no recovery point at or before 2000-01-01T00:00:00Z in s3://pourtrait-backups/pourtrait/pourtrait/',
               'the oldest is fake.dump (2026-01-01T02:00:00Z)'], setup=offsite_point),
    Row('download-no-point-at-all', 'backup_download', {'database': 'pourtrait', 'dest': '@TMP/dl'},
        's3', ['no verified recovery point for this database in s3://pourtrait-backups/pourtrait/pourtrait/',
               'upload one with backup_upload (backup.yml)']),
    Row('offsite-retention-deletes-everything', 'backup_offsite_retention', {'database': 'pourtrait', 'max_age_days': 1},
        's3', ['the retention would delete all 1 recovery points', 'keep at least one'],
        setup=lambda ctx: offsite_point(ctx, verified=False)),
    Row('offsite-retention-max-age-zero', 'backup_offsite_retention', {'database': 'pourtrait', 'max_age_days': 0},
        's3', ['max_age_days must be more than 0'], setup=offsite_point),
    Row('offsite-retention-missing-bucket', 'backup_offsite_retention',
        {'database': 'pourtrait', 'keep': 1, 'bucket': 'no-such-bucket'},
        's3', ['bucket no-such-bucket does not exist'], setup=offsite_point),
    Row('offsite-retention-wrong-secret', 'backup_offsite_retention',
        {'database': 'pourtrait', 'keep': 1, 'secret_key': 'x' * 40},
        's3', ['403 SignatureDoesNotMatch', 'check secret_key (AWS_SECRET_ACCESS_KEY)'], setup=offsite_point),
    Row('offsite-retention-wrong-region', 'backup_offsite_retention',
        {'database': 'pourtrait', 'keep': 1, 'region': 'eu-west-1'},
        's3', ['is in region us-east-1, not eu-west-1'], setup=offsite_point),
    Row('offsite-retention-endpoint-not-s3', 'backup_offsite_retention',
        {'database': 'pourtrait', 'keep': 1, 'endpoint_url': '@VERCEL'},
        's3', ['is not an S3 endpoint'], setup=offsite_point),
    Row('offsite-retention-prefix-dotdot', 'backup_offsite_retention',
        {'database': 'pourtrait', 'keep': 1, 'prefix': 'pourtrait/..'},
        's3', ['prefix "pourtrait/.." has the segment ".."'], setup=offsite_point),
    Row('freshness-wrong-secret', 'backup_freshness', {'database': 'pourtrait', 'secret_key': 'x' * 40, 'supabase': False},
        's3', ['403 SignatureDoesNotMatch'], setup=offsite_point),
]

ROLE_ROWS = [
    # id, playbook, extra vars, fragment of the fatal line
    ('incident-severity-P9', 'incident', {'incident_response_severity': 'P9'},
     'value of incident_response_severity must be one of: P0, P1, P2, P3, got: P9'),
    ('incident-mitigate-first-maybe', 'incident', {'incident_response_severity': 'P1',
                                                   'incident_response_mitigation': 'rollback',
                                                   'incident_response_mitigate_first': 'maybe'},
     "argument 'incident_response_mitigate_first' is of type str"),
    ('rollback-timeout-not-a-number', 'rollback', {'rollback_health_wait_timeout': 'abc'},
     "argument 'rollback_health_wait_timeout' is of type str"),
    ('backup-format-tar', 'backup', {'db_backup_format': 'tar'},
     'value of db_backup_format must be one of: custom, directory, plain, got: tar'),
    ('maintenance-schedule-daily', 'db_maintenance', {'db_maintenance_schedule': 'daily'},
     'value of db_maintenance_schedule must be one of: weekly, monthly, got: daily'),
    ('dr-test-bad-prefix', 'dr_test', {'dr_test_scratch_prefix': 'Bad-Prefix'},
     'dr_test_scratch_prefix \\"Bad-Prefix\\" must be lower-case letters'),
    ('restore-without-path', 'restore', {}, 'Nothing to restore: set db_restore_path to a dump, or db_restore_from=s3'),
    ('restore-from-ftp', 'restore', {'db_restore_from': 'ftp'},
     'value of db_restore_from must be one of: local, s3, got: ftp'),
    ('dr-test-source-tape', 'dr_test', {'dr_test_source': 'tape'},
     'value of dr_test_source must be one of: , offsite, local, got: tape'),
    ('migrate-missing-dir', 'migrate', {'db_migrate_dir': '/nonexistent/migrations'},
     'migrations_dir /nonexistent/migrations does not exist'),
    ('deploy-nothing', 'deploy', {}, 'Nothing to deploy: set deploy_git_sha and/or deploy_git_ref'),
    ('deploy-fresh-gate-without-bucket', 'deploy', {'deploy_git_sha': 'ab' * 20, 'deploy_require_fresh_backup': 'always'},
     'stopped at the gate of fresh backups, before anything was built: no bucket: set bucket or POURTRAIT_BACKUP_BUCKET'),
    ('deploy-fresh-gate-max-age-no-unit', 'deploy',
     {'deploy_git_sha': 'ab' * 20, 'deploy_fresh_backup_bucket': 'pourtrait-backups', 'deploy_fresh_backup_max_age': '26'},
     "max_age='26' is not an age (a number needs a unit)"),
    ('window-bad-action', 'maintenance_window', {'maintenance_window_action': 'explode'},
     'value of maintenance_window_action must be one of: run, open, close, got: explode'),
    ('rotate-without-key', 'rotate_secret', {'security_incident_new_value': 'sk_live_whatever_0123456789'},
     'Set security_incident_key to the name of the Vercel env var holding the leaked key'),
    ('incident-unknown-phase', 'security_incident', {'security_incident_phases': ['contain', 'explode']},
     'security_incident_phases must be one or more of: contain, rotate, investigate, recover'),
    ('block-ip-nothing-asked', 'block_ip', {}, 'Nothing to do in the phases contain: set security_incident_block_ips'),
    ('block-ip-range-too-wide', 'block_ip', {'security_incident_block_ips': ['10.0.0.0/8']},
     'ip=10.0.0.0/8 covers 16777216 addresses (wider than /16)'),
    ('block-ip-not-an-ip', 'block_ip', {'security_incident_block_ips': ['203.0.113.999']}, '203.0.113.999'),
    ('db-password-app-on-another-database', 'rotate_db_password', {},
     "the app's DATABASE_URL points at db.example.invalid:5432 database postgres"),
]


class Context(object):
    """What the rows run against: a database of their own, a stand-in (reset per row), a scratch directory."""

    def __init__(self, pg_server, dbname, tmp, sandbox):
        self.pg = pg_server
        self.dbname = dbname
        self.tmp = tmp
        self.sandbox = sandbox
        self.supabase_ref = None

    def conn_args(self):
        return dict(login_host='127.0.0.1', login_port=self.pg.port, login_user=self.pg.user,
                    login_password=self.pg.password, login_db=self.dbname)

    def env(self, kind):
        info = self.sandbox.standins.info
        if kind == 'vercel':
            env = dict(self.sandbox.env)
            env.pop('VERCEL_CA_PATH', None)
            return env
        if kind == 'auth':
            return {'SUPABASE_URL': info['supabase_url'], 'SUPABASE_SERVICE_ROLE_KEY': info['supabase_service_role_key'],
                    'DATABASE_URL': self.pg.url(self.dbname)}
        if kind == 'supabase':
            return {'SUPABASE_API_URL': info['supabase_api_url'], 'SUPABASE_ACCESS_TOKEN': info['supabase_token'],
                    'SUPABASE_PROJECT_REF': self.supabase_ref}
        if kind == 's3':
            return {'AWS_ENDPOINT_URL_S3': info['s3_url'], 'AWS_ACCESS_KEY_ID': info['s3_access_key_id'],
                    'AWS_SECRET_ACCESS_KEY': info['s3_secret_access_key'], 'AWS_REGION': info['s3_region'],
                    'POURTRAIT_BACKUP_BUCKET': info['s3_bucket']}
        return {}

    def expand(self, value):
        if isinstance(value, dict):
            return dict((k, self.expand(v)) for k, v in value.items())
        if isinstance(value, list):
            return [self.expand(v) for v in value]
        if not isinstance(value, str):
            return value
        if value == '@HOUR_AGO':
            return one_hour_ago()
        if value == '@ANON_KEY':
            return self.sandbox.standins.info['supabase_anon_key']
        return (value.replace('@TMP', self.tmp).replace('@DB', self.dbname).replace('@REF', self.supabase_ref or '')
                .replace('@APP', self.sandbox.app_url).replace('@VERCEL', self.sandbox.api_url))

    # -- what must not change
    def db_state(self):
        conn = self.pg.connect(self.dbname)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'supabase_migrations', 'auth') "
                            "ORDER BY 1")
                tables = [r[0] for r in cur.fetchall()]
                counts = []
                for table in tables:
                    schema, name = table.split('.', 1)
                    cur.execute('SELECT count(*) FROM "%s"."%s"' % (schema, name))
                    counts.append((table, cur.fetchone()[0]))
                cur.execute('SELECT datname FROM pg_database ORDER BY 1')
                databases = [r[0] for r in cur.fetchall()]
        finally:
            conn.close()
        return dict(counts=counts, databases=databases)

    def files(self):
        """Every file under the scratch directory (an empty directory left behind is not counted: postgres_dump
        makes backup_dir before it dumps)."""
        found = set()
        for top, _dirs, files in os.walk(self.tmp):
            for name in files:
                found.add(os.path.relpath(os.path.join(top, name), self.tmp))
        return found

    def api_state(self):
        live = self.sandbox.live()
        return dict(live=live and live['uid'], deployments=len(self.sandbox.deployments()),
                    env=sorted((e['key'], e['value']) for e in self.sandbox.env_vars()),
                    restores=self.sandbox.admin('GET', '/supabase/restores'),
                    bans=self.sandbox.admin('GET', '/supabase/bans'),
                    s3=self.sandbox.admin('GET', '/s3/state')['buckets'])

    def snapshot(self):
        return dict(db=self.db_state(), files=self.files(), api=self.api_state())

    def successful_writes(self):
        return ['%s %s -> %s' % (r['method'], r['path'], r['status']) for r in self.sandbox.requests()
                if r['method'] in WRITES and r['status'] is not None and r['status'] < 400]


def make_files(tmp):
    offsite = os.path.join(tmp, 'offsite')
    os.makedirs(offsite)
    for name, body, recorded in (('fake.dump', b'PGDMP fake', b'PGDMP fake'), ('tampered.dump', b'PGDMP evil', b'x')):
        with open(os.path.join(offsite, name), 'wb') as handle:
            handle.write(body)
        with open(os.path.join(offsite, name + '.manifest.json'), 'w') as handle:
            json.dump({'format': 'custom', 'database': 'pourtrait', 'name': name, 'size': len(body),
                       'sha256': hashlib.sha256(recorded).hexdigest(), 'verification': {'ok': True}}, handle)
    os.makedirs(os.path.join(tmp, 'emptymig'))
    with open(os.path.join(tmp, 'afile'), 'w') as handle:
        handle.write('not a directory\n')
    layout = {'dup': {'20260101000000_a.sql': 'SELECT 1;', '20260101000000_b.sql': 'SELECT 2;'},
              'onefile': {'20260101000000_t.sql': 'CREATE TABLE public.bad_input_t (id int);'},
              'badsql': {'20260101000000_bad.sql': 'CREATE TABLE public.bad_input_zz (id int);\nSELEC oops;\n'}}
    for directory, files in layout.items():
        os.makedirs(os.path.join(tmp, directory))
        for name, text in files.items():
            with open(os.path.join(tmp, directory, name), 'w') as handle:
                handle.write(text)


@pytest.fixture(scope='module')
def ctx(pg_server, standin_pool, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp('bad-input'))
    make_files(tmp)
    dbname = 'bad_input_' + os.urandom(4).hex()
    pg_server.create_database(dbname, template=TEMPLATE_DB)
    context = Context(pg_server, dbname, tmp, standin_pool[0])
    try:
        yield context
    finally:
        pg_server.drop_database(dbname)
        for (name,) in pg_server.execute("SELECT datname FROM pg_database WHERE datname LIKE 'audit\\_xxx%%'"):
            pg_server.drop_database(name)  # what database-name-too-long creates while the bug lasts


@pytest.fixture
def fresh(ctx):
    state = ctx.sandbox.reset()
    ctx.supabase_ref = state['supabase']['ref']
    return ctx


def test_the_table_is_big_enough():
    assert len(MODULE_ROWS) >= 60
    assert len(set(r.ident for r in MODULE_ROWS)) == len(MODULE_ROWS)
    modules = set(r.module for r in MODULE_ROWS)
    on_disk = set(n[:-3] for n in os.listdir(os.path.join(os.path.dirname(__file__), '..', '..', 'plugins', 'modules'))
                  if n.endswith('.py'))
    assert on_disk <= modules, 'modules without a bad-input row: %s' % sorted(on_disk - modules)


@pytest.mark.parametrize('row', [r.param() for r in MODULE_ROWS])
def test_module_bad_input(fresh, row):
    ctx = fresh
    if row.setup:
        row.setup(ctx)
    before = ctx.snapshot()
    ctx.sandbox.clear_requests()
    args = ctx.expand(row.args)
    if row.kind == 'pg':
        args = dict(ctx.conn_args(), **args)
    started = time.time()
    result = run_module(row.module, args, env=ctx.env(row.kind), timeout=120)
    seconds = time.time() - started
    assert_one_line_error(result, *[ctx.expand(f) for f in row.fragments])
    assert len(result['msg']) < 600, result['msg']
    if row.slow_below:
        assert seconds < row.slow_below, 'the error came after %.1f s' % seconds
    after = ctx.snapshot()
    assert after['db'] == before['db'], 'the database changed'
    assert after['files'] == before['files'], 'files changed: %s' % (after['files'] ^ before['files'])
    assert after['api'] == before['api'], 'the stand-in state changed'
    assert ctx.successful_writes() == []


def fatal_line(output):
    fatal = [line for line in output.splitlines() if line.startswith('fatal: ')]
    assert len(fatal) == 1, output[-3000:]
    payload = json.loads(fatal[0].split(' => ', 1)[1])
    for message in [payload.get('msg') or ''] + list(payload.get('argument_errors') or []):
        assert '\n' not in message.strip() or message.startswith('Validation of arguments failed'), message
    for message in payload.get('argument_errors') or []:
        assert '\n' not in message, message
    return fatal[0]


@pytest.mark.parametrize('ident, playbook, extra, fragment', ROLE_ROWS, ids=[r[0] for r in ROLE_ROWS])
def test_role_bad_input(fresh, ident, playbook, extra, fragment):
    ctx = fresh
    before = ctx.snapshot()
    ctx.sandbox.clear_requests()
    env = [ctx.env('vercel'), ctx.env('supabase'), {
        'DATABASE_URL': ctx.pg.url(ctx.dbname), 'POURTRAIT_REPORTS_DIR': os.path.join(ctx.tmp, '..', 'reports-' + ident)}]
    variables = dict(extra, db_backup_dir=os.path.join(ctx.tmp, 'backups'))
    result = run_playbook(playbook, '-e', vars_file(os.path.dirname(ctx.tmp), ident, variables), env=env, timeout=120)
    output = result.output
    assert result.rc == 2, output[-3000:]
    assert 'Traceback' not in output, output[-3000:]
    line = fatal_line(output)
    assert fragment in line, line[:2000]
    after = ctx.snapshot()
    assert after['db'] == before['db'] and after['files'] == before['files'] and after['api'] == before['api']
    assert ctx.successful_writes() == []


# restore.yml / dr_test.yml from the bucket with a recovery point that cannot be restored: the run stops before
# pg_restore (no partial restore: the database's tables and row counts, the scratch directory and the bucket are
# as before; no pre-restore safety dump, no scratch database left by the drill)
OFFSITE_ROLE_ROWS = [
    # id, playbook, setup (kwargs of offsite_point, None: no point), extra vars, fragments of the fatal line
    ('restore-offsite-tampered', 'restore', {'tamper': True}, {},
     ['pourtrait/pourtrait/fake.dump/dump/fake.dump', 'altered after the upload (tampered or corrupt)',
      'nothing was restored']),
    ('restore-offsite-point-missing', 'restore', {}, {'db_restore_point': 'nope'},
     ['recovery point \\"nope\\" does not exist', 'the newest are: fake.dump (2026-01-01T02:00:00Z)']),
    ('restore-offsite-no-point', 'restore', None, {}, ['no verified recovery point for this database']),
    ('restore-offsite-private-key-unparsable', 'restore', {},
     {'db_restore_private_key': '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----'},
     ['the decryption private key does not parse']),
    ('restore-offsite-prefix-dotdot', 'restore', {}, {'db_restore_s3_prefix': '../pourtrait'},
     ['prefix \\"../pourtrait\\" has the segment \\"..\\"']),
    ('dr-test-offsite-tampered', 'dr_test', {'tamper': True}, {},
     ['pourtrait/pourtrait/fake.dump/dump/fake.dump', 'altered after the upload (tampered or corrupt)']),
    ('dr-test-offsite-point-missing', 'dr_test', {}, {'dr_test_point': 'nope'},
     ['recovery point \\"nope\\" does not exist']),
]


@pytest.mark.parametrize('ident, playbook, point, extra, fragments', OFFSITE_ROLE_ROWS,
                         ids=[r[0] for r in OFFSITE_ROLE_ROWS])
def test_offsite_restore_bad_point_restores_nothing(fresh, ident, playbook, point, extra, fragments):
    ctx = fresh
    if point is not None:
        offsite_point(ctx, **point)
    before = ctx.snapshot()
    ctx.sandbox.clear_requests()
    scratch = os.path.join(os.path.dirname(ctx.tmp), 'offsite-role-' + ident)
    if playbook == 'restore':
        variables = dict(db_restore_from='s3', db_restore_confirm=ctx.dbname, db_restore_s3_database='pourtrait',
                         db_restore_download_dir=os.path.join(ctx.tmp, 'restore'),
                         db_restore_safety_backup_dir=os.path.join(scratch, 'pre-restore'))
    else:
        variables = dict(dr_test_source='offsite', dr_test_s3_database='pourtrait', dr_test_dir=os.path.join(ctx.tmp, 'dr'),
                         dr_test_log=os.path.join(scratch, 'dr-log.jsonl'), dr_test_scratch_prefix='badoffsite')
    variables.update(extra)
    env = [ctx.env('vercel'), ctx.env('supabase'), ctx.env('s3'), {
        'DATABASE_URL': ctx.pg.url(ctx.dbname), 'POURTRAIT_REPORTS_DIR': os.path.join(scratch, 'reports')}]
    result = run_playbook(playbook, '-e', vars_file(os.path.dirname(ctx.tmp), ident, variables), env=env, timeout=180)
    output = result.output
    assert result.rc == 2, output[-3000:]
    assert 'Traceback' not in output, output[-3000:]
    if playbook == 'dr_test':   # the drill rescues the step's failure, logs it, then fails the play with it
        line = [text for text in output.splitlines() if text.startswith('fatal: ')][-1]
        assert line.startswith('fatal: [localhost]: FAILED! => {"changed": false, "msg": "DR drill failed at '), line
    else:
        line = fatal_line(output)
    for fragment in fragments:
        assert fragment in line, (fragment, line[:2000])
    after = ctx.snapshot()
    assert after['db'] == before['db'], 'the database changed: a partial restore'
    assert after['files'] == before['files'], 'files left: %s' % (after['files'] ^ before['files'])
    assert after['api']['s3'] == before['api']['s3'], 'the bucket changed'
    assert not os.path.exists(os.path.join(scratch, 'pre-restore')), 'a safety dump was taken: the restore had begun'
    assert ctx.pg.execute("SELECT datname FROM pg_database WHERE datname LIKE 'badoffsite%%'") == []
    assert ctx.successful_writes() == []

#!/usr/bin/env python
"""Benchmark: postgres_diagnostics on a database with many tables.

Starts a throwaway PostgreSQL (tests/sandbox/pg.py), seeds the Pourtrait
schema, adds N tables (default 10,000, each with a primary key, a sequence and
a TOAST table), then times

* the module: ``plugins/modules/postgres_diagnostics.py`` run as Ansible runs
  it (a Python process reading its JSON arguments), all subsets;
* the floor: a bare Python process that imports psycopg2, connects once and
  runs exactly the same catalog statements (taken from the module) one after
  the other - what a hand-written script would cost. (The module runs the
  database size, which stats every file, on a second connection beside the
  others.)

Each is run several times; the median counts. Goal: the module under 2 s,
ratio module / floor at most 1.5.

    python bench/diagnostics.py [--tables N] [--runs R]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.sandbox.pg import PgServer  # noqa: E402

COLLECTIONS = os.path.join(ROOT, '.collections')
MODULE = os.path.join(ROOT, 'plugins', 'modules', 'postgres_diagnostics.py')
GOAL_SECONDS = 2.0
GOAL_RATIO = 1.5
DBNAME = 'bench_diag'

# Tables are created server-side in one DO block, committing every 1000 tables
# (CREATE TABLE takes a few locks each; one transaction for all would overflow
# the lock table).
CREATE_TABLES = """
DO $$
BEGIN
  FOR i IN 1..%d LOOP
    EXECUTE format('CREATE TABLE IF NOT EXISTS public.bench_t%%s (id bigserial PRIMARY KEY, v text, n int)', i);
    IF i %% 1000 = 0 THEN COMMIT; END IF;
  END LOOP;
END
$$;
"""

# A fresh process running the statements bare: connect, execute, fetch, exit.
FLOOR_SCRIPT = r"""
import json, sys
import psycopg2
spec = json.load(open(sys.argv[1]))
conn = psycopg2.connect(**spec['conn'])
conn.autocommit = True
cur = conn.cursor()
for statement in spec['statements']:
    cur.execute(statement)
    cur.fetchall()
conn.close()
"""


def ensure_collection_link():
    link = os.path.join(COLLECTIONS, 'ansible_collections', 'pourtrait', 'ops')
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)


def module_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith('PG') and k != 'DATABASE_URL'}
    env['PYTHONPATH'] = COLLECTIONS
    return env


def build_database(server, tables):
    server.create_database(DBNAME)
    server.seed(DBNAME)
    started = time.time()
    server.execute(CREATE_TABLES % tables, dbname=DBNAME)
    return time.time() - started


def floor_statements(server, module_params):
    """The module's own statements, rendered to SQL text on a real connection."""
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.pourtrait.ops.plugins.modules import postgres_diagnostics as diag
    conn = server.connect(DBNAME)
    try:
        cursor = conn.cursor()
        meta = diag.read_meta(cursor)
        timeouts = dict(lock_timeout=diag.LOCK_TIMEOUT, statement_timeout=diag.STATEMENT_TIMEOUT)
        statements = [cursor.mogrify(diag.META_QUERY, timeouts).decode()]
        for _subset, query, args in diag.subset_queries(list(diag.SUBSETS), module_params, meta):
            if not isinstance(query, str):
                query = query.as_string(conn)
            statements.append(cursor.mogrify(query, args).decode())
    finally:
        conn.close()
    return statements


def timed(argv, env):
    started = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    elapsed = time.time() - started
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc %d): %s %s' % (argv[1], proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
    return elapsed, proc.stdout


def run(tables=10000, runs=5):
    """Rows for bench/run.py: [{name, seconds, floor_seconds, ratio, goal}]."""
    ensure_collection_link()
    server = PgServer().start()
    workdir = tempfile.mkdtemp(prefix='bench-diag-')
    try:
        build_seconds = build_database(server, tables)
        conn = dict(host='127.0.0.1', port=server.port, user=server.user, password=server.password, dbname=DBNAME)
        params = dict(gather_subset=['all'], slow_query_threshold_ms=100.0, limit=20, long_running_seconds=60,
                      query_max_length=200)
        args_path = os.path.join(workdir, 'args.json')
        with open(args_path, 'w') as handle:
            json.dump({'ANSIBLE_MODULE_ARGS': dict(params, login_host=conn['host'], login_port=conn['port'],
                                                   login_user=conn['user'], login_password=conn['password'],
                                                   login_db=DBNAME, _ansible_tmpdir=workdir)}, handle)
        spec_path = os.path.join(workdir, 'floor.json')
        with open(spec_path, 'w') as handle:
            json.dump(dict(conn=conn, statements=floor_statements(server, params)), handle)
        os.chmod(args_path, 0o600)
        os.chmod(spec_path, 0o600)
        env = module_env()
        module_times, floor_times = [], []
        # One warm-up of each (first catalog access fills the server's caches), then alternate.
        timed([sys.executable, MODULE, args_path], env)
        timed([sys.executable, '-c', FLOOR_SCRIPT, spec_path], env)
        for _run in range(runs):
            seconds, stdout = timed([sys.executable, MODULE, args_path], env)
            result = json.loads(stdout)
            if result.get('failed') or result.get('warnings'):
                raise RuntimeError('module run not clean: %s' % (result.get('msg') or result.get('warnings')))
            module_times.append(seconds)
            floor_times.append(timed([sys.executable, '-c', FLOOR_SCRIPT, spec_path], env)[0])
        seconds = statistics.median(module_times)
        floor = statistics.median(floor_times)
        return [dict(name='postgres_diagnostics, all subsets, %d tables' % tables,
                     seconds=round(seconds, 3), floor_seconds=round(floor, 3), ratio=round(seconds / floor, 2),
                     goal='< %.0f s, ratio <= %.1f' % (GOAL_SECONDS, GOAL_RATIO),
                     ok=seconds < GOAL_SECONDS and seconds / floor <= GOAL_RATIO,
                     setup_seconds=round(build_seconds, 1))]
    finally:
        server.stop()
        for name in os.listdir(workdir):
            os.unlink(os.path.join(workdir, name))
        os.rmdir(workdir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--tables', type=int, default=10000, help='tables to create (default 10000)')
    parser.add_argument('--runs', type=int, default=5, help='timed runs of each side (median counts)')
    options = parser.parse_args(argv)
    rows = run(options.tables, options.runs)
    ok = True
    for row in rows:
        met = row['seconds'] < GOAL_SECONDS and row['ratio'] <= GOAL_RATIO
        ok = ok and met
        print('%s: module %.3f s, floor %.3f s, ratio %.2f (goal %s) %s  [setup %.1f s]'
              % (row['name'], row['seconds'], row['floor_seconds'], row['ratio'], row['goal'],
                 'OK' if met else 'MISSED', row['setup_seconds']))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())

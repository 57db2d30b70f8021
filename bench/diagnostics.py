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

Then the lock parts (``blocking`` and ``locks``) on a server with 500 client
sessions: a tenth hold a row lock in an open transaction, four tenths queue
behind them (chains of row-lock waits), the rest sit idle in a transaction
holding table locks. Goal: under 1 s. The same floor (the statements bare).

    python bench/diagnostics.py [--tables N] [--sessions S] [--runs R] [--only catalog|locks]
"""

import argparse
import contextlib
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
LOCKS_GOAL_SECONDS = 1.0
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


def floor_statements(server, module_params, subsets=None):
    """The module's own statements, rendered to SQL text on a real connection."""
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.pourtrait.ops.plugins.modules import postgres_diagnostics as diag
    conn = server.connect(DBNAME)
    try:
        cursor = conn.cursor()
        meta = diag.read_meta(cursor)
        timeouts = dict(lock_timeout=diag.LOCK_TIMEOUT, statement_timeout=diag.STATEMENT_TIMEOUT)
        statements = [cursor.mogrify(diag.META_QUERY, timeouts).decode()]
        for _subset, query, args in diag.subset_queries(list(subsets or diag.SUBSETS), module_params, meta):
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


def write_specs(workdir, server, params, subsets=None):
    """(module args path, floor spec path) for a run of the module with ``params`` and its bare statements."""
    conn = dict(host='127.0.0.1', port=server.port, user=server.user, password=server.password, dbname=DBNAME)
    args_path = os.path.join(workdir, 'args.json')
    with open(args_path, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': dict(params, login_host=conn['host'], login_port=conn['port'],
                                               login_user=conn['user'], login_password=conn['password'],
                                               login_db=DBNAME, _ansible_tmpdir=workdir)}, handle)
    spec_path = os.path.join(workdir, 'floor.json')
    with open(spec_path, 'w') as handle:
        json.dump(dict(conn=conn, statements=floor_statements(server, params, subsets)), handle)
    os.chmod(args_path, 0o600)
    os.chmod(spec_path, 0o600)
    return args_path, spec_path


def measure(args_path, spec_path, runs):
    """(median module seconds, median floor seconds, last module result) over ``runs`` alternated runs."""
    env = module_env()
    module_times, floor_times = [], []
    # One warm-up of each (first catalog access fills the server's caches), then alternate.
    timed([sys.executable, MODULE, args_path], env)
    timed([sys.executable, '-c', FLOOR_SCRIPT, spec_path], env)
    result = None
    for _run in range(runs):
        seconds, stdout = timed([sys.executable, MODULE, args_path], env)
        result = json.loads(stdout)
        if result.get('failed') or result.get('warnings'):
            raise RuntimeError('module run not clean: %s' % (result.get('msg') or result.get('warnings')))
        module_times.append(seconds)
        floor_times.append(timed([sys.executable, '-c', FLOOR_SCRIPT, spec_path], env)[0])
    return statistics.median(module_times), statistics.median(floor_times), result


@contextlib.contextmanager
def bench_server(max_connections=None):
    """A throwaway server and a work directory, both removed afterwards."""
    server = PgServer().start()
    workdir = tempfile.mkdtemp(prefix='bench-diag-')
    try:
        if max_connections:
            server.execute('ALTER SYSTEM SET max_connections = %d' % max_connections)
            server._run([os.path.join(server.bindir, 'pg_ctl'), '-D', server.data_dir, '-l', server.log_file,
                         '-w', '-t', '60', 'restart'])
        yield server, workdir
    finally:
        server.stop()
        for name in os.listdir(workdir):
            os.unlink(os.path.join(workdir, name))
        os.rmdir(workdir)


PARAMS = dict(gather_subset=['all'], slow_query_threshold_ms=100.0, limit=20, long_running_seconds=60,
              query_max_length=200)


def run_catalog(tables=10000, runs=5):
    """Every part on a database with ``tables`` tables."""
    ensure_collection_link()
    with bench_server() as (server, workdir):
        build_seconds = build_database(server, tables)
        seconds, floor, _result = measure(*write_specs(workdir, server, PARAMS), runs=runs)
        return [dict(name='postgres_diagnostics, all subsets, %d tables' % tables,
                     seconds=round(seconds, 3), floor_seconds=round(floor, 3), ratio=round(seconds / floor, 2),
                     goal='< %.0f s, ratio <= %.1f' % (GOAL_SECONDS, GOAL_RATIO),
                     ok=seconds < GOAL_SECONDS and seconds / floor <= GOAL_RATIO,
                     setup_seconds=round(build_seconds, 1))]


def open_sessions(server, sessions):
    """``sessions`` asynchronous connections (no thread each): holders, queued waiters, idle readers."""
    import psycopg2
    import psycopg2.extras
    hot = max(1, sessions // 10)
    waiters = max(1, sessions * 4 // 10)
    server.execute('CREATE TABLE bench_locks (id int PRIMARY KEY, v int)', dbname=DBNAME)
    server.execute('INSERT INTO bench_locks SELECT g, 0 FROM generate_series(0, %d) g' % hot, dbname=DBNAME)
    conns = []
    for index in range(sessions):
        conn = psycopg2.connect(async_=1, **server.conn_kwargs(DBNAME))
        psycopg2.extras.wait_select(conn)
        cursor = conn.cursor()  # an asynchronous query lives as long as its cursor
        conns.append((conn, cursor))
        if index < hot or index >= hot + waiters:
            statement = ('BEGIN; UPDATE bench_locks SET v = v + 1 WHERE id = %d' % index if index < hot
                         else 'BEGIN; SELECT count(*) FROM wines; SELECT count(*) FROM notifications')
            cursor.execute(statement)
            psycopg2.extras.wait_select(conn)
        else:
            cursor.execute('BEGIN; UPDATE bench_locks SET v = v + 1 WHERE id = %d' % (index % hot))
    deadline = time.time() + 60
    while server.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                         dbname=DBNAME)[0][0] < waiters:
        if time.time() > deadline:
            raise RuntimeError('the waiters never queued up')
        time.sleep(0.1)
    return conns


def run_locks(sessions=500, runs=5):
    """``blocking`` and ``locks`` with ``sessions`` client sessions, many of them waiting on locks."""
    ensure_collection_link()
    with bench_server(max_connections=sessions + 50) as (server, workdir):
        server.create_database(DBNAME)
        server.seed(DBNAME)
        started = time.time()
        conns = open_sessions(server, sessions)
        setup = time.time() - started
        try:
            params = dict(PARAMS, gather_subset=['blocking', 'locks'])
            seconds, floor, result = measure(*write_specs(workdir, server, params, ['blocking', 'locks']), runs=runs)
        finally:
            for conn, _cursor in conns:
                conn.close()
        trees = result['diagnostics']['blocking']
        return [dict(name='postgres_diagnostics, blocking + locks, %d sessions (%d trees)' % (sessions, len(trees)),
                     seconds=round(seconds, 3), floor_seconds=round(floor, 3), ratio=round(seconds / floor, 2),
                     goal='< %.0f s' % LOCKS_GOAL_SECONDS, ok=seconds < LOCKS_GOAL_SECONDS,
                     setup_seconds=round(setup, 1))]


def run(tables=10000, runs=5, sessions=500):
    """Rows for bench/run.py: [{name, seconds, floor_seconds, ratio, goal, ok}]."""
    return run_catalog(tables, runs) + run_locks(sessions, runs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--tables', type=int, default=10000, help='tables to create (default 10000)')
    parser.add_argument('--sessions', type=int, default=500, help='client sessions of the lock bench (default 500)')
    parser.add_argument('--runs', type=int, default=5, help='timed runs of each side (median counts)')
    parser.add_argument('--only', choices=['catalog', 'locks'], help='run one of the two benchmarks')
    options = parser.parse_args(argv)
    rows = []
    if options.only != 'locks':
        rows += run_catalog(options.tables, options.runs)
    if options.only != 'catalog':
        rows += run_locks(options.sessions, options.runs)
    for row in rows:
        print('%s: module %.3f s, floor %.3f s, ratio %.2f (goal %s) %s  [setup %.1f s]'
              % (row['name'], row['seconds'], row['floor_seconds'], row['ratio'], row['goal'],
                 'OK' if row['ok'] else 'MISSED', row['setup_seconds']))
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python
"""Benchmark: supabase_migration applying N small migration files against the psql-per-file floor.

One throwaway PostgreSQL 15 server (tests/sandbox/pg.py), N generated migration files (default
500; each creates a table and an index, inserts rows and comments the table), and two fresh
databases, in the same run:

- floor: what a shell loop over the files pays - per file one ``psql -X -q -1 -v ON_ERROR_STOP=1
  -f <file> -c "INSERT INTO supabase_migrations.schema_migrations ..."`` (the file and its
  history row in one transaction), with the history table created beforehand (not timed);
- ``supabase_migration`` with its defaults, run as Ansible runs a module (one process, one
  connection, the advisory lock, one round trip per file), creating the history table itself.

Both databases end with the same N tables and N history rows (checked). Goal: module <= 1.0x
the floor.

    python bench/migrate.py [--files N]

``run(files=500)`` returns the rows ({name, seconds, floor_seconds, ratio, goal}) for bench/run.py.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.sandbox.pg import PgServer  # noqa: E402
from tests.conftest import COLLECTIONS, ensure_collection_link, run_module  # noqa: E402

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils.migration_files import split_statements  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.migrations import CREATE_HISTORY, INSERT_HISTORY  # noqa: E402

GOAL = '<= 1.0'
TEMPLATE = """-- {version}: cellar section {n}
create table cellar_{n} (
  id bigint generated always as identity primary key,
  label text not null,
  vintage int check (vintage between 1900 and 2100),
  created_at timestamptz not null default now()
);
create index cellar_{n}_label_idx on cellar_{n} (label);
insert into cellar_{n} (label, vintage) values ('Chablis; premier cru', 2019), ('Barolo', 2016);
comment on table cellar_{n} is 'section {n}';
"""


def generate(directory, count):
    """count files named <14-digit version>_cellar_<n>.sql; returns [(version, name, path)]."""
    files = []
    for n in range(1, count + 1):
        version = '2026%010d' % n
        name = 'cellar_%d' % n
        path = os.path.join(directory, '%s_%s.sql' % (version, name))
        with open(path, 'w') as handle:
            handle.write(TEMPLATE.format(version=version, n=n))
        files.append((version, name, path))
    return files


def floor_seconds(server, dbname, files):
    """psql -1 -f per file plus the history insert in the same transaction."""
    conn = server.connect(dbname)
    try:
        cursor = conn.cursor()
        cursor.execute(';\n'.join(CREATE_HISTORY))
        inserts = []
        for version, name, path in files:
            with open(path) as handle:
                statements = split_statements(handle.read())
            inserts.append(cursor.mogrify(INSERT_HISTORY, (version, name, statements)).decode('utf-8'))
    finally:
        conn.close()
    psql = os.path.join(server.bindir, 'psql')
    env = dict(os.environ, **server.env(dbname))
    env.pop('DATABASE_URL', None)
    started = time.time()
    for (_version, _name, path), insert in zip(files, inserts):
        proc = subprocess.run([psql, '-X', '-q', '-1', '-v', 'ON_ERROR_STOP=1', '-f', path, '-c', insert],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError('psql failed on %s: %s' % (path, proc.stderr.strip()[-500:]))
    return time.time() - started


def check(server, dbname, count):
    tables = server.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'cellar\\_%%'", dbname=dbname)[0][0]
    rows = server.execute('SELECT count(*) FROM supabase_migrations.schema_migrations', dbname=dbname)[0][0]
    if tables != count or rows != count:
        raise RuntimeError('%s: %d tables and %d history rows, expected %d' % (dbname, tables, rows, count))


def run(files=500, log=None):
    """Run the benchmark once; return the result rows."""
    log = log or (lambda msg: None)
    server = PgServer().start()
    work = tempfile.mkdtemp(prefix='pourtrait-bench-migrate-')
    try:
        generated = generate(work, files)
        server.create_database('bench_floor')
        server.create_database('bench_module')
        floor = floor_seconds(server, 'bench_floor', generated)
        check(server, 'bench_floor', files)
        log('floor: psql -1 -f per file + history insert: %.2f s for %d files' % (floor, files))

        conn = dict(login_host='127.0.0.1', login_port=server.port, login_user=server.user,
                    login_password=server.password, login_db='bench_module')
        started = time.time()
        result = run_module('supabase_migration', dict(conn, migrations_dir=work))
        seconds = time.time() - started
        if result.get('failed'):
            raise RuntimeError('supabase_migration failed: %s' % result.get('msg'))
        check(server, 'bench_module', files)
        log('supabase_migration: %.2f s for %d files (%d applied)' % (seconds, files, len(result['applied'])))
        return [
            dict(name='floor: psql -1 -f per file + history insert (%d files)' % files, seconds=round(floor, 3),
                 floor_seconds=round(floor, 3), ratio=1.0, goal=''),
            dict(name='supabase_migration, %d files (module process)' % files, seconds=round(seconds, 3),
                 floor_seconds=round(floor, 3), ratio=round(seconds / floor, 3), goal=GOAL, ok=seconds <= floor),
        ]
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--files', type=int, default=500, help='number of migration files (default 500)')
    args = parser.parse_args(argv)
    rows = run(args.files, log=lambda msg: sys.stderr.write(msg + '\n'))
    for row in rows:
        sys.stdout.write('%-55s %8.3f s  floor %8.3f s  ratio %5.2f  goal %s\n'
                         % (row['name'], row['seconds'], row['floor_seconds'], row['ratio'], row['goal'] or '-'))
    module_row = rows[-1]
    sys.stdout.write('ratio %.2f (goal %s)\n' % (module_row['ratio'], GOAL))
    return 0


if __name__ == '__main__':
    sys.exit(main())

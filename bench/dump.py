#!/usr/bin/env python
"""Benchmark: postgres_dump / postgres_restore defaults against raw pg_dump / pg_restore and the floor.

One throwaway PostgreSQL 15 server (tests/sandbox/pg.py), one generated database of about
``--size-mb`` MB (default 1024) in 4 similar-sized tables, and in the same run:

- floor: every table read with ``COPY ... TO STDOUT`` by psql discarding the data, one
  connection per CPU (as many as the module's default jobs): what any dump client must pay;
  a server-side ``COPY ... TO '/dev/null'`` (nothing sent) is printed for reference;
- raw ``pg_dump -Fc`` (gzip level 6, single process);
- ``postgres_dump`` with its defaults (directory format, CPU-count jobs, compression level 1
  by ISA-L - pg_dump writes the data uncompressed and the module gzips each table file as
  pg_dump writes it, hashing the compressed bytes on the way - ``verify: toc``), run as
  Ansible runs a module;
- single-job ``pg_restore`` of that dump into an empty database, and ``postgres_restore``
  with its defaults (checksum check, CPU-count jobs, row counts) into a new database: pg_restore
  restores the schema, then the module loads the table data itself (each ISA-L data file
  inflated into ``COPY ... FROM STDIN``, CPU-count connections), then pg_restore -j builds the
  indexes and constraints (``data_loader: copy_in``).

The dump and the restore run ``--runs`` times each (default 3), paired with the floor (dump) or
single-job pg_restore (restore): the two sides go first in turn, each step after an ``os.sync()``
so no writeback of the step before lands on it; the median ratio counts and the range is printed.

Goals: dump defaults >= 4x faster than raw -Fc, <= 2.0x the floor, output <= 1.1x the raw
dump; restore defaults >= 2.0x faster than single-job pg_restore. A reference row gives the ceiling of any
restore on this machine: the server's own CPU-seconds during postgres_restore (from /proc: the postmaster, its
processes and those it reaped) spread over every core, against single-job pg_restore.

    python bench/dump.py [--size-mb N] [--runs N]   # or POURTRAIT_BENCH_DUMP_MB, POURTRAIT_BENCH_RUNS

The machine may be shared: run it more than once before comparing, and report the range.

``run(size_mb)`` returns the rows ({name, seconds, floor_seconds, ratio, goal, size_bytes, ok})
for bench/run.py.
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from statistics import median

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.sandbox.pg import PgServer  # noqa: E402
from tests.conftest import run_module  # noqa: E402

DB = 'bench'
JOBS = max(2, os.cpu_count() or 2)
CORES = os.cpu_count() or 1

# Four tables of the same shape: ids, timestamps, small integers, a short vocabulary,
# hex digests and sentences around them (compresses to about 37% at gzip level 6,
# which reproduces the throughput measured for this brief: raw pg_dump -Fc ~17 MB/s).
TABLES = ('bench_a', 'bench_b', 'bench_c', 'bench_d')
CREATE = """
CREATE TABLE {t} (
    id bigint NOT NULL,
    created_at timestamptz NOT NULL,
    account_id integer NOT NULL,
    score double precision,
    status text NOT NULL,
    code text NOT NULL,
    note text
)"""
FILL = """
INSERT INTO {t}
SELECT g,
       timestamptz '2025-01-01' + g * interval '17 seconds',
       (g * 7919) %% 250000,
       (g %% 1000) / 7.0,
       (ARRAY['new', 'active', 'paused', 'closed'])[1 + g %% 4],
       md5(g::text),
       'order ' || g || ' for account ' || ((g * 7919) %% 250000) || ': ' || md5((g * 31)::text)
           || CASE WHEN g %% 3 = 0 THEN ' priority shipping requested' ELSE ' standard' END
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g"""


def _timed(func):
    started = time.time()
    func()
    return time.time() - started


def _run(argv, env):
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError('%s failed: %s' % (argv[0], proc.stderr.strip()[-1000:]))


def parallel_map(func, items, workers):
    """func over items on ``workers`` threads; the first failure is raised once all are done."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, items))


def generate(server, size_mb):
    """4 tables of about size_mb/4 MB of heap each, indexed, vacuumed, frozen and analyzed."""
    server.create_database(DB)
    per_table = size_mb * 1024 * 1024 / len(TABLES)
    pieces = []
    for table in TABLES:
        server.execute(CREATE.format(t=table), dbname=DB)
        # Calibrate bytes per row on a sample, then fill in slices of 250k rows.
        server.execute(FILL.format(t=table), dbname=DB, params=dict(lo=1, hi=20000))
        server.execute('VACUUM ' + table, dbname=DB)
        per_row = server.execute('SELECT pg_relation_size(%s)', dbname=DB, params=(table,))[0][0] / 20000.0
        server.execute('TRUNCATE ' + table, dbname=DB)
        rows = max(20000, int(per_table / per_row))
        pieces.extend((table, lo, min(lo + 249999, rows)) for lo in range(1, rows + 1, 250000))

    def fill(piece):
        table, lo, hi = piece
        server.execute(FILL.format(t=table), dbname=DB, params=dict(lo=lo, hi=hi))

    parallel_map(fill, pieces, JOBS)

    def finish(table):
        server.execute('ALTER TABLE %s ADD PRIMARY KEY (id)' % table, dbname=DB)
        server.execute('VACUUM (FREEZE, ANALYZE) %s' % table, dbname=DB)

    parallel_map(finish, list(TABLES), JOBS)
    return server.execute("SELECT sum(pg_relation_size(c))::bigint FROM unnest(%s::regclass[]) c", dbname=DB,
                          params=(list(TABLES),))[0][0]


def floor_seconds(server, env):
    """The floor: every table read with ``COPY ... TO STDOUT`` by a client (psql) that discards
    it, as many tables at once as the module's default jobs. This is the least any dump client
    pays: the server formats every row and sends it over the connection."""
    psql = os.path.join(server.bindir, 'psql')

    def copy(table):
        _run([psql, '-X', '--no-password', '-c', 'COPY %s TO STDOUT' % table], env)
    return _timed(lambda: parallel_map(copy, list(TABLES), JOBS))


def server_side_seconds(server):
    """Reference: every table read server-side into /dev/null (superuser), nothing sent."""
    def copy(table):
        server.execute("COPY %s TO '/dev/null'" % table, dbname=DB)
    return _timed(lambda: parallel_map(copy, list(TABLES), JOBS))


_HZ = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100


def _proc_times(pid):
    """(own CPU-s, CPU-s of its reaped children) of a process from /proc, or (0, 0) when it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            fields = handle.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return 0.0, 0.0
    return (int(fields[11]) + int(fields[12])) / _HZ, (int(fields[13]) + int(fields[14])) / _HZ


def server_cpu_seconds(server):
    """CPU-s the server has used so far: the postmaster, its live processes, and those it has reaped (backends
    that ended), from /proc; None where /proc is missing. The difference over a run is the server's own work."""
    try:
        with open(os.path.join(server.data_dir, 'postmaster.pid')) as handle:
            postmaster = int(handle.readline())
        pids = [int(p) for p in os.listdir('/proc') if p.isdigit()]
    except (OSError, ValueError):
        return None
    own, reaped = _proc_times(postmaster)
    total = own + reaped
    for pid in pids:
        try:
            with open('/proc/%d/stat' % pid) as handle:
                parent = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == postmaster:
            total += _proc_times(pid)[0]
    return total


def _children_cpu_seconds():
    """CPU-s of this process's ended children (and theirs): a program run with subprocess.run counts in full."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _server_share(server, func):
    """(seconds, server CPU-s) of func()."""
    before = server_cpu_seconds(server)
    seconds = _timed(func)
    after = server_cpu_seconds(server)
    return seconds, (None if before is None or after is None else after - before)


def dir_size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(r, f)) for r, _d, fs in os.walk(path) for f in fs)


def _row(name, seconds, floor, ratio, goal, size, ok=None):
    return dict(name=name, seconds=None if seconds is None else round(seconds, 2),
                floor_seconds=None if floor is None else round(floor, 2),
                ratio=None if ratio is None else round(ratio, 2), goal=goal, size_bytes=size, ok=ok)


def default_runs():
    """--runs' default: POURTRAIT_BENCH_RUNS when set, else 3."""
    return int(os.environ.get('POURTRAIT_BENCH_RUNS') or 3)


def default_size_mb():
    """--size-mb's default: POURTRAIT_BENCH_DUMP_MB when set (a smaller size to iterate), else 1024."""
    return int(os.environ.get('POURTRAIT_BENCH_DUMP_MB') or 1024)


def _paired(runs, first, second):
    """``runs`` pairs of (first(), second()) run back to back, each step after an ``os.sync()`` (no writeback
    of the step before lands on it), the two going first in turn; returns ([first times], [second times])."""
    times = ([], [])
    for index in range(runs):
        order = (0, 1) if index % 2 == 0 else (1, 0)
        for side in order:
            os.sync()
            times[side].append((first, second)[side](index))
    return times


def _spread(values):
    """'a-b' of a list of seconds or ratios."""
    return '%.2f-%.2f' % (min(values), max(values))


def run(size_mb=None, log=None, runs=None):
    """Run the whole benchmark once; return the result rows. The dump and the restore each run ``runs`` times
    (default 3, or POURTRAIT_BENCH_RUNS) paired with their floor or peer; the median ratio counts."""
    size_mb = size_mb or default_size_mb()
    runs = runs or default_runs()
    log = log or (lambda msg: None)
    server = PgServer().start()
    work = tempfile.mkdtemp(prefix='pourtrait-bench-dump-')
    os.chmod(work, 0o755)
    try:
        bindir = server.bindir
        pg_dump = os.path.join(bindir, 'pg_dump')
        pg_restore = os.path.join(bindir, 'pg_restore')
        env = dict(os.environ, **server.env(DB))
        env.pop('DATABASE_URL', None)
        log('generating %d MB in %d tables ...' % (size_mb, len(TABLES)))
        heap = generate(server, size_mb)
        log('%.0f MB of heap generated' % (heap / 1048576.0))
        server.execute('CHECKPOINT')

        os.sync()
        server_side = server_side_seconds(server)
        os.sync()
        raw_path = os.path.join(work, 'raw.dump')
        raw = _timed(lambda: _run([pg_dump, '-Fc', '-f', raw_path, '--no-password'], env))
        raw_size = dir_size(raw_path)
        log('raw pg_dump -Fc %.2f s, %d bytes; server-side COPY TO /dev/null %.2f s' % (raw, raw_size, server_side))

        conn = dict(login_host='127.0.0.1', login_port=server.port, login_user=server.user,
                    login_password=server.password, login_db=DB)
        dumps = []

        def module_dump(index):
            backup_dir = os.path.join(work, 'backups%d' % index)
            result = {}
            seconds = _timed(lambda: result.update(run_module('postgres_dump', dict(conn, backup_dir=backup_dir,
                                                                                    bin_dir=bindir))))
            if result.get('failed'):
                raise RuntimeError('postgres_dump failed: %s' % result.get('msg'))
            dumps.append(result)
            log('postgres_dump defaults %.2f s, %d bytes, compressor %s (%s)'
                % (seconds, result['size'], result['compressor'], result['verification']))
            return seconds

        def floor(_index):
            seconds = floor_seconds(server, env)
            log('floor %.2f s (COPY TO STDOUT, %d parallel)' % (seconds, JOBS))
            return seconds
        floors, mods = _paired(runs, floor, module_dump)
        dump_ratios = [m / f for m, f in zip(mods, floors)]
        dumped = dumps[-1]
        mod_size = dumped['size']

        single_cpus = []

        def single_restore(_index):
            server.create_database('bench_restore_raw')
            client = _children_cpu_seconds()
            seconds, server_cpu = _server_share(server, lambda: _run([pg_restore, '--no-password', '--exit-on-error',
                                                                      '-d', 'bench_restore_raw', dumped['path']], env))
            client = _children_cpu_seconds() - client
            server.drop_database('bench_restore_raw')
            if server_cpu:
                single_cpus.append((server_cpu, client, seconds))
            log('pg_restore single job %.2f s, the server\'s own CPU %s, pg_restore\'s %.2f s'
                % (seconds, '-' if server_cpu is None else '%.2f s' % server_cpu, client))
            return seconds
        server_cpus = []

        def module_restore(_index):
            restored = {}
            seconds, server_cpu = _server_share(server, lambda: restored.update(run_module(
                'postgres_restore', dict(conn, path=dumped['path'], target_db='bench_restore_mod', create=True,
                                         bin_dir=bindir))))
            if restored.get('failed'):
                raise RuntimeError('postgres_restore failed: %s' % restored.get('msg'))
            server.drop_database('bench_restore_mod')
            if server_cpu:
                server_cpus.append(server_cpu)
            log('postgres_restore defaults %.2f s (data loaded by %s), the server\'s own CPU %s'
                % (seconds, restored.get('data_loader'), '-' if server_cpu is None else '%.2f s' % server_cpu))
            return seconds
        singles, restores = _paired(runs, single_restore, module_restore)
        restore_ratios = [s / m for s, m in zip(singles, restores)]
        return _rows(dict(floor=median(floors), server_side=server_side, raw=raw, raw_size=raw_size, mod=median(mods),
                          mod_size=mod_size, dump_ratios=dump_ratios, single=median(singles),
                          mod_restore=median(restores), restore_ratios=restore_ratios,
                          server_cpu=median(server_cpus) if server_cpus else None, runs=runs,
                          single_cpu=sorted(single_cpus)[len(single_cpus) // 2] if single_cpus else None))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _rows(m):
    """The result rows of one run's medians ``m``."""
    dump_ratio, restore_ratio = median(m['dump_ratios']), median(m['restore_ratios'])
    paired = 'median of %d paired runs, range %%s' % m['runs']
    rows = [
        _row('floor: COPY TO STDOUT discarded, %d parallel' % JOBS, m['floor'], m['floor'], 1.0, None, None),
        _row("reference: COPY TO '/dev/null' server-side", m['server_side'], m['floor'],
             m['server_side'] / m['floor'], None, None),
        _row('raw pg_dump -Fc', m['raw'], m['floor'], m['raw'] / m['floor'], None, m['raw_size']),
        _row('postgres_dump defaults vs floor (%s)' % (paired % _spread(m['dump_ratios'])), m['mod'], m['floor'],
             dump_ratio, '<= 2.0', m['mod_size'], dump_ratio <= 2.0),
        _row('postgres_dump defaults speed-up over raw -Fc', m['mod'], m['raw'], m['raw'] / m['mod'], '>= 4.0',
             m['mod_size'], m['raw'] / m['mod'] >= 4.0),
        _row('postgres_dump defaults size vs raw -Fc', m['mod'], m['raw'], float(m['mod_size']) / m['raw_size'],
             '<= 1.1', m['mod_size'], float(m['mod_size']) / m['raw_size'] <= 1.1),
        _row('pg_restore single job', m['single'], m['single'], 1.0, None, None),
        _row('postgres_restore defaults speed-up over single-job pg_restore (%s)'
             % (paired % _spread(m['restore_ratios'])), m['mod_restore'], m['single'], restore_ratio, '>= 2.0',
             None, restore_ratio >= 2.0),
    ]
    if m['single_cpu']:
        # single-job pg_restore is not one core's work: pg_restore inflates the data in its own process while the
        # server loads it, and the server builds each index with parallel workers (seconds: its wall time; ratio:
        # the cores it kept busy on average)
        server_cpu, client_cpu, seconds = m['single_cpu']
        rows.append(_row('reference: cores single-job pg_restore keeps busy (server CPU %.1f s + pg_restore %.1f s)'
                         % (server_cpu, client_cpu), seconds, seconds, (server_cpu + client_cpu) / seconds, None,
                         None))
    if m['server_cpu']:
        # the server's own CPU during that restore, spread over every core with nothing else to do: the most
        # any client could make of this machine (seconds: that time; ratio: single-job pg_restore over it)
        rows.append(_row('reference: ceiling of any restore here (server CPU %.1f s / %d cores)'
                         % (m['server_cpu'], CORES), m['server_cpu'] / CORES, m['single'],
                         m['single'] / (m['server_cpu'] / CORES), None, None))
    return rows


def format_table(rows):
    header = ('name', 'seconds', 'floor_s', 'ratio', 'goal', 'size_bytes', 'ok')
    lines = [[str(h) for h in header]]
    for row in rows:
        lines.append(['' if row.get(k) is None else str(row.get(k)) for k in
                      ('name', 'seconds', 'floor_seconds', 'ratio', 'goal', 'size_bytes', 'ok')])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return '\n'.join('  '.join(cell.ljust(widths[i]) for i, cell in enumerate(line)) for line in lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--size-mb', type=int, default=default_size_mb(),
                        help='generated data size (default 1024, or POURTRAIT_BENCH_DUMP_MB)')
    parser.add_argument('--runs', type=int, default=default_runs(),
                        help='paired runs of the dump and of the restore; the median counts (default 3, or '
                             'POURTRAIT_BENCH_RUNS)')
    args = parser.parse_args(argv)
    rows = run(args.size_mb, log=lambda msg: sys.stderr.write(msg + '\n'), runs=args.runs)
    sys.stdout.write(format_table(rows) + '\n')
    return 0 if all(r['ok'] is not False for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())

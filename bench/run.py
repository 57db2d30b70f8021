"""`make bench`: run every benchmark in bench/ and print one table.

Each bench/<name>.py exposes ``run(**options) -> list of rows``; a row is a
dict with ``name``, ``seconds``, ``floor_seconds`` (the floor measured in the
same run), ``ratio``, ``goal`` (text from the issue, e.g. "<= 2.5x floor") and ``ok``
(whether this run met the goal; None for floors and reference rows). The table's last
column says so. Benchmarks report; they never pass or fail (make bench exits 0).
"""

import argparse
import importlib.util
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def load(name):
    spec = importlib.util.spec_from_file_location('bench_' + name, os.path.join(HERE, name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fmt(value, pattern):
    return pattern % value if isinstance(value, (int, float)) else str(value if value is not None else '-')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('names', nargs='*', help='benchmarks to run (default: all in bench/)')
    args = parser.parse_args(argv)
    names = args.names or sorted(f[:-3] for f in os.listdir(HERE)
                                 if f.endswith('.py') and f not in ('run.py', '__init__.py') and not f.startswith('_'))
    rows = []
    for name in names:
        started = time.time()
        print('== bench/%s.py' % name, flush=True)
        try:
            rows.extend(load(name).run())
        except Exception as exc:  # a broken benchmark must not hide the others
            rows.append({'name': name, 'seconds': None, 'floor_seconds': None, 'ratio': None,
                         'goal': 'error: %s' % exc})
        print('   (%.1f s)' % (time.time() - started), flush=True)
    header = ('hot path', 'seconds', 'floor s', 'ratio', 'goal', 'met')
    verdicts = {True: 'yes', False: 'MISSED', None: ''}
    table = [header] + [(r['name'], fmt(r.get('seconds'), '%.3f'), fmt(r.get('floor_seconds'), '%.3f'),
                         fmt(r.get('ratio'), '%.2f'), r.get('goal') or '', verdicts[r.get('ok')]) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        print('  '.join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)))
        if index == 0:
            print('  '.join('-' * w for w in widths))
    goals = [r for r in rows if r.get('ok') is not None or str(r.get('goal', '')).startswith('error')]
    print('%d of %d goals met in this run' % (len([r for r in goals if r.get('ok')]), len(goals)))
    return 0


if __name__ == '__main__':
    sys.exit(main())

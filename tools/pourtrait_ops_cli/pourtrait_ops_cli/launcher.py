# Copyright: Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The first process ansible-runner starts: it takes the caller's environment (credentials
included) from a FIFO and becomes ansible-playbook.

Why: ansible-runner records the environment it starts its child with, in full, in
``artifacts/<ident>/command``. pourtrait-ops therefore hands runner an environment holding only
harmless variables, and passes the rest (VERCEL_TOKEN, DATABASE_URL, PGPASSWORD, ...) through a
FIFO in the private 0700 data directory: a pipe, so the values never reach a file. This
launcher reads them, adds them to its own environment and execs ansible-playbook, which (with
every module it starts) inherits them.

Run as ``python launcher.py FIFO ANSIBLE_PLAYBOOK [ansible-playbook arguments...]``.
"""

import json
import os
import sys


def read_channel(path):
    """The variables the parent wrote to the FIFO (a JSON object of strings)."""
    with open(path, 'rb') as handle:
        payload = handle.read()
    data = json.loads(payload.decode('utf-8')) if payload else {}
    if not isinstance(data, dict):
        raise ValueError('expected a JSON object')
    return dict((str(k), str(v)) for k, v in data.items())


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2:
        sys.stderr.write('usage: launcher.py FIFO ANSIBLE_PLAYBOOK [ARGS...]\n')
        return 5
    channel, program = argv[0], argv[1]
    try:
        inherited = read_channel(channel)
    except (OSError, ValueError) as exc:
        sys.stderr.write('[ERROR]: pourtrait-ops could not pass the environment to ansible-playbook (%s)\n' % exc)
        return 5
    for key, value in inherited.items():
        os.environ.setdefault(key, value)
    sys.stdout.flush()
    try:
        os.execv(program, [program] + argv[2:])
    except OSError as exc:
        sys.stderr.write('[ERROR]: pourtrait-ops could not start %s (%s)\n' % (program, exc))
    return 5


if __name__ == '__main__':
    sys.exit(main())

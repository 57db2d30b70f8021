# Copyright: Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pourtrait-ops: run the pourtrait.ops playbooks through ansible-runner.

    pourtrait-ops list
    pourtrait-ops run rollback --inventory inventory/production -e 'rollback_reason="INC-42"'
    pourtrait-ops run deploy -i inventory/production -e deploy_git_sha=$GITHUB_SHA \\
        --json-summary reports/deploy.json --junit reports/deploy.xml

Exit codes: 0 every task ok; 2 a task failed; 3 bad configuration (unknown playbook, missing
inventory, bad option, a playbook ansible cannot load) or a host unreachable; 130 interrupted.
"""

import argparse
import dataclasses
import json
import os
import re
import signal
import sys
import time

from pourtrait_ops_cli import __version__
from pourtrait_ops_cli.events import RunRecorder, one_line
from pourtrait_ops_cli.execute import PlaybookRun
from pourtrait_ops_cli.project import (ConfigError, find_root, list_playbooks, prepare_extra_vars,
                                       resolve_inventory, resolve_playbook)
from pourtrait_ops_cli.reports import junit, summary, write_junit, write_summary

EXIT_OK = 0
EXIT_TASK_FAILED = 2
EXIT_CONFIG = 3
EXIT_INTERRUPTED = 130
SECRET_NAME = re.compile(r'TOKEN|SECRET|PASSW|API_?KEY|PRIVATE|CREDENTIAL|AUTH|DATABASE_URL|DSN|_KEY$', re.I)
URL_PASSWORD = re.compile(r'^[a-z][a-z0-9+.-]*://[^:/@\s]*:([^@\s]+)@', re.I)
MASK = '********'


class UsageError(ConfigError):
    """A bad command line (exit 3, not argparse's 2: 2 means a task failed)."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError('%s (see %s --help)' % (message, self.prog))


def build_parser():
    parser = Parser(prog='pourtrait-ops', description='Run the pourtrait.ops runbook playbooks through '
                    'ansible-runner, with progress lines, a JSON summary and JUnit XML for CI.',
                    epilog='Exit codes: 0 ok, 2 a task failed, 3 bad configuration or an unreachable host, '
                    '130 interrupted. Credentials (VERCEL_TOKEN, SUPABASE_ACCESS_TOKEN, DATABASE_URL, PG*) are '
                    'read from the environment only.')
    parser.add_argument('--version', action='version', version='%(prog)s ' + __version__)
    sub = parser.add_subparsers(dest='command', parser_class=Parser)

    lister = sub.add_parser('list', help='list the playbooks')
    lister.add_argument('--json', action='store_true', help='print a JSON list')
    lister.add_argument('--project-dir', help='the pourtrait.ops checkout (default: found from the current '
                        'directory, else the checkout this command was installed from)')

    run = sub.add_parser('run', help='run a playbook', description='Run playbooks/<PLAYBOOK>.yml (or a .yml path) '
                         'with the checkout\'s ansible.cfg, through ansible-runner.')
    run.add_argument('playbook', metavar='PLAYBOOK', help='a name from pourtrait-ops list (rollback, deploy, ...) '
                     'or a path to a playbook file')
    run.add_argument('-i', '--inventory', help='inventory directory or file, relative to the current directory '
                     'or the checkout (default: ansible.cfg\'s, inventory/local)')
    run.add_argument('-e', '--extra-vars', action='append', default=[], metavar='VARS',
                     help='key=value (several separated by spaces), @file (YAML/JSON) or a JSON mapping; repeatable. '
                     'Never put a credential here: export it in the environment')
    run.add_argument('-C', '--check', action='store_true', help='check mode: say what would change, change nothing')
    run.add_argument('-D', '--diff', action='store_true', help='show the differences of what changes')
    run.add_argument('-l', '--limit', help='limit the run to these hosts (an Ansible host pattern)')
    run.add_argument('-t', '--tags', help='run only tasks with these tags')
    run.add_argument('--skip-tags', help='skip tasks with these tags')
    run.add_argument('-v', '--verbose', action='count', default=0,
                     help='pass -v to ansible-playbook and print its output under the progress lines (-vv, -vvv ...)')
    run.add_argument('--json-summary', metavar='PATH', help='write a JSON summary of the run here')
    run.add_argument('--junit', metavar='PATH', help='write JUnit XML here (a test case per task and host)')
    run.add_argument('--keep-artifacts', action='store_true',
                     help='keep ansible-runner\'s private data dir (events, stdout) and print where it is')
    run.add_argument('--project-dir', help='the pourtrait.ops checkout (default: found from the current directory, '
                     'else the checkout this command was installed from)')
    watch = sub.add_parser('watch', help='respond to alerts: the alert_response rulebook in the foreground',
                           description='Run extensions/eda/rulebooks/alert_response.yml with ansible-rulebook (Java '
                           '17+) until Ctrl-C: it watches the app and the live deployment and runs the incident '
                           'playbooks automatically (see README, Alert response).')
    watch.add_argument('-i', '--inventory', help='inventory directory or file (default: inventory/local, the sandbox)')
    watch.add_argument('--vars', action='append', metavar='FILE', help='rulebook variables (YAML) over '
                       'extensions/eda/rulebooks/alert_response.vars.yml; repeatable')
    watch.add_argument('--dry-run', action='store_true', help='record what would run (audit log), change nothing')
    watch.add_argument('-v', '--verbose', action='count', default=0, help='every line of ansible-rulebook')
    watch.add_argument('--project-dir', help='the pourtrait.ops checkout (default: found from the current directory, '
                       'else the checkout this command was installed from)')
    return parser


def secret_values(environ):
    """Values of credential-looking variables (and passwords inside URLs) to mask in what we print."""
    values = set()
    for key, value in environ.items():
        if not value:
            continue
        match = URL_PASSWORD.match(value)
        if match and len(match.group(1)) >= 4:
            values.add(match.group(1))
        if SECRET_NAME.search(key) and len(value) >= 6:
            values.add(value)
    return sorted(values, key=len, reverse=True)


def make_redactor(environ):
    values = secret_values(environ)

    def redact(text):
        if not isinstance(text, str):
            return text
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
        return text
    return redact


@dataclasses.dataclass
class Outcome:
    """How a run ended, for the final line, the JSON summary and the JUnit properties."""

    playbook: str = None
    playbook_path: str = None
    inventory: str = None
    limit: str = None
    check: bool = False
    diff: bool = False
    extra_var_names: list = dataclasses.field(default_factory=list)
    status: str = 'error'
    exit_code: int = EXIT_CONFIG
    ansible_rc: int = None
    runner_status: str = None
    message: str = ''
    started_at: str = dataclasses.field(default_factory=lambda: time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    finished_at: str = None
    _start: float = dataclasses.field(default_factory=time.monotonic, repr=False)
    duration: float = 0.0
    artifacts_dir: str = None

    def finish(self, status, exit_code, message):
        self.status, self.exit_code, self.message = status, exit_code, message
        self.finished_at = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        self.duration = time.monotonic() - self._start


def error_lines(stdout):
    """The error ansible-playbook printed ('[ERROR]: ...' in ansible-core 2.19, 'ERROR! ...' before)."""
    found = []
    for line in stdout.splitlines():
        text = line.strip()
        if text.startswith('[ERROR]:') or text.startswith('ERROR!'):
            found.append(re.sub(r'^(\[ERROR\]:|ERROR!)\s*', '', text))
    return found


def classify(rc, runner_status, recorder, stdout=''):
    """(status, exit code, one-line message) of a finished run."""
    if runner_status == 'canceled':
        return 'interrupted', EXIT_INTERRUPTED, 'interrupted; the task that was running may have been cut short'
    unreachable = recorder.with_status('unreachable')
    if unreachable:
        first = unreachable[0]
        return 'unreachable', EXIT_CONFIG, 'host %s is unreachable: %s' % (first.host, first.msg or 'no details')
    failed = recorder.with_status('failed')
    if rc == 0 and runner_status == 'successful':
        return 'ok', EXIT_OK, ''
    if failed:
        first = failed[0]
        message = "task '%s' failed on %s: %s" % (first.label, first.host, first.msg or 'no message')
        return 'failed', EXIT_TASK_FAILED, message
    if rc in (2, 8):
        return 'failed', EXIT_TASK_FAILED, 'ansible-playbook reported failed hosts (rc %s)' % rc
    errors = error_lines(stdout) or recorder.errors
    if errors:
        return 'error', EXIT_CONFIG, one_line(errors[0])
    return 'error', EXIT_CONFIG, 'ansible-playbook exited with rc %s (%s) before any task failed' % (rc, runner_status)


def cmd_list(args, out):
    root = find_root(args.project_dir)
    books = list_playbooks(root)
    if args.json:
        out(json.dumps([{'name': n, 'path': p, 'description': d} for n, p, d in books], indent=2))
        return EXIT_OK
    width = max([len(n) for n, _p, _d in books] + [4])
    for name, _path, desc in books:
        out('%-*s  %s' % (width, name, desc))
    return EXIT_OK


class Interrupt(object):
    """SIGINT/SIGTERM during a run: ask runner to cancel (it stops the child) instead of dying mid-task."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False

    def _handle(self, _signum, _frame):
        self.requested = True

    def __call__(self):
        return self.requested


def ansible_arguments(args, inventory, extra):
    argv = []
    if inventory:
        argv += ['-i', inventory]
    for value in extra:
        argv += ['-e', value]
    if args.check:
        argv.append('--check')
    if args.diff:
        argv.append('--diff')
    if args.limit:
        argv += ['--limit', args.limit]
    if args.tags:
        argv += ['--tags', args.tags]
    if args.skip_tags:
        argv += ['--skip-tags', args.skip_tags]
    if args.verbose:
        argv.append('-' + 'v' * args.verbose)
    return argv


def write_reports(args, outcome, recorder, out):
    if args.json_summary:
        write_summary(args.json_summary, summary(outcome, recorder))
        out('summary: %s' % os.path.abspath(args.json_summary))
    if args.junit:
        write_junit(args.junit, junit(outcome, recorder))
        out('junit: %s' % os.path.abspath(args.junit))


def cmd_run(args, out, err):
    redact = make_redactor(os.environ)
    recorder = RunRecorder(out, verbosity=args.verbose, redact=redact)
    outcome = Outcome(playbook=args.playbook, limit=args.limit, check=args.check, diff=args.diff)
    try:
        root = find_root(args.project_dir)
        name, path = resolve_playbook(root, args.playbook)
        outcome.playbook, outcome.playbook_path = name, os.path.relpath(path, root)
        inventory = resolve_inventory(root, args.inventory)
        outcome.inventory = os.path.relpath(inventory, root) if inventory else None
        extra, outcome.extra_var_names = prepare_extra_vars(args.extra_vars)
        where = ' on ' + outcome.inventory if outcome.inventory else ''
        out('pourtrait-ops: running %s%s%s' % (outcome.playbook_path, where, ' (check mode)' if args.check else ''))
        with Interrupt() as interrupt:
            job = PlaybookRun(root, path, ansible_arguments(args, inventory, extra), recorder.handle,
                              keep_artifacts=args.keep_artifacts, cancel_callback=interrupt)
            try:
                job.run()
            finally:
                if args.keep_artifacts and job.data_dir:
                    outcome.artifacts_dir = job.data_dir
        outcome.ansible_rc, outcome.runner_status = job.rc, job.status
        status, code, message = classify(job.rc, job.status, recorder, job.stdout)
        outcome.finish(status, code, redact(message))
    except ConfigError as exc:
        outcome.finish('error', EXIT_CONFIG, redact(str(exc)))
    for host, counts in sorted(recorder.stats.items()):
        out('RECAP %-12s %s' % (host, ' '.join('%s=%d' % (k, v) for k, v in counts.items())))
    if outcome.artifacts_dir:
        out('artifacts kept in %s' % outcome.artifacts_dir)
    try:
        write_reports(args, outcome, recorder, out)
    except OSError as exc:
        err('pourtrait-ops: error: cannot write the report: %s' % one_line(exc))
        return EXIT_CONFIG
    if outcome.exit_code == EXIT_OK:
        out('pourtrait-ops: %s ok in %.1fs (exit 0)' % (outcome.playbook, outcome.duration))
    elif outcome.status == 'error':
        err('pourtrait-ops: error: %s' % outcome.message)
    else:
        err('pourtrait-ops: %s %s in %.1fs (exit %d): %s' % (outcome.playbook, outcome.status.upper(), outcome.duration,
                                                             outcome.exit_code, outcome.message))
    return outcome.exit_code


def main(argv=None):
    def out(line):
        sys.stdout.write(line + '\n')
        sys.stdout.flush()

    def err(line):
        sys.stdout.flush()
        sys.stderr.write(line + '\n')
        sys.stderr.flush()

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            raise UsageError('a command is required: list, run or watch')
        if args.command == 'list':
            return cmd_list(args, out)
        if args.command == 'watch':
            from pourtrait_ops_cli.watch import cmd_watch
            return cmd_watch(args, out, err)
        return cmd_run(args, out, err)
    except ConfigError as exc:
        err('pourtrait-ops: error: %s' % exc)
        return EXIT_CONFIG


if __name__ == '__main__':
    sys.exit(main())

"""The official ``vercel`` CLI (npm ``vercel``) pointed at the sandbox's Vercel stand-in.

The tests run the real CLI against the stand-in (tests/integration/sandbox/test_vercel_cli.py). It is
installed at VERSION into the checkout's .vercel-cli/ (git-ignored; ``POURTRAIT_VERCEL_CLI_PREFIX``
elsewhere) with "npm install --prefix", as pg.py installs PostgreSQL 17 into .pg17/.

How the CLI is pointed at the sandbox (read from its source, ``packages/cli/src/index.ts`` and
``util/projects/link.ts``): ``--api <url>`` (or ``"api"`` in its global config.json) replaces
https://api.vercel.com; the token comes from ``VERCEL_TOKEN`` (never ``--token``: argv is readable by
every user); ``VERCEL_ORG_ID`` + ``VERCEL_PROJECT_ID`` link the project as a ``.vercel/project.json``
would; ``--scope <team id or slug>`` picks the team for the commands that take a deployment URL
(``inspect``, ``rollback <url>``, ``promote <url>``); Node.js trusts the sandbox's CA through
``NODE_EXTRA_CA_CERTS``. ``NO_UPDATE_NOTIFIER`` and ``VERCEL_TELEMETRY_DISABLED`` keep it off the network.

    python tests/sandbox/vercel_cli.py --check      install it when missing (make setup; a note when npm is absent)
    python tests/sandbox/vercel_cli.py ls           run it against the running sandbox (.sandbox/env), any arguments
"""

import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PACKAGE = 'vercel'
VERSION = '50.44.0'
PREFIX = os.environ.get('POURTRAIT_VERCEL_CLI_PREFIX') or os.path.join(ROOT, '.vercel-cli')


class CliMissing(Exception):
    """The CLI cannot be run here; the message says why and how to get it."""


def _package_dir():
    return os.path.join(PREFIX, 'node_modules', PACKAGE)


def installed_version():
    try:
        with open(os.path.join(_package_dir(), 'package.json')) as handle:
            return json.load(handle).get('version')
    except (OSError, ValueError):
        return None


def _npm_install():
    if not shutil.which('npm'):
        raise CliMissing('npm is missing: install Node.js and npm (e.g. "sudo apt-get install nodejs npm"), then run '
                         '"tests/sandbox/vercel_cli.py --check" to install %s@%s' % (PACKAGE, VERSION))
    result = subprocess.run(['npm', 'install', '--prefix', PREFIX, '--no-save', '--no-audit', '--no-fund',
                             '--loglevel=error', '%s@%s' % (PACKAGE, VERSION)],
                            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0 or installed_version() != VERSION:
        raise CliMissing('npm could not install %s@%s into %s: %s' % (
            PACKAGE, VERSION, PREFIX, (result.stderr.strip().splitlines() or ['no error output'])[-1]))


def find_cli(install=True):
    """``[node, <the CLI's entry script>]`` of VERSION, installing it first (once, under a lock, as parallel test
    workers may ask together) when missing and ``install``; CliMissing says why it cannot be had."""
    node = shutil.which('node')
    if not node:
        raise CliMissing('Node.js (node) is not installed; the vercel CLI runs on it')
    if installed_version() != VERSION:
        if not install:
            raise CliMissing('%s@%s is not installed in %s; run "tests/sandbox/vercel_cli.py --check"'
                             % (PACKAGE, VERSION, PREFIX))
        import fcntl
        os.makedirs(PREFIX, exist_ok=True)
        with open(os.path.join(PREFIX, '.install.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if installed_version() != VERSION:
                _npm_install()
    command = [node, os.path.join(_package_dir(), 'dist', 'vc.js')]
    try:  # this Node.js can run it (the package asks for node >= 18)
        result = subprocess.run(command + ['--version'], capture_output=True, text=True, timeout=60, check=False,
                                env={'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'NO_UPDATE_NOTIFIER': '1',
                                     'VERCEL_TELEMETRY_DISABLED': '1', 'HOME': PREFIX})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CliMissing('%s %s does not start: %s' % (PACKAGE, VERSION, exc))
    if result.returncode != 0 or VERSION not in result.stdout:
        raise CliMissing('%s %s does not start with %s: %s' % (
            PACKAGE, VERSION, node, (result.stderr.strip().splitlines() or ['exit %s' % result.returncode])[-1]))
    return command


def cli_env(token, org_id, project_id, ca_path, home):
    """The environment the CLI needs against the sandbox, and nothing of the caller's beyond PATH: its global
    config under ``home``, the token in VERCEL_TOKEN, the project linked by id (``org_id``: the team's, else the
    user's), the sandbox CA trusted."""
    share = os.path.join(home, '.local', 'share')
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': home, 'XDG_DATA_HOME': share,
           'XDG_CONFIG_HOME': os.path.join(home, '.config'), 'XDG_CACHE_HOME': os.path.join(home, '.cache'),
           'VERCEL_TOKEN': token, 'VERCEL_ORG_ID': org_id, 'VERCEL_PROJECT_ID': project_id,
           'NODE_EXTRA_CA_CERTS': ca_path, 'NO_UPDATE_NOTIFIER': '1', 'VERCEL_TELEMETRY_DISABLED': '1',
           'TZ': 'UTC', 'LANG': 'C.UTF-8'}
    return dict((k, v) for k, v in env.items() if v)  # an empty VERCEL_ORG_ID would count as given


def _sandbox_env_file():
    path = os.path.join(ROOT, os.environ.get('POURTRAIT_SANDBOX_DIR') or '.sandbox', 'env')
    values = {}
    try:
        with open(path) as handle:
            for line in handle:
                key, sep, value = line.strip().partition('=')
                if sep and not key.startswith('#'):
                    values[key] = value
    except OSError:
        raise CliMissing('no sandbox running (%s is missing): start it with "make sandbox-up"' % path)
    return values


def _main(argv):
    try:
        if argv == ['--check']:
            try:
                find_cli()
            except CliMissing as exc:  # the CLI tests skip, saying so; nothing else needs it
                print('setup: note: %s (the vercel CLI tests will be skipped)' % exc, file=sys.stderr)
            return 0
        command = find_cli()
        env = _sandbox_env_file()
        home = os.path.join(PREFIX, 'home')  # the CLI's own config.json and auth.json (no token: it is in the env)
        os.makedirs(home, exist_ok=True)
        run_env = cli_env(env['VERCEL_TOKEN'], env['VERCEL_TEAM_ID'], env['VERCEL_PROJECT_ID'],
                          env['VERCEL_CA_PATH'], home)
    except CliMissing as exc:
        print('vercel_cli.py: %s' % exc, file=sys.stderr)
        return 1
    scope = ['--scope', env['VERCEL_TEAM_ID']] if env.get('VERCEL_TEAM_ID') else []
    return subprocess.run(command + ['--api', env['VERCEL_API_URL_HTTPS']] + scope + argv, env=run_env,
                          check=False).returncode


if __name__ == '__main__':
    sys.exit(_main(sys.argv[1:]))

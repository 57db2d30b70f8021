# Copyright: Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one playbook through ansible-runner without writing a secret to disk.

ansible-runner is given a private data directory (mode 0700, in a temp dir), a command line and
an environment, and reports events. It never receives a credential: nothing goes through its
``extravars`` or ``passwords`` (files under ``env/``), its ``envvars`` carry only the checkout's
Ansible settings and are never written (``suppress_env_files``), and the environment it records
in ``artifacts/<ident>/command`` is cut down to harmless variables. Everything else in the
caller's environment reaches ansible-playbook through the FIFO read by launcher.py.
"""

import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

from ansible_runner.config.runner import RunnerConfig
from ansible_runner.exceptions import ConfigurationError
from ansible_runner.runner import Runner

from pourtrait_ops_cli import launcher
from pourtrait_ops_cli.project import ConfigError

# What runner may see (and write into artifacts/<ident>/command): no credentials in these.
SAFE_ENV = frozenset((
    'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'LC_MESSAGES',
    'LC_NUMERIC', 'LC_TIME', 'TERM', 'TZ', 'TMPDIR', 'PWD', 'VIRTUAL_ENV',
    'ANSIBLE_CONFIG', 'ANSIBLE_COLLECTIONS_PATH', 'ANSIBLE_NOCOLOR', 'ANSIBLE_FORCE_COLOR',
))
RUN_IDENT = 'run'


def split_environment(runner_env, caller_env, keep=SAFE_ENV):
    """(what runner may keep, what only the child gets) of runner's prepared environment: runner's own
    settings (keys it added or changed) and the SAFE_ENV names stay; every other variable of the caller
    goes through the channel."""
    visible, hidden = {}, {}
    for key, value in runner_env.items():
        if key in keep or caller_env.get(key) != value:
            visible[key] = value
        else:
            hidden[key] = value
    return visible, hidden


def find_ansible_playbook():
    """ansible-playbook beside this Python (the project's .venv), else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    if os.access(here, os.X_OK):
        return here
    found = shutil.which('ansible-playbook')
    if not found:
        raise ConfigError('ansible-playbook not found beside %s or on PATH; run make setup' % sys.executable)
    return found


def ensure_collection_link(root):
    """.collections/ansible_collections/pourtrait/ops -> the checkout, as set-up makes it (FQCNs resolve)."""
    link = os.path.join(root, '.collections', 'ansible_collections', 'pourtrait', 'ops')
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(root, link)


def process_table():
    """[(pid, parent pid)] of every process (from /proc, else ps)."""
    table = []
    if os.path.isdir('/proc'):
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % entry, 'rb') as handle:
                    fields = handle.read().rsplit(b')', 1)[1].split()
                table.append((int(entry), int(fields[1])))
            except (OSError, IndexError, ValueError):
                continue
        return table
    try:
        out = subprocess.run(['ps', '-A', '-o', 'pid=', '-o', 'ppid='], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return table
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            table.append((int(parts[0]), int(parts[1])))
    return table


def descendants(root_pid):
    """Every process below root_pid. ansible-playbook's workers start sessions of their own, so the
    process-group kill ansible-runner does on cancel misses them and the modules they run."""
    children = {}
    for pid, ppid in process_table():
        children.setdefault(ppid, []).append(pid)
    found, stack = [], [root_pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def signal_all(pids, signum):
    alive = []
    for pid in pids:
        try:
            os.kill(pid, signum)
            alive.append(pid)
        except OSError:
            continue
    return alive


class Channel(object):
    """A FIFO the launcher reads the hidden environment from; a writer thread feeds it once."""

    def __init__(self, directory, variables):
        self.path = os.path.join(directory, 'env.fifo')
        os.mkfifo(self.path, 0o600)
        self._payload = json.dumps(variables).encode('utf-8')
        self._thread = threading.Thread(target=self._feed, name='pourtrait-ops-env', daemon=True)
        self._thread.start()

    def _feed(self):
        try:
            fd = os.open(self.path, os.O_WRONLY)  # blocks until the launcher opens it
        except OSError:
            return
        try:
            view = memoryview(self._payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError:
            pass
        finally:
            os.close(fd)

    def close(self):
        """Unblock a writer still waiting for a reader (the child never started) and remove the FIFO."""
        if self._thread.is_alive():
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
                self._thread.join(2)
                os.close(fd)
            except OSError:
                pass
            self._thread.join(2)
        if os.path.exists(self.path):
            os.unlink(self.path)


class PlaybookRun(object):
    """One run: prepare the private data dir, run, clean up. Attributes after run(): rc, status,
    stdout (the child's output as runner captured it, for error messages), data_dir."""

    def __init__(self, root, playbook_path, ansible_args, event_handler, keep_artifacts=False,
                 cancel_callback=None):
        self.root = root
        self.playbook_path = playbook_path
        self.ansible_args = list(ansible_args)
        self.event_handler = event_handler
        self.keep_artifacts = keep_artifacts
        self.cancel_callback = cancel_callback
        self.environ = dict(os.environ)
        self.data_dir = None
        self.rc = None
        self.status = None
        self.stdout = ''
        self._stopping = None

    def _cancel(self):
        """runner's cancel_callback: on an interrupt, SIGTERM every process the run started (modules get to
        clean up), then let runner kill the child; stragglers get SIGKILL after the run."""
        if self.cancel_callback is None or not self.cancel_callback():
            return False
        if self._stopping is None:
            self._stopping = signal_all(descendants(os.getpid()), signal.SIGTERM)
        return True

    def _reap(self, grace=3.0):
        if not self._stopping:
            return
        deadline = time.monotonic() + grace
        alive = list(self._stopping)
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = signal_all(alive, 0)
        signal_all(alive, signal.SIGKILL)

    def overrides(self):
        """Settings every run gets: the checkout's ansible.cfg and collections, no colour in events."""
        collections = os.path.join(self.root, '.collections')
        current = self.environ.get('ANSIBLE_COLLECTIONS_PATH')
        return {
            'ANSIBLE_CONFIG': os.path.join(self.root, 'ansible.cfg'),
            'ANSIBLE_COLLECTIONS_PATH': collections + (os.pathsep + current if current and current != collections
                                                       else ''),
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_FORCE_COLOR': '0',
        }

    def run(self):
        ensure_collection_link(self.root)
        program = find_ansible_playbook()
        self.data_dir = tempfile.mkdtemp(prefix='pourtrait-ops-')
        os.chmod(self.data_dir, stat.S_IRWXU)
        channel = None
        try:
            cmdline = [os.path.abspath(launcher.__file__), os.path.join(self.data_dir, 'env.fifo'), program]
            cmdline += self.ansible_args + [self.playbook_path]
            config = RunnerConfig(private_data_dir=self.data_dir, project_dir=self.root, binary=sys.executable,
                                  cmdline=' '.join(shlex.quote(a) for a in cmdline), ident=RUN_IDENT,
                                  envvars=self.overrides(), quiet=True, suppress_env_files=True,
                                  settings={'pexpect_timeout': 0.5})
            config.prepare()  # seeds config.env from os.environ, adds its callback settings
            visible, hidden = split_environment(config.env, self.environ)
            config.env = visible
            channel = Channel(self.data_dir, hidden)
            runner = Runner(config, event_handler=self.event_handler, cancel_callback=self._cancel)
            try:
                runner.run()
            finally:
                self._reap()
            self.rc, self.status = runner.rc, runner.status
            self.stdout = self._read_artifact('stdout')
        except ConfigurationError as exc:
            raise ConfigError('ansible-runner refused the run: %s' % exc)
        finally:
            if channel is not None:
                channel.close()
            if not self.keep_artifacts:
                shutil.rmtree(self.data_dir, ignore_errors=True)
        return self.rc

    def _read_artifact(self, name):
        path = os.path.join(self.data_dir, 'artifacts', RUN_IDENT, name)
        try:
            with open(path, encoding='utf-8', errors='replace') as handle:
                return handle.read()
        except OSError:
            return ''

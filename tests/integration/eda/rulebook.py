"""Run the real ansible-rulebook with extensions/eda/rulebooks/alert_response.yml against the stand-ins."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import yaml

from tests.helpers import ROOT, playbook_env

ANSIBLE_RULEBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-rulebook')
RULEBOOK = os.path.join(ROOT, 'extensions', 'eda', 'rulebooks', 'alert_response.yml')
DEFAULT_VARS = os.path.join(ROOT, 'extensions', 'eda', 'rulebooks', 'alert_response.vars.yml')
SECRET = 'eda-test-secret'

# fast runbooks: short verification and polling (the inventory's group_vars of the test)
FAST_GROUP_VARS = dict(incident_response_verify_count=2, incident_response_verify_interval=0.2,
                       incident_response_health_wait_timeout=20, incident_response_timeout=5,
                       rollback_poll_interval=0.1, rollback_health_interval=0.2,
                       performance_triage_database=False)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class Rulebook(object):
    """One ansible-rulebook process; ``output`` grows while it runs (a reader thread)."""

    def __init__(self, tmp_path, env, variables=None, group_vars=None, rulebook=RULEBOOK, default_vars=DEFAULT_VARS,
                 extra_args=()):
        self.tmp_path = tmp_path
        inventory = tmp_path / 'inventory'
        shutil.copytree(os.path.join(ROOT, 'inventory', 'production'), str(inventory))
        (inventory / 'group_vars' / 'all' / 'fast.yml').write_text(
            yaml.safe_dump(dict(FAST_GROUP_VARS, **(group_vars or {}))))
        with open(default_vars) as handle:
            rule_vars = yaml.safe_load(handle)
        self.port = free_port()
        rule_vars.update(monitor_interval=0.5, recent_window=600, webhook_port=self.port)
        rule_vars.update(variables or {})
        vars_path = tmp_path / 'rulebook-vars.yml'
        vars_path.write_text(yaml.safe_dump(rule_vars))
        self.audit_log = tmp_path / 'audit.jsonl'
        self.reports = tmp_path / 'reports'
        settings = {'POURTRAIT_WEBHOOK_SECRET': SECRET, 'POURTRAIT_AUDIT_LOG': str(self.audit_log),
                    'POURTRAIT_KILL_SWITCH': str(tmp_path / 'kill-switch'),
                    'POURTRAIT_LOCK_PATH': str(tmp_path / 'production.lock'),
                    'HOME': str(tmp_path / 'home'),
                    # ansible-rulebook's private data dirs (eda*): in the test's tmp_path
                    'TMPDIR': str(tmp_path / 'tmp')}
        self.env = playbook_env(*(list(env) + [settings]), reports_dir=str(self.reports))
        # as `pourtrait-ops watch` and an EDA controller run it: no PYTHONPATH, so the event sources' imports of
        # ansible_collections.pourtrait.ops.plugins.module_utils must resolve through the collections path
        self.env.pop('PYTHONPATH', None)
        (tmp_path / 'tmp').mkdir(exist_ok=True)
        self.argv = [ANSIBLE_RULEBOOK, '-r', rulebook, '-i', str(inventory), '--vars', str(vars_path), '-v'] + list(
            extra_args)
        self.output = ''
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, cwd=str(self.tmp_path), env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)

        def read():
            for line in self.proc.stdout:
                self.output += line
        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        return self

    def wait_for(self, predicate, timeout=90, what='condition'):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError('ansible-rulebook ended (rc %s) before %s:\n%s' % (
                    self.proc.returncode, what, self.output[-6000:]))
            time.sleep(0.2)
        raise AssertionError('timed out waiting for %s:\n%s' % (what, self.output[-6000:]))

    def wait_listening(self, timeout=60):
        def listening():
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=0.5):
                    return True
            except OSError:
                return False
        return self.wait_for(listening, timeout, 'the webhook listening')

    def audit(self):
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines() if line.strip()]

    def reports_json(self):
        if not self.reports.exists():
            return []
        out = []
        for name in sorted(os.listdir(str(self.reports))):
            if name.endswith('.json'):
                with open(str(self.reports / name)) as handle:
                    out.append(json.load(handle))
        return out

    def stop(self):
        """Ctrl-C (SIGINT to its process group), then SIGKILL if it lingers; every child ends with it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything of its group still there (ansible-playbook)
        except ProcessLookupError:
            pass
        self.reader.join(5)

"""alert_response_controller.yml (the AWX EDA controller variant) on the real ansible-rulebook, its
run_job_template actions sent to a small stand-in of the controller's API (AWX ``/api/v2/``: config, unified job
templates, launch, jobs): a broken release goes live and exactly one job of the template "pourtrait.ops incident"
is launched, with mitigation rollback and the trigger in its extra variables, as run_playbook passes them."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import ROOT
from tests.integration.eda.rulebook import Rulebook

RULEBOOKS = os.path.join(ROOT, 'extensions', 'eda', 'rulebooks')
TOKEN = 'controller-token-for-tests'
TEMPLATES = {'pourtrait.ops incident': 7, 'pourtrait.ops performance_triage': 8}


class Controller(object):
    """What an AWX controller answers a rulebook activation: its version, the job templates by name (organization
    Default, variables prompted on launch), launches (recorded) and the jobs' status (successful at once)."""

    def __init__(self):
        self.launches = []
        self.unauthorized = 0
        controller = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def authorized(self):
                if self.headers.get('Authorization') == 'Bearer %s' % TOKEN:
                    return True
                controller.unauthorized += 1
                self.answer(401, {'detail': 'Authentication credentials were not provided.'})
                return False

            def do_GET(self):
                if not self.authorized():
                    return
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                if url.path == '/api/v2/config/':
                    return self.answer(200, {'version': '24.6.1'})
                if url.path == '/api/v2/unified_job_templates/':
                    name = query.get('name', [''])[0]
                    results = [dict(id=TEMPLATES[name], type='job_template', name=name,
                                    summary_fields={'organization': {'name': 'Default'}},
                                    related={'launch': '/api/v2/job_templates/%d/launch/' % TEMPLATES[name]},
                                    ask_limit_on_launch=False, ask_labels_on_launch=False,
                                    ask_inventory_on_launch=False, ask_variables_on_launch=True)
                               ] if name in TEMPLATES else []
                    return self.answer(200, {'count': len(results), 'next': None, 'results': results})
                if url.path == '/api/v2/jobs/':
                    ids = [int(i) for i in query.get('id__in', [''])[0].split(',') if i]
                    return self.answer(200, {'results': [dict(id=i, status='successful', created='2026-12-03T10:00:00Z',
                                                              artifacts={}) for i in ids]})
                return self.answer(404, {'detail': 'Not found.'})

            def do_POST(self):
                if not self.authorized():
                    return
                body = json.loads(self.rfile.read(int(self.headers.get('Content-Length') or 0)) or b'{}')
                template = [n for n, i in TEMPLATES.items() if self.path == '/api/v2/job_templates/%d/launch/' % i]
                if not template:
                    return self.answer(404, {'detail': 'Not found.'})
                controller.launches.append(dict(template=template[0], **body))
                job = 100 + len(controller.launches)
                return self.answer(201, {'id': job, 'job': job, 'url': '/api/v2/jobs/%d/' % job, 'status': 'pending'})

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def controller():
    fake = Controller()
    yield fake
    fake.close()


def test_a_broken_release_launches_one_incident_job_with_mitigation_rollback(vercel, supabase, controller, tmp_path):
    broken = vercel.seed_deployment(health='broken', live=True, created_offset_s=-60)['uid']
    vercel.clear_requests()
    book = Rulebook(tmp_path, [vercel.env, supabase.env],
                    rulebook=os.path.join(RULEBOOKS, 'alert_response_controller.yml'),
                    default_vars=os.path.join(RULEBOOKS, 'alert_response_controller.vars.yml'),
                    extra_args=['--controller-url', controller.url, '--controller-token', TOKEN]).start()
    try:
        book.wait_for(lambda: controller.launches, 90, 'the job template launch')
        book.wait_for(lambda: 'Job 101 completed' in book.output or 'successful' in book.output, 30,
                      'the job to be seen finished')
    finally:
        book.stop()
    assert len(controller.launches) == 1, controller.launches
    launch = controller.launches[0]
    assert launch['template'] == 'pourtrait.ops incident' and controller.unauthorized == 0
    extra = launch['extra_vars']
    assert extra['incident_response_mitigation'] == 'rollback' and extra['incident_response_severity'] == 'P0'
    assert extra['incident_response_mitigate_first'] is True  # restore service first, then the snapshot
    assert extra['pourtrait_trigger']['deployment_id'] == broken and extra['pourtrait_trigger']['state'] == 'failing'
    eda = extra['ansible_eda']  # what ansible-rulebook adds for the job, as for run_playbook
    assert eda['rule'] == 'Recent release failing - roll back' and eda['event']['deployment']['id'] == broken
    assert str(extra['pourtrait_eda_dry_run']).lower() == 'false'
    # the controller runs the job: nothing was rolled back by the engine itself
    assert [r for r in vercel.requests(method='POST') if '/rollback/' in r['path']] == []

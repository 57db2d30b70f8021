"""One background process serving the HTTP stand-ins of the sandbox.

    python tests/sandbox/serve.py --state-dir DIR --ready-file DIR/ready.json [options]

Serves, on loopback ports (0 = a free one):

* the Vercel API stand-in over plain HTTP (``--api-port``) and HTTPS
  (``--https-port``, certificate signed by a CA generated into ``--state-dir``
  as ``ca.pem``);
* the app stand-in (``--app-port``), see tests/sandbox/app.py;
* the Supabase Management API stand-in over plain HTTP (``--supabase-port``)
  and HTTPS (``--supabase-https-port``, same CA), see tests/sandbox/supabase_api.py;
  its ``/database/query`` runs on ``--database-url`` (default: the
  ``SANDBOX_DATABASE_URL`` environment variable, which keeps the password out of argv);
* the Supabase Auth (GoTrue) admin API of that project over plain HTTP (``--auth-port``) and HTTPS
  (``--auth-https-port``), see tests/sandbox/supabase_auth.py: ``supabase_url`` is the project's API
  base (``/auth/v1`` beneath it), keys signed with ``SANDBOX_SUPABASE_JWT_SECRET`` (random when unset);
  its gateway takes the Management API's secret/publishable keys and legacy switch (supabase_auth_keys.py);
* the S3-compatible object storage stand-in (moto's S3 behind the hub, see tests/sandbox/s3.py) over
  plain HTTP (``--s3-port``) and HTTPS (``--s3-https-port``, same CA); its access key comes from the
  process (random) and is in the ready file only;
* a Slack-style incoming-webhook receiver (``--webhook-port``), see
  ``WebhookService`` in tests/sandbox/standin.py: POST ``{"text": ...}`` to
  ``webhook_url`` -> 200 ``ok``;
* the admin API on every port under ``/_sandbox`` (never faulted).

The accepted tokens come from ``SANDBOX_VERCEL_TOKEN`` and ``SANDBOX_SUPABASE_TOKEN`` in the
environment (never the command line), random when unset.
Faults can also be set at start with ``--faults '<JSON as for POST /_sandbox/faults>'``.
When every port listens it writes ``--ready-file`` (JSON: ``pid, api_url,
https_url, ca_path, app_url, admin_url, token, team_id, team_slug, project_id,
project_name, user_id, supabase_api_url, supabase_https_url, supabase_token,
supabase_project_ref, supabase_url, supabase_url_https, supabase_anon_key, supabase_service_role_key,
webhook_url, s3_url, s3_https_url, s3_bucket, s3_region, s3_access_key_id, s3_secret_access_key``;
``GET /_sandbox/health`` shows the same ``info`` without the tokens and keys). SIGTERM/SIGINT stop it.
State lives in memory only.

Admin API (JSON in and out; ``SANDBOX_ADMIN_URL`` = ``<api_url>/_sandbox``):

==========================================  ===============================================================
``GET    /_sandbox/health``                 ``{ok, services, info}``
``POST   /_sandbox/reset``                  ``{"vercel": {owner: team|personal, plan: hobby|pro,
                                            deployments: 3}}`` (all optional; ``supabase`` takes
                                            none): default state, faults cleared, log emptied,
                                            default timings; returns the state
``GET    /_sandbox/state``                  ``{vercel: {...}, app: {...}, supabase: {...}, faults, info}``
``POST   /_sandbox/timings``                ``{queued_s, building_s, job_pending_s, job_running_s,
                                            runtime_logs_open_s, app_slow_s, restoring_s, coming_up_s}``
                                            (seconds, any subset)
``POST   /_sandbox/faults``                 ``{rate, kinds: [429,500,502,503,reset,hang], seed,
                                            latency_ms, when: before|after, services:
                                            [vercel|app|supabase|s3],
                                            methods, paths (prefixes), max_faults, hang_s,
                                            retry_after}``; replaces the settings, restarts the seed
``GET|DELETE /_sandbox/faults``             read (with ``injected`` count) / clear
``GET    /_sandbox/requests``               ``?method=&path_prefix=&service=&admin=1`` ->
                                            ``{requests: [{seq, service, method, path, query, status,
                                            faulted, time, duration_ms, admin}]}`` (status null when
                                            the connection was dropped); ``DELETE`` empties it
``GET    /_sandbox/vercel/state``           the Vercel model (deployments with ``app_base_url``)
``PATCH  /_sandbox/vercel/project``         ``{plan, autoAssignCustomDomains}``
``POST   /_sandbox/vercel/deployments``     seed one (see vercel_api.py) -> the deployment
``PATCH  /_sandbox/vercel/deployments/ID``  ``{health}``
``POST   /_sandbox/vercel/next_builds``     ``{fail, health, count}`` for builds created via the API
``POST   /_sandbox/vercel/next_jobs``       ``{fail, count}`` for the next rollback/promote jobs
``GET    /_sandbox/vercel/firewall``        the firewall: ``{config, attack, events, actions}`` (vercel_security.py)
``PUT    /_sandbox/vercel/firewall/anomalies`` ``[anomaly]`` that attack-status lists
``POST   /_sandbox/vercel/firewall/events`` ``{action_type, host, public_ip, count, at_ms}`` seeds an event
``GET|POST /_sandbox/vercel/runtime_logs``  the runtime log lines / ``{deployment, lines: [...]}`` adds some
                                            (vercel_logs.py)
``GET    /_sandbox/supabase/state``         the Supabase model (secrets in plain, restores, settings)
``GET|PATCH /_sandbox/supabase/project``    the project as the API shows it / ``{status}``
``PATCH  /_sandbox/supabase/services/NAME`` ``{status: ACTIVE_HEALTHY|COMING_UP|UNHEALTHY, error}``
``GET|PUT /_sandbox/supabase/backups``      ``{pitr_enabled, walg_enabled, backups, earliest_unix,
                                            latest_unix, region}`` (see supabase_api.py)
``GET|PUT /_sandbox/supabase/bans``         ``["1.2.3.4", ...]``
``GET|POST /_sandbox/supabase/secrets``     ``{name: plain value}`` (POST seeds)
``GET    /_sandbox/supabase/restores``      restore requests made through the API
``POST   /_sandbox/supabase/next_restore``  ``{fail: true}``: the next restore ends RESTORE_FAILED
``GET|PUT /_sandbox/supabase/database``     ``{url}``: where ``/database/query`` runs (null: default)
``PUT    /_sandbox/supabase/rate_limit``    ``{limit: 120, window_s: 60}``
``GET    /_sandbox/s3/state``             the buckets: objects (metadata, checksum, encryption, lock,
                                            tags), version count, open multipart uploads
``POST   /_sandbox/s3/bucket``            ``{name, versioning, object_lock}``: one more bucket
``GET    /_sandbox/supabase/api_keys``      API keys with plain values, deleted ones (``was_compromised``,
                                            ``reason``), ``legacy_enabled`` (see supabase_security.py)
``GET|POST|DELETE /_sandbox/supabase/logs`` the rows logs.all queries: read / add ``[{source, timestamp,
                                            event_message, metadata}]`` / remove all
``GET    /_sandbox/supabase/database_password``  ``{changes: [{role, at}]}`` (never a value)
``GET    /_sandbox/supabase_auth/state``  ``{ref, database_url, audit_enabled, jwt_secret}``
``POST   /_sandbox/supabase_auth/audit``  ``{enabled: false}``: the Auth stand-in stops writing audit entries
``GET|DELETE /_sandbox/webhook/messages``   ``{messages: [{seq, text, payload, time}]}`` received by the
                                            webhook receiver / empty the list
==========================================  ===============================================================
"""

import argparse
import json
import os
import random
import signal
import string
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.sandbox.app import AppService  # noqa: E402
from tests.sandbox.s3 import S3Service  # noqa: E402
from tests.sandbox.standin import Hub, WebhookService, generate_tls, serve, server_ssl_context  # noqa: E402
from tests.sandbox.supabase_api import DEFAULT_TIMINGS as SUPABASE_TIMINGS, SupabaseService  # noqa: E402
from tests.sandbox.supabase_auth import AuthService  # noqa: E402
from tests.sandbox.vercel_api import DEFAULT_TIMINGS, VercelService  # noqa: E402


def build_hub(token, timings=None, seed=None, slow_s=0.6, supabase_token=None, supabase_timings=None,
              database_url=None):
    """The hub with every stand-in; returns ``(hub, vercel)`` (``hub.services['supabase']`` for Supabase)."""
    hub = Hub()
    vercel = VercelService(token, timings)
    if seed is not None:
        vercel.model.seed = seed
    hub.add_service(vercel)
    hub.add_service(AppService(vercel, slow_s=slow_s))
    hub.add_service(SupabaseService(supabase_token or random_pat(), supabase_timings, seed=seed,
                                    database_url=database_url))
    hub.add_service(AuthService(hub.services['supabase'], os.environ.get('SANDBOX_SUPABASE_JWT_SECRET')))
    hub.add_service(WebhookService())
    hub.add_service(S3Service()).reset()
    return hub, vercel


def random_pat():
    """A personal access token as Supabase issues them: ``sbp_`` + 40 hex digits."""
    return 'sbp_' + ''.join(random.SystemRandom().choice('0123456789abcdef') for _i in range(40))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--api-port', type=int, default=0)
    parser.add_argument('--https-port', type=int, default=0)
    parser.add_argument('--app-port', type=int, default=0)
    parser.add_argument('--supabase-port', type=int, default=0)
    parser.add_argument('--supabase-https-port', type=int, default=0)
    parser.add_argument('--auth-port', type=int, default=0)
    parser.add_argument('--auth-https-port', type=int, default=0)
    parser.add_argument('--webhook-port', type=int, default=0)
    parser.add_argument('--s3-port', type=int, default=0)
    parser.add_argument('--s3-https-port', type=int, default=0)
    parser.add_argument('--state-dir', default=None, help='where ca.pem and the server key go')
    parser.add_argument('--ready-file', default=None)
    parser.add_argument('--seed', type=int, default=None, help='ids are derived from it (stable across resets)')
    parser.add_argument('--database-url', default=os.environ.get('SANDBOX_DATABASE_URL'),
                        help='PostgreSQL URL the Supabase /database/query runs on (default: $SANDBOX_DATABASE_URL)')
    for name, value in sorted(list(DEFAULT_TIMINGS.items()) + list(SUPABASE_TIMINGS.items())):
        parser.add_argument('--' + name.replace('_', '-'), type=float, default=value, dest=name)
    parser.add_argument('--app-slow-s', type=float, default=0.6)
    parser.add_argument('--faults', default=None,
                        help='fault settings as JSON, as for POST /_sandbox/faults (a reset clears them)')
    args = parser.parse_args(argv)

    # Tokens never travel on a command line (other users can read it): from the environment, else random.
    alphabet = string.ascii_letters + string.digits
    token = os.environ.get('SANDBOX_VERCEL_TOKEN') or ''.join(random.SystemRandom().choice(alphabet) for _i in range(24))
    state_dir = args.state_dir or tempfile.mkdtemp(prefix='pourtrait-standins-')
    os.makedirs(state_dir, exist_ok=True)
    timings = dict((k, getattr(args, k)) for k in DEFAULT_TIMINGS)
    supabase_token = os.environ.get('SANDBOX_SUPABASE_TOKEN') or random_pat()
    hub, vercel = build_hub(token, timings, seed=args.seed, slow_s=args.app_slow_s, supabase_token=supabase_token,
                            supabase_timings=dict((k, getattr(args, k)) for k in SUPABASE_TIMINGS),
                            database_url=args.database_url)
    supabase = hub.services['supabase']

    ca_path, cert_path, key_path = generate_tls(os.path.join(state_dir, 'tls'))
    servers = [serve(hub, 'vercel', args.host, args.api_port),
               serve(hub, 'vercel', args.host, args.https_port, ssl_context=server_ssl_context(cert_path, key_path)),
               serve(hub, 'app', args.host, args.app_port),
               serve(hub, 'supabase', args.host, args.supabase_port),
               serve(hub, 'supabase', args.host, args.supabase_https_port,
                     ssl_context=server_ssl_context(cert_path, key_path)),
               serve(hub, 'webhook', args.host, args.webhook_port),
               serve(hub, 'supabase_auth', args.host, args.auth_port),
               serve(hub, 'supabase_auth', args.host, args.auth_https_port,
                     ssl_context=server_ssl_context(cert_path, key_path)),
               serve(hub, 's3', args.host, args.s3_port),
               serve(hub, 's3', args.host, args.s3_https_port, ssl_context=server_ssl_context(cert_path, key_path))]
    (api_port, https_port, app_port, supabase_port, supabase_https_port, webhook_port, auth_port, auth_https_port,
     s3_port, s3_https_port) = (
        s.server_address[1] for s in servers)
    auth = hub.services['supabase_auth']
    auth.base_url = 'http://%s:%d' % (args.host, auth_port)
    app_url = 'http://%s:%d' % (args.host, app_port)
    vercel.set_app_url(app_url)
    vercel.reset()
    if args.faults:
        hub.faults.configure(json.loads(args.faults))
    model = vercel.model
    info = {'pid': os.getpid(), 'api_url': 'http://%s:%d' % (args.host, api_port),
            'https_url': 'https://%s:%d' % (args.host, https_port), 'ca_path': ca_path, 'app_url': app_url,
            'admin_url': 'http://%s:%d/_sandbox' % (args.host, api_port), 'token': token,
            'team_id': model.team['id'], 'team_slug': model.team['slug'], 'project_id': model.project['id'],
            'project_name': model.project['name'], 'user_id': model.user['id'], 'state_dir': state_dir,
            'supabase_api_url': 'http://%s:%d' % (args.host, supabase_port),
            'supabase_https_url': 'https://%s:%d' % (args.host, supabase_https_port),
            'supabase_token': supabase_token, 'supabase_project_ref': supabase.ref,
            'webhook_url': 'http://%s:%d%s' % (args.host, webhook_port, hub.services['webhook'].path),
            'supabase_url': auth.base_url, 'supabase_url_https': 'https://%s:%d' % (args.host, auth_https_port),
            'supabase_anon_key': auth.anon_key, 'supabase_service_role_key': auth.service_role_key}
    s3 = hub.services['s3']
    info.update({'s3_url': 'http://%s:%d' % (args.host, s3_port),
                 's3_https_url': 'https://%s:%d' % (args.host, s3_https_port),
                 's3_bucket': s3.bucket, 's3_region': s3.region, 's3_access_key_id': s3.access_key_id,
                 's3_secret_access_key': s3.secret_access_key})
    secret = ('token', 'supabase_token', 'supabase_anon_key', 'supabase_service_role_key', 's3_secret_access_key')
    hub.info = dict((k, v) for k, v in info.items() if k not in secret)

    done = threading.Event()

    def stop(_signum, _frame):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.ready_file:
        tmp = args.ready_file + '.tmp'
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as handle:
            json.dump(info, handle)
        os.replace(tmp, args.ready_file)
    while not done.wait(0.5):
        pass
    hub.stopping.set()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""The app stand-in serves each deployment's health and monitoring data, and production follows Vercel."""

import time


def test_production_and_per_deployment_urls_serve_the_health_json(vercel):
    live = vercel.live()
    status, body, headers = vercel.app('/health')
    assert status == 200 and headers['x-sandbox-deployment'] == live['uid']
    assert body['status'] == 'healthy' and body['deploymentId'] == live['uid']
    assert set(body) >= {'status', 'timestamp', 'services', 'responseTime', 'memory'}
    assert body['services'] == {'database': 'healthy', 'ai': 'healthy', 'imageProcessing': 'healthy'}
    older = vercel.deployments()[2]
    assert older['app_base_url'] == '%s/_d/%s' % (vercel.app_url, older['url'])
    status, body, _hdrs = vercel.app('/health', base=older['app_base_url'])
    assert status == 200 and body['deploymentId'] == older['uid']
    errors = vercel.app('/api/monitoring/errors')[1]
    assert errors['errorRate'] < 0.01 and errors['totalRequests'] > 0
    perf = vercel.app('/api/monitoring/performance')[1]
    assert set(perf['responseTime']) == {'avg', 'p50', 'p95', 'p99'} and perf['responseTime']['p95'] < 500
    assert vercel.app('/api/wines')[0] == 200 and vercel.app('/api/ai/chat')[0] == 200


def test_broken_deployment_fails_health_and_smoke(vercel):
    dep = vercel.seed_deployment(health='broken', created_offset_s=-10)
    status, body, _hdrs = vercel.app('/health', base=dep['app_base_url'])
    assert status == 503 and body['status'] == 'unhealthy' and body['services']['database'] == 'unhealthy'
    assert vercel.app('/api/wines', base=dep['app_base_url'])[0] == 500
    assert vercel.app('/api/ai/chat', base=dep['app_base_url'])[0] == 500
    assert vercel.app('/api/monitoring/errors', base=dep['app_base_url'])[1]['errorRate'] > 0.3
    assert vercel.app('/health')[0] == 200  # production is another deployment


def test_slow_and_error_profiles(vercel):
    vercel.set_timings(app_slow_s=0.4)
    slow = vercel.seed_deployment(health='slow', created_offset_s=-10)
    started = time.time()
    status, body, _hdrs = vercel.app('/health', base=slow['app_base_url'])
    assert status == 200 and time.time() - started >= 0.4 and body['responseTime'] >= 400
    assert vercel.app('/api/monitoring/performance', base=slow['app_base_url'])[1]['responseTime']['p95'] > 2000
    flaky = vercel.seed_deployment(health='errors', created_offset_s=-20)
    assert vercel.app('/health', base=flaky['app_base_url'])[0] == 200
    assert vercel.app('/api/monitoring/errors', base=flaky['app_base_url'])[1]['errorRate'] > 0.05
    codes = [vercel.app('/api/wines', base=flaky['app_base_url'])[0] for _i in range(8)]
    assert codes.count(500) == 2 and codes.count(200) == 6


def test_unready_and_unknown_deployments_are_not_served(vercel):
    vercel.set_timings(building_s=5)
    building = vercel.seed_deployment(state='BUILDING', created_offset_s=-1)
    status, _body, headers = vercel.app('/health', base=vercel.app_url + '/_d/nope.vercel.app')
    assert status == 404 and headers['x-vercel-error'] == 'DEPLOYMENT_NOT_FOUND'
    failed = vercel.seed_deployment(state='ERROR', created_offset_s=-2)
    assert vercel.app('/health', base=failed['app_base_url'])[0] == 404
    status, _body, headers = vercel.app('/health', base=building['app_base_url'])
    assert status == 404 and headers['x-vercel-error'] == 'DEPLOYMENT_NOT_READY'


def test_rollback_and_health_changes_are_visible_on_the_production_url(vercel):
    live, previous = vercel.deployments()[:2]
    vercel.set_health(live['uid'], 'broken')
    assert vercel.app('/health')[0] == 503
    code = vercel.api('POST', '/v1/projects/%s/rollback/%s' % (vercel.project_id, previous['uid']))[0]
    assert code == 201
    vercel.wait_for(lambda v: v.app('/health')[1].get('deploymentId') == previous['uid'], timeout=5)
    assert vercel.app('/health')[0] == 200


def test_faults_can_target_the_app_alone(vercel):
    vercel.set_faults(rate=1.0, kinds=['503'], services=['app'])
    assert vercel.app('/health')[0] == 503
    assert vercel.api('GET', '/v2/user', team=False)[0] == 200
    assert [(e['service'], e['faulted']) for e in vercel.requests()] == [('app', '503'), ('vercel', None)]

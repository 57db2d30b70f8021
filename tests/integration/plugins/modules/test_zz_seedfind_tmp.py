from tests.conftest import run_module
from tests.integration.plugins.modules.test_vercel_rollback import conn, rollback_posts

def test_find(vercel):
    found = {}
    for when in ('after', 'before'):
        for seed in range(1, 40):
            vercel.reset()
            previous = vercel.deployments()[1]
            vercel.set_faults(rate=0.3, seed=seed, when=when, hang_s=1, retry_after='0')
            result = run_module('vercel_rollback', conn(vercel, timeout=3, retries=8))
            vercel.clear_faults()
            posts = rollback_posts(vercel)
            if result.get('changed') and vercel.live()['uid'] == previous['uid'] and len(posts) >= 1 and any(p['faulted'] for p in posts) and len([p for p in posts if not p['faulted'] or when=='after']) == 1:
                found[when] = seed
                break
    print('FOUND', found)

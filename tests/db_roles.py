"""A throwaway login role on a test server, for tests that change a role's password (the database password
rotation): rotating the session server's own ``postgres`` password would lock every other test out."""

import contextlib
import secrets
import urllib.parse


@contextlib.contextmanager
def scratch_login_role(server, dbname, prefix='rotate_'):
    """Yield ``(role, password, url)`` of a new LOGIN role that may use ``dbname``; dropped afterwards (its
    sessions ended first)."""
    from psycopg2 import sql
    role = prefix + secrets.token_hex(4)
    password = secrets.token_urlsafe(18)
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL('CREATE ROLE {} LOGIN PASSWORD %s').format(sql.Identifier(role)), (password,))
        url = 'postgresql://%s:%s@127.0.0.1:%d/%s' % (role, urllib.parse.quote(password, safe=''), server.port, dbname)
        yield role, password, url
    finally:
        with conn.cursor() as cur:
            cur.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s', (role,))
            cur.execute(sql.SQL('DROP ROLE IF EXISTS {}').format(sql.Identifier(role)))
        conn.close()

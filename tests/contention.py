"""Real lock contention for the tests: sessions holding locks and sessions waiting on them."""

import threading

import psycopg2

from tests.waiting import poll


class Contention(object):
    """Opens sessions on ``db``; ``hold(sql)`` runs a statement in an open transaction (the locks stay),
    ``wait(sql)`` runs one in a thread and returns once the session waits on a lock. ``close()`` ends them all."""

    def __init__(self, db):
        self.db = db
        self.conns = []
        self.threads = []

    def _open(self, application_name):
        conn = self.db.connect(autocommit=False)
        with conn.cursor() as cur:
            cur.execute('SET application_name = %s', (application_name,))
        conn.commit()
        self.conns.append(conn)
        return conn

    def hold(self, statement, application_name='holder'):
        conn = self._open(application_name)
        with conn.cursor() as cur:
            cur.execute(statement)
        return conn.get_backend_pid()

    def wait(self, statement, application_name='waiter'):
        conn = self._open(application_name)
        pid = conn.get_backend_pid()

        def run():
            try:
                with conn.cursor() as cur:
                    cur.execute(statement)
            except psycopg2.Error:  # ended by the test (terminated, cancelled, or the holder rolled back)
                pass
        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)
        poll(lambda: self.db.scalar("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (pid,)),
             what='session %d waiting on a lock' % pid)
        return pid

    def close(self):
        pids = [c.get_backend_pid() for c in self.conns if not c.closed]
        if pids:
            self.db.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)', (pids,))
        for thread in self.threads:
            thread.join(10)
        for conn in self.conns:
            try:
                conn.close()
            except psycopg2.Error:
                pass

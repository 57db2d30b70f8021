"""Helpers of the pg/ unit tests."""


def fake_program(tmp_path, name, script):
    """An executable stand-in for a client program (a shell script), to drive failure paths."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text('#!/bin/sh\n' + script)
    path.chmod(0o755)
    return str(path)


class FakeCursor(object):
    """Records what is executed; answers each query with the next of ``rows`` (a list of row lists)."""

    def __init__(self, conn):
        self.conn = conn
        self.connection = conn

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query, params=None):
        self.conn.executed.append((query if isinstance(query, str) else repr(query), params))
        self._rows = self.conn.answers.pop(0) if self.conn.answers else []

    def fetchall(self):
        return list(self._rows)

    def fetchone(self):
        return self._rows[0] if self._rows else None


class FakeConn(object):
    """A connection whose cursors record their statements; ``answers`` are their results, in order."""

    def __init__(self, answers=(), dbname='app'):
        self.answers = list(answers)
        self.executed = []
        self.closed = 0
        self.dbname = dbname

    def cursor(self):
        return FakeCursor(self)

    def get_dsn_parameters(self):
        return dict(dbname=self.dbname)

    def rollback(self):
        self.executed.append(('ROLLBACK', None))

    def close(self):
        self.closed = 1

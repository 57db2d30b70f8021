# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming digests: pg_dump's output hashed (sha256) on its way into the file, optionally
rewritten on the way (``StreamEdit``), and files or directory dumps hashed on up to N threads.

The hash is taken while pg_dump writes, so a custom or plain dump is never read twice; for plain
SQL the same pass notes the tables with data (``COPY`` / ``INSERT INTO`` lines) and keeps the tail
to see the "dump complete" trailer.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import subprocess
import tempfile

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.files import remove_path
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.programs import tool_error
from ansible_collections.pourtrait.ops.plugins.module_utils.pg.workers import parallel_map


CHUNK = 1 << 20
PLAIN_TRAILER = b'-- PostgreSQL database dump complete'
CLUSTER_TRAILER = b'-- PostgreSQL database cluster dump complete'


class StreamDigest(object):
    """sha256 + size of a byte stream; for plain SQL it also notes the ``COPY`` targets
    and keeps the tail (to see the 'dump complete' trailer) without a second read.

    With ``scan_insert`` the targets of ``INSERT INTO`` lines (``--inserts`` /
    ``--column-inserts`` dumps) are noted too, each table once."""

    def __init__(self, scan_copy=False, scan_insert=False):
        self.hash = hashlib.sha256()
        self.size = 0
        self.scan_copy = scan_copy or scan_insert
        self.scan_insert = scan_insert
        self.copy_tables = []
        self._seen = set()
        self._carry = b'\n'
        self.tail = b''

    def update(self, chunk):
        self.hash.update(chunk)
        self.size += len(chunk)
        self.tail = (self.tail + chunk)[-4096:]
        if self.scan_copy:
            self._scan(chunk)

    def _scan(self, chunk):
        buf = self._carry + chunk
        cut = buf.rfind(b'\n')
        if cut < 0:
            self._carry = buf[-65536:]
            return
        markers = [(b'\nCOPY ', parse_copy_line)]
        if self.scan_insert:
            markers.append((b'\nINSERT INTO ', parse_insert_line))
        for marker, parse in markers:
            start = buf.find(marker, 0, cut)
            while start >= 0:
                end = buf.find(b'\n', start + 1)
                if end < 0 or end > cut:
                    break
                table = parse(buf[start + 1:end])
                if table and (parse is parse_copy_line or table not in self._seen):
                    self._seen.add(table)
                    self.copy_tables.append(table)
                start = buf.find(marker, end, cut)
        self._carry = buf[cut:][-65536:]

    def hexdigest(self):
        return self.hash.hexdigest()


_IDENT = r'(?:"(?:[^"]|"")*"|[^\s."(]+)'
_COPY_RE = re.compile(r'^COPY (%s)\.(%s) (?:\(.*\) )?FROM stdin;$' % (_IDENT, _IDENT))


def _unquote(ident):
    if ident.startswith('"') and ident.endswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident


def parse_copy_line(line):
    """'COPY public.wines (id, name) FROM stdin;' -> ('public', 'wines')."""
    match = _COPY_RE.match(line.decode('utf-8', 'replace').rstrip('\r'))
    if not match:
        return None
    return _unquote(match.group(1)), _unquote(match.group(2))


_INSERT_RE = re.compile(r'^INSERT INTO (%s)\.(%s)[ (]' % (_IDENT, _IDENT))


def parse_insert_line(line):
    """'INSERT INTO "public"."wines" ("id") VALUES' -> ('public', 'wines')."""
    match = _INSERT_RE.match(line.decode('utf-8', 'replace'))
    if not match:
        return None
    return _unquote(match.group(1)), _unquote(match.group(2))


class StreamEdit(object):
    """Rewrites a plain SQL dump on its way to the file (``DumpJob.stream_edit()``).

    ``header``/``footer`` (bytes) are written before/after the program's output;
    ``edit_line(line)`` gets each line (bytes, without its newline) and returns the
    line to write or None to drop it (no ``edit_line``: chunks pass through
    untouched); ``uniq`` drops a line equal to the one written just before it.
    ``trailer`` is looked for in the unedited output, so a dump whose comments are
    edited away is still known to be complete.
    """

    def __init__(self, header=b'', footer=b'', edit_line=None, trailer=PLAIN_TRAILER, uniq=False):
        self.header = header
        self.footer = footer
        self.edit_line = edit_line
        self.trailer = trailer
        self.uniq = uniq
        self._partial = b''
        self._last = None
        self._raw_tail = b''

    def start(self):
        return self.header

    def _lines(self, lines):
        out = []
        for line in lines:
            line = self.edit_line(line)
            if line is None or (self.uniq and line == self._last):
                continue
            self._last = line
            out.append(line + b'\n')
        return b''.join(out)

    def feed(self, chunk):
        self._raw_tail = (self._raw_tail + chunk)[-4096:]
        if self.edit_line is None:
            return chunk
        lines = (self._partial + chunk).split(b'\n')
        self._partial = lines.pop()
        return self._lines(lines)

    def finish(self):
        rest = b''
        if self.edit_line is not None and self._partial:
            rest = self._lines([self._partial])
            self._partial = b''
        return rest + self.footer

    @property
    def complete(self):
        return self.trailer in self._raw_tail


def hash_file(path, scan_copy=False):
    digest = StreamDigest(scan_copy=scan_copy)
    with open(path, 'rb') as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
    return digest


def directory_files(path):
    """Relative paths of every file under a directory dump, sorted."""
    found = []
    for root, _dirs, files in os.walk(path):
        for name in files:
            found.append(os.path.relpath(os.path.join(root, name), path))
    return sorted(found)


def combined_digest(files):
    """Overall sha256 of a directory dump: over ``<sha256>  <relative path>`` lines
    (sha256sum format), sorted by path."""
    text = ''.join('%s  %s\n' % (files[name], name) for name in sorted(files))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def hash_directory(path, workers=2):
    """({relative path: sha256}, overall sha256, total size)."""
    names = directory_files(path)
    digests = parallel_map(lambda name: hash_file(os.path.join(path, name)), names, workers)
    files = dict((name, d.hexdigest()) for name, d in zip(names, digests))
    return files, combined_digest(files), sum(d.size for d in digests)


def stream_to_file(argv, env, temp_path, scan_copy=False, edit=None, scan_insert=False):
    """Run pg_dump writing to stdout, hashing every chunk on its way into ``temp_path``
    (0600, created exclusively). Returns the StreamDigest. Removes the file on failure.

    With ``edit`` (a StreamEdit) the output is rewritten first; the hash covers
    what is written."""
    fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    digest = StreamDigest(scan_copy=scan_copy, scan_insert=scan_insert)

    def emit(out, data):
        if data:
            digest.update(data)
            out.write(data)
    try:
        with os.fdopen(fd, 'wb') as out, tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=err, bufsize=CHUNK)
            except OSError as exc:
                raise PgModuleError('cannot run %s: %s; check bin_dir' % (os.path.basename(argv[0]), exc))
            try:
                if edit is not None:
                    emit(out, edit.start())
                while True:
                    chunk = proc.stdout.read(CHUNK)
                    if not chunk:
                        break
                    emit(out, edit.feed(chunk) if edit is not None else chunk)
                if edit is not None:
                    emit(out, edit.finish())
            except OSError as exc:
                proc.kill()
                proc.wait()
                raise PgModuleError('cannot write %s: %s; check free space in backup_dir'
                                    % (temp_path, exc.strerror or exc))
            finally:
                proc.stdout.close()
            returncode = proc.wait()
            if returncode != 0:
                err.seek(0)
                raise PgModuleError(tool_error(os.path.basename(argv[0]), returncode,
                                               err.read().decode('utf-8', 'replace')))
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        remove_path(temp_path)
        raise
    return digest

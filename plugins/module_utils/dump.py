# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump / pg_restore / psql plumbing shared by the dump and restore modules.

Everything here works on argument lists (never a shell string) and hands the
password to the client programs through their environment (``libpq_env``).
A dump is written under a temporary name next to its final place, hashed
while it streams (custom and plain formats) or file by file (directory
format), verified, and only then renamed; its manifest
(``<dump>.manifest.json``) records what was dumped and the checksums a
restore checks first. Nothing is left behind when a step fails.

Used by ``postgres_dump`` and ``postgres_restore``; ``supabase_db_dump`` reuses
``take_dump`` with its own program (``pg_dump`` or ``pg_dumpall``), argument
list and a ``StreamEdit`` that rewrites the plain SQL on its way to the file
(the hash covers what is written).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

try:
    from isal import isal_zlib
    HAS_ISAL = True
except ImportError:  # optional: pg_dump compresses by itself without it
    isal_zlib = None
    HAS_ISAL = False

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import (
    PgModuleError,
    connect,
    describe_db_error,
    libpq_env,
    one_line,
    psycopg2,
    resolve_tables,
    set_timeouts,
    split_qualified,
    sql,
)

FORMATS = ('custom', 'directory', 'plain')
SUFFIXES = {'custom': '.dump', 'directory': '.dir', 'plain': '.sql'}
PG_DUMP_FLAGS = {'custom': 'c', 'directory': 'd', 'plain': 'p'}
MANIFEST_SUFFIX = '.manifest.json'
MANIFEST_VERSION = 1
CHUNK = 1 << 20
PLAIN_TRAILER = b'-- PostgreSQL database dump complete'
CLUSTER_TRAILER = b'-- PostgreSQL database cluster dump complete'
TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
NAME_TIME_FORMAT = '%Y%m%dT%H%M%SZ'
SYSTEM_SCHEMAS = ('pg_catalog', 'information_schema', 'pg_toast')
COUNT_LOCK_TIMEOUT = '30s'
COMPRESSORS = ('auto', 'isal', 'pg_dump')
ISAL_LEVELS = (1, 2, 3)


def default_jobs():
    """CPU count, at least 2."""
    return max(2, os.cpu_count() or 2)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def default_name(dbname, now=None):
    """``<dbname>-<UTC %Y%m%dT%H%M%SZ>``."""
    return '%s-%s' % (dbname, (now or utcnow()).strftime(NAME_TIME_FORMAT))


def dump_filename(name, fmt):
    """The dump's file or directory name: the suffix of its format is added unless present."""
    suffix = SUFFIXES[fmt]
    return name if name.endswith(suffix) else name + suffix


def manifest_path_for(path):
    return path.rstrip(os.sep) + MANIFEST_SUFFIX


# -- programs ------------------------------------------------------------

def find_program(name, bin_dir=None):
    """Full path of a PostgreSQL client program, or a one-line error saying where to get it."""
    if bin_dir:
        path = os.path.join(bin_dir, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise PgModuleError('%s not found in bin_dir %s; set bin_dir to the directory holding the PostgreSQL '
                            'client programs (e.g. /usr/lib/postgresql/15/bin)' % (name, bin_dir))
    path = shutil.which(name)
    if path:
        return path
    raise PgModuleError('%s not found on PATH; install the PostgreSQL client (postgresql-client) or set bin_dir '
                        'to the directory holding %s' % (name, name))


def program_version(path):
    """'15.18' from ``pg_dump --version``; '' when it cannot be read."""
    try:
        out = subprocess.run([path, '--version'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ''
    match = re.search(r'(\d+(?:\.\d+)+|\d+devel|\d+beta\d*)', out or '')
    return match.group(1) if match else one_line(out)


def tool_error(program, returncode, stderr):
    """One line from a client program's failure: its error lines, not its chatter."""
    lines = [line.strip() for line in (stderr or '').splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r'\b(error|fatal|failed)\b', line, re.I)]
    picked = errors[:2] or lines[-2:]
    text = one_line(' '.join(picked)) or 'no error output'
    text = re.sub(r'^(pg_dump|pg_restore|psql):\s*', '', text)
    hint = ''
    low = text.lower()
    if 'server version mismatch' in low or 'aborting because of server version mismatch' in low:
        hint = '; use a %s at least as new as the server (set bin_dir)' % program
    elif 'could not read from input file' in low or 'end of file' in low or 'unexpected end' in low \
            or 'corrupt' in low or 'invalid compressed data' in low:
        hint = '; the dump looks truncated or corrupt, take a new one'
    if len(text) > 600:
        text = text[:600] + '...'
    return '%s failed (exit %s): %s%s' % (program, returncode, text, hint)


def check_memory_setting(value, option='maintenance_work_mem'):
    """A memory size such as 256MB, or None/'' (leave the server's setting)."""
    if value in (None, ''):
        return None
    if not re.match(r'^[0-9]+(kB|MB|GB)?$', str(value)):
        raise PgModuleError('%s "%s" is not a memory size; use a value such as 256MB or 1GB' % (option, value))
    return str(value)


def client_env(conn_params, dbname=None, application_name='pourtrait.ops', base=None, settings=None):
    """libpq environment for a client program; the password never goes on argv.

    ``settings`` ({name: value}, values already validated) become session settings through PGOPTIONS."""
    env = libpq_env(conn_params, base=base)
    if dbname:
        env['PGDATABASE'] = dbname
    env['PGAPPNAME'] = application_name
    if settings:
        extra = ' '.join('-c %s=%s' % (k, v) for k, v in sorted(settings.items()) if v)
        env['PGOPTIONS'] = ('%s %s' % (env.get('PGOPTIONS', ''), extra)).strip()
    return env


def run_program(argv, env, program=None, stdout_path=None):
    """Run a client program to completion; raise PgModuleError with its error line on failure."""
    program = program or os.path.basename(argv[0])
    with tempfile.TemporaryFile() as err:
        out = open(stdout_path, 'wb') if stdout_path else subprocess.DEVNULL
        try:
            try:
                proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, check=False)
            except OSError as exc:
                raise PgModuleError('cannot run %s: %s; check bin_dir' % (program, exc))
        finally:
            if stdout_path:
                out.close()
        err.seek(0)
        stderr = err.read().decode('utf-8', 'replace')
    if proc.returncode != 0:
        raise PgModuleError(tool_error(program, proc.returncode, stderr))
    return stderr


# -- hashing -------------------------------------------------------------

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
    """Rewrites a plain SQL dump on its way to the file (``take_dump(edit=...)``).

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


def _parallel_map(func, items, workers):
    """Apply func to each item on up to ``workers`` threads (hashlib and libpq release the GIL)."""
    items = list(items)
    results = [None] * len(items)
    errors = []
    lock = threading.Lock()
    queue = list(enumerate(items))

    def worker():
        while True:
            with lock:
                if not queue or errors:
                    return
                index, item = queue.pop(0)
            try:
                results[index] = func(item)
            except Exception as exc:  # pylint: disable=broad-except  # re-raised in the caller
                with lock:
                    errors.append(exc)
                return

    threads = [threading.Thread(target=worker) for dummy in range(max(1, min(workers, len(items))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


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
    digests = _parallel_map(lambda name: hash_file(os.path.join(path, name)), names, workers)
    files = dict((name, d.hexdigest()) for name, d in zip(names, digests))
    return files, combined_digest(files), sum(d.size for d in digests)


# -- file system ---------------------------------------------------------

def ensure_backup_dir(path, create=True):
    """Create the backup directory 0700 if missing and prove it is writable."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise PgModuleError('backup_dir %s exists and is not a directory; point backup_dir at a directory' % path)
    if not os.path.isdir(path):
        if not create:
            return False
        try:
            os.makedirs(path, 0o700)
            os.chmod(path, 0o700)
        except FileExistsError:
            if not os.path.isdir(path):  # another run made it meanwhile - fine if it is a directory
                raise PgModuleError('backup_dir %s exists and is not a directory; point backup_dir at a directory'
                                    % path)
        except OSError as exc:
            raise PgModuleError('cannot create backup_dir %s: %s; choose a writable location'
                                % (path, exc.strerror or exc))
    probe = os.path.join(path, '.write-test-%s' % uuid.uuid4().hex[:8])
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PgModuleError('backup_dir %s is not writable (%s); fix its permissions or choose another directory'
                            % (path, exc.strerror or exc))
    return True


def remove_path(path):
    """Remove a file or directory tree if it exists; never raises."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
    except OSError:
        pass


def temp_name(final_path):
    head, tail = os.path.split(final_path)
    return os.path.join(head, '.%s.partial-%s' % (tail, uuid.uuid4().hex[:8]))


_PARTIAL_RE = re.compile(r'^\..+\.partial-[0-9a-f]{8}$')
CLAIM_SUFFIX = '.lock'


class PartialClaim(object):
    """A running dump's claim on its temporary name: ``<temp>.lock``, created before the temporary dump and
    removed after it is renamed or removed, held with ``flock`` for the whole run. The kernel drops the lock
    when the process ends, however it ends, so a lock nobody holds marks the leftover of a killed run."""

    def __init__(self, temp_path):
        self.path = temp_path + CLAIM_SUFFIX
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise PgModuleError('cannot write in %s: %s; check its permissions and free space'
                                % (os.path.dirname(self.path), exc.strerror or exc))
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self):
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def _claimed(lock_path):
    """True while a live run holds ``lock_path``; False when nobody does (or it is gone)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def discard_leftovers(backup_dir, check_mode=False):
    """Remove what killed runs left in ``backup_dir``: temporary dumps (``.<name>.partial-<id>``) whose claim
    no live run holds, and such claims. Never touches a dump of a running run. Returns the removed paths
    (in check mode, the ones that would be)."""
    try:
        names = os.listdir(backup_dir)
    except OSError:
        return []
    removed = []
    for name in sorted(names):
        if _PARTIAL_RE.match(name):
            path = os.path.join(backup_dir, name)
            if _claimed(path + CLAIM_SUFFIX):
                continue
            if not check_mode:
                remove_path(path)
                remove_path(path + CLAIM_SUFFIX)
            removed.append(path)
        elif name.endswith(CLAIM_SUFFIX) and _PARTIAL_RE.match(name[:-len(CLAIM_SUFFIX)]) \
                and name[:-len(CLAIM_SUFFIX)] not in names:
            path = os.path.join(backup_dir, name)
            if not check_mode and not _claimed(path):
                remove_path(path)
    return removed


def lost_session_error(conn, exc):
    """The one-line error for a dump whose own database session was cut (its snapshot gone with it), or None
    when ``exc`` is another failure."""
    text = str(exc)
    if not conn.closed and 'invalid snapshot identifier' not in text:
        return None
    reason = describe_db_error(exc) if isinstance(exc, psycopg2.Error) else one_line(text)
    return PgModuleError('the database session of the dump was lost (%s); nothing was written and the database '
                         'is unchanged: run the backup again' % reason)


def place_no_clobber(tmp_path, final_path):
    """Move a finished dump into place; never replace anything already there.

    Files are hard-linked (fails if the name exists) then unlinked; a
    directory rename fails when the target is a non-empty directory, and an
    empty one is never ours. Raises FileExistsError when the name is taken.
    """
    if os.path.isdir(tmp_path):
        if os.path.lexists(final_path):
            raise FileExistsError(final_path)
        try:
            os.rename(tmp_path, final_path)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise FileExistsError(final_path)
            raise
        return
    os.link(tmp_path, final_path)
    os.unlink(tmp_path)


def next_free_path(final_path, fmt):
    """``name-2.dump``, ``name-3.dump``...: the first name with neither dump nor manifest."""
    suffix = SUFFIXES[fmt]
    stem = final_path[:-len(suffix)] if final_path.endswith(suffix) else final_path
    for counter in range(2, 1000):
        candidate = '%s-%d%s' % (stem, counter, suffix)
        if not os.path.lexists(candidate) and not os.path.lexists(manifest_path_for(candidate)):
            return candidate
    raise PgModuleError('no free name for %s; remove old dumps or set name' % final_path)


def fsync_path(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path, data):
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write('\n')
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except Exception:
        remove_path(tmp)
        raise


def read_manifest(path):
    """The manifest of a dump (dict), None when missing; an error when unreadable."""
    mpath = manifest_path_for(path)
    if not os.path.exists(mpath):
        return None
    try:
        with open(mpath) as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise PgModuleError('cannot read manifest %s: %s; restore it from the backup set or set verify_checksum=false'
                            % (mpath, one_line(exc)))
    if not isinstance(data, dict) or 'sha256' not in data:
        raise PgModuleError('manifest %s has no sha256; it was not written by pourtrait.ops' % mpath)
    return data


# -- pg_dump ---------------------------------------------------------------

def quote_pattern(name):
    """An exact (non-wildcard) pg_dump pattern for a schema or ``schema.table`` name."""
    return '"%s"' % name.replace('"', '""')


def table_pattern(schema, table):
    return '%s.%s' % (quote_pattern(schema), quote_pattern(table))


def build_dump_argv(pg_dump, fmt, output=None, jobs=None, compression=1, schema_only=False, data_only=False,
                    schemas=(), exclude_schemas=(), tables=(), exclude_tables=(), snapshot=None, extra=()):
    """pg_dump's argument list. ``tables``/``exclude_tables`` are (schema, table) pairs, matched exactly;
    connection settings travel in the environment. ``output`` None means stdout."""
    argv = [pg_dump, '--format=%s' % PG_DUMP_FLAGS[fmt], '--no-password']
    if fmt == 'directory':
        argv.append('--jobs=%d' % max(1, jobs or 1))
    if fmt in ('custom', 'directory'):
        argv.append('--compress=%d' % compression)
    if schema_only:
        argv.append('--schema-only')
    if data_only:
        argv.append('--data-only')
    for schema in schemas or ():
        argv.append('--schema=%s' % quote_pattern(schema))
    for schema in exclude_schemas or ():
        argv.append('--exclude-schema=%s' % quote_pattern(schema))
    for schema, table in tables or ():
        argv.append('--table=%s' % table_pattern(schema, table))
    for schema, table in exclude_tables or ():
        argv.append('--exclude-table=%s' % table_pattern(schema, table))
    if tables or schemas:
        argv.append('--strict-names')
    if snapshot:
        argv.append('--snapshot=%s' % snapshot)
    argv.extend(extra)
    if output:
        argv.append('--file=%s' % output)
    return argv


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


def choose_compressor(fmt, compression, requested='auto'):
    """Who compresses the table data: ``isal`` (this module, with ISA-L, directory format only), ``pg_dump``,
    or None (nothing is compressed). ``requested``: auto, isal or pg_dump."""
    requested = requested or 'auto'
    if requested not in COMPRESSORS:
        raise PgModuleError('compressor must be one of %s, got %s' % (', '.join(COMPRESSORS), requested))
    if fmt == 'plain' or not compression:
        return None
    if requested == 'isal':
        if fmt != 'directory':
            raise PgModuleError('compressor=isal works with the directory format only; use format=directory or '
                                'compressor=auto')
        if compression not in ISAL_LEVELS:
            raise PgModuleError('compressor=isal has levels 1-3, got compression=%s; use compression 1-3 or '
                                'compressor=pg_dump' % compression)
        if not HAS_ISAL:
            raise PgModuleError('compressor=isal needs the Python package isal on the managed host; install it '
                                '(pip install isal) or use compressor=auto')
        return 'isal'
    if requested == 'auto' and fmt == 'directory' and compression in ISAL_LEVELS and HAS_ISAL:
        return 'isal'
    return 'pg_dump'


_FINISHED_ITEM_RE = re.compile(r'finished item (\d+) ')
# pg_dump --verbose progress lines ("pg_dump: dumping contents of table ..."); lines from parallel
# workers may run into each other ("pg_dump:pg_dump: ..."). Errors, details and hints are kept.
_PROGRAM_PREFIX_RE = re.compile(r'^(?:pg_dump:\s*)+')
_KEPT_MESSAGES = ('error:', 'detail:', 'hint:', 'warning:', 'fatal:')


def _is_progress_line(line):
    match = _PROGRAM_PREFIX_RE.match(line)
    return bool(match) and not line[match.end():].lower().startswith(_KEPT_MESSAGES)


class DataFileCompressor(object):
    """gzip the data files of an uncompressed directory dump (``<id>.dat`` into ``<id>.dat.gz``) with ISA-L on
    ``workers`` threads (ISA-L and hashlib release the GIL) while pg_dump writes them, hashing each compressed
    file as it is written.

    pg_restore reads ``<id>.dat.gz`` when ``<id>.dat`` is absent (the PostgreSQL documentation of the directory
    format: its files can be compressed with gzip). ISA-L level 1 is several times faster than zlib level 1
    and about as small as zlib level 6.

    A file is taken up as soon as it appears (``submit``) and followed as it grows; it is complete, and its
    compressed copy closed, once pg_dump has reported its item finished (``finished``) or has exited
    (``all_finished``). ``finish`` takes up whatever is left and waits for all."""

    POLL = 0.02

    def __init__(self, path, level, workers):
        self.path = path
        self.level = level
        self.digests = {}
        self.sizes = {}
        self.errors = []
        self._queued = set()
        self._finished = set()
        self._all_finished = False
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._pending = []
        self._closing = False
        self._threads = [threading.Thread(target=self._work) for dummy in range(max(1, workers))]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    @staticmethod
    def is_data_file(name):
        return name.endswith('.dat') and name != 'toc.dat' and os.sep not in name

    def submit(self, name):
        with self._cond:
            if name in self._queued or self._closing:
                return
            self._queued.add(name)
            self._pending.append(name)
            self._cond.notify()

    def submit_new_files(self):
        """Take up the data files pg_dump has created since the last look."""
        try:
            names = os.listdir(self.path)
        except OSError:
            return
        for name in sorted(names):
            if self.is_data_file(name) and name not in self._queued:
                self.submit(name)

    def finished(self, name):
        with self._lock:
            self._finished.add(name)

    def all_finished(self):
        with self._lock:
            self._all_finished = True

    def _complete(self, name):
        with self._lock:
            return self._all_finished or name in self._finished

    def _work(self):
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending or self.errors:
                    return
                name = self._pending.pop(0)
            try:
                self._compress(name)
            except Exception as exc:  # pylint: disable=broad-except  # re-raised by finish()
                with self._cond:
                    self.errors.append((name, exc))
                    self._pending = []
                    self._all_finished = True
                    self._cond.notify_all()
                return

    def _compress(self, name):
        source = os.path.join(self.path, name)
        target = source + '.gz'
        digest = hashlib.sha256()
        size = 0
        compressor = isal_zlib.compressobj(self.level, isal_zlib.DEFLATED, 31)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(source, 'rb') as src, os.fdopen(fd, 'wb') as out:
            done = False
            while True:
                chunk = src.read(4 * CHUNK)
                if chunk:
                    data = compressor.compress(chunk)
                    if data:
                        out.write(data)
                        digest.update(data)
                        size += len(data)
                    continue
                if done:
                    break
                # At the end of what pg_dump has written so far: once its item is reported finished, one
                # more read takes what was written before the report; until then, wait for more.
                done = self._complete(name)
                if not done:
                    time.sleep(self.POLL)
            data = compressor.flush()
            out.write(data)
            digest.update(data)
            size += len(data)
            out.flush()
            os.fsync(out.fileno())
        os.unlink(source)
        with self._lock:
            self.digests[name + '.gz'] = digest.hexdigest()
            self.sizes[name + '.gz'] = size

    def finish(self):
        """Compress every data file not taken up yet, wait for all; raise a one-line error on failure."""
        self.all_finished()
        self.submit_new_files()
        self._stop()
        if self.errors:
            name, exc = self.errors[0]
            raise PgModuleError('cannot compress %s of the dump: %s; check the free space in backup_dir, or set '
                                'compressor=pg_dump' % (name, exc))

    def _stop(self):
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def abort(self):
        with self._cond:
            self._pending = []
            self._all_finished = True
        self._stop()


def _run_dump_compressing(argv, env, temp_path, compressor):
    """Run pg_dump --verbose while ``compressor`` follows the data files it writes: each file is taken up when
    it appears and closed when pg_dump reports its item finished. Raise the one-line error of a failed pg_dump."""
    env = dict(env, LC_MESSAGES='C')  # the progress lines are read: untranslated
    env.pop('LC_ALL', None)
    kept = []
    try:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
    except OSError as exc:
        raise PgModuleError('cannot run pg_dump: %s; check bin_dir' % exc)
    stopped = threading.Event()

    def watch():
        while not stopped.wait(compressor.POLL):
            compressor.submit_new_files()

    watcher = threading.Thread(target=watch)
    watcher.daemon = True
    watcher.start()
    try:
        for raw in proc.stderr:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            match = _FINISHED_ITEM_RE.search(line)
            if match:
                compressor.finished('%s.dat' % match.group(1))
            elif not _is_progress_line(line):
                kept.append(line)
    finally:
        proc.stderr.close()
        returncode = proc.wait()
        stopped.set()
        watcher.join()
        compressor.all_finished()
    if returncode != 0:
        raise PgModuleError(tool_error('pg_dump', returncode, '\n'.join(kept)))


def dump_to_directory(argv, env, temp_path, workers, compressor=None, level=1):
    """Run pg_dump -Fd into ``temp_path`` (it creates the directory), compressing its data files with ISA-L
    while it runs when ``compressor`` is ``isal`` (pg_dump then writes them uncompressed, ``--verbose``),
    then hash each file not hashed yet. Files end up 0600, the directory 0700. Returns (files, sha256, size)."""
    old = os.umask(0o077)
    packer = None
    try:
        if compressor == 'isal':
            packer = DataFileCompressor(temp_path, level, workers)
            _run_dump_compressing(argv, env, temp_path, packer)
            packer.finish()
        else:
            run_program(argv, env)
    except BaseException:
        if packer is not None:
            packer.abort()
        remove_path(temp_path)
        raise
    finally:
        os.umask(old)
    try:
        os.chmod(temp_path, 0o700)
        for name in directory_files(temp_path):
            os.chmod(os.path.join(temp_path, name), 0o600)
        done = packer.digests if packer is not None else {}
        rest = [name for name in directory_files(temp_path) if name not in done]
        digests = _parallel_map(lambda name: hash_file(os.path.join(temp_path, name)), rest, workers)
        files = dict(done)
        files.update((name, d.hexdigest()) for name, d in zip(rest, digests))
        size = sum(d.size for d in digests) + sum((packer.sizes if packer is not None else {}).values())
        for name in rest + ['']:
            fsync_path(os.path.join(temp_path, name))
    except BaseException:
        remove_path(temp_path)
        raise
    return files, combined_digest(files), size


# -- table of contents -----------------------------------------------------

_TOC_DATA_RE = re.compile(r'^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) (\S+)$')


def list_toc(pg_restore, path, env, allow_empty=False):
    """``pg_restore --list``: (number of entries, [(schema, table)] having data).

    No entries at all means a broken dump, unless the source had nothing to
    dump (``allow_empty``).
    """
    argv = [pg_restore, '--list', path]
    with tempfile.NamedTemporaryFile(prefix='toc-', suffix='.txt') as out:
        run_program(argv, env, program='pg_restore', stdout_path=out.name)
        with open(out.name, 'rb') as handle:
            text = handle.read().decode('utf-8', 'replace')
    entries = 0
    tables = []
    for line in text.splitlines():
        if not line or line.startswith(';'):
            continue
        entries += 1
        match = _TOC_DATA_RE.match(line)
        if match:
            tables.append((match.group(1), match.group(2)))
    if entries == 0 and not allow_empty:
        raise PgModuleError('pg_restore --list found no entries in %s; the dump is empty or corrupt' % path)
    return entries, tables


def detect_format(path):
    """custom, directory or plain, from the dump itself."""
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, 'toc.dat')):
            return 'directory'
        raise PgModuleError('%s is a directory without toc.dat; it is not a pg_dump directory-format dump' % path)
    if not os.path.isfile(path):
        raise PgModuleError('dump %s does not exist; check path' % path)
    with open(path, 'rb') as handle:
        head = handle.read(5)
    if head == b'PGDMP':
        return 'custom'
    if head[:2] == b'\x1f\x8b':
        raise PgModuleError('%s is gzip-compressed SQL; decompress it first (gunzip) and restore the .sql file' % path)
    return 'plain'


def check_manifest(path, fmt, manifest, workers=2):
    """Compare a dump with its manifest; raise a one-line error on any difference.

    Returns the plain-format StreamDigest (for its COPY list) or None."""
    mpath = manifest_path_for(path)
    if manifest.get('format') and manifest['format'] != fmt:
        raise PgModuleError('%s is a %s dump but its manifest %s says %s; the manifest belongs to another dump'
                            % (path, fmt, mpath, manifest['format']))
    if fmt == 'directory':
        files, overall, _size = hash_directory(path, workers)
        expected = manifest.get('files') or {}
        missing = sorted(set(expected) - set(files))
        extra = sorted(set(files) - set(expected))
        changed = sorted(n for n in files if n in expected and files[n] != expected[n])
        if missing or extra or changed or overall != manifest['sha256']:
            detail = []
            if changed:
                detail.append('changed: %s' % ', '.join(changed[:5]))
            if missing:
                detail.append('missing: %s' % ', '.join(missing[:5]))
            if extra:
                detail.append('unexpected: %s' % ', '.join(extra[:5]))
            raise PgModuleError('checksum of %s does not match its manifest %s (%s); the dump is truncated or '
                                'corrupt, restore from another dump' % (path, mpath, '; '.join(detail) or 'digest'))
        return None
    digest = hash_file(path, scan_copy=(fmt == 'plain'))
    if digest.hexdigest() != manifest['sha256']:
        size_note = ''
        if manifest.get('size') is not None and manifest['size'] != digest.size:
            size_note = ', %d bytes instead of %d' % (digest.size, manifest['size'])
        raise PgModuleError('checksum of %s does not match its manifest %s (sha256 %s..., expected %s...%s); the dump '
                            'is truncated or corrupt, restore from another dump'
                            % (path, mpath, digest.hexdigest()[:12], manifest['sha256'][:12], size_note))
    return digest


# -- databases -------------------------------------------------------------

def _lock_cursor(conn):
    cur = conn.cursor()
    cur.execute("SELECT set_config('lock_timeout', %s, false)", (COUNT_LOCK_TIMEOUT,))
    return cur


def row_estimates(conn, tables):
    """[{schema, table, rows_estimate}] from pg_class (reltuples, else n_live_tup)."""
    result = []
    with conn.cursor() as cur:
        for schema, table in tables:
            cur.execute(
                "SELECT c.reltuples::bigint, s.n_live_tup FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid "
                "WHERE n.nspname = %s AND c.relname = %s", (schema, table))
            row = cur.fetchone()
            estimate = None
            if row:
                estimate = row[0] if row[0] is not None and row[0] >= 0 else row[1]
            result.append(dict(schema=schema, table=table, rows_estimate=estimate))
    return result


def count_rows(conn_params, dbname, tables, workers=2, snapshot=None, application_name='pourtrait.ops'):
    """Exact row counts {(schema, table): rows} on up to ``workers`` connections (ChecksumReader without
    checksums). With ``snapshot`` every connection reads the same exported snapshot. A table that does not
    exist counts as None."""
    tables = list(tables)
    if not tables:
        return {}
    reader = ChecksumReader(conn_params, dbname, application_name=application_name, checksum=False)
    read = reader.read(tables, workers, snapshot=snapshot, check_exists=True)
    return dict((key, None if value is None else value[0]) for key, value in read.items())


# -- table checksums ---------------------------------------------------------
# One implementation for postgres_dump (table_checksums, computed in the dump's
# snapshot and kept in the manifest) and postgres_compare (both sides, or a
# database against a manifest), so equal data always gives equal checksums.

TABLE_CHECKSUM_METHOD = "sum of ('x' || left(md5(ROW(t.*)::text), 16))::bit(64)::bigint over the rows"
# Same text form of every value on every side, whatever the login role's defaults are.
CHECKSUM_SESSION_SETTINGS = (('TimeZone', 'UTC'), ('DateStyle', 'ISO, YMD'), ('IntervalStyle', 'postgres'),
                             ('extra_float_digits', '3'), ('bytea_output', 'hex'))


def checksum_query(schema, table, checksum=True):
    """(row count, checksum text or None) of one table; the table is an identifier, never SQL text."""
    if not checksum:
        return sql.SQL('SELECT count(*), NULL::text FROM {}').format(sql.Identifier(schema, table))
    return sql.SQL("SELECT count(*), coalesce(sum(('x' || left(md5(ROW(t.*)::text), 16))::bit(64)::bigint), 0)::text "
                   "FROM {} AS t").format(sql.Identifier(schema, table))


def checksum_tables(conn):
    """Ordinary and partitioned tables outside the system schemas, as (schema, table): the tables whose
    checksums are taken and compared, and whose rows a verify=restore counts."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg\\_temp%%' "
            "AND n.nspname NOT LIKE 'pg\\_toast%%' ORDER BY 1, 2", (list(SYSTEM_SCHEMAS),))
        return [(r[0], r[1]) for r in cur.fetchall()]


def database_size(conn):
    with conn.cursor() as cur:
        cur.execute('SELECT pg_catalog.pg_database_size(current_database())')
        return cur.fetchone()[0]


class ChecksumReader(object):
    """Reads (row count, checksum) of tables of one database on up to ``jobs`` sessions, optionally all
    in one exported snapshot. A table missing on that side (not in ``present``) reads as None."""

    def __init__(self, conn_params, dbname, application_name='pourtrait.ops', checksum=True,
                 lock_timeout=COUNT_LOCK_TIMEOUT, statement_timeout='0'):
        self.conn_params = conn_params
        self.dbname = dbname
        self.application_name = application_name
        self.checksum = checksum
        self.lock_timeout = lock_timeout
        self.statement_timeout = statement_timeout

    def prepare(self, cur, snapshot=None):
        if snapshot:
            cur.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
            cur.execute('SET TRANSACTION SNAPSHOT %s', (snapshot,))
        for name, value in CHECKSUM_SESSION_SETTINGS:
            cur.execute('SELECT set_config(%s, %s, true)', (name, value))
        set_timeouts(cur, lock_timeout=self.lock_timeout, statement_timeout=self.statement_timeout, local=True)

    def read(self, tables, jobs, snapshot=None, present=None, check_exists=False):
        """{(schema, table): (rows, checksum text or None) or None}. A table reads as None when it is not in
        ``present`` (a set), or, with ``check_exists``, when it does not exist in the database."""
        lock = threading.Lock()
        queue = list(tables)
        out = {}
        errors = []

        def worker():
            conn = None
            try:
                conn = connect(self.conn_params, dbname=self.dbname, application_name=self.application_name)
                with conn.cursor() as cur:
                    self.prepare(cur, snapshot)
                    while True:
                        with lock:
                            if not queue or errors:
                                break
                            key = queue.pop(0)
                        if present is not None and key not in present:
                            out[key] = None
                            continue
                        if check_exists:
                            cur.execute('SELECT to_regclass(%s) IS NOT NULL',
                                        ('%s.%s' % (quote_pattern(key[0]), quote_pattern(key[1])),))
                            if not cur.fetchone()[0]:
                                out[key] = None
                                continue
                        cur.execute(checksum_query(key[0], key[1], self.checksum))
                        rows, digest = cur.fetchone()
                        out[key] = (rows, digest)
                conn.rollback()
            except Exception as exc:  # pylint: disable=broad-except  # re-raised in the caller
                with lock:
                    errors.append(exc)
            finally:
                if conn is not None:
                    conn.close()

        threads = [threading.Thread(target=worker) for dummy in range(max(1, min(jobs, len(queue))))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            exc = errors[0]
            if isinstance(exc, PgModuleError):
                raise exc
            raise PgModuleError('reading the tables of database "%s" failed: %s; check lock_timeout and '
                                'statement_timeout' % (self.dbname, describe_db_error(exc)))
        return out


def dumped_tables(conn, tables=(), schemas=(), exclude_schemas=(), exclude_tables=()):
    """The tables (schema, table) whose data pg_dump dumps with these filters, as pg_dump selects them:
    ``tables`` (already resolved) win over the schema filters; ``exclude_tables`` always apply."""
    excluded = set(exclude_tables or ())
    if tables:
        known = set(checksum_tables(conn))
        chosen = [k for k in dict.fromkeys(tables) if k in known]
    else:
        chosen = checksum_tables(conn)
        if schemas:
            chosen = [k for k in chosen if k[0] in schemas]
        chosen = [k for k in chosen if k[0] not in (exclude_schemas or ())]
    return [k for k in chosen if k not in excluded]


def record_table_checksums(conn_params, conn, snapshot, tables, jobs, application_name):
    """Manifest entries {"schema.table": {schema, table, rows, checksum}} of ``tables``, read in
    ``snapshot`` (the dump's)."""
    reader = ChecksumReader(conn_params, conn.get_dsn_parameters().get('dbname'), application_name=application_name)
    found = reader.read(tables, jobs, snapshot=snapshot)
    return dict(('%s.%s' % key, dict(schema=key[0], table=key[1], rows=found[key][0], checksum=found[key][1]))
                for key in tables)


def other_sessions(conn, dbname):
    """Client sessions connected to ``dbname`` other than ours: [(pid, usename, application_name)]."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pid, usename, application_name FROM pg_catalog.pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend' ORDER BY pid",
            (dbname,))
        return cur.fetchall()


def terminate_sessions(conn, dbname, timeout=10.0):
    """End every other client session on ``dbname``; wait until they are gone. Returns how many."""
    sessions = other_sessions(conn, dbname)
    with conn.cursor() as cur:
        for pid, _user, _app in sessions:
            cur.execute('SELECT pg_catalog.pg_terminate_backend(%s)', (pid,))
    deadline = time.time() + timeout
    while other_sessions(conn, dbname):
        if time.time() > deadline:
            raise PgModuleError('sessions on database "%s" did not end within %ds after pg_terminate_backend; '
                                'check for a pooler reconnecting them' % (dbname, timeout))
        time.sleep(0.1)
    return len(sessions)


def database_exists(conn, dbname):
    with conn.cursor() as cur:
        cur.execute('SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s', (dbname,))
        return cur.fetchone() is not None


def create_database(conn, dbname, template='template0'):
    with conn.cursor() as cur:
        cur.execute(sql.SQL('CREATE DATABASE {} TEMPLATE {}').format(sql.Identifier(dbname), sql.Identifier(template)))


def drop_database(conn, dbname, force=False):
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('lock_timeout', '10s', false)")
        statement = 'DROP DATABASE IF EXISTS {} WITH (FORCE)' if force else 'DROP DATABASE IF EXISTS {}'
        cur.execute(sql.SQL(statement).format(sql.Identifier(dbname)))


# -- restore ---------------------------------------------------------------

def build_restore_argv(fmt, path, dbname, pg_restore=None, psql=None, jobs=1, clean=False, if_exists=True,
                       single_transaction=True, no_owner=False, no_acl=False):
    """Argument list restoring ``path`` into ``dbname`` (custom/directory: pg_restore, plain: psql).

    ``single_transaction`` applies only with one job; with jobs > 1 parallelism wins."""
    if fmt == 'plain':
        argv = [psql, '--no-psqlrc', '--no-password', '--quiet', '--set=ON_ERROR_STOP=1', '--dbname=%s' % dbname]
        if single_transaction:
            argv.append('--single-transaction')
        argv.append('--file=%s' % path)
        return argv
    argv = [pg_restore, '--no-password', '--exit-on-error', '--dbname=%s' % dbname]
    if jobs and jobs > 1:
        argv.append('--jobs=%d' % jobs)
    elif single_transaction:
        argv.append('--single-transaction')
    if clean:
        argv.append('--clean')
        if if_exists:
            argv.append('--if-exists')
    if no_owner:
        argv.append('--no-owner')
    if no_acl:
        argv.append('--no-acl')
    argv.append(path)
    return argv


def restore_tables(fmt, path, env, pg_restore=None, plain_digest=None):
    """Tables whose data the dump holds: from the TOC, or the COPY lines of a plain dump."""
    if fmt == 'plain':
        digest = plain_digest or hash_file(path, scan_copy=True)
        return list(digest.copy_tables)
    return list_toc(pg_restore, path, env)[1]


def scratch_restore_check(conn_params, fmt, path, pg_restore, psql, jobs, source_counts_fn, application_name):
    """Restore a dump into a throwaway database (--exit-on-error) and compare row counts.

    ``source_counts_fn(tables)`` returns the source's counts for the restored tables.
    Returns the verification dict; raises PgModuleError when the restore fails."""
    admin = connect(conn_params, autocommit=True, application_name=application_name)
    # The name carries the pid of the session that owns it: while that session lives the run lives.
    scratch = 'pourtrait_verify_%d_%s' % (admin.get_backend_pid(), uuid.uuid4().hex[:8])
    try:
        drop_stale_scratch_databases(admin)
        try:
            create_database(admin, scratch)
        except psycopg2.Error as exc:
            raise PgModuleError('verify=restore cannot create a scratch database: %s; grant CREATEDB to the login '
                                'user or use verify=toc' % describe_db_error(exc))
        try:
            argv = build_restore_argv(fmt, path, scratch, pg_restore=pg_restore, psql=psql, jobs=jobs,
                                      single_transaction=(fmt == 'plain'), no_owner=True, no_acl=True)
            env = client_env(conn_params, dbname=scratch, application_name=application_name)
            try:
                run_program(argv, env)
            except PgModuleError as exc:
                raise PgModuleError('verification restore into a scratch database failed: %s' % exc)
            scratch_conn = connect(conn_params, dbname=scratch, application_name=application_name)
            try:
                tables = checksum_tables(scratch_conn)
            finally:
                scratch_conn.close()
            restored = count_rows(conn_params, scratch, tables, workers=jobs, application_name=application_name)
            source = source_counts_fn(tables)
        finally:
            _drop_scratch(conn_params, admin, scratch, application_name)
    finally:
        admin.close()
    mismatches = []
    for key in tables:
        if restored.get(key) != source.get(key):
            mismatches.append('%s.%s: %s restored, %s in source' % (key[0], key[1], restored.get(key), source.get(key)))
    details = dict(tables=len(tables), rows=sum(v or 0 for v in restored.values()), mismatches=mismatches)
    return dict(method='restore', ok=not mismatches, details=details)


_SCRATCH_RE = re.compile(r'^pourtrait_verify_(\d+)_[0-9a-f]{8}$')


def drop_stale_scratch_databases(conn):
    """Drop the scratch databases of verify=restore runs that were killed: their owning session (the pid in
    the name) is gone. Databases this login cannot drop are left alone. Returns the names dropped."""
    with conn.cursor() as cur:
        cur.execute("SELECT d.datname FROM pg_catalog.pg_database d WHERE d.datname ~ '^pourtrait_verify_[0-9]+_' "
                    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a "
                    "WHERE a.pid = substring(d.datname FROM '^pourtrait_verify_([0-9]+)_')::bigint)")
        stale = [row[0] for row in cur.fetchall() if _SCRATCH_RE.match(row[0])]
    dropped = []
    for name in stale:
        try:
            drop_database(conn, name, force=True)
            dropped.append(name)
        except psycopg2.Error:
            continue
    return dropped


def _drop_scratch(conn_params, admin, scratch, application_name):
    """Drop the scratch database; on a fresh connection when the first one was lost (the cut that failed the
    restore must not leave the scratch database behind, nor hide the error that matters). What cannot be
    dropped now, the next verify=restore run drops (its owning session is gone)."""
    try:
        drop_database(admin, scratch, force=True)
    except psycopg2.Error:
        _drop_quietly(conn_params, None, scratch, application_name)


# -- retention -------------------------------------------------------------

def parse_time(text):
    try:
        return datetime.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def existing_dumps(backup_dir, dbname, kind=None):
    """This database's dumps in backup_dir that have a manifest, newest first:
    [{path, manifest_path, created}]. Only dumps of the same ``kind`` count (the
    manifest's ``kind``; postgres_dump writes none), so the dumps of one module are
    never pruned by another's retention."""
    found = []
    try:
        names = os.listdir(backup_dir)
    except OSError:
        return found
    for name in names:
        if not name.endswith(MANIFEST_SUFFIX) or name.startswith('.'):
            continue
        mpath = os.path.join(backup_dir, name)
        try:
            with open(mpath) as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get('database') != dbname or data.get('kind') != kind:
            continue
        dump_name = name[:-len(MANIFEST_SUFFIX)]
        created = parse_time(data.get('created'))
        if created is None:
            continue
        found.append(dict(path=os.path.join(backup_dir, dump_name), manifest_path=mpath, created=created))
    found.sort(key=lambda d: (d['created'], d['path']), reverse=True)
    return found


def plan_retention(backup_dir, dbname, keep=None, max_age_days=None, now=None, protect=(), pending=0, kind=None):
    """Dumps to prune. A dump is kept when it is among the ``keep`` newest or newer than
    ``max_age_days`` (either rule keeps it, as restic's --keep-last/--keep-within do);
    with neither set nothing is pruned. ``pending`` counts new dumps not on disk yet
    (check mode) toward ``keep``; paths in ``protect`` are never pruned."""
    if keep is None and max_age_days is None:
        return []
    now = now or utcnow()
    prune = []
    rank = pending
    for item in existing_dumps(backup_dir, dbname, kind=kind):
        protected = item['path'] in protect
        rank += 1
        kept_by_count = keep is not None and rank <= keep
        kept_by_age = max_age_days is not None and now - item['created'] <= datetime.timedelta(days=max_age_days)
        if protected or kept_by_count or kept_by_age:
            continue
        prune.append(item)
    return prune


def apply_retention(prune):
    removed = []
    for item in prune:
        remove_path(item['path'])
        remove_path(item['manifest_path'])
        removed.append(item['path'])
    return removed


# -- the whole dump ----------------------------------------------------------

def _check_schemas(conn, schemas):
    missing = []
    with conn.cursor() as cur:
        for schema in schemas:
            cur.execute('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s', (schema,))
            if cur.fetchone() is None:
                missing.append(schema)
    if missing:
        raise PgModuleError('schema %s does not exist in database "%s"; check schemas'
                            % (', '.join('"%s"' % m for m in missing), conn.get_dsn_parameters().get('dbname')))


def validate_dump_options(opts):
    if opts.get('schema_only') and opts.get('data_only'):
        raise PgModuleError('schema_only and data_only are mutually exclusive; set at most one')
    compression = opts.get('compression')
    if compression is not None and not 0 <= compression <= 9:
        raise PgModuleError('compression must be between 0 and 9, got %s' % compression)
    if opts.get('jobs') is not None and opts['jobs'] < 1:
        raise PgModuleError('jobs must be 1 or more, got %s' % opts['jobs'])
    if opts.get('keep') is not None and opts['keep'] < 1:
        raise PgModuleError('keep must be 1 or more (the dump just taken counts), got %s' % opts['keep'])
    if opts.get('max_age_days') is not None and opts['max_age_days'] < 0:
        raise PgModuleError('max_age_days must be 0 or more, got %s' % opts['max_age_days'])
    if opts.get('verify') == 'restore' and opts.get('data_only'):
        raise PgModuleError('verify=restore needs the schema in the dump; use verify=toc with data_only')
    if opts.get('table_checksums') and opts.get('schema_only'):
        raise PgModuleError('table_checksums needs the data in the dump; drop schema_only or set table_checksums=false')
    name = opts.get('name')
    if name is not None and (not name or '/' in name or name.startswith('.')):
        raise PgModuleError('name "%s" must be a plain file name (no "/", not starting with "."); '
                            'put the directory in backup_dir' % name)


def take_dump(conn_params, opts, check_mode=False, application_name='pourtrait.ops', extra_args=(),
              program='pg_dump', build_argv=None, edit=None, kind=None, name_tag=None, manifest_extra=None,
              scan_insert=False):
    """Dump, verify, write the manifest, prune; see postgres_dump for the options in ``opts``.

    Other dump modules (supabase_db_dump) may pass, for the plain format only:
    ``program`` (``pg_dump`` or ``pg_dumpall``), ``build_argv(program_path, dbname)``
    returning the whole argument list (output to stdout), ``edit`` (a StreamEdit),
    ``kind`` (recorded in the manifest; retention only counts dumps of the same
    kind), ``name_tag`` (default names become ``<dbname>-<tag>-<time>``),
    ``manifest_extra`` (more manifest keys) and ``scan_insert`` (note INSERT
    targets as tables with data).

    With ``opts['table_checksums']`` the dump runs in an exported snapshot and, in that same snapshot,
    the row count and checksum of every dumped table is recorded in the manifest (``table_checksums``,
    ``table_checksum_method``), for postgres_compare to check a restore against the moment of the dump.

    Returns the module result (without ``changed``'s caller-specific parts)."""
    validate_dump_options(opts)
    started = time.time()
    fmt = opts.get('format') or 'directory'
    if (build_argv is not None or edit is not None) and fmt != 'plain':
        raise PgModuleError('a custom argument list or stream edit needs the plain format, not %s' % fmt)
    with_checksums = bool(opts.get('table_checksums'))
    if with_checksums and build_argv is not None:
        raise PgModuleError('table_checksums needs pg_dump run in an exported snapshot, not a custom argument list')
    jobs = opts.get('jobs') or default_jobs()
    compression = 1 if opts.get('compression') is None else opts['compression']
    compressor = choose_compressor(fmt, compression, opts.get('compressor'))
    verify = opts.get('verify') or 'toc'
    bin_dir = opts.get('bin_dir')
    backup_dir = os.path.abspath(opts['backup_dir'])

    pg_dump = find_program(program, bin_dir)
    pg_restore = None
    if fmt != 'plain':
        try:
            pg_restore = find_program('pg_restore', bin_dir)
        except PgModuleError:
            if verify != 'none':
                raise
    psql = find_program('psql', bin_dir) if fmt == 'plain' and verify == 'restore' else None

    conn = connect(conn_params, application_name=application_name)
    try:
        dbname = conn.get_dsn_parameters().get('dbname')
        with conn.cursor() as cur:
            cur.execute('SHOW server_version')
            server_ver = cur.fetchone()[0]
            tables = []
            if opts.get('tables'):
                tables = resolve_tables(cur, opts['tables'])
        if opts.get('schemas'):
            _check_schemas(conn, opts['schemas'])
        exclude_tables = [split_qualified(t) for t in opts.get('exclude_tables') or ()]
        conn.rollback()

        now = utcnow()
        name = opts.get('name') or default_name('%s-%s' % (dbname, name_tag) if name_tag else dbname, now)
        final_path = os.path.join(backup_dir, dump_filename(name, fmt))
        mpath = manifest_path_for(final_path)
        auto_name = not opts.get('name')
        if os.path.lexists(final_path) or os.path.lexists(mpath):
            if not auto_name:
                raise PgModuleError('%s already exists; choose another name or remove the old dump' % final_path)
            # Two runs in the same second: the later one takes the next free name.
            final_path = next_free_path(final_path, fmt)
            mpath = manifest_path_for(final_path)
        if os.path.exists(backup_dir) and not os.path.isdir(backup_dir):
            raise PgModuleError('backup_dir %s exists and is not a directory; point backup_dir at a directory'
                                % backup_dir)
        tmp_path = temp_name(final_path)
        # With compressor=isal pg_dump writes the data files uncompressed (and reports each one done).
        argv_kwargs = dict(jobs=jobs, compression=0 if compressor == 'isal' else compression,
                           schema_only=opts.get('schema_only'), data_only=opts.get('data_only'),
                           schemas=opts.get('schemas'), exclude_schemas=opts.get('exclude_schemas'), tables=tables,
                           exclude_tables=exclude_tables,
                           extra=tuple(extra_args) + (('--verbose',) if compressor == 'isal' else ()))
        output = tmp_path if fmt == 'directory' else None
        keep, max_age = opts.get('keep'), opts.get('max_age_days')

        def make_argv(snapshot=None):
            if build_argv is not None:
                return build_argv(pg_dump, dbname)
            return build_dump_argv(pg_dump, fmt, output=output, snapshot=snapshot, **argv_kwargs)

        if check_mode:
            if os.path.isdir(backup_dir) and not os.access(backup_dir, os.W_OK | os.X_OK):
                raise PgModuleError('backup_dir %s is not writable; fix its permissions or choose another directory'
                                    % backup_dir)
            prune = plan_retention(backup_dir, dbname, keep, max_age, now=now, pending=1, kind=kind)
            argv = make_argv()
            return dict(changed=True, path=final_path, manifest_path=mpath, format=fmt, compressor=compressor or 'none',
                        size=None, duration=0.0,
                        sha256=None, verification=dict(method=verify, ok=None, details='check mode: not run'),
                        removed=[p['path'] for p in prune], discarded=discard_leftovers(backup_dir, check_mode=True),
                        manifest={}, command=argv)

        ensure_backup_dir(backup_dir)
        discarded = discard_leftovers(backup_dir)
        claim = PartialClaim(tmp_path)
        try:
            snapshot = None
            if verify == 'restore' or with_checksums:
                # One exported snapshot for pg_dump, the table checksums and the row counts of verify=restore;
                # this transaction stays open (and the snapshot valid) until they are all read.
                conn.set_session(isolation_level='REPEATABLE READ', readonly=True)
                with conn.cursor() as cur:
                    cur.execute('SELECT pg_catalog.pg_export_snapshot()')
                    snapshot = cur.fetchone()[0]
            argv = make_argv(snapshot)
            env = client_env(conn_params, dbname=dbname, application_name=application_name)
            dump_started = time.time()
            files = None
            plain_digest = None
            if fmt == 'directory':
                files, sha256, size = dump_to_directory(argv, env, tmp_path, jobs, compressor=compressor,
                                                        level=compression)
            else:
                plain_digest = stream_to_file(argv, env, tmp_path, scan_copy=(fmt == 'plain'), edit=edit,
                                              scan_insert=scan_insert)
                sha256, size = plain_digest.hexdigest(), plain_digest.size
            dump_seconds = time.time() - dump_started
            try:
                checksum_extra = {}
                if with_checksums:
                    checksum_started = time.time()
                    checksummed = dumped_tables(conn, tables=tables, schemas=opts.get('schemas'),
                                                exclude_schemas=opts.get('exclude_schemas'),
                                                exclude_tables=exclude_tables)
                    checksum_extra = dict(
                        table_checksums=record_table_checksums(conn_params, conn, snapshot, checksummed, jobs,
                                                               application_name),
                        table_checksum_method=TABLE_CHECKSUM_METHOD,
                        table_checksum_settings=dict(CHECKSUM_SESSION_SETTINGS),
                        checksum_seconds=round(time.time() - checksum_started, 3),
                        database_size=database_size(conn))
                verification, data_tables = _verify_dump(
                    conn_params, conn, fmt, tmp_path, verify, plain_digest, pg_restore, psql, jobs, env,
                    dbname, snapshot, application_name, edit=edit)
                if verification['ok'] is False:
                    raise PgModuleError('dump verification (%s) failed: %s; the dump was discarded'
                                        % (verify, '; '.join(verification['details'].get('mismatches', []))[:600]))
                conn.rollback()
                conn.set_session(isolation_level='READ COMMITTED', readonly=False)
                estimates = row_estimates(conn, data_tables)
                conn.rollback()
                pg_dump_version = program_version(pg_dump)
                manifest = dict(
                    manifest_version=MANIFEST_VERSION,
                    tool='pourtrait.ops',
                    database=dbname,
                    server_version=server_ver,
                    pg_dump_version=pg_dump_version,
                    created=now.strftime(TIME_FORMAT),
                    dump_seconds=round(dump_seconds, 3),
                    format=fmt,
                    compression=compression if fmt != 'plain' else 0,
                    compressor=compressor or 'none',
                    jobs=jobs if fmt == 'directory' else 1,
                    schema_only=bool(opts.get('schema_only')),
                    data_only=bool(opts.get('data_only')),
                    schemas=list(opts.get('schemas') or []),
                    exclude_schemas=list(opts.get('exclude_schemas') or []),
                    tables_included=['%s.%s' % t for t in tables],
                    exclude_tables=['%s.%s' % t for t in exclude_tables],
                    name=os.path.basename(final_path),
                    size=size,
                    sha256=sha256,
                    sha256_method=('sha256 over "<sha256>  <file>" lines sorted by file' if fmt == 'directory'
                                   else 'sha256 of the file'),
                    files=files,
                    tables=estimates,
                    verification=verification,
                )
                manifest.update(checksum_extra)
                if kind is not None:
                    manifest['kind'] = kind
                manifest.update(manifest_extra or {})
                while True:
                    try:
                        place_no_clobber(tmp_path, final_path)
                        break
                    except FileExistsError:
                        if not auto_name:
                            raise PgModuleError('%s already exists; choose another name or remove the old dump'
                                                % final_path)
                        final_path = next_free_path(final_path, fmt)
                        mpath = manifest_path_for(final_path)
                        manifest['name'] = os.path.basename(final_path)
            except BaseException:
                remove_path(tmp_path)
                raise
            try:
                write_json_atomic(mpath, manifest)
                fsync_path(backup_dir)
            except BaseException as exc:
                remove_path(final_path)
                if isinstance(exc, OSError):
                    raise PgModuleError('cannot write manifest %s: %s; the dump was discarded' % (mpath, exc))
                raise
        except (PgModuleError, psycopg2.Error) as exc:
            lost = lost_session_error(conn, exc)
            if lost is None:
                raise
            raise lost
        finally:
            claim.release()
        prune = plan_retention(backup_dir, dbname, keep, max_age, protect=(final_path,), kind=kind)
        removed = apply_retention(prune)
    finally:
        conn.close()
    return dict(changed=True, path=final_path, manifest_path=mpath, format=fmt, compressor=compressor or 'none', size=size,
                duration=round(time.time() - started, 3), sha256=sha256, verification=verification,
                removed=removed, discarded=discarded, manifest=manifest, command=argv)


def _verify_dump(conn_params, conn, fmt, tmp_path, verify, plain_digest, pg_restore, psql, jobs, env, dbname,
                 snapshot, application_name, edit=None):
    """(verification dict, tables with data) for a dump still under its temporary name."""
    if fmt == 'plain':
        data_tables = list(plain_digest.copy_tables)
        complete = edit.complete if edit is not None else PLAIN_TRAILER in plain_digest.tail
        if not complete:
            raise PgModuleError('the plain dump has no "dump complete" trailer; pg_dump output was cut short, '
                                'the dump was discarded')
        verification = dict(method='toc', ok=True, details=dict(trailer=True, tables=len(data_tables)))
        if verify == 'none':
            verification = dict(method='none', ok=None, details='not verified')
    elif verify == 'none':
        return dict(method='none', ok=None, details='not verified'), list_toc_quiet(pg_restore, tmp_path, env)
    else:
        entries, data_tables = list_toc(pg_restore, tmp_path, env, allow_empty=database_is_empty(conn))
        verification = dict(method='toc', ok=True, details=dict(entries=entries, tables=len(data_tables)))
    if verify == 'restore':
        def source_counts(tables):
            return count_rows(conn_params, dbname, tables, workers=jobs, snapshot=snapshot,
                              application_name=application_name)
        verification = scratch_restore_check(conn_params, fmt, tmp_path, pg_restore, psql, jobs, source_counts,
                                             application_name)
    return verification, data_tables


def database_is_empty(conn):
    """True when the database holds no user objects pg_dump would list."""
    with conn.cursor() as cur:
        cur.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
                    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND n.nspname NOT LIKE 'pg\\_toast%%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')) "
                    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p "
                    "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))")
        return cur.fetchone()[0]


def list_toc_quiet(pg_restore, path, env):
    """Tables with data from the TOC when pg_restore is at hand; [] otherwise (verify=none)."""
    if not pg_restore:
        return []
    try:
        return list_toc(pg_restore, path, env)[1]
    except PgModuleError:
        return []


# -- the whole restore -------------------------------------------------------

def _drop_quietly(conn_params, admin_db, dbname, application_name):
    try:
        admin = connect(conn_params, autocommit=True, dbname=admin_db, application_name=application_name)
    except PgModuleError:
        return
    try:
        drop_database(admin, dbname, force=True)
    except psycopg2.Error:
        pass
    finally:
        admin.close()


def restore_dump(conn_params, opts, check_mode=False, application_name='pourtrait.ops'):
    """Check the checksum, handle sessions, (re)create, restore, count rows; see postgres_restore."""
    started = time.time()
    path = os.path.abspath(opts['path'])
    if not os.path.lexists(path):
        raise PgModuleError('dump %s does not exist; check path' % path)
    fmt = detect_format(path)
    bin_dir = opts.get('bin_dir')
    jobs = opts.get('jobs') or default_jobs()
    if jobs < 1:
        raise PgModuleError('jobs must be 1 or more, got %s' % jobs)
    mwm = check_memory_setting(opts.get('maintenance_work_mem'))
    clean = bool(opts.get('clean'))
    create = bool(opts.get('create'))
    if_exists = clean if opts.get('if_exists') is None else opts['if_exists']
    single = True if opts.get('single_transaction') is None else opts['single_transaction']
    if fmt == 'plain' and clean and not create:
        raise PgModuleError('clean needs a custom or directory dump; for a plain SQL dump set create=true with '
                            'clean=true to restore into a freshly recreated database')
    if fmt == 'plain':
        program = find_program('psql', bin_dir)
        pg_restore, psql = None, program
        jobs = 1
    else:
        pg_restore, psql = find_program('pg_restore', bin_dir), None
    login_db = conn_params.get('dbname')
    target = opts.get('target_db') or login_db
    if not target:
        raise PgModuleError('no target database; set target_db (or login_db / PGDATABASE)')

    checksum_ok = None
    plain_digest = None
    if opts.get('verify_checksum', True):
        manifest = read_manifest(path)
        if manifest is None:
            raise PgModuleError('no manifest %s beside the dump, so its checksum cannot be checked; restore the '
                                'manifest or set verify_checksum=false' % manifest_path_for(path))
        plain_digest = check_manifest(path, fmt, manifest, workers=jobs)
        checksum_ok = True

    admin_db = login_db if login_db and login_db != target else 'postgres'
    admin = connect(conn_params, autocommit=True, dbname=admin_db, application_name=application_name)
    try:
        exists = database_exists(admin, target)
        if not exists and not create:
            raise PgModuleError('target database "%s" does not exist; create it or set create=true' % target)
        sessions = other_sessions(admin, target) if exists else []
        if sessions and not opts.get('terminate_sessions'):
            raise PgModuleError('database "%s" has %d other session(s) connected (pids %s); end them or set '
                                'terminate_sessions=true' % (target, len(sessions),
                                                             ', '.join(str(s[0]) for s in sessions[:10])))
        recreate = create and (clean or not exists)
        argv = build_restore_argv(fmt, path, target, pg_restore=pg_restore, psql=psql, jobs=jobs,
                                  clean=clean and not recreate, if_exists=if_exists,
                                  single_transaction=single, no_owner=opts.get('no_owner'))
        plan = dict(drop_database=bool(exists and recreate), create_database=bool(recreate))
        if check_mode:
            return dict(changed=True, target_db=target, format=fmt, duration=round(time.time() - started, 3),
                        checksum_ok=checksum_ok, terminated_sessions=len(sessions), tables=[], command=argv,
                        plan=plan)
        terminated = terminate_sessions(admin, target) if sessions else 0
        if exists and recreate:
            drop_database(admin, target, force=bool(opts.get('terminate_sessions')))
        if recreate:
            try:
                create_database(admin, target)
            except psycopg2.Error as exc:
                raise PgModuleError('cannot create database "%s": %s; grant CREATEDB to the login user'
                                    % (target, describe_db_error(exc)))
    finally:
        admin.close()
    env = client_env(conn_params, dbname=target, application_name=application_name,
                     settings=dict(maintenance_work_mem=mwm) if mwm else None)
    try:
        run_program(argv, env, program=os.path.basename(argv[0]))
    except PgModuleError as exc:
        msg = str(exc)
        if 'already exists' in msg and not clean:
            msg += '; the target already holds these objects: set clean=true (or create=true and clean=true)'
        if recreate and not exists:
            # a database this run created holds nothing worth keeping
            _drop_quietly(conn_params, admin_db, target, application_name)
            msg += '; database "%s" (created by this run) was dropped again' % target
        raise PgModuleError(msg)
    tables = restore_tables(fmt, path, env, pg_restore=pg_restore, plain_digest=plain_digest)
    counts = count_rows(conn_params, target, tables, workers=jobs, application_name=application_name)
    rows = [dict(table='%s.%s' % key, rows=counts.get(key)) for key in tables]
    return dict(changed=True, target_db=target, format=fmt, duration=round(time.time() - started, 3),
                checksum_ok=checksum_ok, terminated_sessions=terminated, tables=rows, command=argv, plan=plan)

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migration files as the Supabase CLI reads them (``supabase db push``): the statement
splitter, the files, the directory scan and the comparison with the history table.

- files ``<migrations_dir>/<digits>_<name>.sql`` in file-name order; other
  names are skipped with a warning (and so is a first file
  ``<14 digits>_init.sql`` older than 20211209000000, as the CLI does);
- the statement splitter: the CLI's rules (``;`` ends a statement unless it is
  inside quotes, dollar quotes, comments, parentheses or ``BEGIN ATOMIC ...
  END``; each statement is stored without its trailing ``;`` and surrounding
  white space, comments kept), so the ``statements`` column holds exactly what
  the CLI would store;
- the pending/remote-only/out-of-order rules of ``db push`` (``--include-all``);
- files marked ``-- pourtrait:no-transaction``.

The database side is migrations.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError


# CLI messages (kept word for word: people search for them).
MSG_REMOTE_ONLY = 'Remote migration versions not found in local migrations directory'
MSG_OUT_OF_ORDER = 'Found local migration files to be inserted before the last migration on remote database'

FILE_PATTERN = re.compile(r'([0-9]+)_(.*)\.sql')
INIT_PATTERN = re.compile(r'([0-9]{14})_init\.sql')
INIT_CUTOFF = 20211209000000
NO_TRANSACTION_MARKER = re.compile(r'--\s*pourtrait:no-transaction\s*$', re.IGNORECASE)
TRANSACTION_CONTROL = re.compile(r'(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT)\b', re.IGNORECASE)
LEADING_COMMENTS = re.compile(r'(\s+|--[^\n]*(\n|$)|/\*.*?\*/)*', re.DOTALL)

# White space as Go's unicode.IsSpace sees it (strings.TrimSpace in the CLI).
GO_SPACE = u'\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a' \
           u'\u2028\u2029\u202f\u205f\u3000'


# -- the statement splitter ------------------------------------------------------------------
#
# A character-level state machine with the CLI's rules. Each state's ``step`` gets the
# current character and the text of the statement so far (``text[start:pos + 1]``) and
# returns the next state, or None when the character ends the statement.

class _Ready(object):
    """Between tokens: the characters that open something, or end the statement."""

    __slots__ = ()

    def step(self, ch, text, start, pos):
        if ch == ';':
            return None
        if ch == '$':
            return _Tag(pos)
        if ch == "'" or ch == '"':
            return _Quote(ch)
        if ch == '-':
            return _DASH
        if ch == '/':
            return _Block()
        if ch == '\\':
            return _ESCAPE
        if ch == '(':
            return _Atomic(READY, ')')
        if ch in 'cC' and pos - 6 >= start and text[pos - 5:pos + 1].lower() == 'atomic' \
                and _go_space_before(text[pos - 6]):
            return _Atomic(READY, 'end')
        return self


def _ends_with(text, start, pos, word, fold=False):
    """Whether the statement so far (``text[start:pos + 1]``) ends with ``word`` (``fold``: in any case)."""
    begin = pos + 1 - len(word)
    if begin < start:
        return False
    tail = text[begin:pos + 1]
    return (tail.lower() if fold else tail) == word


def _go_space_before(ch):
    """Go tests the single byte before ATOMIC with unicode.IsSpace."""
    if ch < u'\x80':
        return ch in u'\t\n\v\f\r '
    return ch.encode('utf-8')[-1:] in (b'\x85', b'\xa0')


class _Dash(object):
    """After one '-': a second one opens a line comment."""

    __slots__ = ()

    def step(self, ch, text, start, pos):
        if ch == '-':
            return _Dollar('\n')
        return READY.step(ch, text, start, pos)


class _Block(object):
    """After '/': '/*' opens a (nestable) block comment."""

    __slots__ = ('depth',)

    def __init__(self):
        self.depth = 0

    def step(self, ch, text, start, pos):
        window = text[pos - 1:pos + 1]
        if window == '/*':
            self.depth += 1
            return self
        if self.depth == 0:
            return READY.step(ch, text, start, pos)
        if window == '*/':
            self.depth -= 1
            if self.depth == 0:
                return READY
        return self


class _Quote(object):
    """Inside '...' or "...": a doubled delimiter is an escaped one."""

    __slots__ = ('delimiter', 'closing')

    def __init__(self, delimiter):
        self.delimiter = delimiter
        self.closing = False

    def step(self, ch, text, start, pos):
        if self.closing:
            if ch == self.delimiter:
                self.closing = False
                return self
            return READY.step(ch, text, start, pos)
        if ch == self.delimiter:
            self.closing = True
        return self


class _Dollar(object):
    """Inside a dollar quote (or a line comment, closed by a newline): nothing is special."""

    __slots__ = ('delimiter',)

    def __init__(self, delimiter):
        self.delimiter = delimiter

    def step(self, ch, text, start, pos):
        return READY if _ends_with(text, start, pos, self.delimiter) else self


class _Tag(object):
    """After '$': letters, digits and '_' up to a second '$' make a dollar-quote tag."""

    __slots__ = ('offset',)

    def __init__(self, offset):
        self.offset = offset

    def step(self, ch, text, start, pos):
        if ch == '$':
            return _Dollar(text[self.offset:pos + 1])
        if ch == '_' or ch.isalpha() or ch.isdecimal():
            return self
        return READY.step(ch, text, start, pos)


class _Escape(object):
    """After a backslash outside quotes: the next character is taken as it is."""

    __slots__ = ()

    def step(self, ch, text, start, pos):
        return READY


class _Atomic(object):
    """Inside (...) or BEGIN ATOMIC ... END: ';' does not end the statement.

    The inner text is followed with the states above; the closing word counts only
    outside quotes and comments, compared without regard to case.
    """

    __slots__ = ('inner', 'closer')

    def __init__(self, inner, closer):
        self.inner, self.closer = inner, closer

    def step(self, ch, text, start, pos):
        following = self.inner.step(ch, text, start, pos)
        if following is not None:
            self.inner = following
        if self.inner is READY and _ends_with(text, start, pos, self.closer, fold=True):
            return READY
        return self


READY = _Ready()
_DASH = _Dash()
_ESCAPE = _Escape()

# In the top-level ready state only these characters can change anything.
_READY_SKIP = re.compile(r"[^;$'\"\-/\\(cC]+")


def split_raw(text, fast=True):
    """The statements of ``text`` exactly as the CLI cuts them: each with its ';', nothing trimmed.

    ``fast`` skips runs of characters that cannot change the state (the result is the same;
    the unit tests compare both ways)."""
    pieces = []
    state = READY
    start = 0
    pos = 0
    size = len(text)
    skip = _READY_SKIP.match
    while pos < size:
        if not fast:
            pass
        elif state is READY:
            gap = skip(text, pos)
            if gap is not None:
                pos = gap.end()
                if pos >= size:
                    break
        elif isinstance(state, _Dollar):
            # Jump to where the dollar quote (or line comment) ends.
            found = text.find(state.delimiter, max(start, pos + 1 - len(state.delimiter)))
            if found < 0:
                break
            pos = max(pos, found + len(state.delimiter) - 1)
        elif isinstance(state, _Quote) and not state.closing:
            # Jump to the next quote character.
            found = text.find(state.delimiter, pos)
            if found < 0:
                break
            pos = found
        state = state.step(text[pos], text, start, pos)
        pos += 1
        if state is None:
            pieces.append(text[start:pos])
            start = pos
            state = READY
    if start < size:
        pieces.append(text[start:])
    return pieces


def split_statements(text):
    """The statements the CLI stores and runs for a file: trailing ';' and white space removed,
    comments kept, empty ones dropped."""
    result = []
    for piece in split_raw(text):
        statement = piece.rstrip(';').strip(GO_SPACE)
        if statement:
            result.append(statement)
    return result


# -- migration files -------------------------------------------------------------------------

class MigrationFile(object):
    """One ``<version>_<name>.sql`` file."""

    def __init__(self, directory, filename, version, name):
        self.directory, self.filename, self.version, self.name = directory, filename, version, name
        self.path = os.path.join(directory, filename)
        self._statements = None
        self.no_transaction = False

    @property
    def statements(self):
        if self._statements is None:
            self.load()
        return self._statements

    def load(self):
        try:
            with open(self.path, 'rb') as handle:
                raw = handle.read()
        except (IOError, OSError) as exc:
            raise PgModuleError('cannot read migration %s: %s; check the file and its permissions'
                                % (self.path, exc.strerror or exc))
        try:
            text = raw.decode('utf-8')
        except UnicodeDecodeError as exc:
            raise PgModuleError('migration %s is not valid UTF-8 (byte %d); save it as UTF-8'
                                % (self.path, exc.start))
        if '\x00' in text:
            raise PgModuleError('migration %s contains a NUL byte, which PostgreSQL cannot take; remove it'
                                % self.path)
        first_line = text.lstrip(u'\ufeff').split('\n', 1)[0].strip()
        self.no_transaction = bool(NO_TRANSACTION_MARKER.match(first_line))
        self._statements = split_statements(text)
        return self

    def transaction_control(self):
        """1-based numbers of statements that begin or end a transaction themselves."""
        found = []
        for index, statement in enumerate(self.statements, 1):
            body = statement[LEADING_COMMENTS.match(statement).end():]
            if TRANSACTION_CONTROL.match(body):
                found.append(index)
        return found


def describe_skip(filename, is_dir=False):
    if is_dir:
        return 'Skipping migration %s... (a directory, not a file)' % filename
    return 'Skipping migration %s... (file name must match pattern "<timestamp>_name.sql")' % filename


def scan_directory(directory):
    """(files in file-name order, [(entry, reason)] skipped). Raises PgModuleError for a missing
    directory, an unreadable one, or two files with one version."""
    if not os.path.exists(directory):
        raise PgModuleError('migrations_dir %s does not exist; point migrations_dir at the project\'s '
                            'supabase/migrations directory (relative paths start from the working directory; '
                            'an absolute path is safer)' % directory)
    if not os.path.isdir(directory):
        raise PgModuleError('migrations_dir %s is not a directory; point it at supabase/migrations' % directory)
    try:
        entries = sorted(os.listdir(directory))
    except OSError as exc:
        raise PgModuleError('cannot list migrations_dir %s: %s' % (directory, exc.strerror or exc))
    files = []
    skipped = []
    by_version = {}
    for index, entry in enumerate(entries):
        if index == 0:
            init = INIT_PATTERN.search(entry)
            if init and int(init.group(1)) < INIT_CUTOFF:
                skipped.append((entry, 'Skipping migration %s... (replace "init" with a different file name to '
                                       'apply this migration)' % entry))
                continue
        match = FILE_PATTERN.fullmatch(entry)
        if match is None:
            skipped.append((entry, describe_skip(entry)))
            continue
        if os.path.isdir(os.path.join(directory, entry)):
            skipped.append((entry, describe_skip(entry, is_dir=True)))
            continue
        migration = MigrationFile(directory, entry, match.group(1), match.group(2))
        if migration.version in by_version:
            raise PgModuleError('duplicate migration version %s: %s and %s; give one of them a new version '
                                '(a later timestamp), so that each version is one file'
                                % (migration.version, by_version[migration.version].filename, entry))
        by_version[migration.version] = migration
        files.append(migration)
    return files, skipped


def compare(local_versions, remote_versions):
    """The CLI's view of local files against the history.

    Returns (pending, remote_only, out_of_order): ``pending`` holds the local versions not in
    the history, in file order; ``remote_only`` the recorded versions without a file;
    ``out_of_order`` the pending versions older than the newest recorded one (the CLI
    refuses those without --include-all). Versions compare as strings, as the CLI does.
    """
    remote = set(remote_versions)
    local = set(local_versions)
    pending = [v for v in local_versions if v not in remote]
    remote_only = sorted(v for v in remote if v not in local)
    newest = max(remote_versions) if remote_versions else None
    out_of_order = [v for v in pending if newest is not None and v < newest]
    return pending, remote_only, out_of_order

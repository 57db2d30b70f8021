"""Unit tests of plugins/module_utils/migration_files.py: the Supabase CLI's statement splitter and
file-name rules, and the local/remote comparison of `supabase db push`.

The expected splits are the behaviour of the CLI's parser (pkg/parser in supabase/cli): a
statement ends at ';' outside quotes, dollar quotes, comments, parentheses and BEGIN ATOMIC ...
END; the history stores each one without its trailing ';' and surrounding white space, with its
comments."""

import os
import random
import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils import migration_files as mig  # noqa: E402
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError  # noqa: E402


# -- raw splitting: the pieces joined give the input back, cut where the CLI cuts ----------------
CLI_CASES = [
    # line comments
    ['END;', '-- comment'],
    ['SELECT --; 1'],
    ['- ;', 'END'],
    ['-- /* \n;', ' */ END'],
    # block comments (nested)
    ['SELECT /* ; */ 1;'],
    ['SELECT /*; /*;*/ ;*/ 1'],
    ['/ * ;', ' */ END'],
    # separators
    [';', 'END;', ';'],
    ['BEGIN   ;', '  END'],
    ['\\;;', '\\;'],
    # dollar quotes
    ['$tag$ any ; string$tag$'],
    ['$$"Dane\'s horse"$$'],
    ['SELECT "$";', ' $$'],
    ['SELECT $a$ ; $b$ ; $b$ ; $a$;', ' SELECT 2'],
    ['SELECT $1;', ' SELECT 2'],
    # single and double quotes
    ["SELECT ';' 1"],
    ["SELECT ';'';' 1"],
    ["SELECT '\\';", " 1'"],
    ['CREATE POLICY "cats;dogs" on cats_dogs;', ' END'],
    ['CREATE POLICY "cat\'s and dog\'s" on cats_dogs;', ' END'],
    ['CREATE POLICY "pet""name" on pets;', ' END'],
    # parentheses
    ['CREATE RULE notify_me AS ON UPDATE TO mytable DO (NOTIFY mytable; SELECT "1");', 'SELECT 1'],
    ["CREATE RULE notify_me AS ON UPDATE TO mytable DO (-- )\nSELECT ')';\n-- )\n)\n"],
    # BEGIN ATOMIC ... END
    ["CREATE FUNCTION add(a integer, b integer) RETURNS integer\nLANGUAGE SQL\nIMMUTABLE STRICT PARALLEL SAFE\n"
     "RETURNS NULL ON NULL INPUT\nBEGIN ATOMIC\n\tSELECT 'add';\n\tSELECT a + b;\nEND;"],
    ["begin atomic; select 'end'; end"],
    ['CREATE FUNCTION test() BEGIN\nATOMIC-- END;\n-- END;\nEND\n;'],
    ['create table public.atomic_test (id int);', '\nselect 1;'],
    ["CREATE OR REPLACE FUNCTION public.my_function_atomic(p_id uuid)\nRETURNS void\nLANGUAGE plpgsql\nAS $$\n"
     "BEGIN\n  RAISE NOTICE 'hello';\nEND;\n$$;",
     '\nGRANT EXECUTE ON FUNCTION public.my_function_atomic(uuid) TO authenticated;'],
    ['select is_atomic from flags;', '\nselect 1;'],
    ['select col1atomic from t;', '\nselect 1;'],
]


@pytest.mark.parametrize('pieces', CLI_CASES, ids=lambda p: repr(''.join(p))[:40])
def test_split_raw_cuts_where_the_cli_cuts(pieces):
    text = ''.join(pieces)
    assert mig.split_raw(text) == pieces
    assert mig.split_raw(text, fast=False) == pieces


def test_fast_and_character_by_character_splitting_agree_on_random_sql():
    alphabet = ['a', 'c', 'C', 'e', 'n', 'd', 'END', 'atomic', ' ', '\n', ';', "'", '"', '$', '$$', '$t$', '-',
                '--', '/', '*', '/*', '*/', '\\', '(', ')', ' BEGIN ATOMIC ', 'x1', '_']
    rng = random.Random(20260101)
    for dummy in range(3000):
        text = ''.join(rng.choice(alphabet) for dummy in range(rng.randint(0, 40)))
        fast = mig.split_raw(text)
        assert fast == mig.split_raw(text, fast=False), repr(text)
        assert ''.join(fast) == text


# -- what the history stores ----------------------------------------------------------------
def test_statements_lose_trailing_semicolons_and_white_space_but_keep_comments():
    text = ('-- create the table\ncreate table wines (id int);\n\n'
            '  insert into wines values (1) ;;\n'
            '/* block */ select 1;\n'
            '-- trailing comment\n')
    assert mig.split_statements(text) == [
        '-- create the table\ncreate table wines (id int)',
        'insert into wines values (1)',
        '/* block */ select 1',
        '-- trailing comment',
    ]


def test_empty_statements_are_dropped_and_a_last_statement_needs_no_semicolon():
    assert mig.split_statements(';;\n ; select 1\n') == ['select 1']
    assert mig.split_statements('') == []
    assert mig.split_statements('  \n\t') == []


def test_function_bodies_stay_whole():
    body = ("create function f() returns trigger language plpgsql as $fn$\nbegin\n  new.x := 1;\n  return new;\n"
            "end;\n$fn$")
    assert mig.split_statements(body + ';\nselect 2;') == [body, 'select 2']


def test_trimming_uses_go_white_space_only():
    # Go's TrimSpace trims a no-break space but not the file separator \x1c that Python would.
    assert mig.split_statements(u'\xa0select 1\xa0;') == ['select 1']
    assert mig.split_statements(u'\x1cselect 1;') == [u'\x1cselect 1']


def test_cli_quirk_backslash_quote_in_e_string_cuts_early():
    # The CLI knows no E'' strings: \' closes the quote and the ';' after it ends the statement.
    assert mig.split_statements("select E'it\\'s; here';") == ["select E'it\\'s", "here'"]


# -- file names ------------------------------------------------------------------------------
def make_dir(tmp_path, names):
    for name in names:
        if name.endswith('/'):
            os.mkdir(str(tmp_path / name.rstrip('/')))
        else:
            (tmp_path / name).write_text(u'select 1;\n')
    return str(tmp_path)


def test_scan_orders_by_file_name_and_skips_misnamed_entries(tmp_path):
    directory = make_dir(tmp_path, [
        '20240102000000_second.sql', '20240101000000_first.sql', 'README.md', 'add_users.sql',
        '20240103000000-dash.sql', '20240104000000_upper.SQL', '20240105000000_folder.sql/', '7_.sql',
        '20240106000000_dots.in.name.sql',
    ])
    files, skipped = mig.scan_directory(directory)
    assert [(f.version, f.name) for f in files] == [
        ('20240101000000', 'first'), ('20240102000000', 'second'), ('20240106000000', 'dots.in.name'), ('7', ''),
    ]
    assert sorted(entry for entry, dummy in skipped) == sorted([
        'README.md', 'add_users.sql', '20240103000000-dash.sql', '20240104000000_upper.SQL',
        '20240105000000_folder.sql'])
    reasons = dict(skipped)
    assert reasons['README.md'] == 'Skipping migration README.md... (file name must match pattern "<timestamp>_name.sql")'
    assert 'directory' in reasons['20240105000000_folder.sql']


def test_an_old_init_file_first_is_skipped_like_the_cli(tmp_path):
    directory = make_dir(tmp_path, ['20211208000000_init.sql', '20211210000000_next.sql'])
    files, skipped = mig.scan_directory(directory)
    assert [f.version for f in files] == ['20211210000000']
    assert skipped[0][0] == '20211208000000_init.sql'
    assert 'replace "init"' in skipped[0][1]


def test_a_recent_init_file_is_a_migration(tmp_path):
    files, skipped = mig.scan_directory(make_dir(tmp_path, ['20211209000000_init.sql']))
    assert [f.version for f in files] == ['20211209000000'] and not skipped


def test_duplicate_versions_name_both_files(tmp_path):
    directory = make_dir(tmp_path, ['20240101000000_a.sql', '20240101000000_b.sql'])
    with pytest.raises(PgModuleError) as err:
        mig.scan_directory(directory)
    assert str(err.value).startswith('duplicate migration version 20240101000000: 20240101000000_a.sql and '
                                     '20240101000000_b.sql;')


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(PgModuleError) as err:
        mig.scan_directory(str(tmp_path / 'nope'))
    assert 'does not exist' in str(err.value) and 'migrations_dir' in str(err.value)


def test_no_transaction_marker_on_the_first_line_only(tmp_path):
    (tmp_path / '1_a.sql').write_text(u'-- pourtrait:no-transaction\ncreate index concurrently i on t (x);\n')
    (tmp_path / '2_b.sql').write_text(u'select 1;\n-- pourtrait:no-transaction\n')
    (tmp_path / '3_c.sql').write_text(u'\ufeff--pourtrait:NO-TRANSACTION  \nselect 1;\n')
    files = mig.scan_directory(str(tmp_path))[0]
    assert [f.load().no_transaction for f in files] == [True, False, True]


def test_unreadable_encodings_are_reported_with_the_file(tmp_path):
    (tmp_path / '1_a.sql').write_bytes(b'select \xff;')
    files = mig.scan_directory(str(tmp_path))[0]
    with pytest.raises(PgModuleError) as err:
        files[0].load()
    assert '1_a.sql is not valid UTF-8' in str(err.value)


def test_transaction_control_statements_are_found(tmp_path):
    (tmp_path / '1_a.sql').write_text(u'begin;\ncreate table t (x int);\n-- done\ncommit;\nselect 1;\n')
    files = mig.scan_directory(str(tmp_path))[0]
    assert files[0].transaction_control() == [1, 3]


# -- local against remote (db push) ------------------------------------------------------------
def test_compare_in_sync_and_pending():
    assert mig.compare(['1', '2', '3'], ['1', '2']) == (['3'], [], [])
    assert mig.compare(['1', '2'], ['1', '2']) == ([], [], [])
    assert mig.compare(['1'], []) == (['1'], [], [])


def test_compare_finds_remote_only_and_out_of_order_versions():
    local = ['20240101000000', '20240102000000', '20240104000000']
    remote = ['20240101000000', '20240103000000', '20240105000000']
    pending, remote_only, out_of_order = mig.compare(local, remote)
    assert pending == ['20240102000000', '20240104000000']
    assert remote_only == ['20240103000000', '20240105000000']
    assert out_of_order == ['20240102000000', '20240104000000']


def test_local_files_newer_than_every_remote_version_are_in_order():
    assert mig.compare(['1', '2', '5', '6'], ['1', '2', '5']) == (['6'], [], [])

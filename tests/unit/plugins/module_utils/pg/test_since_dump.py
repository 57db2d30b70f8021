"""Unit tests of plugins/module_utils/pg/since_dump.py: reading a dump's listing, which dumps may drop what they
do not hold, and placing the drops inside the restore script's transaction."""

import io

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import since_dump

LISTING = """;
; Archive created at 2026-12-03 19:25:40 UTC
;     dbname: postgres
;
7; 2615 16393 SCHEMA - auth postgres
3514; 0 0 ACL - SCHEMA public pg_database_owner
3; 3079 16396 EXTENSION - pg_stat_statements{space}
3515; 0 0 COMMENT - EXTENSION pg_stat_statements{space}
949; 1247 16638 TYPE auth aal_level postgres
255; 1255 16613 FUNCTION public wine_average_score(bigint) postgres
229; 1259 16518 TABLE public wines postgres
228; 1259 16517 SEQUENCE public wines_id_seq postgres
3522; 0 0 SEQUENCE OWNED BY public wines_id_seq postgres
3523; 0 0 SEQUENCE SET odd_schema wines_id_seq postgres
3491; 0 16518 TABLE DATA public wines postgres
3300; 2606 16700 CONSTRAINT public wines wines_pkey postgres
3310; 2606 16710 FK CONSTRAINT public recommendations recommendations_wine_id_fkey postgres
3320; 1259 16720 INDEX reporting stats_idx postgres
""".format(space=' ')  # an empty owner leaves a trailing space


def test_parse_listing_entries_without_owner_and_the_dumps_schemas():
    entries, schemas = since_dump.parse_listing(LISTING)
    assert 'TABLE public wines' in entries and 'FUNCTION public wine_average_score(bigint)' in entries
    assert 'FK CONSTRAINT public recommendations recommendations_wine_id_fkey' in entries
    assert 'EXTENSION - pg_stat_statements' in entries   # an empty owner
    assert 'TYPE auth aal_level' in entries and 'SCHEMA - auth' in entries
    # "SEQUENCE OWNED BY" and "SEQUENCE SET" are not sequences of schemas "OWNED" and "SET"
    assert schemas == ['auth', 'odd_schema', 'public', 'reporting']


def test_only_a_whole_database_dump_of_ours_may_drop_what_it_does_not_hold():
    whole = dict(tool='pourtrait.ops', data_only=False, tables_included=[], exclude_tables=[])
    assert since_dump.whole_database_dump(whole)
    assert since_dump.whole_database_dump(dict(whole, schemas=['public'], exclude_schemas=['audit']))
    assert not since_dump.whole_database_dump(dict(whole, exclude_tables=['public.archive']))
    assert not since_dump.whole_database_dump(dict(whole, tables_included=['public.wines']))
    assert not since_dump.whole_database_dump(dict(whole, data_only=True))
    assert not since_dump.whole_database_dump(dict(whole, tool='pg_dump'))
    assert not since_dump.whole_database_dump({}) and not since_dump.whole_database_dump(None)


class Sink(io.BytesIO):
    def close(self):
        self.final = self.getvalue()
        super(Sink, self).close()


SCRIPT = (b'--\n-- PostgreSQL database dump\n--\n\\restrict abc\nBEGIN;\nSET statement_timeout = 0;\n'
          b'SET transaction_timeout = 0;\nSELECT pg_catalog.set_config(\'search_path\', \'\', false);\n\n'
          b'DROP TABLE IF EXISTS public.wines;\nCREATE TABLE public.wines (id bigint);\n'
          b'COPY public.wines (id) FROM stdin;\n1\n2\n\\.\n\nCOMMIT;\n\n\\unrestrict abc\n')
DROPS = b'DROP TABLE IF EXISTS public.tasting_notes CASCADE;\n'


def test_feed_places_the_drops_before_the_first_statement_inside_the_transaction():
    sink = Sink()
    assert since_dump._feed(io.BytesIO(SCRIPT), sink, DROPS)
    head, rest = SCRIPT.split(b'DROP TABLE IF EXISTS public.wines;', 1)
    assert sink.final == head + DROPS + b'DROP TABLE IF EXISTS public.wines;' + rest
    assert sink.final.index(b'BEGIN;') < sink.final.index(b'SET statement_timeout') < sink.final.index(DROPS)


def test_feed_leaves_out_settings_the_server_does_not_know():
    sink = Sink()
    assert since_dump._feed(io.BytesIO(SCRIPT), sink, DROPS, known={'statement_timeout', 'search_path'})
    assert sink.final == SCRIPT.replace(b'SET transaction_timeout = 0;\n', b'').replace(
        b'DROP TABLE IF EXISTS public.wines;', DROPS + b'DROP TABLE IF EXISTS public.wines;')


def test_feed_sends_no_statement_of_a_script_without_begin():
    sink = Sink()
    script = SCRIPT.replace(b'BEGIN;\n', b'')
    assert since_dump._feed(io.BytesIO(script), sink, b'DROP TABLE x CASCADE;\n') is False
    assert b'DROP' not in sink.final and b'CREATE' not in sink.final and b'COPY' not in sink.final


def test_feed_of_a_script_cut_before_any_statement_places_nothing():
    sink = Sink()
    assert since_dump._feed(io.BytesIO(SCRIPT[:SCRIPT.index(b'DROP')]), sink, DROPS) is False
    assert DROPS not in sink.final


def test_drop_statements():
    objects = [dict(kind='TABLE', name='public.tasting_notes', drop='DROP TABLE IF EXISTS "public"."t" CASCADE'),
               dict(kind='FK CONSTRAINT', name='public.e e_fkey', drop='ALTER TABLE x DROP CONSTRAINT y')]
    assert since_dump.drop_statements(objects) == (
        'DROP TABLE IF EXISTS "public"."t" CASCADE;\nALTER TABLE x DROP CONSTRAINT y;\n')

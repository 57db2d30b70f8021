"""Unit tests of plugins/module_utils/pg/diagnostics/health.py: the bloat estimate."""

from ansible_collections.pourtrait.ops.plugins.module_utils.pg.diagnostics.health import estimate, expected_pages

BLOCK = 8192


def test_expected_pages_of_a_table():
    # 23-byte header -> 24, 100 bytes of data -> 104, + 4: 132 bytes a row; 8168 usable bytes hold 61 rows.
    assert expected_pages('table', 6100, 100, False, 2, 100, BLOCK) == 100
    # fillfactor 50 halves the rows per page
    assert expected_pages('table', 6100, 100, False, 2, 50, BLOCK) == 204


def test_expected_pages_of_an_index_counts_the_metapage():
    # 8 + 4 (int4) -> 16 + 4: 20 bytes; (8192 - 40) * 0.9 // 20 = 366 a page
    assert expected_pages('index', 3660, 4, False, 1, 90, BLOCK) == 11


def row(relpages, reltuples, width=100.0, without_stats=0, name='t'):
    return ('public', name, relpages, reltuples, 100, width, False, 2, without_stats, BLOCK)


def test_estimate_of_a_bloated_and_a_tight_table():
    bloated = estimate('table', row(1000, 6100))
    assert bloated['expected_pages'] == 100 and bloated['wasted_bytes'] == 900 * BLOCK
    assert bloated['bloat_ratio'] == 0.9 and bloated['note'] is None
    tight = estimate('table', row(100, 6100))
    assert tight['wasted_bytes'] == 0 and tight['bloat_ratio'] == 0.0


def test_estimate_says_why_there_is_no_figure():
    never = estimate('table', row(10, -1))
    assert never['bloat_ratio'] is None and never['note'] == 'never analyzed: run ANALYZE public.t'
    partial = estimate('table', row(10, 100, without_stats=1))
    assert partial['wasted_bytes'] is None and partial['note'].startswith('1 of 2 columns have no statistics')
    index = estimate('index', row(10, -1, name='t_pkey') + ('t',))
    assert index['table'] == 'public.t' and index['note'] == 'never analyzed: run ANALYZE public.t'

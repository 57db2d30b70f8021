"""postgres_compare and postgres_database against a real PostgreSQL 15: equal copies, a changed row, a
missing row and table, one snapshot on the source, bad input; creating and dropping a scratch database."""

import uuid

import pytest

from tests.conftest import TEMPLATE_DB, assert_one_line_error, run_module


@pytest.fixture
def copy(pg_server, db):
    """A second database cloned from the same template as ``db`` (same data)."""
    name = 'c_' + uuid.uuid4().hex[:12]
    pg_server.create_database(name, template=TEMPLATE_DB)
    yield name
    pg_server.drop_database(name)


def test_equal_copies_match_with_checksums(db, copy):
    result = run_module('postgres_compare', dict(db.conn_args(), target_db=copy, fail_on_mismatch=True))
    assert not result.get('failed'), result
    assert result['changed'] is False and result['equal'] is True and result['mismatches'] == []
    assert result['source_db'] == db.name and result['target_db'] == copy
    tables = dict((t['table'], t) for t in result['tables'])
    assert {'public.wines', 'public.notifications', 'auth.users'} <= set(tables)
    wines = tables['public.wines']
    assert wines['source_rows'] == wines['target_rows'] == db.scalar('SELECT count(*) FROM wines') > 0
    assert wines['source_checksum'] == wines['target_checksum'] and wines['source_checksum'] not in (None, '0')
    assert result['compared'] == len(tables) and result['rows'] >= wines['source_rows']
    assert result['source_size'] > 0 and result['target_size'] > 0


def test_a_changed_value_is_named_by_its_table(pg_server, db, copy):
    # same row count, one value changed by one cent: only the checksum can see it
    pg_server.execute('UPDATE public.wines SET price_cents = price_cents + 1 WHERE id = (SELECT min(id) FROM public.wines)',
                      dbname=copy)
    result = run_module('postgres_compare', dict(db.conn_args(), target_db=copy))
    assert not result.get('failed') and result['equal'] is False, result
    rows = db.scalar('SELECT count(*) FROM wines')
    assert result['mismatches'] == ['public.wines: checksum differs (%d rows on both sides)' % rows]
    failed = run_module('postgres_compare', dict(db.conn_args(), target_db=copy, fail_on_mismatch=True))
    assert_one_line_error(failed, '1 of %d table(s) differ between "%s" and "%s"' % (result['compared'], db.name, copy),
                          'public.wines: checksum differs')
    assert failed['mismatches'] == result['mismatches']
    # counts only: the change goes unnoticed, as documented
    counts = run_module('postgres_compare', dict(db.conn_args(), target_db=copy, checksum=False, fail_on_mismatch=True))
    assert not counts.get('failed') and counts['checksum_method'] is None, counts


def test_row_order_does_not_matter_but_missing_rows_and_tables_do(pg_server, db, copy):
    # rewrite the copy's table in another physical order: same checksum
    pg_server.execute('CREATE TEMP TABLE m AS SELECT * FROM public.performance_metrics ORDER BY id DESC; '
                      'DELETE FROM public.performance_metrics; INSERT INTO public.performance_metrics SELECT * FROM m',
                      dbname=copy)
    same = run_module('postgres_compare', dict(db.conn_args(), target_db=copy, tables=['performance_metrics']))
    assert same['equal'] is True and same['compared'] == 1, same
    pg_server.execute('DELETE FROM public.notifications WHERE id = (SELECT max(id) FROM public.notifications); '
                      'DROP TABLE public.error_logs', dbname=copy)
    result = run_module('postgres_compare', dict(db.conn_args(), target_db=copy, jobs=3))
    n = db.scalar('SELECT count(*) FROM notifications')
    assert sorted(result['mismatches']) == ['public.error_logs: missing in the target',
                                            'public.notifications: %d rows in the source, %d in the target' % (n, n - 1)]
    excluded = run_module('postgres_compare', dict(db.conn_args(), target_db=copy,
                                                   exclude_tables=['notifications', 'public.error_logs']))
    assert excluded['equal'] is True and excluded['compared'] == result['compared'] - 2, excluded


def test_bad_input_is_one_line(db, copy):
    missing = run_module('postgres_compare', dict(db.conn_args(), target_db='no_such_db'))
    assert_one_line_error(missing, 'target database "no_such_db" does not exist', 'target_db')
    itself = run_module('postgres_compare', dict(db.conn_args(), target_db=db.name))
    assert_one_line_error(itself, 'is the source database itself')
    table = run_module('postgres_compare', dict(db.conn_args(), target_db=copy, tables=['public.nope']))
    assert_one_line_error(table, 'table "public.nope" exists in neither')
    jobs = run_module('postgres_compare', dict(db.conn_args(), target_db=copy, jobs=0))
    assert_one_line_error(jobs, 'jobs must be 1 or more')


def test_database_create_and_drop(pg_server, db):
    name = 'scratch_' + uuid.uuid4().hex[:10]
    args = dict(db.conn_args(), name=name)
    planned = run_module('postgres_database', args, check_mode=True, diff=True)
    assert planned['changed'] is True and planned['diff'] == dict(before=dict(name=name, exists=False),
                                                                  after=dict(name=name, exists=True)), planned
    assert not pg_server.execute('SELECT 1 FROM pg_database WHERE datname = %s', params=(name,))
    try:
        assert run_module('postgres_database', args)['changed'] is True
        assert run_module('postgres_database', args)['changed'] is False
        holder = pg_server.connect(name)
        try:
            busy = run_module('postgres_database', dict(args, state='absent'))
            assert_one_line_error(busy, 'has 1 other session(s) connected', 'force=true')
            dropped = run_module('postgres_database', dict(args, state='absent', force=True))
            assert dropped['changed'] is True and dropped['terminated_sessions'] == 1, dropped
        finally:
            holder.close()
        assert not pg_server.execute('SELECT 1 FROM pg_database WHERE datname = %s', params=(name,))
        assert run_module('postgres_database', dict(args, state='absent'))['changed'] is False
    finally:
        pg_server.drop_database(name)
    itself = run_module('postgres_database', dict(db.conn_args(), name=db.name, state='absent'))
    assert_one_line_error(itself, 'is the login database')


# -- manifest: compare with the moment of the dump -----------------------------

def dump(db, tmp_path, **args):
    result = run_module('postgres_dump', dict(db.conn_args(), backup_dir=str(tmp_path), format='custom', jobs=2,
                                              **args))
    assert not result.get('failed'), result
    return result


def test_manifest_compares_with_the_moment_of_the_dump(pg_server, db, tmp_path):
    taken = dump(db, tmp_path, table_checksums=True)
    # the source moves on after the dump: not a difference of the dump's restore
    db.query('UPDATE public.wines SET price_cents = price_cents + 1 WHERE id = (SELECT min(id) FROM public.wines); '
             'DELETE FROM public.notifications WHERE id = (SELECT max(id) FROM public.notifications)')
    restored = 'r_' + uuid.uuid4().hex[:12]
    try:
        done = run_module('postgres_restore', dict(db.conn_args(), path=taken['path'], target_db=restored, create=True,
                                                   no_owner=True, jobs=2))
        assert not done.get('failed'), done
        # the connection only needs to reach the target: the login database is not read
        args = dict(db.conn_args(), login_db='no_such_db', target_db=restored, fail_on_mismatch=True)
        result = run_module('postgres_compare', dict(args, manifest=taken['path']))
        assert not result.get('failed') and result['equal'] is True, result
        assert result['source_db'] == db.name and result['manifest_path'] == taken['manifest_path']
        assert result['source_time'] == taken['manifest']['created']
        assert result['compared'] == len(taken['manifest']['table_checksums']) >= 9
        assert result['source_size'] == taken['manifest']['database_size'] and result['target_size'] > 0
        wines = [t for t in result['tables'] if t['table'] == 'public.wines'][0]
        assert wines['source_checksum'] == wines['target_checksum'] == \
            taken['manifest']['table_checksums']['public.wines']['checksum']
        # the live source does differ now (the false alarm of comparing after the restore)
        live = run_module('postgres_compare', dict(db.conn_args(), target_db=restored))
        n = db.scalar('SELECT count(*) FROM public.notifications')
        assert sorted(live['mismatches']) == ['public.notifications: %d rows in the source, %d in the target' % (n, n + 1),
                                              'public.wines: checksum differs (%d rows on both sides)'
                                              % wines['source_rows']], live
        # a change in the restored copy is a difference, named by its table (manifest given by its own path)
        pg_server.execute('UPDATE public.performance_metrics SET value = value + 1 '
                          'WHERE id = (SELECT min(id) FROM public.performance_metrics)', dbname=restored)
        failed = run_module('postgres_compare', dict(args, manifest=taken['manifest_path']))
        rows = taken['manifest']['table_checksums']['public.performance_metrics']['rows']
        assert_one_line_error(failed, '1 of %d table(s) differ between the dump %s' % (result['compared'],
                                                                                       taken['manifest_path']),
                              'and "%s": public.performance_metrics: checksum differs (%d rows on both sides)' % (restored, rows))
        assert failed['mismatches'] == ['public.performance_metrics: checksum differs (%d rows on both sides)' % rows]
        pg_server.execute('DROP TABLE public.error_logs', dbname=restored)
        counted = run_module('postgres_compare', dict(args, manifest=taken['path'], checksum=False, fail_on_mismatch=False))
        assert counted['mismatches'] == ['public.error_logs: missing in the target'], counted
    finally:
        pg_server.drop_database(restored)


def test_manifest_bad_input_is_one_line(db, copy, tmp_path):
    plain = dump(db, tmp_path)
    result = run_module('postgres_compare', dict(db.conn_args(), target_db=copy, manifest=plain['path']))
    assert_one_line_error(result, 'manifest %s has no table_checksums: dump taken without table_checksums: true'
                          % plain['manifest_path'])
    missing = run_module('postgres_compare', dict(db.conn_args(), target_db=copy, manifest=str(tmp_path / 'nope.dump')))
    assert_one_line_error(missing, 'manifest %s does not exist' % (tmp_path / 'nope.dump.manifest.json'))
    (tmp_path / 'junk.manifest.json').write_text('{not json')
    junk = run_module('postgres_compare', dict(db.conn_args(), target_db=copy,
                                               manifest=str(tmp_path / 'junk.manifest.json')))
    assert_one_line_error(junk, 'cannot read manifest')
    with_sums = dump(db, tmp_path, table_checksums=True, tables=['wines'])
    table = run_module('postgres_compare', dict(db.conn_args(), target_db=copy, manifest=with_sums['path'],
                                                tables=['public.nope']))
    assert_one_line_error(table, 'table "public.nope" exists in neither the dump\'s manifest')
    gone = run_module('postgres_compare', dict(db.conn_args(), target_db='no_such_db', manifest=with_sums['path']))
    assert_one_line_error(gone, 'target database "no_such_db" does not exist')

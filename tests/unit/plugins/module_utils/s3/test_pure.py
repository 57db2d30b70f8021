"""Unit tests of the pure parts of plugins/module_utils/s3/: key layout, retention selection, encryption round trip."""

import datetime
import os
import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import crypto, layout, retention  # noqa: E402

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize('prefix,expected', [('', ''), ('/backups/', 'backups'), ('a/b-c/d_e.f', 'a/b-c/d_e.f')])
def test_good_prefixes(prefix, expected):
    assert layout.check_prefix(prefix) == expected


@pytest.mark.parametrize('prefix', ['a/../b', '..', 'a//b', 'a/./b', 'a b', 'a/~x'])
def test_bad_prefixes(prefix):
    with pytest.raises(layout.LayoutError):
        layout.check_prefix(prefix)


def test_keys_of_a_recovery_point():
    keys = layout.dump_keys('p', 'db', 'n.dir', ['n.dir/toc.dat', 'n.dir/3.dat.gz'], encrypted=True)
    assert keys == {'n.dir/toc.dat': 'p/db/n.dir/dump/n.dir/toc.dat.penc',
                    'n.dir/3.dat.gz': 'p/db/n.dir/dump/n.dir/3.dat.gz.penc'}
    assert layout.record_key('', 'db', 'n') == 'db/n/recovery-point.json'
    assert layout.split_point_keys('p/db/', ['p/db/a/x', 'p/db/a/y', 'p/db/b/z', 'p/db/stray']) == \
        {'a': ['p/db/a/x', 'p/db/a/y'], 'b': ['p/db/b/z']}
    with pytest.raises(layout.LayoutError):
        layout.dump_keys('p', 'db', 'n', ['n/../x'])
    with pytest.raises(layout.LayoutError):
        layout.point_prefix('p', '..', 'n')


def points(*specs):
    return [{'name': n, 'created': NOW - datetime.timedelta(days=d), 'verified': v} for n, d, v in specs]


def test_keep_newest_and_age_union():
    pts = points(('a', 1, True), ('b', 5, True), ('c', 10, True), ('d', 20, True))
    kept, deleted = retention.select(pts, keep=1, max_age_days=7, now=NOW)
    assert [k['name'] for k in kept] == ['a', 'b'] and [d['name'] for d in deleted] == ['c', 'd']
    kept, deleted = retention.select(pts, keep=3, now=NOW)
    assert [d['name'] for d in deleted] == ['d']


def test_newest_verified_is_kept_and_all_deleted_refused():
    pts = points(('a', 1, False), ('b', 5, False), ('c', 10, True), ('d', 20, True))
    kept, deleted = retention.select(pts, keep=1, now=NOW)
    assert [k['name'] for k in kept] == ['a', 'c'] and 'newest verified' in kept[1]['reason']
    with pytest.raises(retention.RetentionError, match='would delete all 2'):
        retention.select(points(('a', 30, False), ('b', 40, False)), max_age_days=7, now=NOW)
    with pytest.raises(retention.RetentionError, match='no retention rule'):
        retention.select(pts)
    assert retention.select([], keep=1) == ([], [])


def keypair(kind):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa, x25519
    private = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == 'rsa'
               else x25519.X25519PrivateKey.generate())
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, pem


@pytest.mark.parametrize('kind', ['rsa', 'x25519'])
@pytest.mark.parametrize('size', [0, 100, crypto.CHUNK, crypto.CHUNK * 2 + 7])
def test_encryption_round_trip(tmp_path, kind, size):
    import hashlib
    private, pem = keypair(kind)
    data = os.urandom(size)
    (tmp_path / 'plain').write_bytes(data)
    sha, length = crypto.encrypt_file(str(tmp_path / 'plain'), str(tmp_path / 'enc'), crypto.load_public_key(pem))
    assert length == os.path.getsize(tmp_path / 'enc') and sha == hashlib.sha256((tmp_path / 'enc').read_bytes()).hexdigest()
    assert data[:64] not in (tmp_path / 'enc').read_bytes() or size == 0
    assert crypto.decrypt_file(str(tmp_path / 'enc'), str(tmp_path / 'out'), private) == hashlib.sha256(data).hexdigest()
    assert (tmp_path / 'out').read_bytes() == data


def test_tampered_truncated_or_other_key_fails_and_leaves_nothing(tmp_path):
    private, pem = keypair('x25519')
    other, _pem = keypair('x25519')
    (tmp_path / 'plain').write_bytes(os.urandom(crypto.CHUNK + 10))
    crypto.encrypt_file(str(tmp_path / 'plain'), str(tmp_path / 'enc'), crypto.load_public_key(pem))
    blob = (tmp_path / 'enc').read_bytes()
    cases = {'flip': blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:], 'cut': blob[:-(crypto.TAG + 10)]}
    for name, body in cases.items():
        (tmp_path / name).write_bytes(body)
        with pytest.raises(crypto.CryptoError, match='tampered with or truncated'):
            crypto.decrypt_file(str(tmp_path / name), str(tmp_path / (name + '.out')), private)
        assert not (tmp_path / (name + '.out')).exists()
    with pytest.raises(crypto.CryptoError, match='another key'):
        crypto.decrypt_file(str(tmp_path / 'enc'), str(tmp_path / 'x.out'), other)


@pytest.mark.parametrize('value,fragment', [('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', 'does not parse'),
                                            ('/nonexistent/key.pem', 'cannot read the public key file')])
def test_bad_public_keys(value, fragment):
    with pytest.raises(crypto.CryptoError, match=fragment):
        crypto.load_public_key(value)


def test_small_rsa_and_other_key_types_refused():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    for private, fragment in ((rsa.generate_private_key(public_exponent=65537, key_size=1024), '1024 bits'),
                              (ec.generate_private_key(ec.SECP256R1()), 'use RSA')):
        pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        with pytest.raises(crypto.CryptoError, match=fragment):
            crypto.load_public_key(pem)

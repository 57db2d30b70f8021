# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client-side encryption of backup objects to a public key (``cryptography`` package), so the machine
that uploads cannot read what it uploaded before: it holds only the public key.

Hybrid: a fresh 256-bit data key per object, wrapped with RSA-OAEP (SHA-256; RSA keys of 2048 bits or
more) or agreed with X25519 (an ephemeral key, HKDF-SHA256). The data is AES-256-GCM in chunks, streamed
(constant memory)::

    MAGIC | header length (4 bytes, big endian) | header (JSON) | chunk 0 | chunk 1 | ...

Each chunk is ``CHUNK`` plaintext bytes (the last one shorter, possibly empty) plus a 16-byte tag; its
nonce is the header's 8-byte prefix plus the chunk's 4-byte counter, and its associated data is the
header plus one byte saying whether it is the last chunk, so chunks cannot be reordered, dropped,
truncated or moved to another file unnoticed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import os
import struct

MAGIC = b'POURTRAIT-OPS-ENC1\n'
CHUNK = 1024 * 1024
TAG = 16
HKDF_INFO = b'pourtrait.ops backup encryption v1'


class CryptoError(ValueError):
    """A key that does not parse, or data that does not decrypt; the message is one line."""


def _b64(data):
    return base64.b64encode(data).decode('ascii')


def load_public_key(value):
    """An RSA (>= 2048 bits) or X25519 public key from PEM text or a path to a PEM file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa, x25519
    text = value
    if value and not value.lstrip().startswith('-----BEGIN'):
        try:
            with open(value, 'rb') as handle:
                text = handle.read()
        except (OSError, TypeError) as exc:
            raise CryptoError('cannot read the public key file %s: %s' % (value, getattr(exc, 'strerror', exc)))
    if isinstance(text, str):
        text = text.encode('utf-8')
    try:
        key = serialization.load_pem_public_key(text)
    except (ValueError, TypeError) as exc:
        raise CryptoError('the encryption public key does not parse as a PEM public key (%s); give an RSA (2048 '
                          'bits or more) or X25519 public key in PEM ("-----BEGIN PUBLIC KEY-----")'
                          % str(exc).split('\n', maxsplit=1)[0][:120])
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise CryptoError('the RSA public key has %d bits; use 2048 bits or more' % key.key_size)
    elif not isinstance(key, x25519.X25519PublicKey):
        raise CryptoError('the encryption public key is a %s key; use RSA (2048 bits or more) or X25519'
                          % type(key).__name__.replace('PublicKey', '').lstrip('_'))
    return key


def key_id(public_key):
    """A short fingerprint of a public key (sha256 of its DER SubjectPublicKeyInfo, 16 hex digits)."""
    from cryptography.hazmat.primitives import serialization
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def _hkdf(shared, salt):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=HKDF_INFO).derive(shared)


def _raw(key):
    from cryptography.hazmat.primitives import serialization
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _wrap(public_key, data_key):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa, x25519
    if isinstance(public_key, rsa.RSAPublicKey):
        wrapped = public_key.encrypt(data_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                            algorithm=hashes.SHA256(), label=None))
        return {'alg': 'RSA-OAEP-SHA256', 'wrapped_key': _b64(wrapped)}
    ephemeral = x25519.X25519PrivateKey.generate()
    eph_pub = _raw(ephemeral.public_key())
    kek = _hkdf(ephemeral.exchange(public_key), eph_pub + _raw(public_key))
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    nonce = os.urandom(12)
    return {'alg': 'X25519-HKDF-SHA256', 'ephemeral': _b64(eph_pub), 'wrap_nonce': _b64(nonce),
            'wrapped_key': _b64(AESGCM(kek).encrypt(nonce, data_key, eph_pub))}


def encrypt_file(src, dst, public_key, chunk=CHUNK):
    """Encrypt ``src`` into ``dst`` (created 0600, exclusively); returns ``(sha256 of dst, size of dst)``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    data_key = AESGCM.generate_key(bit_length=256)
    header = {'version': 1, 'cipher': 'AES-256-GCM', 'chunk': chunk, 'nonce_prefix': _b64(os.urandom(8)),
              'key_id': key_id(public_key)}
    header.update(_wrap(public_key, data_key))
    head = json.dumps(header, sort_keys=True).encode('utf-8')
    aead, prefix = AESGCM(data_key), base64.b64decode(header['nonce_prefix'])
    digest, size = hashlib.sha256(), 0
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'wb') as out, open(src, 'rb') as inp:
        def emit(data):
            out.write(data)
            digest.update(data)
            return len(data)
        size += emit(MAGIC + struct.pack('>I', len(head)) + head)
        counter, block = 0, inp.read(chunk)
        while True:
            following = inp.read(chunk) if len(block) == chunk else b''
            last = not following
            nonce = prefix + struct.pack('>I', counter)
            size += emit(aead.encrypt(nonce, block, head + (b'\x01' if last else b'\x00')))
            if last:
                break
            counter, block = counter + 1, following
    return digest.hexdigest(), size


def load_private_key(value, passphrase=None):
    """The private key (PEM text or path) that opens what :func:`encrypt_file` wrote."""
    from cryptography.hazmat.primitives import serialization
    text = value
    if not value.lstrip().startswith('-----BEGIN'):
        with open(value, 'rb') as handle:
            text = handle.read()
    if isinstance(text, str):
        text = text.encode('utf-8')
    try:
        return serialization.load_pem_private_key(text, passphrase.encode('utf-8') if passphrase else None)
    except (ValueError, TypeError) as exc:
        raise CryptoError('the decryption private key does not parse (%s)' % str(exc).split('\n', maxsplit=1)[0][:120])


def _unwrap(private_key, header):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    wrapped = base64.b64decode(header['wrapped_key'])
    if header['alg'] == 'RSA-OAEP-SHA256':
        return private_key.decrypt(wrapped, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                         algorithm=hashes.SHA256(), label=None))
    if header['alg'] == 'X25519-HKDF-SHA256':
        eph_pub = base64.b64decode(header['ephemeral'])
        from cryptography.hazmat.primitives.asymmetric import x25519
        kek = _hkdf(private_key.exchange(x25519.X25519PublicKey.from_public_bytes(eph_pub)),
                    eph_pub + _raw(private_key.public_key()))
        return AESGCM(kek).decrypt(base64.b64decode(header['wrap_nonce']), wrapped, eph_pub)
    raise CryptoError('unknown key wrapping %s' % header['alg'])


def decrypt_file(src, dst, private_key):
    """Decrypt ``src`` (written by :func:`encrypt_file`) into ``dst`` (0600, exclusively); returns the sha256 of
    the plaintext. CryptoError (and ``dst`` removed) when it was tampered with, truncated or is for another key."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    digest = hashlib.sha256()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, 'wb') as out, open(src, 'rb') as inp:
            if inp.read(len(MAGIC)) != MAGIC:
                raise CryptoError('%s is not a pourtrait.ops encrypted object' % src)
            (length,) = struct.unpack('>I', inp.read(4))
            head = inp.read(length)
            header = json.loads(head.decode('utf-8'))
            try:
                aead = AESGCM(_unwrap(private_key, header))
            except (ValueError, InvalidTag, TypeError):
                raise CryptoError('%s was encrypted to another key (key id %s)' % (src, header.get('key_id')))
            prefix, step = base64.b64decode(header['nonce_prefix']), int(header['chunk']) + TAG
            counter, block = 0, inp.read(step)
            while True:
                following = inp.read(step) if len(block) == step else b''
                last = not following
                try:
                    plain = aead.decrypt(prefix + struct.pack('>I', counter), block,
                                         head + (b'\x01' if last else b'\x00'))
                except InvalidTag:
                    raise CryptoError('%s does not decrypt (chunk %d): tampered with or truncated' % (src, counter))
                out.write(plain)
                digest.update(plain)
                if last:
                    break
                counter, block = counter + 1, following
    except BaseException:
        os.unlink(dst)
        raise
    return digest.hexdigest()

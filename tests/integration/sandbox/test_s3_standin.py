"""The S3 stand-in as a client sees it (tests/sandbox/s3.py): a GET of one byte range is answered from that range
of the object alone, with everything else of the answer as moto gives it (status, Content-Range, ETag,
version, metadata, errors, signature check)."""

import os

import botocore.exceptions
import pytest

KEY = 'standin/ranges.bin'


@pytest.fixture
def stored(s3):
    """Two versions of one object (the second 3 MiB + 7 bytes of random data) and the client that wrote them."""
    client = s3.client(https=True)
    first = os.urandom(1024)
    old = client.put_object(Bucket=s3.bucket, Key=KEY, Body=first, Metadata={'kind': 'test'})['VersionId']
    data = os.urandom(3 * 1024 * 1024 + 7)
    new = client.put_object(Bucket=s3.bucket, Key=KEY, Body=data, Metadata={'kind': 'test'})
    return dict(client=client, data=data, first=first, old=old, new=new)


@pytest.mark.parametrize('first, last', [(0, 0), (0, 1048575), (1048576, 2097151), (3145000, 3145734),
                                         (3145000, 3145800), (5, None), (0, None)],
                         ids=['one-byte', 'first-MiB', 'middle', 'last-bytes', 'past-the-end', 'open-ended', 'all'])
def test_one_range_gives_exactly_its_bytes(s3, stored, first, last):
    data, size = stored['data'], len(stored['data'])
    spec = 'bytes=%d-%s' % (first, '' if last is None else last)
    answer = stored['client'].get_object(Bucket=s3.bucket, Key=KEY, Range=spec)
    end = size - 1 if last is None else min(last, size - 1)
    assert answer['Body'].read() == data[first:end + 1]
    assert answer['ResponseMetadata']['HTTPStatusCode'] == 206
    assert answer['ContentRange'] == 'bytes %d-%d/%d' % (first, end, size)
    assert answer['ContentLength'] == end - first + 1
    assert answer['ETag'] == stored['new']['ETag'] and answer['VersionId'] == stored['new']['VersionId']
    assert answer['Metadata'] == {'kind': 'test'}


def test_a_range_of_an_older_version(s3, stored):
    answer = stored['client'].get_object(Bucket=s3.bucket, Key=KEY, Range='bytes=10-19', VersionId=stored['old'])
    assert answer['Body'].read() == stored['first'][10:20]
    assert answer['ContentRange'] == 'bytes 10-19/1024' and answer['VersionId'] == stored['old']


def test_whole_object_and_errors_unchanged(s3, stored):
    client = stored['client']
    assert client.get_object(Bucket=s3.bucket, Key=KEY)['Body'].read() == stored['data']
    with pytest.raises(botocore.exceptions.ClientError) as beyond:
        client.get_object(Bucket=s3.bucket, Key=KEY, Range='bytes=%d-' % (len(stored['data']) + 10))
    assert beyond.value.response['Error']['Code'] == 'InvalidRange'
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        client.get_object(Bucket=s3.bucket, Key='standin/absent', Range='bytes=0-9')
    assert missing.value.response['Error']['Code'] == 'NoSuchKey'
    s3.secret_access_key = 'wrong' + s3.secret_access_key[5:]
    with pytest.raises(botocore.exceptions.ClientError) as unsigned:
        s3.client(https=True).get_object(Bucket=s3.bucket, Key=KEY, Range='bytes=0-9')
    assert unsigned.value.response['Error']['Code'] == 'SignatureDoesNotMatch'

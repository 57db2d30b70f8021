"""Unit tests of plugins/module_utils/s3/client.py: botocore errors as one line, the shared options' fallbacks."""

import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

import botocore.exceptions  # noqa: E402

from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import client  # noqa: E402


def client_error(code, status, message='m'):
    return botocore.exceptions.ClientError({'Error': {'Code': code, 'Message': message},
                                            'ResponseMetadata': {'HTTPStatusCode': status}}, 'PutObject')


@pytest.mark.parametrize('exc,fragments', [
    (client_error('InvalidAccessKeyId', 403), ['403 InvalidAccessKeyId', 'AWS_ACCESS_KEY_ID']),
    (client_error('SignatureDoesNotMatch', 403), ['403 SignatureDoesNotMatch', 'AWS_SECRET_ACCESS_KEY']),
    (client_error('NoSuchBucket', 404), ['bucket b does not exist at http://s3', 'POURTRAIT_BACKUP_BUCKET']),
    (client_error('AccessDenied', 403), ['access to s3://b/k denied']),
    (client_error('AuthorizationHeaderMalformed', 400, "the region 'x' is wrong"), ['another region', 'AWS_REGION']),
    (client_error('403', 403), ['403 Forbidden', 'wrong credentials']),
    (client_error('SlowDown', 503), ['503 SlowDown', 'retry later']),
    (client_error('Weird', 418, 'line one\nline two'), ['S3 error Weird (418) for s3://b/k', 'line one line two']),
    (botocore.exceptions.EndpointConnectionError(endpoint_url='http://s3'), ['cannot reach the S3 endpoint']),
    (botocore.exceptions.NoCredentialsError(), ['no S3 credentials']),
    (botocore.exceptions.SSLError(endpoint_url='https://s3', error='bad cert'), ['TLS verification', 'AWS_CA_BUNDLE']),
])
def test_errors_are_one_line(exc, fragments):
    text = client.describe_s3_error(exc, 'b', 'http://s3', 'k')
    assert '\n' not in text
    for fragment in fragments:
        assert fragment in text, text


def test_shared_options_fall_back_to_the_aws_names():
    spec = client.s3_argument_spec()
    assert spec['endpoint_url']['fallback'][1] == ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']
    assert spec['access_key']['fallback'][1] == ['AWS_ACCESS_KEY_ID'] and spec['access_key']['no_log']
    assert spec['secret_key']['fallback'][1] == ['AWS_SECRET_ACCESS_KEY'] and spec['secret_key']['no_log']
    assert spec['region']['fallback'][1] == ['AWS_REGION', 'AWS_DEFAULT_REGION']
    assert spec['ca_path']['fallback'][1] == ['AWS_CA_BUNDLE']
    assert spec['bucket']['fallback'][1] == ['POURTRAIT_BACKUP_BUCKET']

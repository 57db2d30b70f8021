# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The options of the modules of the action group s3 (module_utils/s3/client.py s3_argument_spec): the bucket
    # and how to reach it, set once per play with module_defaults for group/pourtrait.ops.s3.
    # Use: extends_documentation_fragment: [pourtrait.ops.s3]
    DOCUMENTATION = r'''
options:
  bucket:
    description:
      - The bucket of the off-site recovery points.
      - If not set, the value of the E(POURTRAIT_BACKUP_BUCKET) environment variable is used.
    type: str
  endpoint_url:
    description:
      - The S3 endpoint, for a provider other than AWS S3 or a local one - Cloudflare R2
        (C(https://<account>.r2.cloudflarestorage.com), region C(auto)), Backblaze B2
        (C(https://s3.<region>.backblazeb2.com)), Supabase Storage (C(https://<ref>.supabase.co/storage/v1/s3)).
      - If not set, the value of E(AWS_ENDPOINT_URL_S3), then E(AWS_ENDPOINT_URL), is used; unset - AWS S3.
    type: str
  region:
    description:
      - The bucket's region; a bucket in another region is refused.
      - If not set, the value of E(AWS_REGION), then E(AWS_DEFAULT_REGION), is used.
    type: str
  access_key:
    description:
      - The access key id. If not set, E(AWS_ACCESS_KEY_ID) (then boto3's own credential chain).
    type: str
  secret_key:
    description:
      - The secret access key. If not set, E(AWS_SECRET_ACCESS_KEY).
    type: str
  session_token:
    description:
      - A session token of temporary credentials. If not set, E(AWS_SESSION_TOKEN).
    type: str
  validate_certs:
    description:
      - Verify the endpoint's TLS certificate.
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle (PEM) to verify the endpoint's certificate with. If not set, E(AWS_CA_BUNDLE).
    type: path
  max_attempts:
    description:
      - Attempts of one request (botocore's C(standard) retries - 5xx, C(SlowDown), throttling, dropped
        connections - with jittered backoff).
    type: int
    default: 8
  timeout:
    description:
      - Seconds one request may wait for an answer.
    type: float
    default: 60
  addressing_style:
    description:
      - Bucket in the path (V(path)) or in the host name (V(virtual)); V(auto) lets botocore choose.
    type: str
    choices: [auto, path, virtual]
    default: auto
requirements:
  - boto3 (and botocore) on the host that runs the module
attributes: {action_group: {support: full, membership: [pourtrait.ops.s3]}}
'''

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and writing recovery point records in the bucket, and listing one database's recovery points
(for retention, a restore from the bucket, the freshness gate)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

from ansible_collections.pourtrait.ops.plugins.module_utils.s3 import layout
from ansible_collections.pourtrait.ops.plugins.module_utils.s3.client import S3Error

TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


def parse_time(text):
    """An aware UTC datetime from ``YYYY-MM-DDTHH:MM:SSZ``; None when it is not one."""
    try:
        return datetime.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def read_json_object(s3, key, what):
    """The JSON object at ``key`` (dict) or None when absent; S3Error naming ``what`` it should be otherwise."""
    if s3.head(key) is None:
        return None
    try:
        data = json.loads(s3.get_bytes(key).decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise S3Error('s3://%s/%s is not %s (not a JSON object); remove it' % (s3.bucket, key, what))
    return data


def read_record(s3, key):
    """The recovery point record at ``key`` (dict) or None when absent; S3Error when it is not JSON."""
    return read_json_object(s3, key, 'a recovery point record')


def write_record(s3, key, record, sse=None, kms_key_id=None):
    """Write a record (JSON, the server checking its SHA-256); what makes a recovery point complete, so last."""
    extra = {'ContentType': 'application/json'}
    if sse:
        extra['ServerSideEncryption'] = sse
        if sse == 'aws:kms' and kms_key_id:
            extra['SSEKMSKeyId'] = kms_key_id
    return s3.put_bytes(key, json.dumps(record, indent=1, sort_keys=True).encode('utf-8'), extra)


def list_points(s3, prefix, database, read_records=True):
    """One database's recovery points, newest first: ``(complete, incomplete)``.

    ``complete``: ``[{name, prefix, created (aware datetime: the dump's, else the newest object's),
    verified, record (None unless read_records), record_key, keys (the record first)}]``; ``incomplete`` (no record:
    an upload that did not finish): ``[{name, prefix, created (newest object), keys}]``. An unreadable record
    counts as complete with ``record`` ``{}`` (so a retention can still remove it).
    """
    db_prefix = layout.database_prefix(prefix, database)
    modified = dict((o['key'], o['last_modified']) for o in s3.list_objects(db_prefix))
    complete, incomplete = [], []
    for name, keys in layout.split_point_keys(db_prefix, modified).items():
        point_prefix = db_prefix + name + '/'
        record_key = point_prefix + layout.RECORD_NAME
        newest = max(modified[k] for k in keys)
        if record_key not in modified:
            incomplete.append({'name': name, 'prefix': point_prefix, 'created': newest, 'keys': sorted(keys)})
            continue
        record = None
        if read_records:
            try:
                record = read_record(s3, record_key) or {}
            except S3Error:
                record = {}
        complete.append({'name': name, 'prefix': point_prefix, 'record_key': record_key, 'record': record,
                         'created': parse_time((record or {}).get('created')) or newest,
                         'verified': bool((record or {}).get('verified')),
                         'keys': [record_key] + sorted(k for k in keys if k != record_key)})
    return sorted(complete, key=_newest, reverse=True), sorted(incomplete, key=_newest, reverse=True)


def _newest(point):
    return point['created'], point['name']

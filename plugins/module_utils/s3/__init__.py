# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Off-site recovery points on S3-compatible object storage, one file per idea:

* ``client.py``: the boto3 client, the shared options, one-line errors, ``S3Module``;
* ``layout.py``: where a recovery point's objects go in the bucket, and the recovery point record;
* ``crypto.py``: client-side encryption to a public key (streamed, AES-256-GCM);
* ``upload.py``: uploading a verified dump (``UploadJob``);
* ``retention.py``: which recovery points a retention policy keeps.
"""

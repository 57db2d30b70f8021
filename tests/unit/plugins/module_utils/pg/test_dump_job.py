"""Unit tests of plugins/module_utils/pg/dump_job.py: the dump job's option checks."""

import pytest

from ansible_collections.pourtrait.ops.plugins.module_utils.pg import dump_job
from ansible_collections.pourtrait.ops.plugins.module_utils.postgres import PgModuleError


@pytest.mark.parametrize('opts, fragment', [
    (dict(schema_only=True, data_only=True), 'mutually exclusive'),
    (dict(compression=10), 'between 0 and 9'),
    (dict(jobs=0), 'jobs must be 1 or more'),
    (dict(keep=0), 'keep must be 1 or more'),
    (dict(max_age_days=-1), 'max_age_days'),
    (dict(verify='restore', data_only=True), 'verify=restore needs the schema'),
    (dict(name='../x'), 'plain file name'),
])
def test_bad_dump_options(opts, fragment):
    with pytest.raises(PgModuleError) as err:
        dump_job.validate_dump_options(opts)
    assert fragment in str(err.value)

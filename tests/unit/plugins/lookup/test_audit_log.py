"""plugins/lookup/audit_log.py: one JSON line per call, the folder 0700 and the file 0600, one-line errors."""

import json
import os
import sys

import pytest

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible.errors import AnsibleLookupError  # noqa: E402

from ansible_collections.pourtrait.ops.plugins.lookup import audit_log  # noqa: E402


def lookup(*terms, **kwargs):
    return audit_log.LookupModule().run(list(terms), variables={}, **kwargs)


def test_each_call_appends_one_json_line_in_a_private_folder_and_file(tmp_path):
    path = tmp_path / 'state' / 'pourtrait-ops' / 'alert-audit.jsonl'
    assert lookup(str(path), entry={'outcome': 'started', 'trigger': {'error_rate': 0.42}}) == [
        'audit line written to %s' % path]
    lookup(str(path), entry={'outcome': 'finished', 'note': 'line\nbreak'})
    lines = path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{'outcome': 'started', 'trigger': {'error_rate': 0.42}},
                                                    {'outcome': 'finished', 'note': 'line\nbreak'}]
    assert oct(os.stat(str(path)).st_mode & 0o777) == '0o600'
    assert oct(os.stat(str(path.parent)).st_mode & 0o777) == '0o700'


def test_a_path_that_cannot_be_written_is_a_one_line_error(tmp_path):
    blocker = tmp_path / 'a-file'
    blocker.write_text('')
    with pytest.raises(AnsibleLookupError) as err:
        lookup(str(blocker / 'audit.jsonl'), entry={'outcome': 'started'})
    assert str(err.value).startswith('audit_log: cannot append to %s' % (blocker / 'audit.jsonl'))
    assert 'POURTRAIT_AUDIT_LOG' in str(err.value) and '\n' not in str(err.value)


def test_no_path_or_an_entry_that_is_not_a_mapping_is_refused(tmp_path):
    with pytest.raises(AnsibleLookupError, match='^audit_log: give exactly one audit log path'):
        lookup(entry={'outcome': 'started'})
    with pytest.raises(AnsibleLookupError, match='^audit_log: entry must be a mapping'):
        lookup(str(tmp_path / 'audit.jsonl'), entry='started')
    assert not (tmp_path / 'audit.jsonl').exists()

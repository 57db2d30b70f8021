"""The tests of plugins/module_utils/pg/ import the collection by its FQCN: make it resolve to this checkout."""

import sys

from tests.conftest import COLLECTIONS, ensure_collection_link

ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

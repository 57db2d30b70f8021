"""Import an event source of extensions/eda/plugins/event_source by file (it is not a package)."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))))
SOURCES = os.path.join(ROOT, 'extensions', 'eda', 'plugins', 'event_source')


def load(name):
    """The source as a module; its module_utils imports resolve through the checkout's .collections link (the
    source finds it itself, as in ansible-rulebook's process)."""
    from tests.helpers import ensure_collection_link
    ensure_collection_link()
    spec = importlib.util.spec_from_file_location('pourtrait_eda_%s' % name, os.path.join(SOURCES, name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

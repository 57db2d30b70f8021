"""Import an event source of extensions/eda/plugins/event_source by file (it is not a package)."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))))
SOURCES = os.path.join(ROOT, 'extensions', 'eda', 'plugins', 'event_source')


def load(name):
    spec = importlib.util.spec_from_file_location('pourtrait_eda_%s' % name, os.path.join(SOURCES, name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

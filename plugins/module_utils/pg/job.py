# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the dump and restore jobs share: the connection, the options, check mode, the application
name their sessions carry, and how a module runs one (``Job.from_module(module).run()``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time


class Job(object):
    """A run of named steps (see ``run()`` of each subclass) over one set of options."""

    def __init__(self, conn_params, opts, check_mode=False, application_name='pourtrait.ops'):
        self.conn_params, self.opts = conn_params, opts
        self.check_mode, self.application_name = check_mode, application_name
        self.started = time.time()

    @classmethod
    def from_module(cls, module):
        """The job of a postgres_* module: its connection, its options, its check mode and its name."""
        return cls(module.conn_params, module.params, check_mode=module.check_mode,
                   application_name='pourtrait.ops/%s' % module.name)

    def run(self):
        """The steps in order; returns the module result."""
        raise NotImplementedError

    def elapsed(self):
        return round(time.time() - self.started, 3)

# Copyright: Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""python -m pourtrait_ops_cli (the same as the pourtrait-ops command)."""

import sys

from pourtrait_ops_cli.cli import main

sys.exit(main())

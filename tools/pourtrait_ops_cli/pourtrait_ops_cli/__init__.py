# Copyright: Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pourtrait-ops: the console command that runs the pourtrait.ops playbooks through ansible-runner."""

__version__ = '1.0.0'

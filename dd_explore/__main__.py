"""``python -m dd_explore ...`` is ``dd-explore ...``."""

import sys

from dd_explore.cli import entry

sys.exit(entry())

"""``python -m kaboodle.sim``: see :mod:`kaboodle.sim.command`."""

import sys

from .command import main

sys.exit(main())

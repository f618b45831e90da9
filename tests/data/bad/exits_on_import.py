"""A user file that calls sys.exit() when imported."""

import sys

sys.exit(3)

"""``python -m objectd``: the objectd command."""

import sys

from objectd.cli import main

sys.exit(main())

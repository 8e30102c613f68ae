"""Entry point for ``python -m fashion_core``."""

import sys

from fashion_core.cli import main

sys.exit(main())

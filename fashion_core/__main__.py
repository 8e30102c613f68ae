"""Entry point for ``python -m fashion_core`` (the same commands as ``fashion-studio``)."""

import sys

from fashion_core.cli import main

sys.exit(main())

"""The browser benches' first check: Debian's Chromium is there, or a clear message and exit code 3."""

from __future__ import annotations

import os
import sys

MISSING_BROWSER_EXIT = 3


def require_chromium(path: str) -> None:
    """Exit with a message naming the path and the fix when ``path`` is not an executable Chromium.

    Without it Playwright's launch fails deep inside with a traceback about its own browser
    download, which does not work offline anyway.
    """
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return
    print(f"This bench drives the app in Chromium, expected at {path}, which is missing. Install it with"
          " `bash scripts/install-browser.sh` (Debian's chromium and chromium-driver packages), or run"
          " `make bench`, which does that first.", file=sys.stderr)
    sys.exit(MISSING_BROWSER_EXIT)

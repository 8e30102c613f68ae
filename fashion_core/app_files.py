"""Where the app's own files are (app.py, pages/, ui/, assets/, .streamlit/): one answer for all.

In a checkout they sit beside the package; an installed wheel carries a copy inside it, in
``fashion_core/_app/`` (setup.py puts it there at build time).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_DIR = PACKAGE_DIR / "_app"


def app_dir() -> Path:
    """The folder holding ``app.py`` and the files it uses: the installed copy, else the checkout."""
    return BUNDLED_DIR if (BUNDLED_DIR / "app.py").is_file() else PACKAGE_DIR.parent


def assets_dir() -> Path:
    """Static files the app and the library use (e.g. the example label maps)."""
    return app_dir() / "assets"

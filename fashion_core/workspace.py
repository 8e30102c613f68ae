"""Where the studio keeps its files: one workspace folder with the store, caches and runs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "FASHION_STUDIO_HOME"
DEFAULT_HOME = "workspace"


@dataclass(frozen=True)
class Workspace:
    """The folder layout of one studio workspace. Constructing it creates nothing."""

    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / "studio.db"

    @property
    def thumbnails_dir(self) -> Path:
        return self.root / "thumbnails"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def embeddings_dir(self) -> Path:
        return self.root / "embeddings"

    @property
    def downloads_dir(self) -> Path:
        return self.root / "downloads"

    @property
    def demo_dir(self) -> Path:
        return self.root / "demo"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    def ensure(self) -> Workspace:
        """Create the workspace root if needed and return self."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self


def resolve_home(home: str | os.PathLike[str] | None = None) -> Workspace:
    """Pick the workspace: an explicit ``home``, else ``$FASHION_STUDIO_HOME``, else ``./workspace``."""
    chosen = home or os.environ.get(HOME_ENV) or DEFAULT_HOME
    return Workspace(Path(chosen).expanduser().resolve())

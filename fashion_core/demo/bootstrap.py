"""First start: generate and import the demo data set when the workspace has no dataset."""

from __future__ import annotations

import os
from collections.abc import Callable

from fashion_core.ingest.importer import ImportReport, import_labels, refuse_existing
from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace

DEMO_DATASET = "demo"
DEMO_SIZE_ENV = "FASHION_STUDIO_DEMO_IMAGES"  # lets tests and small machines draw fewer images

ProgressFn = Callable[[str, float], None]  # (what is happening, fraction done 0..1)


def create_demo_dataset(
    store: LabelStore,
    workspace: Workspace,
    *,
    name: str = DEMO_DATASET,
    n_images: int = 1500,
    seed: int = 0,
    replace: bool = False,
    on_progress: ProgressFn | None = None,
) -> ImportReport:
    """Draw the synthetic garment data set into the workspace and import it as a dataset.

    Raises:
        StoreError: before drawing anything, if a dataset ``name`` exists and ``replace`` is False.
    """
    from fashion_core.demo import generate_demo_data

    refuse_existing(store, name, replace)

    def drawn(done: int, total: int) -> None:
        if on_progress:
            on_progress(f"Drawing demo images ({done}/{total})", 0.8 * done / max(total, 1))

    demo = generate_demo_data(workspace.demo_dir, n_images=n_images, seed=seed, on_progress=drawn)

    def imported(stage: str, done: int, total: int) -> None:
        if on_progress:
            on_progress(f"Importing demo labels: {stage} ({done}/{total})", 0.8 + 0.2 * done / max(total, 1))

    return import_labels(
        store,
        dataset=name,
        fmt="fashionai",
        files=[demo.label_file],
        images_root=demo.root,
        replace=replace,
        on_progress=imported,
    )


def ensure_demo_dataset(
    store: LabelStore, workspace: Workspace, *, on_progress: ProgressFn | None = None
) -> ImportReport | None:
    """Create the demo dataset if the store has no dataset at all; else do nothing."""
    if store.datasets():
        return None
    n_images = int(os.environ.get(DEMO_SIZE_ENV, "1500"))
    return create_demo_dataset(store, workspace, n_images=n_images, on_progress=on_progress)

"""Shared AppTest fixtures: a tiny FashionAI dataset in a temporary workspace, and page runners."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from fashion_core.ingest import encode_code, import_labels
from fashion_core.schema import FASHIONAI, Category, Kind, Schema
from fashion_core.store import AnnotationRecord, ImageRecord, LabelStore
from fashion_core.workspace import HOME_ENV, Workspace
from tests.conftest import write_image
from ui import auth, state

APP = Path(__file__).resolve().parents[2] / "app.py"
DATASET = "tiny"
ANNOTATOR = "tester"

# (image path, category, value, maybe values): 12 images, known counts per value.
TINY_ROWS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("Images/sleeve_length_labels/s1.jpg", "sleeve_length_labels", "Long Sleeves", ()),
    ("Images/sleeve_length_labels/s2.jpg", "sleeve_length_labels", "Long Sleeves", ()),
    ("Images/sleeve_length_labels/s3.jpg", "sleeve_length_labels", "Long Sleeves", ()),
    ("Images/sleeve_length_labels/s4.jpg", "sleeve_length_labels", "Short Sleeves", ("Cup Sleeves",)),
    ("Images/sleeve_length_labels/s5.jpg", "sleeve_length_labels", "Short Sleeves", ()),
    ("Images/sleeve_length_labels/s6.jpg", "sleeve_length_labels", "Invisible", ()),
    ("Images/coat_length_labels/c1.jpg", "coat_length_labels", "Regular Length", ()),
    ("Images/coat_length_labels/c2.jpg", "coat_length_labels", "Regular Length", ("Long Length",)),
    ("Images/coat_length_labels/c3.jpg", "coat_length_labels", "Long Length", ()),
    ("Images/coat_length_labels/c4.jpg", "coat_length_labels", "Invisible", ()),
    ("Images/pant_length_labels/p1.jpg", "pant_length_labels", "Full Length", ()),
    ("Images/pant_length_labels/p2.jpg", "pant_length_labels", "Full Length", ()),
]


class Studio(NamedTuple):
    """A workspace the app will open, its store, and the name of the dataset in it."""

    workspace: Workspace
    store: LabelStore
    dataset: str


def write_fashionai_data(root: Path, rows=TINY_ROWS, size: tuple[int, int] = (24, 24)) -> Path:
    """Write the images of ``rows`` (24x24 JPEGs) and a FashionAI label.csv; return the csv."""
    lines = []
    for i, (path, category, value, maybe) in enumerate(rows):
        write_image(root / path, size=size, seed=i)
        lines.append(f"{path},{category},{encode_code(FASHIONAI.category(category), value, maybe)}\n")
    label = root / "Annotations" / "label.csv"
    label.parent.mkdir(parents=True, exist_ok=True)
    label.write_text("".join(lines), encoding="utf-8")
    return label


def clear_streamlit_caches() -> None:
    """Forget the process-wide store and cached data of an earlier test's workspace."""
    st.cache_resource.clear()
    st.cache_data.clear()


def make_studio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows=TINY_ROWS, name: str = DATASET
) -> Studio:
    """Import ``rows`` as a FashionAI dataset into a workspace the app will open.

    Sets ``$FASHION_STUDIO_HOME`` and clears Streamlit's caches, so the app sees this
    workspace (and, having a dataset, does not generate its first-run demo data).
    """
    ws = Workspace(tmp_path / "ws").ensure()
    monkeypatch.setenv(HOME_ENV, str(ws.root))
    clear_streamlit_caches()
    data = tmp_path / "data"
    label = write_fashionai_data(data, rows)
    store = LabelStore.open(ws)
    report = import_labels(store, dataset=name, fmt="fashionai", files=[label], images_root=data)
    assert report.images == len(rows) and not report.rejected
    return Studio(ws, store, name)


@pytest.fixture
def studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Studio:
    """A temporary workspace holding the tiny FashionAI dataset ``TINY_ROWS`` (images in tmp/data)."""
    made = make_studio(tmp_path, monkeypatch)
    yield made
    made.store.close()
    clear_streamlit_caches()


@pytest.fixture
def open_page() -> Callable[..., AppTest]:
    """``open_page("pages/browse.py")``: an AppTest of the app, run once on that page.

    Use it after the ``studio`` fixture (or another that sets ``$FASHION_STUDIO_HOME``).
    The annotator name is preset so pages that edit labels can.
    """

    def run(
        page: str, *, timeout: float = 60, annotator: str = ANNOTATOR, dataset: str | None = None
    ) -> AppTest:
        return open_app(page, dataset=dataset, annotator=annotator, timeout=timeout).run()

    return run


STYLE = Category("style", ("formal", "casual", "sporty"), Kind.MULTI)
STYLE_LABELS = {"m1.jpg": "formal|casual", "m2.jpg": "casual", "m3.jpg": "casual|sporty", "m4.jpg": ""}


def add_multilabel_dataset(
    store: LabelStore, root: Path, labels: dict[str, str] = STYLE_LABELS, name: str = "styles"
) -> dict[str, int]:
    """Add a small multi-label dataset (category ``STYLE``) with its images; return path -> id.

    There is no multi-label file reader to go through here, so it is written with the store API.
    """
    for i, path in enumerate(labels):
        write_image(root / path, seed=100 + i)
    store.create_dataset(name, Schema("styles", (STYLE,)), root, "test")
    store.add_images(name, [ImageRecord(p) for p in labels])
    store.add_annotations(name, [AnnotationRecord(p, STYLE.name, v) for p, v in labels.items()])
    return store.image_ids(name)


def open_app(
    page: str, *, dataset: str | None = None, annotator: str = ANNOTATOR, timeout: float = 60
) -> AppTest:
    """An AppTest of the app switched to ``page`` (not run yet), with a dataset chosen in the sidebar."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.session_state[auth.K_IDENTITY] = (annotator, "admin", "password")  # signed in as the annotator
    if dataset is not None:
        at.session_state[state.DATASET] = dataset
    return at.switch_page(page)


def image_ids(studio: Studio) -> dict[str, int]:
    """Image path -> id in the studio's dataset."""
    return studio.store.image_ids(studio.dataset)

"""The app frame and Home page: first start on an empty workspace, and a dataset summary."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from fashion_core.ingest import import_labels
from fashion_core.store import LabelStore
from tests.conftest import write_image

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(autouse=True)
def fresh_caches() -> None:
    st.cache_resource.clear()
    st.cache_data.clear()


def test_home_shows_dataset_summary(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FASHION_STUDIO_HOME", str(tmp_path / "ws"))
    root = tmp_path / "data"
    lines = []
    for i in range(6):
        write_image(root / f"I/{i}.jpg", seed=i)
        lines.append(f"I/{i}.jpg,sleeve_length_labels,{'nyn' if i % 2 else 'nny'}nnnnnn\n")
    (tmp_path / "label.csv").write_text("".join(lines))
    store = LabelStore.open(tmp_path / "ws")
    import_labels(store, dataset="tiny", fmt="fashionai", files=[tmp_path / "label.csv"], images_root=root)
    store.edit_label("tiny", 1, "sleeve_length_labels", "Long Sleeves", annotator="t")

    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "6" and metrics["Label edits"] == "1"
    assert at.sidebar.selectbox[0].value == "tiny"


def test_first_start_generates_and_imports_demo_data(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FASHION_STUDIO_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("FASHION_STUDIO_DEMO_IMAGES", "40")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    store = LabelStore.open(tmp_path / "ws")
    assert [d.name for d in store.datasets()] == ["demo"]
    assert store.counts("demo")["images"] >= 30
    assert {m.label: m.value for m in at.metric}["Images"] == str(store.counts("demo")["images"])

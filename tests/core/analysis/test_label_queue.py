"""Label queues and the labelling assistant on a tiny dataset with made-up features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fashion_core.analysis import assist, build_queue, record_label, undo_label
from fashion_core.analysis.label_queue import QueueError
from fashion_core.errors import EditConflictError
from fashion_core.ingest import encode_code, import_labels
from fashion_core.schema import FASHIONAI
from fashion_core.store import ImageRecord, LabelStore
from fashion_core.workspace import Workspace
from tests.conftest import write_image

SLEEVE, COAT = "sleeve_length_labels", "coat_length_labels"


@pytest.fixture
def dataset(tmp_path: Path, store: LabelStore) -> str:
    root, lines = tmp_path / "data", []
    for i in range(24):
        cat, value = (SLEEVE, "Long Sleeves" if i % 2 else "Short Sleeves") if i < 20 else (COAT, "Long Length")
        write_image(root / f"img/{i}.jpg", seed=i)
        if i < 16 or i >= 20:  # 16-19: sleeve images without a label yet
            lines.append(f"img/{i}.jpg,{cat},{encode_code(FASHIONAI.category(cat), value)}\n")
    (tmp_path / "label.csv").write_text("".join(lines))
    import_labels(store, dataset="d", fmt="fashionai", files=[tmp_path / "label.csv"], images_root=root)
    store.add_images("d", [ImageRecord(f"img/{i}.jpg") for i in range(16, 20)])  # images without labels
    return "d"


def _features(files: list[str], cache_root: Path) -> np.ndarray:
    """Feature 0 tells long from short sleeves (odd file numbers are long), as a backbone would."""
    numbers = [int(Path(f).stem) for f in files]
    return np.array([[n % 2, n / 24.0, 1.0] for n in numbers], dtype=np.float32)


def test_queues_and_recording(tmp_path: Path, store: LabelStore, workspace: Workspace, dataset: str) -> None:
    with pytest.raises(QueueError, match="mode"):
        build_queue(store, dataset, "best")
    plain = build_queue(store, dataset, "no_label", category=SLEEVE)
    assert len(plain) == 8  # 4 unlabelled sleeve images + the 4 coat images
    fresh = build_queue(store, dataset, "no_label")  # images with no label at all, every category
    assert {i.path for i in fresh} == {f"img/{n}.jpg" for n in range(16, 20)}

    result = assist.refresh(store, workspace, dataset, assist.AssistSettings(val_fraction=0.0),
                            features_fn=_features)
    folder = assist.assist_dir(workspace, store.dataset(dataset).id)
    assert assist.load_suggestions(folder).probs.keys() == result.probs.keys() == {SLEEVE}
    ids = store.image_ids(dataset)
    value, p = result.suggest(ids["img/17.jpg"], SLEEVE)
    assert value == "Long Sleeves" and p > 0.5
    features = assist.load_features(folder)
    nxt = build_queue(store, dataset, "label_next", category=SLEEVE, suggestions=result, features=features)
    assert {i.image_id for i in nxt} == {i.image_id for i in plain}
    complete = build_queue(store, dataset, "complete", suggestions=result)
    assert {i.path for i in complete} == {f"img/{n}.jpg" for n in (*range(16), *range(20, 24))}
    coats = [i for i in complete if i.category == SLEEVE]
    assert coats and all(i.suggestion for i in coats)  # the sleeve model proposes values for coat images

    item = next(i for i in nxt if i.image_id == ids["img/17.jpg"])
    edit = record_label(store, dataset, item, "Long Sleeves", annotator="ann", mode="label_next")
    assert store.edit_history(dataset)["accepted_suggestion"].iloc[0]
    other = record_label(store, dataset, next(i for i in nxt if i.image_id == ids["img/16.jpg"]),
                         "Long Sleeves", annotator="bob", mode="label_next", unsure=True)
    assert not store.edit_history(dataset)["accepted_suggestion"].iloc[0]
    assert "(unsure)" in other.reason
    review = build_queue(store, dataset, "review", annotator="ann")
    assert [(i.image_id, i.by) for i in review] == [(ids["img/16.jpg"], "bob")]
    assert assist.new_labels(store, dataset, result) == 2
    undo_label(store, edit.id, annotator="ann")
    assert store.current_value(dataset, ids["img/17.jpg"], SLEEVE) is None
    assert len(assist.history(folder)) == 1
    disagree = build_queue(store, dataset, "disagrees", suggestions=result)
    assert all(i.current != i.suggestion for i in disagree)


def test_settings_are_validated() -> None:
    with pytest.raises(assist.AssistError, match="retrain_every"):
        assist.AssistSettings(retrain_every=0)


def test_a_label_given_on_a_cell_someone_changed_meanwhile_is_refused(store: LabelStore, dataset: str) -> None:
    [item] = [i for i in build_queue(store, dataset, "no_label", category=SLEEVE) if i.path == "img/18.jpg"]
    assert item.current is None  # what the person sees: no label yet
    store.edit_label(dataset, item.image_id, SLEEVE, "Short Sleeves", annotator="bob")  # another tab
    with pytest.raises(EditConflictError, match="bob"):
        record_label(store, dataset, item, "Long Sleeves", annotator="ann", mode="no_label")
    assert store.current_value(dataset, item.image_id, SLEEVE) == "Short Sleeves"  # bob's label stands
    assert store.edit_history(dataset, item.image_id)["annotator"].tolist() == ["bob"]


def test_label_next_over_all_categories_takes_turns(store: LabelStore, tmp_path: Path) -> None:
    from fashion_core.analysis.assist import Suggestions

    root = tmp_path / "many"
    for i in range(30):
        write_image(root / f"img/{i}.jpg", seed=i)
    store.create_dataset("many", FASHIONAI, root, "fashionai")
    store.add_images("many", [ImageRecord(f"img/{i}.jpg") for i in range(30)])
    ids = np.array(sorted(store.image_ids("many").values()), dtype=np.int64)
    rng = np.random.default_rng(0)
    cats = [SLEEVE, COAT]
    probs = {c: rng.dirichlet(np.ones(len(FASHIONAI.category(c).values)), len(ids)) for c in cats}
    result = Suggestions(ids, probs, {c: FASHIONAI.category(c).values for c in cats}, 0, None)
    features = (ids, rng.normal(size=(len(ids), 4)).astype(np.float32))
    queue = build_queue(store, "many", "label_next", suggestions=result, features=features, limit=20)
    first = [i.category for i in queue[:10]]
    assert SLEEVE in first and COAT in first  # not 20 cells of one category before the other
    one = build_queue(store, "many", "label_next", category=COAT, suggestions=result, features=features)
    assert [i.image_id for i in queue if i.category == COAT] == [i.image_id for i in one][:len(
        [i for i in queue if i.category == COAT])]  # each category keeps its own order

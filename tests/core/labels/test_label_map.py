"""Label maps: merge/rename/drop and m policies give the right counts; maps never touch stored labels."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fashion_core.errors import LabelMapError
from fashion_core.ingest import encode_code, import_labels
from fashion_core.labels import (
    LabelMap,
    LabelSource,
    MaybePolicy,
    Op,
    Step,
    apply_label_map,
    before_after_counts,
    label_counts,
    label_view,
    mapped_schema,
    parse_merge,
    parse_rename,
    sample_by_value,
)
from fashion_core.labels import maps as label_maps
from fashion_core.schema import FASHIONAI, FASHIONAI_VALUES, Category, Kind, Schema
from fashion_core.store import LabelStore
from tests.conftest import write_image

SLEEVE = "sleeve_length_labels"
LAPEL = "lapel_design_labels"
NECK = "neck_design_labels"
STYLE = Schema("s", (Category("style", ("a", "b", "c", "d"), Kind.MULTI),))


def _labels(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """A label table from (category, value, maybe) rows, one image each."""
    return pd.DataFrame(
        {
            "image_id": range(1, len(rows) + 1),
            "path": [f"Images/{i}.jpg" for i in range(1, len(rows) + 1)],
            "category": [r[0] for r in rows],
            "value": [r[1] for r in rows],
            "maybe": [r[2] for r in rows],
        }
    )


def _sleeves(counts: dict[str, int], maybe: dict[str, str] | None = None) -> pd.DataFrame:
    rows = []
    for value, n in counts.items():
        rows += [(SLEEVE, value, (maybe or {}).get(value, ""))] * n
    return _labels(rows)


SLEEVE_COUNTS = {
    "Invisible": 1,
    "Cup Sleeves": 2,
    "Short Sleeves": 3,
    "Wrist Length": 1,
    "Long Sleeves": 4,
    "Extra Long Sleeves": 2,
}


def _counts(label_map: LabelMap, labels: pd.DataFrame, schema: Schema = FASHIONAI, category: str = SLEEVE):
    new_schema, mapped = apply_label_map(label_map, schema, labels)
    return new_schema.category(category).values, label_counts(new_schema, mapped)[category]


def test_merge_into_existing_value_sums_counts_and_keeps_its_place() -> None:
    m = LabelMap("m", (Step(Op.MERGE, SLEEVE, ("Extra Long Sleeves", "Wrist Length"), "Long Sleeves"),))
    values, counts = _counts(m, _sleeves(SLEEVE_COUNTS))
    assert values == (
        "Invisible",
        "Sleeveless",
        "Cup Sleeves",
        "Short Sleeves",
        "Elbow Sleeves",
        "3/4 Sleeves",
        "Long Sleeves",
    )
    assert counts["Long Sleeves"] == 7 and sum(counts.values()) == 13


def test_merge_into_new_name_takes_the_first_merged_place() -> None:
    m = LabelMap("m", (parse_merge("Long Sleeves,Wrist Length=>Long-ish", SLEEVE),))
    values, counts = _counts(m, _sleeves(SLEEVE_COUNTS))
    assert values.index("Long-ish") == 6 and "Wrist Length" not in values and "Long Sleeves" not in values
    assert counts["Long-ish"] == 5


def test_rename_keeps_position_and_count() -> None:
    values, counts = _counts(
        LabelMap("m", (parse_rename("Short Sleeves => Short", SLEEVE),)), _sleeves(SLEEVE_COUNTS)
    )
    assert values[3] == "Short" and counts["Short"] == 3 and "Short Sleeves" not in counts


def test_drop_removes_the_value_and_its_images() -> None:
    m = LabelMap("m", (Step(Op.DROP, SLEEVE, ("Invisible", "Cup Sleeves")),))
    _, mapped = apply_label_map(m, FASHIONAI, _sleeves(SLEEVE_COUNTS))
    assert len(mapped) == 13 - 3
    assert set(mapped["value"]) == {"Short Sleeves", "Wrist Length", "Long Sleeves", "Extra Long Sleeves"}
    assert list(mapped.index) == list(range(len(mapped)))


def test_apply_is_pure() -> None:
    labels = _sleeves(SLEEVE_COUNTS, maybe={"Long Sleeves": "Wrist Length"})
    copy = labels.copy(deep=True)
    m = LabelMap("m", (Step(Op.DROP, SLEEVE, ("Invisible",)), Step(Op.MAYBE, SLEEVE, policy="drop")))
    apply_label_map(m, FASHIONAI, labels)
    pd.testing.assert_frame_equal(labels, copy)


def test_steps_are_checked_against_the_schema_as_it_evolves() -> None:
    with pytest.raises(LabelMapError, match=r"Step 1 .*'Nope' is not a value"):
        mapped_schema(LabelMap("m", (Step(Op.DROP, SLEEVE, ("Nope",)),)), FASHIONAI)
    later = LabelMap(
        "m", (parse_merge("Cup Sleeves=>Short Sleeves", SLEEVE), Step(Op.DROP, SLEEVE, ("Cup Sleeves",)))
    )
    with pytest.raises(LabelMapError, match=r"Step 2 \(sleeve_length_labels: drop 'Cup Sleeves'\)"):
        mapped_schema(later, FASHIONAI)
    with pytest.raises(LabelMapError, match="unknown category 'hat'"):
        mapped_schema(LabelMap("m", (Step(Op.DROP, "hat", ("x",)),)), FASHIONAI)
    with pytest.raises(LabelMapError, match="already exists; merge"):
        mapped_schema(LabelMap("m", (parse_rename("Cup Sleeves=>Short Sleeves", SLEEVE),)), FASHIONAI)
    with pytest.raises(LabelMapError, match="no value"):
        mapped_schema(LabelMap("m", (Step(Op.DROP, LAPEL, FASHIONAI_VALUES[LAPEL]),)), FASHIONAI)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A,B", "must look like"),
        ("=>C", "must look like"),
        ("A=>B=>C", "must look like"),
        ("A|B=>C|D", "'|'"),
    ],
)
def test_bad_cli_merge_text_is_refused(text: str, message: str) -> None:
    with pytest.raises(LabelMapError, match=message):
        parse_merge(text, SLEEVE)


def test_bad_step_shapes_are_refused() -> None:
    with pytest.raises(LabelMapError, match="listed twice"):
        Step(Op.DROP, SLEEVE, ("A", "A"))
    with pytest.raises(LabelMapError, match="target missing"):
        Step(Op.MERGE, SLEEVE, ("A",))
    with pytest.raises(LabelMapError, match="policy must be one of"):
        Step(Op.MAYBE, SLEEVE, policy="sometimes")
    with pytest.raises(LabelMapError, match="exactly one value"):
        Step(Op.RENAME, SLEEVE, ("A", "B"), "C")


# -- m policies ------------------------------------------------------------------------------------

MAYBE_ROWS = [
    (SLEEVE, "Long Sleeves", ""),
    (SLEEVE, "Long Sleeves", "Wrist Length"),  # doubt vanishes once Wrist Length merges into Long
    (SLEEVE, "Short Sleeves", "Elbow Sleeves"),
    (SLEEVE, "Short Sleeves", "Invisible"),  # doubt vanishes once Invisible is dropped
    (SLEEVE, "Cup Sleeves", "Short Sleeves|Elbow Sleeves"),
]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("keep", {"Long Sleeves": 2, "Short Sleeves": 2, "Cup Sleeves": 1}),
        ("negative", {"Long Sleeves": 2, "Short Sleeves": 2, "Cup Sleeves": 1}),
        ("drop", {"Long Sleeves": 1, "Short Sleeves": 0, "Cup Sleeves": 0}),
    ],
)
def test_single_choice_maybe_policies(policy: str, expected: dict[str, int]) -> None:
    m = LabelMap("m", (Step(Op.MAYBE, SLEEVE, policy=policy),))
    _, counts = _counts(m, _labels(MAYBE_ROWS))
    assert {k: counts[k] for k in expected} == expected


def test_marks_are_mapped_before_the_policy() -> None:
    steps = (
        parse_merge("Wrist Length=>Long Sleeves", SLEEVE),
        Step(Op.DROP, SLEEVE, ("Invisible",)),
        Step(Op.MAYBE, SLEEVE, policy="drop"),
    )
    _, mapped = apply_label_map(LabelMap("m", steps), FASHIONAI, _labels(MAYBE_ROWS))
    assert mapped["image_id"].tolist() == [1, 2, 4]
    assert mapped["maybe"].tolist() == ["", "", ""]


def test_global_policy_and_last_category_step_wins() -> None:
    labels = _labels(MAYBE_ROWS)
    assert sum(_counts(LabelMap("m", maybe_policy="drop"), labels)[1].values()) == 1
    override = LabelMap(
        "m",
        (Step(Op.MAYBE, SLEEVE, policy="drop"), Step(Op.MAYBE, SLEEVE, policy="keep")),
        maybe_policy=MaybePolicy.DROP,
    )
    assert sum(_counts(override, labels)[1].values()) == 5


MULTI_ROWS = [("style", "a", "b"), ("style", "a|c", ""), ("style", "", "d"), ("style", "b", "")]


@pytest.mark.parametrize(
    ("policy", "expected", "rows"),
    [
        ("keep", {"a": 2, "b": 2, "c": 1, "d": 1}, 4),  # keep as the marked value: positives += marks
        ("negative", {"a": 2, "b": 1, "c": 1, "d": 0}, 4),
        ("drop", {"a": 1, "b": 1, "c": 1, "d": 0}, 2),
    ],
)
def test_multi_label_maybe_policies(policy: str, expected: dict[str, int], rows: int) -> None:
    m = LabelMap("m", (Step(Op.MAYBE, "style", policy=policy),))
    schema, mapped = apply_label_map(m, STYLE, _labels(MULTI_ROWS))
    assert label_counts(schema, mapped)["style"] == expected and len(mapped) == rows


def test_multi_label_merge_and_drop_rejoin_in_new_order() -> None:
    labels = _labels([("style", "a|c", ""), ("style", "b|c|d", ""), ("style", "d", "")])
    m = LabelMap("m", (parse_merge("c,a=>ac", "style"), Step(Op.DROP, "style", ("d",))))
    schema, mapped = apply_label_map(m, STYLE, labels)
    assert schema.category("style").values == ("ac", "b")
    assert mapped["value"].tolist() == ["ac", "ac|b", ""]  # a class gone: the image stays, negative


def test_no_map_steps_means_no_change() -> None:
    labels = _labels(MAYBE_ROWS + MULTI_ROWS)
    schema = Schema("x", (FASHIONAI.category(SLEEVE), STYLE.category("style")))
    new_schema, mapped = apply_label_map(LabelMap("m"), schema, labels)
    assert new_schema == schema
    pd.testing.assert_frame_equal(mapped, labels)


def test_two_hundred_thousand_rows_apply_fast() -> None:
    rng = np.random.default_rng(0)
    values = np.array(FASHIONAI_VALUES[SLEEVE])
    n = 200_000
    labels = pd.DataFrame(
        {
            "image_id": np.arange(n),
            "path": [f"p/{i}.jpg" for i in range(n)],
            "category": SLEEVE,
            "value": values[rng.integers(0, 9, n)],
            "maybe": np.where(rng.random(n) < 0.1, "Wrist Length", ""),
        }
    )
    m = label_maps.example_maps()[0].with_steps(Step(Op.MAYBE, SLEEVE, policy="drop"))
    start = time.perf_counter()
    schema, mapped = apply_label_map(m, FASHIONAI, labels)
    elapsed = time.perf_counter() - start
    counts = label_counts(schema, mapped)[SLEEVE]
    assert sum(counts.values()) == len(mapped) < n
    assert elapsed < 3.0, f"apply took {elapsed:.2f}s"


def test_before_after_counts_and_samples() -> None:
    labels = _sleeves(SLEEVE_COUNTS)
    m = LabelMap("m", (parse_merge("Cup Sleeves,Short Sleeves=>Short", SLEEVE),))
    table = before_after_counts((FASHIONAI, labels), apply_label_map(m, FASHIONAI, labels), SLEEVE)
    rows = table.set_index("value")
    assert rows.loc["Cup Sleeves"].tolist() == [2, 0] and rows.loc["Short"].tolist() == [0, 5]
    assert table["value"].iloc[-1] == "Short"
    first = sample_by_value(labels, SLEEVE, ["Long Sleeves", "Elbow Sleeves"], n=3, seed=1)
    assert len(first["Long Sleeves"]) == 3 and first["Elbow Sleeves"].empty
    assert set(first["Long Sleeves"]["value"]) == {"Long Sleeves"}
    again = sample_by_value(labels, SLEEVE, ["Long Sleeves"], n=3, seed=1)
    assert first["Long Sleeves"]["image_id"].tolist() == again["Long Sleeves"]["image_id"].tolist()


# -- in the store ------------------------------------------------------------------------------------


def _fashionai_file(tmp_path: Path, rows: list[tuple[str, str, tuple[str, ...]]]) -> tuple[Path, Path]:
    """Write images and a FashionAI label.csv for (category, value, maybe values) rows."""
    root, lines = tmp_path / "data", []
    for i, (cat, value, maybe) in enumerate(rows):
        name = f"Images/{cat}/{i}.jpg"
        write_image(root / name, seed=i)
        lines.append(f"{name},{cat},{encode_code(FASHIONAI.category(cat), value, maybe)}\n")
    (tmp_path / "label.csv").write_text("".join(lines))
    return tmp_path / "label.csv", root


def _every_value_rows() -> list[tuple[str, str, tuple[str, ...]]]:
    rows = []
    for cat in (LAPEL, NECK, SLEEVE, "coat_length_labels"):
        values = FASHIONAI_VALUES[cat]
        rows += [(cat, v, ()) for v in values]
        rows.append((cat, values[1], (values[2],)))
    return rows


@pytest.fixture
def dataset(tmp_path: Path, store: LabelStore) -> str:
    label_file, root = _fashionai_file(tmp_path, _every_value_rows())
    import_labels(store, dataset="fa", fmt="fashionai", files=[label_file], images_root=root)
    return "fa"


def test_example_map_gives_the_source_value_sets(store: LabelStore, dataset: str) -> None:
    (example,) = label_maps.install_example_maps(store)
    label_maps.activate_map(store, dataset, example.name)
    view = label_view(store, dataset)
    assert (view.map_name, view.map_version) == ("fashionai_source", 1)
    got = {
        cat: set(view.labels.loc[view.labels["category"] == cat, "value"]) for cat in (LAPEL, NECK, SLEEVE)
    }
    assert got == {
        LAPEL: {"Invisible", "Notched", "Shawl Collar"},
        NECK: {"Invisible", "Turtle Neck", "Ruffle Semi-High Collar", "Draped Collar"},
        SLEEVE: {"Sleeveless", "Short Sleeves", "Elbow Sleeves", "Long Sleeves"},
    }
    for cat in (LAPEL, NECK, SLEEVE):
        assert set(view.schema.category(cat).values) == got[cat]
    counts = label_counts(view.schema, view.labels)
    assert counts[SLEEVE] == {"Sleeveless": 2, "Short Sleeves": 2, "Elbow Sleeves": 2, "Long Sleeves": 3}
    assert (
        counts["coat_length_labels"]
        == label_counts(FASHIONAI, store.original_labels(dataset))["coat_length_labels"]
    )
    assert label_maps.install_example_maps(store)[0].version == 1  # unchanged example: no new version


def _annotation_rows(store: LabelStore) -> list[tuple]:
    return [tuple(r) for r in store.conn.execute("SELECT * FROM annotations ORDER BY id")]


def test_apply_and_unapply_leave_the_originals_byte_for_byte(store: LabelStore, dataset: str) -> None:
    originals, rows = store.original_labels(dataset), _annotation_rows(store)
    image_id = int(originals.loc[originals["category"] == SLEEVE, "image_id"].iloc[0])
    store.edit_label(dataset, image_id, SLEEVE, "Long Sleeves", annotator="t")
    edits = store.edit_history(dataset)
    current = store.current_labels(dataset)
    label_maps.add_steps(
        store,
        "mine",
        [parse_merge("Wrist Length,Long Sleeves=>Long", SLEEVE), Step(Op.MAYBE, SLEEVE, policy="drop")],
        schema=FASHIONAI,
    )
    label_maps.activate_map(store, dataset, "mine")
    mapped = label_view(store, dataset)
    assert "Long" in set(mapped.labels["value"]) and len(mapped.labels) < len(current)
    label_maps.deactivate_map(store, dataset)
    assert store.dataset(dataset).active_map is None
    pd.testing.assert_frame_equal(store.original_labels(dataset), originals)
    assert _annotation_rows(store) == rows
    pd.testing.assert_frame_equal(store.edit_history(dataset), edits)
    pd.testing.assert_frame_equal(label_view(store, dataset).labels, current)


def test_versions_add_steps_and_undo(store: LabelStore, dataset: str) -> None:
    first = label_maps.add_steps(store, "v", [Step(Op.DROP, SLEEVE, ("Invisible",))], schema=FASHIONAI)
    second = label_maps.add_steps(store, "v", [parse_merge("Cup Sleeves=>Short Sleeves", SLEEVE)])
    assert (first.version, second.version, len(second.steps)) == (1, 2, 2)
    undone = label_maps.undo_step(store, "v")
    assert undone.version == 3 and undone.steps == first.steps
    assert label_maps.load_map(store, "v", 2).steps == second.steps
    assert label_maps.load_map(store, "v") == undone
    assert [s.version for s in label_maps.list_maps(store, "v")] == [1, 2, 3]
    assert label_maps.list_maps(store, "v")[-1].note.startswith("undo: sleeve_length_labels: merge")
    label_maps.undo_step(store, "v")
    with pytest.raises(LabelMapError, match="no step to undo"):
        label_maps.undo_step(store, "v")
    with pytest.raises(LabelMapError, match=r"no version 9; versions: \[1, 2, 3, 4\]"):
        label_maps.load_map(store, "v", 9)
    with pytest.raises(LabelMapError, match=r"No label map named 'w'; known maps: \['v'\]"):
        label_maps.load_map(store, "w")
    with pytest.raises(LabelMapError, match="Step 2"):  # a bad step is never saved
        label_maps.add_steps(
            store,
            "v",
            [Step(Op.DROP, SLEEVE, ("Sleeveless",)), Step(Op.DROP, SLEEVE, ("x",))],
            schema=FASHIONAI,
        )
    assert label_maps.map_versions(store, "v") == [1, 2, 3, 4]


def test_activate_checks_fit_and_delete_refuses_active(store: LabelStore, dataset: str) -> None:
    label_maps.save_map(store, LabelMap("jd-only", (Step(Op.DROP, "style", ("style_01",)),)))
    with pytest.raises(LabelMapError, match="unknown category 'style'"):
        label_maps.activate_map(store, dataset, "jd-only")
    assert store.dataset(dataset).active_map is None
    label_maps.save_map(store, LabelMap("ok", (Step(Op.DROP, SLEEVE, ("Invisible",)),)))
    label_maps.activate_map(store, dataset, "ok")
    assert label_maps.list_maps(store)[1].active_in == (dataset,)
    with pytest.raises(LabelMapError, match="active in dataset"):
        label_maps.delete_map(store, "ok")
    assert label_maps.delete_map(store, "jd-only") == 1
    assert label_maps.map_names(store) == ["ok"]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_export_import_round_trip(tmp_path: Path, suffix: str) -> None:
    m = LabelMap(
        "round",
        (
            parse_merge("A,B=>C", SLEEVE),
            parse_rename("D=>E", SLEEVE),
            Step(Op.DROP, SLEEVE, ("F",)),
            Step(Op.MAYBE, SLEEVE, policy="negative"),
        ),
        4,
        MaybePolicy.DROP,
        "why: é",
    )
    path = label_maps.export_map(m, tmp_path / f"m{suffix}")
    text = path.read_text(encoding="utf-8")
    assert "merge:" in text or '"merge"' in text
    back = label_maps.import_map(path)
    assert back == LabelMap(m.name, m.steps, 0, m.maybe_policy, m.description)
    assert label_maps.import_map(path, name="other").name == "other"


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("name: x\nsteps:\n  - category: s\n    merge: [a\n", ".yaml", r"bad\.yaml:\d+: not valid YAML"),
        ('{"name": "x", "steps": [}', ".json", r"bad\.json:1: not valid JSON"),
        (
            "name: x\nsteps:\n  - category: s\n    merge: [a]\n",
            ".yaml",
            r"bad\.yaml: steps\[0\]: .*target missing",
        ),
        (
            "name: x\nsteps:\n  - category: s\n    squash: [a]\n",
            ".yaml",
            r"bad\.yaml: steps\[0\]: a step needs exactly one",
        ),
        ("name: x\nsteps: {}\n", ".yaml", r"bad\.yaml: field 'steps' must be a list"),
        ("steps: []\n", ".yaml", r"bad\.yaml: A label map's name must be"),
        ("name: x\ncolour: red\n", ".yaml", r"bad\.yaml: unexpected field\(s\) \['colour'\]"),
        ("- just a list\n", ".yaml", r"bad\.yaml: expected a mapping"),
    ],
)
def test_import_errors_name_the_file_and_field(
    tmp_path: Path, content: str, suffix: str, message: str
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(LabelMapError, match=message):
        label_maps.import_map(path)


def test_export_refuses_unknown_suffix_and_saved_spec_is_json(tmp_path: Path, store: LabelStore) -> None:
    with pytest.raises(LabelMapError, match=r"m\.txt: a label map file must end in"):
        label_maps.export_map(LabelMap("m"), tmp_path / "m.txt")
    label_maps.save_map(store, LabelMap("m", (Step(Op.DROP, SLEEVE, ("x",)),)), note="n")
    spec = json.loads(store.conn.execute("SELECT spec_json FROM label_maps").fetchone()[0])
    assert spec["steps"] == [{"category": SLEEVE, "drop": ["x"]}] and "version" not in spec


def test_an_edited_label_has_no_marks(store: LabelStore, dataset: str) -> None:
    labels = store.original_labels(dataset)
    marked = labels.loc[(labels["category"] == SLEEVE) & (labels["maybe"] != "")]
    image_id = int(marked["image_id"].iloc[0])
    drop_marked = LabelMap("m", (Step(Op.MAYBE, SLEEVE, policy="drop"),))
    label_maps.save_map(store, drop_marked)
    assert image_id not in set(label_view(store, dataset, LabelSource.named("m")).labels["image_id"])
    store.edit_label(dataset, image_id, SLEEVE, "Long Sleeves", annotator="t", reason="checked")
    view = label_view(store, dataset, LabelSource.named("m")).labels.set_index("image_id")
    assert view.loc[image_id, "value"] == "Long Sleeves" and view.loc[image_id, "maybe"] == ""
    # The edit settles the doubt in the current labels; the imported original keeps its mark.
    assert store.current_labels(dataset).set_index("image_id").loc[image_id, "maybe"] == ""
    assert store.original_labels(dataset).set_index("image_id").loc[image_id, "maybe"] != ""


def test_delete_refuses_a_map_a_run_used_through_the_active_map(
    store: LabelStore, dataset: str, tmp_path: Path
) -> None:
    from fashion_core.runs import RunDir, register_run, update_run, write_json_atomic

    for name in ("via-active", "legacy", "named", "unused"):
        label_maps.save_map(store, LabelMap(name, (Step(Op.DROP, SLEEVE, ("Invisible",)),)))
    # A run whose config said "the active map" records the map it resolved when it read its labels.
    register_run(store, RunDir(tmp_path / "runs" / "r1"), dataset, {"map_name": None})
    update_run(store, "r1", map_name="via-active", status="done")
    # A run from before that record: its folder's label_map.json says which map it froze.
    legacy = RunDir(tmp_path / "runs" / "r2")
    register_run(store, legacy, dataset, {"map_name": None})
    write_json_atomic(legacy.label_map, {"name": "legacy", "version": 1, "map": None})
    register_run(store, RunDir(tmp_path / "runs" / "r3"), dataset, {"map_name": "named"})  # queued, named
    for name, run in (("via-active", "r1"), ("legacy", "r2"), ("named", "r3")):
        with pytest.raises(LabelMapError, match=f"{name!r} was used by run\\(s\\) {run}; it is kept"):
            label_maps.delete_map(store, name)
    assert label_maps.delete_map(store, "unused") == 1
    assert label_maps.map_names(store) == ["legacy", "named", "via-active"]

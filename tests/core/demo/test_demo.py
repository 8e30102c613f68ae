"""Tests of the built-in demo data set generator (fashion_core.demo)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from fashion_core.demo import DemoData, DemoDataError, generate_demo_data
from fashion_core.demo.plan import PlannedImage, plan_demo_images, scaled_counts
from fashion_core.demo.scenes import render_image
from fashion_core.errors import FashionCoreError
from fashion_core.schema import FASHIONAI

N_SMALL = 60
SIZE = 64


def read_labels(data: DemoData) -> list[list[str]]:
    with data.label_file.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def read_wrong(data: DemoData) -> list[dict[str, str]]:
    with data.wrong_labels_file.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def labelled_value(category: str, code: str) -> str:
    return FASHIONAI.category(category).values[code.index("y")]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DemoData:
    return generate_demo_data(tmp_path_factory.mktemp("demo"), n_images=N_SMALL, seed=3, image_size=SIZE)


def test_same_seed_gives_identical_files(small: DemoData, tmp_path: Path) -> None:
    again = generate_demo_data(tmp_path / "again", n_images=N_SMALL, seed=3, image_size=SIZE)
    assert again.label_file.read_bytes() == small.label_file.read_bytes()
    assert again.wrong_labels_file.read_bytes() == small.wrong_labels_file.read_bytes()
    for path, _, _ in read_labels(small)[::7]:
        assert (again.root / path).read_bytes() == (small.root / path).read_bytes(), path


def test_another_seed_gives_another_data_set(small: DemoData, tmp_path: Path) -> None:
    other = generate_demo_data(tmp_path, n_images=N_SMALL, seed=4, image_size=SIZE)
    assert other.label_file.read_bytes() != small.label_file.read_bytes()


def test_returned_paths_and_counts(small: DemoData) -> None:
    assert small.label_file == small.root / "Annotations" / "label.csv"
    assert small.wrong_labels_file == small.root / "wrong_labels.csv"
    assert small.schema is FASHIONAI
    rows = read_labels(small)
    assert small.count == len(rows) == N_SMALL
    assert len(list((small.root / "Images").glob("*/*.jpg"))) == N_SMALL
    assert len({path for path, _, _ in rows}) == N_SMALL


def test_every_row_parses_as_fashionai(small: DemoData) -> None:
    for path, category, code in read_labels(small):
        values = FASHIONAI.category(category).values
        assert path.startswith(f"Images/{category}/") and path.endswith(".jpg")
        assert len(code) == len(values), (path, code)
        assert set(code) <= {"y", "n", "m"}
        assert code.count("y") == 1 and code.count("m") <= 1


def test_every_category_appears_and_sleeve_is_biggest(small: DemoData) -> None:
    per_category = Counter(category for _, category, _ in read_labels(small))
    assert set(per_category) == set(FASHIONAI.category_names)
    assert sum(per_category.values()) == N_SMALL
    assert per_category.most_common(1)[0][0] == "sleeve_length_labels"


def test_images_are_jpegs_of_the_requested_size(small: DemoData) -> None:
    for path, _, _ in read_labels(small):
        with Image.open(small.root / path) as image:
            assert image.format == "JPEG"
            assert image.size == (SIZE, SIZE)
            assert image.mode == "RGB"
            image.load()


def test_wrong_labels_refer_to_rows_with_another_drawn_value(small: DemoData) -> None:
    with small.wrong_labels_file.open(encoding="utf-8") as handle:
        assert handle.readline().strip() == "image_path,category,drawn_value,labelled_value"
    labels = {path: (category, code) for path, category, code in read_labels(small)}
    wrong = read_wrong(small)
    assert len(wrong) >= 1
    for row in wrong:
        category, code = labels[row["image_path"]]
        assert row["category"] == category
        assert row["labelled_value"] == labelled_value(category, code)
        assert row["drawn_value"] in FASHIONAI.category(category).values
        assert row["drawn_value"] != row["labelled_value"]


def test_full_size_plan_has_the_promised_shape() -> None:
    plan = plan_demo_images(1500, seed=0)
    assert len(plan) == 1500
    per_value = Counter((item.category, item.labelled_value) for item in plan)
    per_category = Counter(item.category for item in plan)
    assert per_category["sleeve_length_labels"] == 600
    assert all(per_value[(c.name, v)] >= 1 for c in FASHIONAI.categories for v in c.values)
    assert sum(1 for n in per_value.values() if n <= 10) >= 3
    wrong = [item for item in plan if item.is_wrong]
    maybe = [item for item in plan if item.maybe_value]
    assert len(wrong) == 30 and len(maybe) == 45
    assert not {item.index for item in wrong} & {item.index for item in maybe}


def test_maybe_marks_sit_next_to_the_labelled_value() -> None:
    for item in plan_demo_images(400, seed=1):
        if item.maybe_value is None:
            continue
        values = FASHIONAI.category(item.category).values
        code = item.code(FASHIONAI)
        assert code.count("m") == 1 and code[values.index(item.maybe_value)] == "m"
        assert abs(values.index(item.maybe_value) - values.index(item.labelled_value)) == 1


def test_scaled_counts_add_up_exactly() -> None:
    for n in (40, 61, 999, 1500, 3001):
        assert sum(count for _, _, count in scaled_counts(n)) == n


def test_the_drawing_follows_the_drawn_value() -> None:
    short = PlannedImage(7, "x", "sleeve_length_labels", "Short Sleeves", "Short Sleeves")
    long = PlannedImage(7, "x", "sleeve_length_labels", "Long Sleeves", "Short Sleeves")
    same = render_image(short, 0, SIZE).tobytes()
    assert render_image(short, 0, SIZE).tobytes() == same
    assert render_image(long, 0, SIZE).tobytes() != same


def test_progress_is_reported_per_image(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    data = generate_demo_data(
        tmp_path, n_images=40, image_size=32, on_progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(i, data.count) for i in range(1, data.count + 1)]


@pytest.mark.parametrize(
    ("kwargs", "echo"),
    [
        ({"n_images": 5}, "n_images=5"),
        ({"n_images": 100.0}, "n_images=100.0"),
        ({"seed": -1}, "seed=-1"),
        ({"image_size": 8}, "image_size=8"),
        ({"image_size": True}, "image_size=True"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict, echo: str) -> None:
    with pytest.raises(DemoDataError, match=echo) as caught:
        generate_demo_data(tmp_path, **kwargs)
    assert isinstance(caught.value, FashionCoreError) and isinstance(caught.value, ValueError)
    assert not any(tmp_path.iterdir())


def test_unwritable_output_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DemoDataError, match="file"):
        generate_demo_data(blocker, n_images=40, image_size=32)

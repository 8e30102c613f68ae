"""TFRecord round trip: export a small mixed dataset, read it back, same labels, decodable images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fashion_core.ingest import import_labels
from fashion_core.modeling import export_tfrecords
from fashion_core.modeling.tfrecord import read_tfrecords
from tests.conftest import write_image


def test_round_trip_single_and_multi_label(tmp_path: Path, store) -> None:
    root = tmp_path / "imgs"
    lines = []
    for i in range(5):
        write_image(root / f"{i}.jpg", size=(20 + i, 16), seed=i)
        flags = ["1" if (k + i) % 4 == 0 else "0" for k in range(13)]
        lines.append(f"{i},http://x/{i}.jpg,{','.join(flags)}\n")
    (tmp_path / "list.txt").write_text("".join(lines))
    import_labels(store, dataset="jd", fmt="jd", files=[tmp_path / "list.txt"], images_root=root)
    froot = tmp_path / "fa"
    rows = []
    for i in range(3):
        write_image(froot / f"I/{i}.png", size=(24, 24), seed=10 + i, fmt="PNG")
        rows.append(f"I/{i}.png,sleeve_length_labels,{'n' * (i + 1)}y{'n' * (7 - i)}\n")
    (tmp_path / "label.csv").write_text("".join(rows))
    import_labels(store, dataset="fa", fmt="fashionai", files=[tmp_path / "label.csv"], images_root=froot)

    out = export_tfrecords(store, "jd", tmp_path / "tfr_jd", shard_size=2)
    assert out.examples == 5 and len(out.shards) == 3 and not out.skipped
    ds, schema = read_tfrecords(tmp_path / "tfr_jd")
    got = {}
    for image, ex in ds.as_numpy_iterator():
        got[ex["image/path"].decode()] = (image.shape, ex["label/style"].tolist())
    labels = store.current_labels("jd").set_index("path")["value"]
    for path, (shape, hot) in got.items():
        i = int(path.split(".")[0])
        assert shape == (16, 20 + i, 3)
        assert "|".join(v for v, h in zip(schema.category("style").values, hot) if h) == labels[path]
    assert len(got) == 5

    export_tfrecords(store, "fa", tmp_path / "tfr_fa")
    ds, schema = read_tfrecords(tmp_path / "tfr_fa", image_size=8)
    seen = {}
    for image, ex in ds.as_numpy_iterator():
        assert image.shape == (8, 8, 3) and image.dtype == np.uint8
        seen[ex["image/path"].decode()] = int(ex["label/sleeve_length_labels"][0])
        assert int(ex["mask/neck_design_labels"][0]) == 0  # unlabelled category stays masked
        assert int(ex["label/neck_design_labels"][0]) == -1
    assert seen == {"I/0.png": 1, "I/1.png": 2, "I/2.png": 3}

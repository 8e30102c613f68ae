"""The labelling assistant: a quick linear head per category on cached backbone features.

It is refitted in a background process after every N new labels (``retrain_every``) and
gives the Label page its suggestions, the *label next* order and the validation accuracy
over time. A linear softmax head on frozen features is what quick mode trains too; here it is
scikit-learn's logistic regression (one BLAS thread), which refits the eight FashionAI
categories of the 1,500 demo images in about a second, so suggestions keep up with labelling.
Features are computed once per image by ``modeling.image_features`` (imported lazily, in the
background process) and kept beside the suggestions.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

from fashion_core.errors import FashionCoreError
from fashion_core.schema import Kind, Schema
from fashion_core.store import LabelStore, utc_now
from fashion_core.workspace import Workspace

ASSIST_DIR = "labelling"  # <workspace>/labelling/<dataset id>/
FeaturesFn = Callable[[list[str], Path], np.ndarray]  # (image files, embeddings folder) -> (N, D)


class AssistError(FashionCoreError, RuntimeError):
    """The assistant cannot fit or refresh (bad settings, no labels, features unreadable)."""


@dataclass(frozen=True)
class AssistSettings:
    """How the assistant computes features and when it refits (the Label page's defaults)."""

    backbone: str = "efficientnet_lite0"
    weights: str = "bundled"
    # The backbone's own input size: on the demo data (bench/active_learning.py, 5 seeds) the quick
    # head reaches 0.72 at random's 795 labels against 0.64 with 128 px features, for about 1.4x
    # the feature time (29.6 s against 21.4 s for the 1,500 demo images here; computed once, cached).
    image_size: int = 224
    retrain_every: int = 50
    val_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.retrain_every, int) or not 1 <= self.retrain_every <= 10_000:
            raise AssistError(f"`retrain_every` must be an integer in [1, 10000]. Received: {self.retrain_every!r}")
        if not 0.0 <= float(self.val_fraction) < 0.9:
            raise AssistError(f"`val_fraction` must be in [0, 0.9). Received: val_fraction={self.val_fraction!r}")
        if not isinstance(self.image_size, int) or not 32 <= self.image_size <= 1024:
            raise AssistError(f"`image_size` must be an integer in [32, 1024]. Received: {self.image_size!r}")


@dataclass(frozen=True)
class Suggestions:
    """The assistant's probabilities for every image of a dataset, per single-choice category.

    Attributes:
        image_ids: (N,) image ids, the row order of every array.
        probs: ``{category: (N, K) probabilities}`` in the category's value order.
        values: ``{category: value names}``.
        last_edit_id: The store's last edit id the fit saw (labels newer than it are "new").
        val_accuracy: Held-out accuracy over all fitted categories (None: too few labels).
    """

    image_ids: np.ndarray
    probs: dict[str, np.ndarray]
    values: dict[str, tuple[str, ...]]
    last_edit_id: int
    val_accuracy: float | None

    def row(self, image_id: int) -> int | None:
        hits = np.flatnonzero(self.image_ids == int(image_id))
        return int(hits[0]) if len(hits) else None

    def suggest(self, image_id: int, category: str) -> tuple[str, float] | None:
        """The likeliest value of an image in a category and its probability (None: no model for it)."""
        row = self.row(image_id)
        if row is None or category not in self.probs:
            return None
        p = self.probs[category][row]
        best = int(np.argmax(p))
        return self.values[category][best], float(p[best])


# -- files ----------------------------------------------------------------------------------------------


def assist_dir(workspace: Workspace, dataset_id: int) -> Path:
    """Where a dataset's features, suggestions, history and refresh status live."""
    return workspace.root / ASSIST_DIR / str(int(dataset_id))


def _write_atomic(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, mode) as f:
        write(f)
    os.replace(tmp, path)


def save_suggestions(folder: Path, s: Suggestions) -> None:
    arrays = {f"p{i}": s.probs[c] for i, c in enumerate(s.probs)}
    meta = json.dumps({"categories": list(s.probs), "values": s.values, "last_edit_id": s.last_edit_id,
                       "val_accuracy": s.val_accuracy})
    _write_atomic(folder / "suggestions.npz",
                  lambda f: np.savez(f, image_ids=s.image_ids, meta=np.array(meta), **arrays))


def load_suggestions(folder: Path) -> Suggestions | None:
    """The latest fit's suggestions, or None before the first fit (or for an unreadable file)."""
    try:
        with np.load(folder / "suggestions.npz", allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            probs = {c: data[f"p{i}"] for i, c in enumerate(meta["categories"])}
            return Suggestions(data["image_ids"], probs, {c: tuple(v) for c, v in meta["values"].items()},
                               int(meta["last_edit_id"]), meta["val_accuracy"])
    except (FileNotFoundError, OSError, ValueError, KeyError):
        return None


def save_features(folder: Path, image_ids: np.ndarray, features: np.ndarray) -> None:
    _write_atomic(folder / "features.npz", lambda f: np.savez(f, image_ids=image_ids, features=features))


def load_features(folder: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """``(image_ids, features)`` computed for the assistant, or None."""
    try:
        with np.load(folder / "features.npz", allow_pickle=False) as data:
            return data["image_ids"], data["features"]
    except (FileNotFoundError, OSError, ValueError, KeyError):
        return None


def history(folder: Path) -> pd.DataFrame:
    """One row per fit: ``at, labels, val_accuracy`` (the Label page's accuracy-over-time chart)."""
    path = folder / "history.json"
    rows = json.loads(path.read_text()) if path.is_file() else []
    return pd.DataFrame(rows, columns=["at", "labels", "val_accuracy"])


# -- fitting --------------------------------------------------------------------------------------------


def fit_suggestions(features: np.ndarray, image_ids: np.ndarray, schema: Schema, labels: pd.DataFrame, *,
                    val_fraction: float = 0.2, seed: int = 0, last_edit_id: int = 0) -> Suggestions:
    """Fit one logistic regression per single-choice category on the labelled rows; score every row.

    A seeded ``val_fraction`` of each category's labelled rows is held out to measure accuracy;
    the probabilities come from the fit on the rest.

    Args:
        features: (N, D) features, row i belongs to ``image_ids[i]``.
        image_ids: (N,) image ids.
        schema: The dataset's stored schema (the values edits are written in).
        labels: Current labels (image_id, category, value).
        val_fraction: Held-out share per category (0: no accuracy reported).
        seed: Seed of the hold-out split.
        last_edit_id: Recorded with the result (new labels are counted from it).
    """
    row_of = {int(i): r for r, i in enumerate(image_ids)}
    probs, values, hits, seen = {}, {}, 0, 0
    rng = np.random.default_rng(seed)
    for cat in schema.categories:
        if cat.kind is not Kind.SINGLE:
            continue  # multi-label categories are labelled on the Browse page
        rows = labels[(labels["category"] == cat.name) & labels["image_id"].isin(row_of)]
        y = np.array([cat.values.index(v) for v in rows["value"]], dtype=np.int64)
        x = features[[row_of[int(i)] for i in rows["image_id"]]]
        if len(np.unique(y)) < 2:
            continue
        val = rng.random(len(y)) < val_fraction if len(y) >= 10 else np.zeros(len(y), bool)
        if len(np.unique(y[~val])) < 2:
            val[:] = False
        model = _fit(x[~val], y[~val])
        probs[cat.name] = _predict(model, features, len(cat.values))
        values[cat.name] = cat.values
        if val.any():
            hits += int((np.argmax(_predict(model, x[val], len(cat.values)), axis=1) == y[val]).sum())
            seen += int(val.sum())
    return Suggestions(np.asarray(image_ids, dtype=np.int64), probs, values, int(last_edit_id),
                       round(hits / seen, 4) if seen else None)


def _fit(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer
    from threadpoolctl import threadpool_limits

    # Unit-length features, weak regularisation: on the demo data (bench/active_learning.py) this
    # beat standardised features with C=0.1 at every label count (0.65 against 0.60 at 795 labels).
    with warnings.catch_warnings(), threadpool_limits(1):  # one thread: small matrices, busy cores
        warnings.simplefilter("ignore")
        return make_pipeline(Normalizer(), LogisticRegression(C=100.0, max_iter=500)).fit(x, y)


def _predict(model: Any, x: np.ndarray, n_values: int) -> np.ndarray:
    out = np.zeros((len(x), n_values), dtype=np.float32)
    out[:, model.classes_] = model.predict_proba(x)
    return out


def refresh(store: LabelStore, workspace: Workspace, dataset: str, settings: AssistSettings = AssistSettings(), *,
            features_fn: FeaturesFn | None = None) -> Suggestions:
    """Compute missing features, refit on the current labels, save suggestions and a history row.

    Args:
        features_fn: Computes features of image files (default: ``modeling.image_features``
            with ``settings``'s backbone); tests pass a cheap one.
    """
    info = store.dataset(dataset)
    folder = assist_dir(workspace, info.id)
    images = store.images(dataset)
    ids = images["image_id"].to_numpy(np.int64)
    saved = load_features(folder)
    if saved is None or not np.array_equal(saved[0], ids):
        files = [str(info.images_root / p) for p in images["path"]]
        features = (features_fn or _default_features(settings))(files, workspace.embeddings_dir)
        save_features(folder, ids, features)
    else:
        features = saved[1]
    last_edit = int(store.labels_version(dataset)[1])
    labels = store.current_labels(dataset)
    result = fit_suggestions(features, ids, info.schema, labels, val_fraction=settings.val_fraction,
                             seed=settings.seed, last_edit_id=last_edit)
    save_suggestions(folder, result)
    rows = history(folder).to_dict(orient="records")
    rows.append({"at": utc_now(), "labels": int(len(labels)), "val_accuracy": result.val_accuracy})
    _write_atomic(folder / "history.json", lambda f: f.write(json.dumps(rows)), mode="w")
    return result


def _default_features(settings: AssistSettings) -> FeaturesFn:
    def compute(files: list[str], cache_root: Path) -> np.ndarray:
        from fashion_core.modeling.image_features import image_features

        return image_features(files, cache_root, backbone=settings.backbone, weights=settings.weights,
                              image_size=settings.image_size)[0]

    return compute


# -- the background refresh --------------------------------------------------------------------------------


def new_labels(store: LabelStore, dataset: str, suggestions: Suggestions | None) -> int:
    """Edits logged since the suggestions were fitted (all edits before the first fit)."""
    since = suggestions.last_edit_id if suggestions else 0
    log = store.edit_history(dataset)
    return int((log["id"] > since).sum())


def refresh_status(workspace: Workspace, dataset_id: int) -> dict[str, Any]:
    """``{"state": "idle"|"running"|"done"|"failed", ...}``; a running refresh whose process died is failed."""
    path = assist_dir(workspace, dataset_id) / "status.json"
    status = json.loads(path.read_text()) if path.is_file() else {"state": "idle"}
    if status.get("state") == "running" and not _alive(status.get("pid")):
        status = {**status, "state": "failed", "error": "the refresh process ended without a result"}
    return status


def _alive(pid: Any) -> bool:
    try:
        proc = psutil.Process(int(pid))
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, TypeError, ValueError):
        return False


def start_refresh(workspace: Workspace, dataset: str, dataset_id: int,
                  settings: AssistSettings = AssistSettings()) -> bool:
    """Refit in a spawned process (TensorFlow and ``fork`` do not mix); False if one is running."""
    multiprocessing.active_children()  # reap finished ones
    folder = assist_dir(workspace, dataset_id)
    if refresh_status(workspace, dataset_id).get("state") == "running":
        return False
    proc = multiprocessing.get_context("spawn").Process(
        target=_child, args=(str(workspace.root), dataset, dataset_id, asdict(settings)), daemon=True)
    proc.start()
    _write_status(folder, {"state": "running", "pid": proc.pid, "started_at": utc_now()})
    return True


def _write_status(folder: Path, status: dict[str, Any]) -> None:
    _write_atomic(folder / "status.json", lambda f: f.write(json.dumps(status)), mode="w")


def _child(root: str, dataset: str, dataset_id: int, settings: dict[str, Any]) -> None:
    workspace = Workspace(Path(root))
    folder = assist_dir(workspace, dataset_id)
    store = LabelStore.open(workspace)
    try:
        result = refresh(store, workspace, dataset, AssistSettings(**settings))
        _write_status(folder, {"state": "done", "pid": os.getpid(), "finished_at": utc_now(),
                               "val_accuracy": result.val_accuracy})
    except Exception as exc:  # noqa: BLE001 - any failure is reported to the page through the status file
        _write_status(folder, {"state": "failed", "pid": os.getpid(), "error": f"{type(exc).__name__}: {exc}"})
    finally:
        store.close()

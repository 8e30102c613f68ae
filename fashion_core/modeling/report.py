"""What a run writes besides the model: its log lines, label map record and final metrics."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fashion_core.errors import FashionCoreError
from fashion_core.runs.files import write_json_atomic
from fashion_core.store import LabelStore, utc_now

if TYPE_CHECKING:
    from fashion_core.modeling.callbacks import ProgressCallback
    from fashion_core.modeling.config import TrainConfig
    from fashion_core.modeling.table import LabelTable

MAX_LISTED_PROBLEMS = 200


class RunLog:
    """Appends timestamped lines to the run's log.txt (a spawned job's output goes there too)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, line: str) -> None:
        with contextlib.suppress(OSError), open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{utc_now()} {line}\n")


def write_label_map(store: LabelStore, path: Path, name: str | None, version: int | None) -> None:
    """Freeze the label map the run read its labels through (or that it used none)."""
    record: dict[str, Any] = {"name": name, "version": version, "map": None}
    if name:
        from fashion_core.labels.maps import load_map

        with contextlib.suppress(FashionCoreError):
            record["map"] = load_map(store, name, version).to_dict()
    write_json_atomic(path, record)


def build_metrics(config: TrainConfig, table: LabelTable | None, is_val: np.ndarray | None,
                  progress: ProgressCallback | None, facts: dict[str, Any], *, seconds: float,
                  started_at: str) -> dict[str, Any]:
    """The content of metrics.json: the best epoch's per-category figures, plus how they came about.

    ``val_accuracy`` maps each category to the validation accuracy of the kept (best)
    checkpoint; for a multi-label category it is the per-class accuracy, ``val_auc`` its AUC.
    """
    from fashion_core.modeling.callbacks import MONITOR

    rows = progress.rows if progress is not None else []
    best = _best_row(rows, MONITOR)
    heads = table.heads if table is not None else ()
    out: dict[str, Any] = {"state": facts.get("state")}
    for prefix, metric in (("val_", "accuracy"), ("val_", "loss"), ("val_", "auc"), ("", "accuracy"), ("", "loss")):
        values = {h.name: best[f"{prefix}{h.key}_{metric}"] for h in heads if best and f"{prefix}{h.key}_{metric}" in best}
        if values:
            out[f"{prefix}{metric}"] = values
    out.update({
        MONITOR: best.get(MONITOR) if best else None,
        "best_epoch": best.get("epoch") if best else None,
        "monitor": MONITOR,
        "epochs_run": len(rows),
        "epochs_planned": config.total_epochs,
        "stopped_early": bool(rows) and len(rows) < config.total_epochs and facts.get("state") == "done",
        "categories": [h.name for h in heads],
        "head_keys": {h.name: h.key for h in heads},
        "map": facts.get("map"),
        "backbone": config.backbone, "weights": config.weights, "image_size": config.image_size,
        "schedule": config.effective_schedule, "quick": config.quick,
        "imbalance": {"scheme": config.imbalance.scheme, "focal_gamma": config.imbalance.focal_gamma,
                      "max_class_weight": config.imbalance.max_class_weight,
                      "head_weights": {h.name: config.imbalance.head_weight(h.name) for h in heads}},
        "class_weights": facts.get("class_weights", {}),
        "strategy": facts.get("strategy"), "replicas": facts.get("replicas"),
        "mixed_precision": facts.get("mixed_precision"),
        "model_sha256": facts.get("model_sha256"),
    })
    out["images"] = _image_counts(table, is_val)
    if table is not None:
        out["skipped_count"] = len(table.problems)
        out["skipped"] = [p.to_dict() for p in table.problems[:MAX_LISTED_PROBLEMS]]
    if "embeddings" in facts:
        out["embeddings"] = facts["embeddings"]
    epoch_seconds = [r["seconds"] for r in rows]
    out["timing"] = {
        "total_seconds": round(seconds, 2),
        "train_seconds": round(float(np.sum(epoch_seconds)), 2) if rows else 0.0,
        "seconds_per_epoch": round(float(np.mean(epoch_seconds)), 2) if rows else None,
        "embedding_seconds": facts.get("embeddings", {}).get("seconds"),
        "started_at": started_at, "finished_at": utc_now(),
    }
    return out


def _best_row(rows: list[dict[str, Any]], monitor: str) -> dict[str, Any] | None:
    """The first epoch with the highest monitored value: the one ModelCheckpoint kept."""
    scored = [r for r in rows if isinstance(r.get(monitor), (int, float))]
    if not scored:
        return rows[-1] if rows else None
    return max(scored, key=lambda r: (r[monitor], -r["epoch"]))


def _image_counts(table: LabelTable | None, is_val: np.ndarray | None) -> dict[str, Any]:
    if table is None or is_val is None:
        return {}
    train, val = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    tr, va = table.labelled_counts(train), table.labelled_counts(val)
    return {"train": int(len(train)), "val": int(len(val)),
            "labelled": {h.name: {"train": tr[h.key], "val": va[h.key]} for h in table.heads}}

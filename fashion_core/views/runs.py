"""What the Train page shows of runs: history frames, curve figures, progress, run tables, comparisons."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from fashion_core.labels.stats import labelled_images
from fashion_core.labels.view import LabelSource, label_view
from fashion_core.runs.files import RunDir
from fashion_core.store import LabelStore
from fashion_core.training.status import JobStatus

# Config fields shown side by side when comparing runs (dotted: nested field).
COMPARE_FIELDS: tuple[str, ...] = (
    "backbone", "weights", "image_size", "epochs", "finetune_epochs", "finetune_layers", "finetune_lr_factor",
    "batch_size", "learning_rate",
    "schedule", "quick", "imbalance.scheme", "map_name", "val_fraction", "seed",
)
FULL_ONLY = ("finetune_epochs", "finetune_layers", "finetune_lr_factor")  # empty for quick runs
LONG_COLUMNS = ["epoch", "head", "metric", "split", "value"]


@dataclass(frozen=True)
class RunProgress:
    """A running run's progress, ready to display.

    Attributes:
        fraction: Share of the whole run done, 0..1 (epochs and the current epoch's batches).
        epoch_text: e.g. ``Epoch 3 of 9``; empty before the first epoch.
        batch_fraction: Share of the current epoch done, 0..1.
        batch_text: e.g. ``batch 12 of 40``; empty if unknown.
        per_epoch_text: Time per epoch, e.g. ``1 min 05 s``; empty if unknown.
        eta_text: Time left, e.g. ``4 min 10 s``; empty if unknown.
    """

    fraction: float
    epoch_text: str
    batch_fraction: float
    batch_text: str
    per_epoch_text: str
    eta_text: str


# -- history and curves ------------------------------------------------------------------------


def history_frame(run_dir: RunDir | Path | str) -> pd.DataFrame:
    """A run's history.csv as a frame, one row per epoch with an ``epoch`` column (1-based)."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
    frame = pd.DataFrame(rd.read_history())
    if frame.empty:
        return pd.DataFrame({"epoch": pd.Series(dtype="int64")})
    if "epoch" not in frame:
        frame.insert(0, "epoch", range(1, len(frame) + 1))
    return frame


def head_keys(columns: Iterable[str]) -> list[str]:
    """The heads in a Keras history: every ``<head>_loss`` column (train or ``val_``), in order."""
    keys: list[str] = []
    for col in columns:
        base = col[4:] if col.startswith("val_") else col
        if base.endswith("_loss") and base != "loss":
            key = base[: -len("_loss")]
            if key not in keys:
                keys.append(key)
    return keys


def history_long(history: pd.DataFrame, heads: Sequence[str] | None = None) -> pd.DataFrame:
    """History in long form: columns epoch, head, metric, split (train/val), value.

    ``loss`` and ``mean_<metric>`` (and their ``val_`` twins) belong to head ``all``;
    ``<head>_<metric>`` to that head (the longest
    matching head name wins, so ``a_b`` is not mistaken for ``a``). Other columns (learning
    rate, timings) are left out.
    """
    keys = sorted(heads if heads is not None else head_keys(history.columns), key=len, reverse=True)
    rows: list[dict[str, Any]] = []
    for col in history.columns:
        parsed = _parse_column(col, keys)
        if parsed is None:
            continue
        head, metric, split = parsed
        for epoch, value in zip(history["epoch"], history[col]):
            if _is_number(value):
                rows.append({"epoch": int(epoch), "head": head, "metric": metric, "split": split, "value": float(value)})
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def _parse_column(col: str, keys: Sequence[str]) -> tuple[str, str, str] | None:
    split, base = ("val", col[4:]) if col.startswith("val_") else ("train", col)
    if base == "loss":
        return "all", "loss", split
    for key in keys:
        if base.startswith(key + "_") and len(base) > len(key) + 1:
            return key, base[len(key) + 1 :], split
    if base.startswith("mean_"):  # the trainer's mean over heads, e.g. mean_accuracy
        return "all", base[len("mean_") :], split
    return None


def curves_figure(history: pd.DataFrame, heads: Sequence[str] | None = None) -> go.Figure:
    """Loss and metric curves per head: one row per metric, a colour per head, dashed = validation."""
    long = history_long(history, heads)
    if long.empty:
        fig = go.Figure()
        fig.update_layout(title="No finished epoch yet", height=200)
        return fig
    metrics = ["loss"] + sorted(m for m in long["metric"].unique() if m != "loss")
    fig = px.line(
        long, x="epoch", y="value", color="head", line_dash="split", facet_row="metric", markers=True,
        category_orders={"metric": metrics, "split": ["train", "val"]},
        labels={"value": "", "epoch": "epoch", "head": "head", "split": "split"},
    )
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    fig.update_xaxes(dtick=1 if long["epoch"].max() <= 20 else None)
    fig.update_layout(height=240 * len(metrics) + 60, margin={"t": 30, "b": 30},
                      legend_title_text="head (dashed: validation)")
    for trace in fig.data:  # one legend entry per head, not per head and split (18 with eight heads)
        head, _, split = trace.name.partition(", ")
        trace.legendgroup = head
        if split.strip() == "val":
            trace.showlegend = False
        else:
            trace.name = head
    start = finetune_start(history)
    if start is not None:
        fig.add_vline(x=start - 0.5, line_dash="dot", line_color="grey", annotation_text="fine-tune")
    return fig


def finetune_start(history: pd.DataFrame) -> int | None:
    """The first epoch of the fine-tune phase after a heads phase, if the history has one."""
    if "phase" not in history or history.empty:
        return None
    phases = history["phase"].astype(str).tolist()
    if "finetune" not in phases or phases[0] == "finetune":
        return None
    return int(history["epoch"].iloc[phases.index("finetune")])


# -- progress ----------------------------------------------------------------------------------


def run_progress(status: JobStatus) -> RunProgress:
    """Progress of a run from its status (``epoch`` is the epoch in progress, 1-based)."""
    epochs, epoch = status.epochs, status.epoch
    batches, batch = status.batches, status.batch
    batch_fraction = min(1.0, batch / batches) if batches and batch is not None else 0.0
    if status.state == "done":
        fraction = 1.0
    elif epochs and epoch:
        fraction = min(1.0, max(0.0, (epoch - 1 + batch_fraction) / epochs))
    else:
        fraction = 0.0
    return RunProgress(
        fraction=fraction,
        epoch_text=f"Epoch {epoch} of {epochs}" if epoch and epochs else "",
        batch_fraction=batch_fraction,
        batch_text=f"batch {batch} of {batches}" if batch is not None and batches else "",
        per_epoch_text=format_duration(status.seconds_per_epoch),
        eta_text=format_duration(status.eta_seconds),
    )


def format_duration(seconds: Any) -> str:
    """``75.2`` -> ``1 min 15 s``; ``3700`` -> ``1 h 01 min``; '' for None or nonsense."""
    if not _is_number(seconds) or seconds < 0:
        return ""
    s = int(round(float(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


# -- run lists and comparisons -------------------------------------------------------------------


def val_accuracy(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """Validation accuracy per category from a run's metrics, whichever way they are nested.

    Understands ``{"val_accuracy": {cat: x}}``, ``{cat: {"val_accuracy": x}}`` (also under
    ``categories``/``heads``) and flat ``{"val_<cat>_accuracy": x}``.
    """
    if not metrics:
        return {}
    if isinstance(metrics.get("val_accuracy"), Mapping):
        return {str(c): float(v) for c, v in metrics["val_accuracy"].items() if _is_number(v)}
    nested = next((metrics[k] for k in ("categories", "heads") if isinstance(metrics.get(k), Mapping)), metrics)
    out = {}
    for cat, entry in nested.items():
        if isinstance(entry, Mapping):
            value = entry.get("val_accuracy", entry.get("accuracy"))
            if _is_number(value):
                out[str(cat)] = float(value)
    if out:
        return out
    return {
        k[4 : -len("_accuracy")]: float(v)
        for k, v in metrics.items()
        if k.startswith("val_") and k.endswith("_accuracy") and k != "val_accuracy" and _is_number(v)
    }


def runs_table(jobs: Sequence[JobStatus]) -> pd.DataFrame:
    """One row per run for the run list: id, dataset, state, progress, model, accuracy, error."""
    rows = []
    for job in jobs:
        config = job.config or {}
        acc = val_accuracy(job.metrics)
        rows.append({
            "run": job.run,
            "dataset": job.dataset,
            "state": _state_text(job),
            "progress": run_progress(job).epoch_text if job.state == "running" else "",
            "backbone": config.get("backbone"),
            "image size": config.get("image_size"),
            "quick": config.get("quick"),
            "mean val accuracy": round(sum(acc.values()) / len(acc), 4) if acc else None,
            "created": job.created_at,
            "error": _first_line(job.error),
        })
    return pd.DataFrame(rows, columns=["run", "dataset", "state", "progress", "backbone", "image size", "quick",
                                       "mean val accuracy", "created", "error"])


def comparison_frame(jobs: Sequence[JobStatus]) -> pd.DataFrame:
    """Finished runs with metrics side by side: run, state, the ``COMPARE_FIELDS``, then
    ``val acc: <category>`` per category (empty where a run did not train that category)."""
    rows = []
    for job in jobs:
        acc = val_accuracy(job.metrics)
        if not job.finished or not acc:
            continue
        config = job.config or {}
        row: dict[str, Any] = {"run": job.run, "state": job.state}
        # A quick run has no fine-tuning and trains the heads only: those fields did not apply to it.
        skipped = FULL_ONLY if config.get("quick") else ()
        row.update({name: None if name in skipped else _dotted(config, name) for name in COMPARE_FIELDS})
        if config.get("quick"):
            row["schedule"] = "quick (heads on cached features)"
        row.update({f"val acc: {cat}": value for cat, value in acc.items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["run", "state", *COMPARE_FIELDS])


def comparison_figure(frame: pd.DataFrame) -> go.Figure:
    """Grouped bars: validation accuracy per category, one colour per run."""
    acc_cols = [c for c in frame.columns if c.startswith("val acc: ")]
    long = frame.melt(id_vars=["run"], value_vars=acc_cols, var_name="category", value_name="val accuracy")
    long["category"] = long["category"].str.removeprefix("val acc: ")
    long = long.dropna(subset=["val accuracy"])
    fig = px.bar(long, x="category", y="val accuracy", color="run", barmode="group", range_y=[0, 1])
    fig.update_layout(height=380, margin={"t": 30, "b": 30}, xaxis_title="")
    return fig


# -- the form's choices ----------------------------------------------------------------------------


def trainable_categories(store: LabelStore, dataset: str, source: LabelSource) -> list[str]:
    """Categories with at least one label, through the labels ``source`` names."""
    view = label_view(store, dataset, source)
    counts = labelled_images(view.labels)
    return [c for c in view.schema.category_names if counts.get(c, 0) > 0]


# -- helpers ------------------------------------------------------------------------------------------


def _state_text(job: JobStatus) -> str:
    state = str(job.state)
    if state == "queued" and job.queue_position:
        return f"queued (#{job.queue_position})"
    if state == "running" and job.cancel_requested:
        return "running (cancelling)"
    return state


def _dotted(config: Mapping[str, Any], name: str) -> Any:
    value: Any = config
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _first_line(text: Any) -> str:
    return str(text).splitlines()[0] if text else ""


def _is_number(value: Any) -> bool:
    # numbers.Real also covers numpy scalars, which pandas hands out.
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)

"""Answers a user can trust: per-head scaling (``scaling``), a familiarity score and per-category *applies*.

All fitted on a run's own data by ``analysis.calibration.calibrate_run`` and saved in the run
folder (``calibration.json``: temperatures and label noise, the familiarity threshold, ECE before and after;
``familiarity.npz``: reference features, the validation images' colourfulness and the applies
estimators). Pure NumPy: the Predictor
applies them to its outputs and to its backbone's features.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fashion_core.errors import ModelError
from fashion_core.runs.files import RunDir, read_json
from fashion_core.serving.pixel_views import colourfulness, pixel_stats
from fashion_core.serving.scaling import ECE_TARGET, apply_scaling, ece_judgeable

FORMAT = 4  # 4 adds label noise, 3 the colour view; formats 2 (two views) and 3 still read (no label noise)
READABLE_FORMATS = (2, 3, 4)
NEIGHBOURS = 5  # a photo's distance is its mean cosine distance to this many nearest training images
UNFAMILIAR_SHARE = 0.04  # the share of validation images the familiarity cut calls unfamiliar

# -- familiarity ------------------------------------------------------------------------------------


def unit_rows(features: np.ndarray) -> np.ndarray:
    x = np.asarray(features, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def neighbour_distance(features: np.ndarray, reference: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Mean cosine distance of each row to its ``k`` nearest reference rows (reference: unit rows)."""
    x = unit_rows(features)
    k = max(1, min(k, len(reference)))
    out = np.empty(len(x), np.float32)
    for start in range(0, len(x), 256):  # bounded memory for big batches
        sims = x[start:start + 256] @ reference.T
        nearest = np.partition(-sims, k - 1, axis=1)[:, :k]
        out[start:start + 256] = 1.0 + nearest.mean(axis=1)
    return out


@dataclass(frozen=True)
class LowTail:
    """A one-number view where only low values are unusual (colourfulness): the validation values, sorted."""

    val: np.ndarray

    @classmethod
    def fit(cls, val: np.ndarray) -> LowTail:
        return cls(np.sort(np.asarray(val, np.float32)))

    def p_values(self, x: np.ndarray) -> np.ndarray:
        """Share of validation images with at most this value (with one added: never exactly 0)."""
        n = len(self.val)
        return (np.searchsorted(self.val, np.asarray(x, np.float32), side="right") + 1) / (n + 1)


@dataclass(frozen=True)
class Reference:
    """One view of the training images (backbone features by cosine, or pixel statistics by standardised
    Euclidean distance) and the sorted distances of the validation images to them."""

    rows: np.ndarray  # unit rows (cosine) or standardised rows
    val: np.ndarray  # sorted validation distances
    mean: np.ndarray | None = None  # set: standardised Euclidean distance
    scale: np.ndarray | None = None

    @classmethod
    def fit(cls, train: np.ndarray, val: np.ndarray, *, standardise: bool) -> Reference:
        if not standardise:
            ref = cls(unit_rows(train), np.zeros(0, np.float32))
        else:
            mean, scale = train.mean(axis=0), train.std(axis=0) + 1e-6
            ref = cls(((train - mean) / scale).astype(np.float32), np.zeros(0, np.float32), mean, scale)
        return cls(ref.rows, np.sort(ref.distance(val)), ref.mean, ref.scale)

    def distance(self, x: np.ndarray) -> np.ndarray:
        if self.mean is None:
            return neighbour_distance(x, self.rows)
        a = (np.asarray(x, np.float32) - self.mean) / self.scale
        d2 = (a**2).sum(1)[:, None] + (self.rows**2).sum(1)[None] - 2 * a @ self.rows.T
        k = max(1, min(NEIGHBOURS, len(self.rows)))
        return np.sqrt(np.maximum(np.partition(d2, k - 1, axis=1)[:, :k], 0)).mean(axis=1)

    def p_values(self, x: np.ndarray) -> np.ndarray:
        """Share of validation images at least as far (with one added: never exactly 0)."""
        n = len(self.val)
        return (n - np.searchsorted(self.val, self.distance(x), side="left") + 1) / (n + 1)


def familiarity_scores(references: tuple[Reference | LowTail, ...], views: tuple[np.ndarray, ...]) -> np.ndarray:
    """The lowest of the views' p-values: a photo unlike the training images in any view is unusual.

    The minimum of several p-values is not itself a p-value; the cut is therefore taken on the
    validation images' own minima (``UNFAMILIAR_SHARE`` of them under it), which corrects for the
    number of views the way a permutation test would.
    """
    return np.min([ref.p_values(v) for ref, v in zip(references, views)], axis=0)


@dataclass(frozen=True)
class FamiliarityScore:
    """How much a photo looks like the run's training images.

    Attributes:
        score: The lowest of three shares of the run's validation images at least as unusual:
            distance to the training images by the backbone's features and by pixel statistics,
            and colourfulness (1: typical, near 0: more unusual than nearly all of them).
        unfamiliar: Under the cut that calls ``UNFAMILIAR_SHARE`` of the validation images
            unfamiliar: the model was not trained on photos like it, its answers are guesses.
    """

    score: float
    unfamiliar: bool

    def to_dict(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), "unfamiliar": self.unfamiliar}


# -- the saved calibration of a run -------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """What ``calibrate_run`` fitted for a run (see the module docstring)."""

    temperatures: dict[str, float]
    threshold: float  # familiarity scores under it are unfamiliar
    references: tuple[Reference, Reference]  # backbone features, pixel statistics
    applies: dict[str, tuple[np.ndarray, float] | None]  # category: (weights, bias) on scaled features, None = always
    scale: tuple[np.ndarray, np.ndarray]  # the features' mean and std for the applies estimators
    report: dict[str, Any] = field(default_factory=dict)
    colour: LowTail | None = None  # None: a format 2 calibration (two views)
    label_noise: dict[str, float] = field(default_factory=dict)  # category: share (format 4; else none)

    def temperature(self, category: str) -> float:
        return float(self.temperatures.get(category, 1.0))

    def noise(self, category: str) -> float:
        return float(self.label_noise.get(category, 0.0))

    def calibrated(self, probs: np.ndarray, category: str, multi: bool) -> np.ndarray:
        """A head's probabilities on the calibrated scale (order kept)."""
        return apply_scaling(probs, self.temperature(category), self.noise(category), multi)

    def familiarity(self, features: np.ndarray, pixels: np.ndarray) -> list[FamiliarityScore]:
        """Scores of photos given their backbone ``features`` and their ``(N, S, S, 3)`` 0..255 ``pixels``."""
        scores = familiarity_scores(*self.views(features, pixel_stats(pixels), colourfulness(pixels)))
        return [FamiliarityScore(float(s), bool(s < self.threshold)) for s in scores]

    def views(self, features: np.ndarray, statistics: np.ndarray, colour: np.ndarray
              ) -> tuple[tuple[Reference | LowTail, ...], tuple[np.ndarray, ...]]:
        """The references and the matching views of some photos (the colour view only when fitted)."""
        if self.colour is None:
            return self.references, (features, statistics)
        return (*self.references, self.colour), (features, statistics, colour)


    def applies_probs(self, features: np.ndarray) -> list[dict[str, float]]:
        """Per photo, per category: the probability that the photo shows what the category describes."""
        mean, std = self.scale
        x = (np.asarray(features, np.float64) - mean) / std
        out: dict[str, np.ndarray] = {}
        for category, model in self.applies.items():
            if model is None:
                out[category] = np.ones(len(x))
            else:
                weights, bias = model
                out[category] = 1 / (1 + np.exp(-(x @ weights + bias)))
        return [{c: round(float(p[i]), 4) for c, p in out.items()} for i in range(len(x))]


def write_calibration(run_dir: RunDir, calibration: Calibration) -> None:
    """Save both files (atomically each); the caller records their hashes."""
    from fashion_core.runs.files import write_json_atomic

    names = [c for c, m in calibration.applies.items() if m is not None]
    feats, pix = calibration.references
    arrays = {"reference": feats.rows.astype(np.float16), "val_distances": feats.val,
              "pixel_reference": pix.rows, "pixel_val": pix.val, "pixel_mean": pix.mean, "pixel_scale": pix.scale,
              "scale_mean": calibration.scale[0], "scale_std": calibration.scale[1]}
    if calibration.colour is not None:
        arrays["colour_val"] = calibration.colour.val
    for i, name in enumerate(names):
        arrays[f"applies_w{i}"] = calibration.applies[name][0]
        arrays[f"applies_b{i}"] = np.array([calibration.applies[name][1]])
    tmp = run_dir.familiarity.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(run_dir.familiarity)
    write_json_atomic(run_dir.calibration, {
        "format": FORMAT, "temperatures": calibration.temperatures, "label_noise": calibration.label_noise,
        "threshold": calibration.threshold,
        "applies": {c: (names.index(c) if c in names else None) for c in calibration.applies},
        **calibration.report})


def read_calibration(run_dir: RunDir) -> Calibration | None:
    """The run's calibration, or None if it was never calibrated (or in an older format).

    Raises:
        ModelError: The files are there but unreadable (naming the file and what to do).
    """
    meta = read_json(run_dir.calibration)
    if meta is None or meta.get("format") not in READABLE_FORMATS:  # an older format: calibrate again (Predict offers it)
        return None
    try:
        with np.load(run_dir.familiarity, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        applies = {c: None if i is None else (arrays[f"applies_w{i}"].astype(np.float64),
                                              float(arrays[f"applies_b{i}"][0]))
                   for c, i in meta["applies"].items()}
        references = (
            Reference(arrays["reference"].astype(np.float32), np.sort(arrays["val_distances"].astype(np.float32))),
            Reference(arrays["pixel_reference"].astype(np.float32), np.sort(arrays["pixel_val"].astype(np.float32)),
                      arrays["pixel_mean"].astype(np.float32), arrays["pixel_scale"].astype(np.float32)))
        return Calibration(
            {str(k): float(v) for k, v in meta["temperatures"].items()}, float(meta["threshold"]), references,
            applies, (arrays["scale_mean"].astype(np.float64), arrays["scale_std"].astype(np.float64)),
            {k: v for k, v in meta.items() if k not in ("temperatures", "label_noise", "threshold", "applies", "format")},
            LowTail.fit(arrays["colour_val"]) if "colour_val" in arrays else None,
            {str(k): float(v) for k, v in meta.get("label_noise", {}).items()})
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"Calibration files of run {run_dir.run_id} ({run_dir.calibration}, {run_dir.familiarity})"
                         f" cannot be read ({exc}); run `python -m fashion_core calibrate --run"
                         f" {run_dir.run_id}` again.") from exc


def calibrated_threshold(threshold: float, temperature: float, label_noise: float = 0.0) -> float:
    """A multi-label threshold tuned on raw probabilities, moved to the calibrated scale (same decisions)."""
    return float(apply_scaling(np.array([threshold]), temperature, label_noise, multi=True)[0])


def summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """ECE before and after per head, after's noise floor (``ece_noise_floor``) and held-out ECE
    (``held_out_ece``; both None in older calibrations), and whether it can be judged against
    ``ECE_TARGET`` (``ece_judgeable``), for tables and ``--json``."""
    return {c: {"before": r["before"]["ece"], "after": r["after"]["ece"], "noise_floor": r.get("noise_floor"),
                "held_out": r.get("held_out"), "images": r["images"], "temperature": r["temperature"],
                "label_noise": r.get("label_noise", 0.0),
                "judgeable": ece_judgeable(r.get("noise_floor")),
                "under_target": r["after"]["ece"] < ECE_TARGET} for c, r in report.get("heads", {}).items()}

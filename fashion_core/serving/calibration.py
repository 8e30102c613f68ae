"""Answers a user can trust: per-head temperatures, a familiarity score and per-category *applies*.

All fitted on a run's own data by ``analysis.calibration.calibrate_run`` and saved in the run
folder (``calibration.json``: temperatures, the familiarity threshold, ECE before and after;
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

FORMAT = 3  # 3 adds the colour view; format 2 files (two views) still read
READABLE_FORMATS = (2, 3)
_EPS = 1e-7
NEIGHBOURS = 5  # a photo's distance is its mean cosine distance to this many nearest training images
UNFAMILIAR_SHARE = 0.04  # the share of validation images the familiarity cut calls unfamiliar
ECE_BINS = 15
ECE_TARGET = 0.05  # a calibrated head's ECE on validation stays below this (issue 16)
# A head's ECE is judged against ECE_TARGET only when sampling noise alone (its noise floor: what a
# perfectly calibrated model would show on as many images) uses at most half of it; above that an
# ECE over the target says more about the head's image count than about its calibration.
JUDGEABLE_FLOOR = ECE_TARGET / 2


# -- temperature scaling --------------------------------------------------------------------------


def _logits(probs: np.ndarray, multi: bool) -> np.ndarray:
    p = np.clip(np.asarray(probs, np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p)) if multi else np.log(p)


def apply_temperature(probs: np.ndarray, temperature: float, multi: bool) -> np.ndarray:
    """Probabilities with their logits divided by ``temperature`` (1.0: unchanged; order kept)."""
    if temperature == 1.0:
        return np.asarray(probs, np.float32)
    z = _logits(probs, multi) / temperature
    if multi:
        return (1 / (1 + np.exp(-z))).astype(np.float32)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _nll(probs: np.ndarray, targets: np.ndarray, multi: bool) -> float:
    p = np.clip(probs, _EPS, 1 - _EPS)
    if multi:
        return float(-np.mean(targets * np.log(p) + (1 - targets) * np.log(1 - p)))
    return float(-np.mean(np.log(p[np.arange(len(targets)), targets])))


def fit_temperature(probs: np.ndarray, targets: np.ndarray, multi: bool) -> float:
    """The temperature minimising the negative log-likelihood (grid in log space, then refined).

    ``targets``: class indices (single-choice) or a 0/1 matrix (multi-label) of labelled rows.
    """
    if len(targets) == 0:
        return 1.0
    best = 1.0
    for grid in (np.exp(np.linspace(np.log(0.05), np.log(20.0), 121)), None):
        if grid is None:  # refine around the coarse optimum
            grid = best * np.exp(np.linspace(-0.06, 0.06, 25))
        losses = [_nll(apply_temperature(probs, float(t), multi), targets, multi) for t in grid]
        best = float(grid[int(np.argmin(losses))])
    return round(best, 4)


def reliability(probs: np.ndarray, targets: np.ndarray, multi: bool, bins: int = ECE_BINS) -> dict[str, Any]:
    """Expected calibration error and the reliability diagram's bins.

    Single-choice: the top value's probability against whether it is right. Multi-label: every
    value's probability against whether it is present.
    """
    conf = confidences(probs, multi)
    if multi:
        hit = np.asarray(targets, np.float64).ravel()
    else:
        hit = (np.asarray(probs).argmax(axis=1) == targets).astype(np.float64)
    return binned_reliability(conf, hit, bins)


def confidences(probs: np.ndarray, multi: bool) -> np.ndarray:
    """What the ECE judges: the top value's probability (single-choice) or every probability (multi-label)."""
    p = np.asarray(probs, np.float64)
    return p.ravel() if multi else p.max(axis=1)


def ece_noise_floor(conf: np.ndarray, bins: int = ECE_BINS, draws: int = 200, seed: int = 0) -> float:
    """The ECE a perfectly calibrated model with these confidences would show on this many images.

    Binned ECE is biased upwards by sampling noise: each outcome drawn right with probability its
    confidence, the mean ECE over ``draws`` seeded draws. On the demo run's 118 sleeve-length
    validation images it is 0.078: an ECE under 0.05 there would take luck, not calibration.
    """
    conf = np.asarray(conf, np.float64)
    if not len(conf):
        return 0.0
    rng = np.random.default_rng(seed)
    eces = [binned_reliability(conf, (rng.random(len(conf)) < conf).astype(np.float64), bins)["ece"]
            for _ in range(draws)]
    return round(float(np.mean(eces)), 4)


def ece_judgeable(noise_floor: float | None) -> bool:
    """Whether a head has enough validation images for its ECE to be judged against ``ECE_TARGET``
    (noise floor at most ``JUDGEABLE_FLOOR``; unknown floor, older calibrations: no)."""
    return noise_floor is not None and noise_floor <= JUDGEABLE_FLOOR


def binned_reliability(conf: np.ndarray, hit: np.ndarray, bins: int = ECE_BINS) -> dict[str, Any]:
    """ECE and bins of probabilities ``conf`` against 0/1 outcomes ``hit``."""
    conf, hit = np.asarray(conf, np.float64), np.asarray(hit, np.float64)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            gap = abs(conf[inside].mean() - hit[inside].mean())
            ece += inside.mean() * gap
            rows.append({"low": round(float(edges[b]), 4), "high": round(float(edges[b + 1]), 4),
                         "confidence": round(float(conf[inside].mean()), 4),
                         "accuracy": round(float(hit[inside].mean()), 4), "count": int(inside.sum())})
    return {"ece": round(float(ece), 4), "bins": rows, "n": int(len(conf))}


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

    def temperature(self, category: str) -> float:
        return float(self.temperatures.get(category, 1.0))

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
        "format": FORMAT, "temperatures": calibration.temperatures, "threshold": calibration.threshold,
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
            {k: v for k, v in meta.items() if k not in ("temperatures", "threshold", "applies", "format")},
            LowTail.fit(arrays["colour_val"]) if "colour_val" in arrays else None)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"Calibration files of run {run_dir.run_id} ({run_dir.calibration}, {run_dir.familiarity})"
                         f" cannot be read ({exc}); run `python -m fashion_core calibrate --run"
                         f" {run_dir.run_id}` again.") from exc


def calibrated_threshold(threshold: float, temperature: float) -> float:
    """A multi-label threshold tuned on raw probabilities, moved to the calibrated scale (same decisions)."""
    return float(apply_temperature(np.array([threshold]), temperature, multi=True)[0])


def summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """ECE before and after per head, after's noise floor (``ece_noise_floor``; None in older
    calibrations) and whether it can be judged against ``ECE_TARGET`` (``ece_judgeable``), for
    tables and ``--json``."""
    return {c: {"before": r["before"]["ece"], "after": r["after"]["ece"], "noise_floor": r.get("noise_floor"),
                "images": r["images"], "temperature": r["temperature"],
                "judgeable": ece_judgeable(r.get("noise_floor")),
                "under_target": r["after"]["ece"] < ECE_TARGET} for c, r in report.get("heads", {}).items()}

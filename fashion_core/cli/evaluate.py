"""CLI commands ``evaluate``, ``calibrate``, ``suspicious`` and ``suggest-merges``: judge a finished run and its data."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from fashion_core.cli._common import open_store, print_json, workspace

DEFAULT_TOP = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``evaluate``, ``calibrate``, ``suspicious`` and ``suggest-merges``."""
    p = sub.add_parser("evaluate", help="a finished run's validation metrics: accuracy, confusion matrices, per value")
    p.add_argument("--run", required=True, help="run id (see `runs list`)")
    p.add_argument("--refresh", action="store_true", help="evaluate again even if a current evaluation is saved")
    p.add_argument("--tuning-metric", choices=("f1", "f2"), default=None,
                   help="multi-label: the metric per-value thresholds are tuned for (default f2, saved with the run)")
    p.add_argument("--json", action="store_true",
                   help="print per category accuracy, confusion matrix and per-value metrics as JSON")
    p.set_defaults(func=run_evaluate)

    p = sub.add_parser("calibrate", help="fit a run's scaling (temperature, label noise), familiarity and applies estimates (used by predict)")
    p.add_argument("--run", required=True, help="run id (see `runs list`)")
    p.add_argument("--json", action="store_true", help="print ECE before/after per category and the familiarity figures")
    p.set_defaults(func=run_calibrate)

    p = sub.add_parser("suspicious", help="labels an out-of-sample model finds least likely (review queue)")
    p.add_argument("--run", required=True, help="run whose backbone, label map and categories are used")
    p.add_argument("--top", type=int, default=DEFAULT_TOP, help=f"rows to show (default {DEFAULT_TOP})")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rank-by", choices=("self_confidence", "normalized_margin"), default="self_confidence")
    p.add_argument("--refresh", action="store_true", help="analyse again even if a current analysis is saved")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_suspicious)

    p = sub.add_parser("suggest-merges", help="value pairs the run's model confuses both ways (candidate merges)")
    p.add_argument("--run", required=True)
    p.add_argument("--top", type=int, default=10, help="at most this many pairs (default 10)")
    p.add_argument("--min-count", type=int, default=1, help="fewest confusions in each direction (default 1)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_suggest_merges)


def _stderr_progress(quiet: bool) -> Callable[[str, float], None]:
    last: list[str] = [""]

    def report(stage: str, fraction: float) -> None:
        word = stage.split(":")[0]
        if not quiet and word != last[0]:  # one line per stage, not per batch
            last[0] = word
            print(f"[{fraction:4.0%}] {stage}", file=sys.stderr, flush=True)

    return report


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a run (or reuse its current evaluation) and print the figures."""
    from fashion_core.analysis import evaluate_run

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    store = open_store(args)
    report = evaluate_run(store, args.run, refresh=args.refresh, tuning_metric=args.tuning_metric,
                          on_progress=_stderr_progress(False))
    if args.json:
        print_json(report.summary())
        return 0
    _print_evaluation(report.summary())
    return 0


def _print_evaluation(summary: dict[str, Any]) -> None:
    fmap = summary.get("fashionai_map")
    print(f"Run {summary['run']}: {summary['images']} validation images"
          + (f", FashionAI mAP {fmap:.4f}" if fmap is not None else "")
          + (" (labels changed since; use --refresh)" if summary.get("stale") else ""))
    for name, cat in summary["categories"].items():
        acc = cat.get("accuracy")
        print(f"\n{name} ({cat['kind']}, {cat['images']} images): accuracy "
              + (f"{acc:.4f}" if acc is not None else "-"))
        cols = ["precision", "recall", "f1"] + (["f2", "threshold"] if cat["kind"] == "multi" else ["ap"])
        print(f"  {'value':<28}" + "".join(f"{c:>10}" for c in cols) + f"{'support':>9}")
        for row in cat["per_value"]:
            cells = "".join(f"{row[c]:>10.3f}" if row.get(c) is not None else f"{'-':>10}" for c in cols)
            print(f"  {row['value'][:28]:<28}{cells}{row['support']:>9}")
    if summary.get("problems"):
        print(f"\n{len(summary['problems'])} problems (use --json to list them)")


def run_calibrate(args: argparse.Namespace) -> int:
    """Calibrate a run and print ECE before and after per category."""
    from fashion_core.analysis import calibrate_run
    from fashion_core.serving import ECE_TARGET, calibration_summary

    store = open_store(args)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    calibration = calibrate_run(store, args.run, on_progress=_stderr_progress(args.json))
    figures = {"run": args.run, "heads": calibration_summary(calibration.report),
               "pooled": calibration.report.get("pooled"),
               "val_unfamiliar": calibration.report["val_unfamiliar"], "threshold": round(calibration.threshold, 6)}
    if args.json:
        print_json(figures)
        return 0
    print(f"run {args.run}: validation images called unfamiliar {figures['val_unfamiliar']:.1%}")
    if figures["pooled"]:
        pooled = figures["pooled"]
        print(f"  single-choice categories together: ECE {pooled['before']:.3f} -> {pooled['after']:.3f}"
              f" (noise floor {pooled.get('noise_floor') or 0:.3f}, {pooled['images']} images)")
    for name, row in figures["heads"].items():
        verdict = ("under" if row["under_target"] else "OVER") if row["judgeable"] else "too few images to judge"
        held_out = "-" if row["held_out"] is None else f"{row['held_out']:.3f}"
        print(f"  {name}: ECE {row['before']:.3f} -> {row['after']:.3f}, held out {held_out}  (T={row['temperature']:.2f},"
              f" label noise {row['label_noise']:.0%}, noise floor {row['noise_floor'] or 0:.3f}, {row['images']} images;"
              f" target {ECE_TARGET}: {verdict})")
    print("  held out: the ECE when each half of the validation images is scaled by a fit on the other half;"
          " label noise: the share of labels the model is not expected to agree with")
    print("  noise floor: the ECE a perfectly calibrated model would show on as many images; a head is judged"
          f" against {ECE_TARGET} when its floor is at most half of it")
    return 0


def run_suspicious(args: argparse.Namespace) -> int:
    """Rank the run's data set's labels and print the top of the queue (and planted-label hits on demo data)."""
    from fashion_core.analysis import find_suspicious_labels, planted_wrong_labels, wrong_label_hits

    if args.top < 1:
        print(f"error: --top must be >= 1. Received: {args.top}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    store = open_store(args)
    report = find_suspicious_labels(store, workspace(args), args.run, folds=args.folds, seed=args.seed,
                                    rank_by=args.rank_by, refresh=args.refresh, on_progress=_stderr_progress(False))
    planted = planted_wrong_labels(store, args.run)
    hits = {}
    if planted is not None:
        n = wrong_label_hits(report, planted, len(report.table)).planted
        hits = {f"top_{k}": wrong_label_hits(report, planted, k).to_dict()
                for k in dict.fromkeys([args.top, n, 2 * n]) if k > 0}
    top = report.table.head(args.top)
    if args.json:
        print_json({"run": report.run_id, "dataset": report.dataset, "rows": int(len(report.table)),
                    "flagged": int(report.table["flagged"].sum()), "folds": report.folds, "facts": report.facts,
                    "wrong_label_hits": hits, "problems": report.problems, "top": top.to_dict(orient="records")})
        return 0
    print(f"Run {report.run_id}: {int(report.table['flagged'].sum())} of {len(report.table)} labels flagged"
          f" ({report.folds}-fold out-of-sample probabilities).")
    for row in top.itertuples(index=False):
        mark = "!" if row.flagged else " "
        print(f"{row.rank:>5} {mark} #{row.image_id:<7} {row.category:<24} given {row.given!r} "
              f"(p={row.self_confidence:.3f}) -> suggested {row.suggested!r} (p={row.suggested_prob:.3f})  {row.path}")
    for name, hit in hits.items():
        print(f"planted wrong labels in the {name.replace('_', ' ')}: {hit['found']} of {hit['planted']}")
    return 0


def run_suggest_merges(args: argparse.Namespace) -> int:
    """Print the value pairs the run's model confuses both ways, with the label-map step for each."""
    from fashion_core.analysis import evaluate_run, suggest_merges

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    store = open_store(args)
    report = evaluate_run(store, args.run, reuse_stale=True, on_progress=_stderr_progress(False))
    found = suggest_merges(report, top=args.top, min_count=args.min_count)
    if args.json:
        print_json({"run": report.run_id, "suggestions": [s.to_dict() for s in found]})
        return 0
    if not found:
        print(f"Run {report.run_id}: no value pair is confused in both directions on the validation images.")
    for s in found:
        print(f"{s.score:6.1%}  {s.describe()}\n        step: {s.step().describe()}")
    return 0

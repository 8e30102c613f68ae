"""CLI command ``train``: train a model in the foreground with the same options as ``runs submit``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from fashion_core.cli._common import open_store, print_json, workspace
from fashion_core.cli.runs import add_config_arguments, config_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model in the foreground (Ctrl-C cancels, keeping the best checkpoint)")
    add_config_arguments(p)
    p.add_argument("--json", action="store_true", help='print {"run": ID, "metrics": {...}} at the end')
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from fashion_core.modeling import TrainConfig
    from fashion_core.training import start_here

    config = TrainConfig.from_dict(config_from_args(args))
    ws = workspace(args)
    store = open_store(args)
    store.dataset(config.dataset)  # an unknown dataset fails before TensorFlow loads
    run_dir = start_here(store, ws, config.to_dict())
    print(f"run {run_dir.run_id}: {run_dir.path}", file=sys.stderr)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter short
    from fashion_core.analysis import train_and_calibrate
    from fashion_core.modeling import describe_devices, tensorflow_gpus

    print(describe_devices(tensorflow_gpus(), distribute=config.distribute, mixed_precision=config.mixed_precision),
          file=sys.stderr, flush=True)
    metrics = train_and_calibrate(store, ws, config, run_dir, on_epoch=_print_epoch,  # the queue's trainer too
                                  on_note=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print_json({"run": run_dir.run_id, "metrics": metrics})
    else:
        _print_summary(run_dir.run_id, metrics)
    return 0 if metrics.get("state") == "done" else 1


def _print_epoch(row: dict[str, Any]) -> None:
    heads = [k[len("val_"):-len("_accuracy")] for k in row if k.startswith("val_") and k.endswith("_accuracy")
             and k != "val_mean_accuracy"]
    accs = " ".join(f"{h}={row[f'val_{h}_accuracy']:.3f}" for h in heads)
    print(f"epoch {row['epoch']} [{row['phase']}] {row['seconds']:.1f}s loss={row.get('loss', float('nan')):.4f}"
          f" val: {accs}", file=sys.stderr, flush=True)


def _print_summary(run_id: str, metrics: dict[str, Any]) -> None:
    print(f"Run {run_id}: {metrics.get('state')} after {metrics.get('epochs_run')} epochs"
          f" ({metrics.get('timing', {}).get('total_seconds')} s); best epoch {metrics.get('best_epoch')}.")
    for cat, acc in metrics.get("val_accuracy", {}).items():
        print(f"  {cat}: validation accuracy {acc:.3f}")

"""CLI commands for background runs: ``runs list|show|submit|cancel|wait``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from fashion_core.cli._common import print_json, workspace

if TYPE_CHECKING:
    from fashion_core.training import JobStatus

FINISHED_OK = 0
FINISHED_NOT_DONE = 1  # exit code of ``runs wait`` for a failed or cancelled run


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="background training runs: list, show, submit, cancel, wait")
    rsub = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    a = rsub.add_parser("list", help="every run, newest first, with its state")
    a.add_argument("--dataset", default=None, help="only this dataset's runs")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_list)

    a = rsub.add_parser("show", help="a run's status, progress and metrics")
    a.add_argument("run")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_show)

    a = rsub.add_parser("submit", help="queue a training run in the background (one runs at a time)")
    add_config_arguments(a)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_submit)

    a = rsub.add_parser("cancel", help="cancel a queued run, or ask a running one to stop")
    a.add_argument("run")
    a.add_argument("--wait", action="store_true", help="wait until it has stopped (terminating it after the grace period)")
    a.add_argument("--grace", type=float, default=None, help="seconds a running run gets to stop (default 30)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_cancel)

    a = rsub.add_parser("wait", help="wait for a run to finish; exit code 0 if it is done, 1 otherwise")
    a.add_argument("run")
    a.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_wait)


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The training options (``--dataset`` and those of ``TrainConfig``); unset ones keep its defaults."""
    from fashion_core.modeling import BACKBONES, IMBALANCE_SCHEMES, SCHEDULES

    p.add_argument("--dataset", required=True)
    maps = p.add_mutually_exclusive_group()
    maps.add_argument("--map", dest="map_name", default=None, help="label map to train through (default: the active map)")
    maps.add_argument("--no-map", action="store_true", help="train on the labels without any map")
    p.add_argument("--categories", nargs="+", default=None, metavar="CAT", help="categories to train (default: all labelled)")
    p.add_argument("--backbone", choices=sorted(BACKBONES), default=None)
    p.add_argument("--weights", default=None, help="bundled, imagenet, none or a weights file")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--finetune-epochs", type=int, default=None)
    p.add_argument("--finetune-layers", type=float, default=None, metavar="SHARE",
                   help="share of the backbone's layers, from the top, that fine-tuning unfreezes (1 = all)")
    p.add_argument("--finetune-lr-factor", type=float, default=None, metavar="F",
                   help="fine-tune learning rate = learning rate * F")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--schedule", choices=SCHEDULES, default=None)
    p.add_argument("--quick", action="store_true", default=None,
                   help="train heads on cached backbone features (no augmentation, no fine-tuning)")
    p.add_argument("--no-augmentation", action="store_true")
    p.add_argument("--imbalance", choices=IMBALANCE_SCHEMES, default=None)
    p.add_argument("--val-fraction", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The config dict of the options given (``TrainConfig`` fills in and checks the rest)."""
    config: dict[str, Any] = {"dataset": args.dataset}
    for name in ("categories", "backbone", "weights", "image_size", "epochs", "finetune_epochs",
                 "finetune_layers", "finetune_lr_factor", "batch_size", "learning_rate", "schedule", "quick", "val_fraction", "seed"):
        value = getattr(args, name, None)
        if value is not None:
            config[name] = value
    from fashion_core.labels import LabelSource

    config["labels"] = LabelSource.choose(getattr(args, "map_name", None), no_map=getattr(args, "no_map", False))
    if getattr(args, "no_augmentation", False):
        import dataclasses

        from fashion_core.modeling import Augmentation

        config["augmentation"] = dataclasses.asdict(Augmentation.off())
    if getattr(args, "imbalance", None):
        config["imbalance"] = {"scheme": args.imbalance}
    return config


def run_list(args: argparse.Namespace) -> int:
    from fashion_core.training import jobs
    from fashion_core.views import runs_table

    ws = workspace(args)
    jobs.reconcile(ws)
    listed = jobs.list_jobs(ws, args.dataset)
    if args.json:
        print_json({"runs": [j.to_dict() for j in listed]})
        return 0
    if not listed:
        print("No runs yet. Start one with: python -m fashion_core runs submit --dataset NAME")
        return 0
    print(runs_table(listed).fillna("").to_string(index=False))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from fashion_core.training import jobs

    ws = workspace(args)
    jobs.reconcile(ws)
    _print_status(args, jobs.status(ws, args.run))
    return 0


def run_submit(args: argparse.Namespace) -> int:
    from fashion_core.training import jobs

    ws = workspace(args)
    run_id = jobs.submit(ws, config_from_args(args))
    current = jobs.status(ws, run_id)
    if args.json:
        print_json({"run": run_id, "state": current.state, "run_dir": current.run_dir})
    else:
        print(f"Run {run_id}: {current.state}. Follow it with: python -m fashion_core runs wait {run_id}")
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    from fashion_core.training import jobs

    grace = args.grace if args.grace is not None else jobs.CANCEL_GRACE_SECONDS
    current = jobs.cancel(workspace(args), args.run, grace_seconds=grace, wait=args.wait)
    if args.json:
        print_json(current.to_dict())
    elif current.state == "running":
        print(f"Run {args.run}: asked to stop; it will keep its best checkpoint.")
    else:
        print(f"Run {args.run}: {current.state}.")
    return 0


def run_wait(args: argparse.Namespace) -> int:
    from fashion_core.training import jobs

    current = jobs.wait(workspace(args), args.run, timeout=args.timeout)
    _print_status(args, current)
    return FINISHED_OK if current.state == "done" else FINISHED_NOT_DONE


def _print_status(args: argparse.Namespace, current: JobStatus) -> None:
    from fashion_core.views import run_progress, val_accuracy

    if args.json:
        print_json(current.to_dict())
        return
    progress = run_progress(current)
    print(f"Run {current.run} ({current.dataset}): {current.state}")
    details = [progress.epoch_text, progress.batch_text, current.phase or "",
               progress.per_epoch_text and f"{progress.per_epoch_text} per epoch",
               progress.eta_text and f"{progress.eta_text} left"]
    if current.state == "running" and any(details):
        print("  " + ", ".join(d for d in details if d))
    for cat, acc in val_accuracy(current.metrics).items():
        print(f"  val accuracy {cat}: {acc:.3f}")
    if current.error:
        print(f"  error: {current.error}", file=sys.stderr)
    if current.log_tail:
        print("  last lines of log.txt:\n" + current.log_tail, file=sys.stderr)

"""CLI commands of the labelling loop (the Label page's, scriptable): ``label-assist``, ``label-queue``,
``label`` and ``label-undo``."""

from __future__ import annotations

import argparse
from typing import Any

from fashion_core.cli._common import open_store, print_json, workspace
from fashion_core.errors import FashionCoreError

MODES = ("no_label", "label_next", "disagrees", "review", "complete")  # label_queue.MODES (a test checks)


class LabelCommandError(FashionCoreError, ValueError):
    """A labelling command names an image or edit the dataset does not have."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("label-assist", help="refit the labelling assistant now (suggestions, label next order)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_assist)

    p = sub.add_parser("label-queue", help="list a labelling queue in order, with the model's suggestions")
    p.add_argument("--dataset", required=True)
    p.add_argument("--mode", required=True, choices=MODES)
    p.add_argument("--category", default=None, help="one single-choice category (default: all of them)")
    p.add_argument("--annotator", default=None, help="whose queue (review: labels set by anybody else);"
                                                     " default: the acting identity")
    p.add_argument("--limit", type=int, default=50, help="at most this many cells (default 50)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_queue)

    p = sub.add_parser("label", help="set one image's label in a category through the edit log")
    p.add_argument("--dataset", required=True)
    p.add_argument("--image", required=True, help="the image's path as the dataset lists it")
    p.add_argument("--category", required=True)
    p.add_argument("--value", required=True)
    p.add_argument("--mode", default="cli", help="recorded in the edit's reason (default: cli)")
    p.add_argument("--unsure", action="store_true", help="mark the label unsure (the m key)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_label)

    p = sub.add_parser("label-undo", help="undo a label (only the latest change of its cell)")
    p.add_argument("--edit", required=True, type=int, help="the edit id `label` printed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_undo)


def run_assist(args: argparse.Namespace) -> int:
    from fashion_core.analysis import assist

    store = open_store(args)
    result = assist.refresh(store, workspace(args), args.dataset, assist.AssistSettings())
    out = {"dataset": args.dataset, "categories": sorted(result.probs), "images": int(len(result.image_ids)),
           "val_accuracy": result.val_accuracy}
    if args.json:
        print_json(out)
        return 0
    accuracy = "not measured (too few labels)" if result.val_accuracy is None else f"{result.val_accuracy:.3f}"
    print(f"Refitted the assistant of {args.dataset!r} on {len(result.probs)} categories over"
          f" {out['images']} images; held-out accuracy {accuracy}")
    return 0


def run_queue(args: argparse.Namespace) -> int:
    from fashion_core.access import acting
    from fashion_core.analysis import assist, build_queue

    if args.limit < 1:
        raise LabelCommandError(f"`--limit` must be at least 1. Received: --limit {args.limit}")
    store = open_store(args)
    folder = assist.assist_dir(workspace(args), store.dataset(args.dataset).id)
    suggestions = assist.load_suggestions(folder)
    features = assist.load_features(folder) if args.mode == "label_next" else None
    items = build_queue(store, args.dataset, args.mode, category=args.category,
                        annotator=args.annotator or acting().name, suggestions=suggestions, features=features,
                        limit=args.limit)
    rows = [_item_dict(i) for i in items]
    if args.json:
        print_json({"dataset": args.dataset, "mode": args.mode, "model": suggestions is not None, "items": rows})
        return 0
    if suggestions is None and args.mode in ("label_next", "disagrees", "complete"):
        print("(no assistant fit yet: run `label-assist` first for suggestions and the label next order)")
    for row in rows:
        guess = f"{row['suggestion']} ({row['probability']:.2f})" if row["suggestion"] else "-"
        print(f"{row['path']}\t{row['category']}\tnow: {row['current'] or '-'}\tsuggested: {guess}")
    print(f"{len(rows)} cells")
    return 0


def run_label(args: argparse.Namespace) -> int:
    from fashion_core.access import acting
    from fashion_core.analysis import assist, queue_item, record_label

    store = open_store(args)
    info = store.dataset(args.dataset)
    image_id = store.image_ids(args.dataset).get(args.image)
    if image_id is None:
        raise LabelCommandError(f"Dataset {args.dataset!r} has no image {args.image!r} (--image); "
                                f"`images` or `label-queue` list its paths")
    suggestions = assist.load_suggestions(assist.assist_dir(workspace(args), info.id))
    item = queue_item(store, args.dataset, int(image_id), args.category, suggestions)
    edit = record_label(store, args.dataset, item, args.value, annotator=acting().name, mode=args.mode,
                        unsure=args.unsure)
    out = {"edit": edit.id, "image": args.image, "category": args.category, "old": item.current,
           "new": args.value, "accepted_suggestion": item.suggestion == args.value}
    if args.json:
        print_json(out)
        return 0
    print(f"Edit {edit.id}: {args.image} {args.category}: {item.current or '(no label)'} -> {args.value}"
          f" (undo: label-undo --edit {edit.id})")
    return 0


def run_undo(args: argparse.Namespace) -> int:
    from fashion_core.access import acting
    from fashion_core.analysis import undo_label

    edit = undo_label(open_store(args), args.edit, annotator=acting().name)
    if args.json:
        print_json({"undone": args.edit, "edit": edit.id})
        return 0
    print(f"Undid edit {args.edit} (logged as edit {edit.id})")
    return 0


def _item_dict(item: Any) -> dict[str, Any]:
    return {"image_id": item.image_id, "path": item.path, "category": item.category, "current": item.current,
            "suggestion": item.suggestion, "probability": item.probability, "by": item.by}

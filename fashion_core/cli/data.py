"""CLI commands for data: ``demo-data``, ``ingest``, ``datasets``, ``stats``, ``images verify``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fashion_core.cli._common import open_store, print_json, workspace
from fashion_core.cli._errors import EXIT_CHECK_FAILED


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo-data", help="draw the synthetic demo data set and import it")
    p.add_argument("--out", type=Path, default=None, help="folder (default: <workspace>/demo)")
    p.add_argument("--images", type=int, default=1500, help="number of images (default 1500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default="demo", help="dataset name to import as (default: demo)")
    p.add_argument("--no-import", action="store_true", help="only write the files")
    p.add_argument("--replace", action="store_true",
                   help="replace a dataset of the same name (its edits of images still drawn are kept)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_demo_data)

    p = sub.add_parser("ingest", help="import a label source as a dataset")
    p.add_argument("files", nargs="*", type=Path, help="label file(s); for folders: the tree root")
    p.add_argument("--format", required=True, choices=["fashionai", "jd", "folders", "csv", "json"])
    p.add_argument("--dataset", required=True, help="name of the new dataset")
    p.add_argument("--images-root", required=True, type=Path, help="folder image paths are relative to")
    p.add_argument("--category", default=None, help="category name (one-category folders, wide CSV)")
    p.add_argument("--replace", action="store_true", help="replace a dataset of the same name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_ingest)

    p = sub.add_parser("datasets", help="list the datasets in the workspace")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_datasets)

    p = sub.add_parser("stats", help="counts per category and value (current labels, without a map unless --map)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--map", default=None, help="count through this label map")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_stats)

    p = sub.add_parser("images", help="image checks")
    isub = p.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    v = isub.add_parser("verify", help="decode every image fully and report broken ones")
    v.add_argument("--dataset", required=True)
    v.add_argument("--workers", type=int, default=None)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=run_verify)


def run_demo_data(args: argparse.Namespace) -> int:
    from fashion_core.demo import generate_demo_data

    ws = workspace(args)
    out = args.out or ws.demo_dir
    if not args.no_import:  # refuse before drawing, not after a minute of work
        from fashion_core.ingest import refuse_existing

        refuse_existing(open_store(args), args.dataset, args.replace)
    bar = _bar(args, "drawing")
    demo = generate_demo_data(out, n_images=args.images, seed=args.seed, on_progress=bar.update_to)
    bar.close()
    result: dict[str, object] = {"root": str(demo.root), "label_file": str(demo.label_file), "images": demo.count}
    if not args.no_import:
        from fashion_core.ingest import import_labels

        report = import_labels(
            open_store(args), dataset=args.dataset, fmt="fashionai", files=[demo.label_file],
            images_root=demo.root, replace=args.replace,
        )
        result.update(report.to_dict())
    _emit(args, result, f"Demo data: {demo.count} images in {demo.root}")
    if not args.no_import and not args.json and report.replaced:
        print(_replace_note(report))
    return 0


def run_ingest(args: argparse.Namespace) -> int:
    from fashion_core.ingest import import_labels

    bar = _bar(args, "checking images")
    report = import_labels(
        open_store(args), dataset=args.dataset, fmt=args.format, files=args.files,
        images_root=args.images_root, category=args.category, replace=args.replace,
        on_progress=lambda stage, done, total: bar.update_to(done, total),
    )
    bar.close()
    if args.json:
        print_json(report.to_dict())
        return 0
    print(f"Imported {report.images} images and {report.annotations} labels into {report.dataset!r}"
          f" ({report.rows_read} rows read, {len(report.rejected)} rejected,"
          f" {len(report.duplicates)} duplicates).")
    if report.replaced:
        print(_replace_note(report))
    for r in report.rejected[:50]:
        print(f"  rejected {r.file}:{r.line}: {r.reason}")
    if len(report.rejected) > 50:
        print(f"  ... and {len(report.rejected) - 50} more (use --json for all)")
    return 0


def _replace_note(report) -> str:  # report: ImportReport
    return (f"Replaced the earlier {report.dataset!r}: kept {report.edits_kept} edits of images still"
            f" there; dropped {report.edits_dropped} edits of images or categories no longer in the source.")


def run_datasets(args: argparse.Namespace) -> int:
    store = open_store(args)
    rows = []
    for d in store.datasets():
        counts = store.counts(d.name)
        rows.append({"dataset": d.name, "format": d.source_format, "images_root": str(d.images_root),
                     "categories": d.schema.category_names, "active_map": d.active_map, **counts})
    if args.json:
        print_json({"datasets": rows})
    else:
        for r in rows:
            print(f"{r['dataset']}: {r['images']} images, {r['annotations']} labels,"
                  f" {r['label_edits']} edits ({r['format']}, {r['images_root']})")
        if not rows:
            print("No datasets yet. Try: python -m fashion_core demo-data")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from fashion_core.labels import NO_MAP, LabelSource, label_counts, label_view

    # Without --map: the labels before any map (not the active one), as the interface says.
    store = open_store(args)
    view = label_view(store, args.dataset, LabelSource.named(args.map) if args.map else NO_MAP)
    active = store.dataset(args.dataset).active_map
    counts = label_counts(view.schema, view.labels)
    result = {"dataset": args.dataset, "map": args.map, "categories": counts}  # --json keeps its shape
    if args.json:
        print_json(result)
        return 0
    if args.map:
        print(f"Counts through label map {args.map!r}.")
    elif active:  # the Distribution page shows the active map's counts: say why these differ
        print(f"Counts without a label map: the active map {active!r} (what the app's pages show) is not"
              f" applied; add --map {active} to count through it.")
    else:
        print("Counts without a label map (the dataset has no active map).")
    for cat, values in counts.items():
        print(f"{cat} ({sum(values.values())})")
        for value, n in values.items():
            print(f"  {n:7d}  {value}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from fashion_core.ingest import verify_images

    store = open_store(args)
    info = store.dataset(args.dataset)
    images = store.images(args.dataset)
    bar = _bar(args, "decoding", total=len(images))
    problems = verify_images(
        zip(images["image_id"].tolist(), images["path"].tolist()), info.images_root,
        workers=args.workers, on_progress=lambda done: bar.update_to(done, len(images)),
    )
    bar.close()
    result = {"dataset": args.dataset, "checked": len(images), "broken": len(problems),
              "problems": [{"image_id": p.image_id, "path": p.path, "reason": p.reason} for p in problems]}
    _emit(args, result, f"Checked {len(images)} images: {len(problems)} broken.")
    if not args.json:
        for p in problems:
            print(f"  {p.path}: {p.reason}")
    return EXIT_CHECK_FAILED if problems else 0  # scripts must notice broken images


def _emit(args: argparse.Namespace, result: dict, human: str) -> None:
    print_json(result) if args.json else print(human)


class _Bar:
    """A tqdm bar on stderr that can be moved to an absolute position."""

    def __init__(self, desc: str, total: int | None, disable: bool) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=disable)

    def update_to(self, done: int, total: int | None = None) -> None:
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


def _bar(args: argparse.Namespace, desc: str, total: int | None = None) -> _Bar:
    return _Bar(desc, total, disable=not sys.stderr.isatty())

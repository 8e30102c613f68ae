"""CLI command ``export-labels``: the current labels as FashionAI label.csv, JD list, generic CSV or JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from fashion_core.cli._common import open_store, print_json

FORMATS = ("fashionai", "jd", "csv", "json")  # kept equal to export_labels.LABEL_FORMATS (a test checks)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-labels", help="write the current labels as fashionai, jd, csv or json")
    p.add_argument("--dataset", required=True)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--map", default=None, help="label map to read through (default: the active one)")
    group.add_argument("--no-map", action="store_true", help="export the labels without any map")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--out", required=True, type=Path, help="the file to write (must not exist)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_export_labels)


def run_export_labels(args: argparse.Namespace) -> int:
    from fashion_core.labels import LabelSource, export_labels

    source = LabelSource.choose(args.map, no_map=args.no_map)
    export = export_labels(open_store(args), args.dataset, args.format, args.out, source=source,
                           overwrite=args.overwrite)
    if args.json:
        print_json({**export.to_dict(), "out": str(args.out)})
        return 0
    through = f" through label map {export.map_name!r} v{export.map_version}" if export.map_name else ""
    print(f"Wrote {export.labels} labels of {export.dataset!r}{through} as {export.fmt} to {args.out}")
    return 0

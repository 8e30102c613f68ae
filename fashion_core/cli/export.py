"""CLI command ``export-tfrecord``: a dataset as sharded TFRecords with its schema beside them."""

from __future__ import annotations

import argparse

from fashion_core.cli._common import open_store, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-tfrecord", help="export a dataset as sharded TFRecord files")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True, help="folder (local path or tf.io.gfile URL such as gs://...)")
    p.add_argument("--map", default=None, help="label map to apply (default: the dataset's active map)")
    p.add_argument("--no-map", action="store_true", help="export the labels without any map")
    p.add_argument("--shard-size", type=int, default=2000)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fashion_core.labels import LabelSource
    from fashion_core.modeling import export_tfrecords

    source = LabelSource.choose(args.map, no_map=args.no_map)
    result = export_tfrecords(open_store(args), args.dataset, args.out, source=source, shard_size=args.shard_size)
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"Wrote {result.examples} examples in {len(result.shards)} shards to {result.out_dir}"
              f" ({len(result.skipped)} images skipped).")
        for s in result.skipped:
            print(f"  skipped {s['path']}: {s['reason']}")
    return 0

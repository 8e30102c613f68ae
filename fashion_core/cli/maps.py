"""CLI commands for label maps: ``regroup``, ``maps list|show|export|import|activate|...``, ``export-folders``."""

from __future__ import annotations

import argparse
from pathlib import Path

from fashion_core.cli._common import open_store, print_json

POLICIES = ("keep", "drop", "negative")


class _OrderedStep(argparse.Action):
    """Collects --merge/--rename/--drop in the order given: steps apply in that order."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        steps = list(getattr(namespace, "step_args", None) or [])
        steps.append((self.dest, values))
        namespace.step_args = steps


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("regroup", help="merge, rename or drop values of a category into a label map")
    p.add_argument("--dataset", required=True, help="dataset whose schema the steps must fit")
    p.add_argument("--category", required=True)
    p.add_argument(
        "--merge",
        action=_OrderedStep,
        metavar='"A,B=>C"',
        help="merge values A and B into C (new or existing)",
    )
    p.add_argument("--rename", action=_OrderedStep, metavar='"A=>B"', help="rename value A to B")
    p.add_argument(
        "--drop", action=_OrderedStep, metavar="VALUE", help="drop a value: its images leave the category"
    )
    p.add_argument("--maybe", choices=POLICIES, default=None, help="what m marks mean in this category")
    p.add_argument(
        "--save", metavar="MAPNAME", default=None, help="append the steps to this map (created if needed)"
    )
    p.add_argument("--activate", action="store_true", help="make the saved map the dataset's active map")
    p.add_argument("--note", default=None, help="note stored with the new map version")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_regroup, step_args=[])

    p = sub.add_parser("maps", help="list, show, export, import, activate and undo label maps")
    msub = p.add_subparsers(dest="maps_command", metavar="ACTION", required=True)
    a = msub.add_parser("list", help="the latest version of every map")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_list)
    a = msub.add_parser("show", help="a map's steps and its versions")
    a.add_argument("name")
    a.add_argument("--version", type=int, default=None)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_show)
    a = msub.add_parser("export", help="write a map to a .yaml/.yml/.json file")
    a.add_argument("name")
    a.add_argument("file", type=Path)
    a.add_argument("--version", type=int, default=None)
    a.set_defaults(func=run_export)
    a = msub.add_parser("import", help="save a map from a .yaml/.yml/.json file as a new version")
    a.add_argument("file", type=Path)
    a.add_argument("--name", default=None, help="save under this name instead of the file's")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_import)
    a = msub.add_parser("activate", help="read a dataset's labels through a map")
    a.add_argument("name")
    a.add_argument("--dataset", required=True)
    a.set_defaults(func=run_activate)
    a = msub.add_parser("deactivate", help="read a dataset's labels without a map")
    a.add_argument("--dataset", required=True)
    a.set_defaults(func=run_deactivate)
    a = msub.add_parser("undo", help="save a new version of a map without its last step")
    a.add_argument("name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_undo)
    a = msub.add_parser("delete", help="delete a map no dataset has active and no run used")
    a.add_argument("name")
    a.set_defaults(func=run_delete)
    a = msub.add_parser("install-examples", help="save the shipped example maps (FashionAI source merges)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_install_examples)

    p = sub.add_parser(
        "export-folders", help="write out/<category>/<value>/ folders (hard links, else copies)"
    )
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True, type=Path, help="a new or empty folder")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--map", default=None, help="label map to read through (default: the active one)")
    group.add_argument("--no-map", action="store_true", help="export the labels without any map")
    p.add_argument("--category", action="append", default=None, help="only this category (repeatable)")
    p.add_argument("--copy", action="store_true", help="always copy instead of hard-linking")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_export_folders)


def run_regroup(args: argparse.Namespace) -> int:
    from fashion_core.errors import LabelMapError
    from fashion_core.labels import label_counts, regroup

    store = open_store(args)
    info = store.dataset(args.dataset)
    info.schema.category(args.category)  # unknown category: SchemaError naming the known ones
    steps = regroup.steps_from_flags(args.category, args.step_args, args.maybe)
    if args.activate and not args.save:
        raise LabelMapError("--activate needs --save MAPNAME (only a saved map can be active).")
    draft = regroup.start_draft(store, args.save, default="preview").with_steps(*steps)
    labels = store.current_labels(args.dataset)
    preview = regroup.preview_map(draft, info.schema, labels)  # validates every step before any save
    table = preview.counts(args.category)
    saved = (
        regroup.save_draft(
            store, args.dataset, draft, note=args.note or regroup.steps_note(steps), activate=args.activate
        )
        if args.save
        else None
    )
    result = {
        "dataset": args.dataset,
        "category": args.category,
        "map": saved.name if saved else None,
        "version": saved.version if saved else None,
        "active": bool(saved and args.activate),
        "added": [s.to_dict() for s in steps],
        "steps": [s.to_dict() for s in (saved or draft).steps],
        "before": label_counts(info.schema, labels)[args.category],
        "after": label_counts(*preview.after)[args.category],
    }
    if args.json:
        print_json(result)
        return 0
    for s in steps:
        print(f"  + {s.describe()}")
    print(f"{args.category}: value, before -> after")
    for r in table.itertuples():
        print(f"  {r.before:7d} -> {r.after:7d}  {r.value}")
    if saved:
        print(
            f"Saved label map {saved.name!r} version {saved.version}"
            + (f"; active in {args.dataset!r}." if args.activate else ".")
        )
    else:
        print("Preview only: add --save MAPNAME to keep these steps.")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from fashion_core.labels import list_maps

    maps = list_maps(open_store(args))
    if args.json:
        print_json({"maps": [m.to_dict() for m in maps]})
        return 0
    for m in maps:
        active = f", active in {', '.join(m.active_in)}" if m.active_in else ""
        print(
            f"{m.name} v{m.version}: {m.steps} steps{active} ({m.created_at}{'; ' + m.note if m.note else ''})"
        )
    if not maps:
        print("No label maps yet. Try: python -m fashion_core maps install-examples")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from fashion_core.labels import list_maps, load_map

    store = open_store(args)
    label_map = load_map(store, args.name, args.version)
    history = list_maps(store, args.name)
    if args.json:
        print_json({**label_map.to_dict(), "versions": [h.to_dict() for h in history]})
        return 0
    print(
        f"{label_map.name} version {label_map.version} (m marks: {label_map.maybe_policy.value if label_map.maybe_policy else 'as stored'})"
    )
    if label_map.description:
        print(f"  {label_map.description}")
    for i, step in enumerate(label_map.steps, start=1):
        print(f"  {i:3d}. {step.describe()}")
    print("versions: " + ", ".join(f"v{h.version} ({h.note or 'no note'})" for h in history))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from fashion_core.labels import export_map, load_map

    path = export_map(load_map(open_store(args), args.name, args.version), args.file)
    print(f"Wrote {path}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from fashion_core.labels import import_map, save_map

    saved = save_map(open_store(args), import_map(args.file, name=args.name), f"imported from {args.file}")
    if args.json:
        print_json(saved.to_dict())
    else:
        print(
            f"Saved label map {saved.name!r} version {saved.version} ({len(saved.steps)} steps) from {args.file}"
        )
    return 0


def run_activate(args: argparse.Namespace) -> int:
    from fashion_core.labels import activate_map

    label_map = activate_map(open_store(args), args.dataset, args.name)
    print(
        f"Dataset {args.dataset!r} now reads its labels through {label_map.name!r} (latest version, now v{label_map.version})."
    )
    return 0


def run_deactivate(args: argparse.Namespace) -> int:
    from fashion_core.labels import deactivate_map

    deactivate_map(open_store(args), args.dataset)
    print(f"Dataset {args.dataset!r} now reads its labels without a map.")
    return 0


def run_undo(args: argparse.Namespace) -> int:
    from fashion_core.labels import undo_step

    saved = undo_step(open_store(args), args.name)
    if args.json:
        print_json(saved.to_dict())
    else:
        print(
            f"Saved {saved.name!r} version {saved.version} with {len(saved.steps)} steps (last step undone)."
        )
    return 0


def run_delete(args: argparse.Namespace) -> int:
    from fashion_core.labels import delete_map

    n = delete_map(open_store(args), args.name)
    print(f"Deleted label map {args.name!r} ({n} versions).")
    return 0


def run_install_examples(args: argparse.Namespace) -> int:
    from fashion_core.labels import install_example_maps

    maps = install_example_maps(open_store(args))
    if args.json:
        print_json({"maps": [{"name": m.name, "version": m.version, "steps": len(m.steps)} for m in maps]})
    else:
        for m in maps:
            print(f"Example map {m.name!r} is version {m.version} ({len(m.steps)} steps).")
    return 0


def run_export_folders(args: argparse.Namespace) -> int:
    from fashion_core.labels import LabelSource, export_folders

    report = export_folders(
        open_store(args),
        args.dataset,
        args.out,
        source=LabelSource.choose(args.map, no_map=args.no_map),
        categories=args.category,
        link=not args.copy,
    )
    if args.json:
        print_json(report.to_dict())
        return 0
    print(
        f"Exported {report.linked + report.copied} files to {report.out_dir} ({report.linked} hard links,"
        f" {report.copied} copies) through map {report.map_name or '(none)'}."
    )
    for cat, counts in report.counts.items():
        print(f"  {cat}: " + ", ".join(f"{v} {n}" for v, n in counts.items()))
    for m in report.missing[:20]:
        print(f"  missing {m['path']}: {m['reason']}")
    if len(report.missing) > 20:
        print(f"  ... and {len(report.missing) - 20} more (use --json for all)")
    return 0 if not report.missing else 1

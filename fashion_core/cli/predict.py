"""CLI commands ``predict`` (photos through a run's model) and ``export-model`` (SavedModel, TFLite)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from fashion_core.cli._common import open_store, print_json
from fashion_core.csv_cells import SafeWriter

APPLIES_CUT = 0.5  # below: the photo probably does not show what the category describes


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict every category of a run's model for image files or folders")
    p.add_argument("--run", required=True, help="run id (see `runs list`)")
    p.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files, or folders (searched recursively)"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print {IMAGE: {CATEGORY: [{"value": V, "prob": P}, ...]}}, values sorted by probability',
    )
    p.add_argument(
        "--details",
        action="store_true",
        help='with --json: {IMAGE: {"categories": {...}, "familiarity": {"score": S, "unfamiliar": B},'
        ' "applies": {CATEGORY: P}}} (familiarity and applies need `calibrate` first, else null)',
    )
    p.add_argument("--csv", metavar="OUT", help="write one row per image and category to this CSV file")
    p.add_argument(
        "--top",
        type=_positive,
        default=None,
        metavar="K",
        help="values per category to list (default: all for --json/--csv, 3 for text)",
    )
    p.add_argument("--batch-size", type=_positive, default=32)
    p.add_argument(
        "--engine",
        choices=("auto", "int8", "tf"),
        default="auto",
        help="auto: the run's serving model without TensorFlow (older runs: converted once); int8: its INT8"
        " model (see `quantize`); tf: the Keras model in TensorFlow",
    )
    p.add_argument("--int8", action="store_true", help="the same as --engine int8")
    p.set_defaults(func=run_predict)

    e = sub.add_parser("export-model", help="export a run's model as a SavedModel (and a TFLite file)")
    e.add_argument("--run", required=True, help="run id (see `runs list`)")
    e.add_argument(
        "--out", required=True, help="folder to create: saved_model/ (+ model.tflite), each with its schema"
    )
    e.add_argument("--tflite", action="store_true", help="also write model.tflite")
    e.add_argument(
        "--int8",
        action="store_true",
        help="also write model-int8.tflite (post-training INT8, calibrated on training images) and print"
        " its validation accuracy and speed against the float model",
    )
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=run_export)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run_predict(args: argparse.Namespace) -> int:
    from fashion_core.runs import get_run
    from fashion_core.serving import collect_image_paths

    store = open_store(args)
    get_run(store, args.run)  # an unknown run fails before anything else (and before TensorFlow loads)
    paths, problems = collect_image_paths(args.images)
    engine = "int8" if args.int8 else args.engine
    predictor = _load_predictor(store, args.run, engine) if paths else None
    details = predictor is not None and predictor.calibration is not None
    result = predictor.predict_paths(paths, batch_size=args.batch_size, details=details) if predictor else None
    problems += list(result.problems) if result else []
    for problem in problems:
        print(f"skipped {problem.path}: {problem.reason}", file=sys.stderr)
    if result is None or not result.predictions:
        print("error: no image could be predicted", file=sys.stderr)
        return 1
    if args.csv:
        write_csv(Path(args.csv), result.predictions, args.top)
        print(f"wrote {args.csv}: {len(result.predictions)} images", file=sys.stderr)
    _warn_unfamiliar(result.predictions)
    if args.json:
        print_json(result.to_dict(args.top, details=args.details))
    elif not args.csv:
        _print_text(result.predictions, args.top or 3)
    return 0


def _warn_unfamiliar(predictions: dict[str, Any]) -> None:
    """On stderr (stdout keeps its shape): photos unlike anything the model was trained on."""
    for image, prediction in predictions.items():
        if prediction.familiarity is not None and prediction.familiarity.unfamiliar:
            print(f"warning: {image} is unlike the photos this model was trained on"
                  f" (familiarity {prediction.familiarity.score:.3f}); its answers are unreliable", file=sys.stderr)


def _load_predictor(store: Any, run_id: str, engine: str = "auto") -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from fashion_core.serving import Predictor

    predictor = Predictor.from_run(store, run_id, engine=engine)
    if predictor.engine_note:
        print(f"note: {predictor.engine_note}", file=sys.stderr)
    return predictor


def write_csv(path: Path, predictions: dict[str, Any], top: int | None) -> None:
    """One row per image and category: image, category, kind, value_1, prob_1, ..., positives."""
    depth = max(len(c.values) for p in predictions.values() for c in p.categories)
    depth = min(depth, top) if top else depth
    header = ["image", "category", "kind"]
    for k in range(1, depth + 1):
        header += [f"value_{k}", f"prob_{k}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = SafeWriter(f)
        writer.writerow([*header, "positives"])
        for image, prediction in predictions.items():
            for answer in prediction.categories:
                cells: list[Any] = [image, answer.category, answer.kind.value]
                for item in answer.ranked(depth):
                    cells += [item["value"], f"{item['prob']:.6f}"]
                cells += [""] * (len(header) - len(cells))
                writer.writerow([*cells, "|".join(answer.positives)])


def _print_text(predictions: dict[str, Any], top: int) -> None:
    for image, prediction in predictions.items():
        print(f"{image}  ({prediction.total_ms:.1f} ms)")
        for answer in prediction.categories:
            ranked = ", ".join(f"{v['value']} {v['prob']:.3f}" for v in answer.ranked(top))
            extra = f"  -> {'|'.join(answer.positives) or '(none)'}" if answer.kind.value == "multi" else ""
            applies = (prediction.applies or {}).get(answer.category)
            note = f"  (probably not shown: applies {applies:.2f})" if applies is not None and applies < APPLIES_CUT else ""
            print(f"  {answer.category}: {ranked}{extra}{note}")


def run_export(args: argparse.Namespace) -> int:
    from fashion_core.runs import get_run

    store = open_store(args)
    get_run(store, args.run)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from fashion_core.modeling import export_saved_model, export_tflite

    out = Path(args.out)
    saved = export_saved_model(store, args.run, out / "saved_model")
    results = {"saved_model": saved.to_dict()}
    if args.tflite:
        results["tflite"] = export_tflite(store, args.run, out / "model.tflite", saved_model=saved).to_dict()
    if args.int8:
        results["int8"] = _export_int8(store, args.run, out, saved.image_size)
    if args.json:
        print_json({"run": args.run, **results})
    else:
        for kind, r in results.items():
            print(
                f"{kind}: {r['model']} (schema: {r['schema']}; input {r['image_size']}x{r['image_size']} RGB 0..255)"
            )
    return 0


def _export_int8(store: Any, run_id: str, out: Path, image_size: int) -> dict[str, Any]:
    """The run's INT8 serving model (written and measured now) copied to ``out/model-int8.tflite``."""
    import shutil

    from fashion_core.analysis import quantize_run
    from fashion_core.runs import RunDir, get_run

    report = quantize_run(store, run_id)
    target = out / "model-int8.tflite"
    shutil.copyfile(RunDir(get_run(store, run_id).run_dir).serving_int8, target)
    f, q = report["float"], report["int8"]
    print(f"INT8 vs float on {report['images']} validation images: accuracy {q['accuracy']:.4f} vs {f['accuracy']:.4f}"
          f" ({q['accuracy'] - f['accuracy']:+.4f}); one photo {q['ms']:.1f} ms vs {f['ms']:.1f} ms", file=sys.stderr)
    return {"run": run_id, "model": str(target), "schema": str(out / "saved_model" / "schema.json"),
            "image_size": image_size, "comparison": report,
            "note": "outputs: one per category (as the SavedModel) and _features (the backbone's features)"}

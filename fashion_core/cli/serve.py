"""CLI commands ``serve`` (the HTTP API on uvicorn) and ``quantize`` (a run's INT8 serving model)."""

from __future__ import annotations

import argparse
import os
import sys

from fashion_core.cli._common import open_store, print_json
from fashion_core.cli.app import host_name


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve a run's model over HTTP (POST /v1/predict, GET /v1/runs, /docs)")
    p.add_argument("--run", default=None, help="run id answering requests (default: the best finished run)")
    p.add_argument("--host", type=host_name, default="127.0.0.1",
                   help="address to listen on (default: loopback only; another needs accounts)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--int8", action="store_true", help="answer with the run's INT8 model (see `quantize`)")
    p.add_argument("--workers", type=workers_count, default=None,
                   help="server processes, each with its own model (~170 MB): one per core answers the most photos"
                        f" (default: the number of cores, at most {AUTO_WORKERS_MAX})")
    p.set_defaults(func=run_serve)

    q = sub.add_parser("quantize", help="write a run's INT8 serving model and compare its accuracy and speed")
    q.add_argument("--run", required=True, help="run id (see `runs list`)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_quantize)


AUTO_WORKERS_MAX = 4  # the default --workers: one per core, at most this many (memory: ~170 MB each)


def workers_count(text: str) -> int:
    """``--workers``: a whole number from 1 to 16."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 16 (one server process each). Received: {text!r}")
    return value


def run_serve(args: argparse.Namespace) -> int:
    from fashion_core.accounts import check_serving
    from fashion_core.errors import ModelError
    from fashion_core.runs import default_run
    from fashion_core.serving import ServeSettings, build_app, settings_environment
    from fashion_core.serving import serve_token_check as token_check

    store = open_store(args)
    check = token_check(store)
    check_serving(args.host, accounts=check is not None)  # beyond loopback only with accounts (and tokens)
    run_id = args.run or getattr(default_run(store), "id", None)
    if run_id is None:
        raise ModelError("No finished run to serve: train one first (`python -m fashion_core train ...`).")
    import uvicorn

    workers = args.workers or min(len(os.sched_getaffinity(0)), AUTO_WORKERS_MAX)
    settings = ServeSettings(str(store.db_path), run_id, args.host, "int8" if args.int8 else "auto")
    app = build_app(store, settings)  # also in one process: a run that cannot serve fails here, before any listens
    engine = app.state.models.get(run_id).predictor.engine
    tokens = "; requests need `Authorization: Bearer TOKEN` (users token add)" if check else ""
    print(f"serving run {run_id} ({engine}, {workers} process{'es' if workers > 1 else ''}) on"
          f" http://{args.host}:{args.port}  (API docs: /docs{tokens}; Ctrl-C stops)", file=sys.stderr)
    # httptools and uvloop (pinned in requirements.txt) are what uvicorn picks when installed: its
    # pure-Python HTTP parser cost ~1 ms of CPU per request more
    options = {"host": args.host, "port": args.port, "log_level": "warning", "http": "httptools", "loop": "uvloop"}
    if workers == 1:
        uvicorn.run(app, **options)
        return 0
    app.state.models.close()  # each worker loads its own
    os.environ.update(settings_environment(settings))
    uvicorn.run("fashion_core.serving.workers:app_from_environment", factory=True, workers=workers, **options)
    return 0


def run_quantize(args: argparse.Namespace) -> int:
    from fashion_core.analysis import quantize_run
    from fashion_core.runs import get_run

    store = open_store(args)
    get_run(store, args.run)
    report = quantize_run(store, args.run)
    if args.json:
        print_json(report)
        return 0
    f, q = report["float"], report["int8"]
    print(f"run {args.run}: INT8 serving model written ({report['int8_bytes'] / 1e6:.1f} MB,"
          f" float {report['float_bytes'] / 1e6:.1f} MB)")
    print(f"validation accuracy on {report['images']} images: float {f['accuracy']:.4f}, INT8 {q['accuracy']:.4f}"
          f" (change {q['accuracy'] - f['accuracy']:+.4f}); same top answer {report['agreement']:.1%}")
    for head, acc in f["per_head"].items():
        print(f"  {head}: float {acc:.4f}, INT8 {q['per_head'][head]:.4f}")
    print(f"speed (one photo, forward pass): float {f['ms']:.1f} ms, INT8 {q['ms']:.1f} ms")
    print(f"serve it with: python -m fashion_core serve --run {args.run} --int8")
    return 0

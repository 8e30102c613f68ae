"""CLI command ``download``: fetch the images of a JD-style URL list into a folder."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fashion_core.cli._common import print_json

# The downloader pulls in pandas and requests (~1 s): imported when `download` runs, not for every command.
if TYPE_CHECKING:
    from fashion_core.download import DownloadConfig, DownloadSummary, ProgressInfo


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``download LIST --out DIR [...]``."""
    p = sub.add_parser(
        "download",
        help="download the images of a URL list (id,url,l1..l13) to <out>/<id>.jpg",
        description="Download, check and re-encode the images of a JD-style URL list. Running "
        "again resumes: images already in DIR are skipped, failed rows are retried. Every row "
        "ends in DIR/manifest.csv with its status and reason.",
    )
    p.add_argument("list", metavar="LIST", help="URL list: lines 'id,url,l1,...,l13'")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--workers", type=_positive_int, default=None, help="parallel downloads (default 32)")
    p.add_argument(
        "--resize",
        type=_positive_int,
        default=None,
        metavar="SHORT_SIDE",
        help="shrink images so the short side is at most this many pixels",
    )
    p.add_argument(
        "--allow-private",
        action="store_true",
        help="allow loopback and private addresses (intranets); link-local stays refused",
    )
    p.add_argument(
        "--timeout", type=_positive_float, default=None, metavar="S", help="read time-out in seconds"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with the counts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the download; 0 when it completed (even with failed rows), 130 when interrupted."""
    config = _config(args)
    cancel = threading.Event()
    with _progress_bar() as on_progress, _interrupt_sets(cancel):
        from fashion_core.download import download_images

        summary = download_images(args.list, args.out, config=config, on_progress=on_progress, cancel=cancel)
    if args.json:
        print_json(summary.to_dict())
    else:
        print(_human(summary))
    return 130 if summary.cancelled else 0


def _config(args: argparse.Namespace) -> DownloadConfig:
    from fashion_core.download import DownloadConfig

    config = DownloadConfig(allow_private=args.allow_private, resize_short_side=args.resize)
    if args.workers is not None:
        config = replace(config, workers=args.workers)
    if args.timeout is not None:
        connect = min(config.connect_timeout, args.timeout)
        config = replace(config, read_timeout=args.timeout, connect_timeout=connect)
    return config


def _human(summary: DownloadSummary) -> str:
    from fashion_core.download import summarize_download

    figures = summarize_download(summary)
    lines = [
        f"{figures.ok} downloaded, {figures.skipped} already there, {figures.failed} failed "
        f"of {figures.total} rows in {summary.elapsed:.1f} s"
        + (f"; {figures.duplicates} duplicate images" if figures.duplicates else "")
        + (" (cancelled)" if figures.cancelled else ""),
    ]
    lines += [f"  {count:>8}  {reason}" for reason, count in figures.top_reasons(8)]
    lines.append(f"images:   {summary.out_dir}")
    lines.append(f"manifest: {summary.manifest}")
    return "\n".join(lines)


@contextmanager
def _progress_bar() -> Iterator[Callable[[ProgressInfo], None]]:
    """A tqdm bar on stderr (shown only on a terminal), fed by ProgressInfo."""
    from tqdm import tqdm

    bar: Any = None

    def update(info: ProgressInfo) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=info.total, unit="img", file=sys.stderr, disable=None, dynamic_ncols=True)
        bar.update(info.done - bar.n)
        bar.set_postfix(ok=info.ok, failed=info.failed, skipped=info.skipped, refresh=False)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


@contextmanager
def _interrupt_sets(cancel: threading.Event) -> Iterator[None]:
    """First Ctrl-C: finish cleanly (manifest written, no half files). Second: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals can only be handled in the main thread
        return

    def first(signum: int, frame: object) -> None:
        print("\ninterrupting: finishing running downloads (Ctrl-C again to abort)", file=sys.stderr)
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value

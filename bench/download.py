"""Benchmark: the studio's downloader against a one-at-a-time loop, on a slow local server.

A local threaded HTTP server (in its own process, so it does not compete for our GIL) serves
2,000 small generated JPEGs and waits 50 ms before each answer, like a distant image host.
Both contenders run in the same invocation against the same server:

- studio: ``download_images`` with ``allow_private=True`` and otherwise default options
  (validation, EXIF, RGB, re-encode, atomic writes, manifest all included);
- serial: the original JD tool's way, ``requests.get`` per URL then write the bytes, no checks.
  It times a subset (``--serial``, default 200 images: ~11 s) because its rate does not depend
  on how many images it fetches; ``--serial 0`` times all of them.

Target (issue 3): the studio's downloader at least 15 times faster.

    python bench/download.py [--images 2000] [--latency 0.05] [--serial 200] [--workers N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import resource
import shutil
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from PIL import Image  # noqa: E402

from fashion_core.download import DownloadConfig, download_images  # noqa: E402

TARGET = 15.0
SCRATCH = "fas-bench-download"
LABELS = ",".join("0100000000000")


def make_images(count: int, seed: int = 0) -> list[bytes]:
    """``count`` distinct small JPEGs (about 2-4 KB each)."""
    rng = random.Random(seed)
    images = []
    for _ in range(count):
        image = Image.new("RGB", (96, 96), tuple(rng.randrange(256) for _ in range(3)))
        for _ in range(6):  # a few rectangles make every image different and not trivial
            x, y = rng.randrange(80), rng.randrange(80)
            image.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, x + 16, y + 16))
        out = BytesIO()
        image.save(out, "JPEG", quality=85)
        images.append(out.getvalue())
    return images


def serve(count: int, latency: float, ready: mp.Queue) -> None:  # runs in the server process
    images = make_images(count)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, a kept-alive connection would
        # wait ~40 ms for a delayed ACK on each response. Real servers set TCP_NODELAY too.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            time.sleep(latency)
            try:
                body = images[int(self.path.rsplit("/", 1)[-1].split(".")[0])]
            except (ValueError, IndexError):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 512  # the default backlog of 5 drops connection bursts

    httpd = Server(("127.0.0.1", 0), Handler)
    ready.put(httpd.server_address[1])
    httpd.serve_forever()


def run_serial(urls: list[str], out: Path) -> float:
    """The original tool's loop: one ``requests.get`` after another. Returns images/s."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for n, url in enumerate(urls):
        response = requests.get(url, timeout=30)
        response.raise_for_status()
        (out / f"{n}.jpg").write_bytes(response.content)
    return len(urls) / (time.perf_counter() - started)


def run_studio(list_path: Path, out: Path, workers: int | None, per_host: int | None) -> tuple[float, dict]:
    """The studio's downloader over the whole list. Returns (images/s, summary dict)."""
    options: dict[str, int] = {}
    if workers is not None:
        options["workers"] = workers
    if per_host is not None:
        options["per_host_limit"] = per_host
    config = DownloadConfig(allow_private=True, **options)
    started = time.perf_counter()
    summary = download_images(list_path, out, config=config)
    elapsed = time.perf_counter() - started
    if summary.ok != summary.total:
        raise SystemExit(f"studio downloader failed rows: {summary.to_dict()}")
    return summary.ok / elapsed, {
        **summary.to_dict(),
        "workers": config.workers,
        "per_host_limit": config.per_host_limit,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the server waits per request")
    parser.add_argument("--serial", type=int, default=200, help="images the serial loop fetches (0: all)")
    parser.add_argument("--keep", action="store_true", help="keep the downloaded files")
    parser.add_argument(
        "--workers", type=int, default=None, help="studio workers (default: the config default)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "out",
        help=f"folder for the scratch sub-folder {SCRATCH}/ (default bench/out; /tmp is a slow tmpfs here)",
    )
    parser.add_argument(
        "--per-host", type=int, default=None, help="studio per-host limit (default: config default)"
    )
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    ready: mp.Queue = ctx.Queue()
    server = ctx.Process(target=serve, args=(args.images, args.latency, ready), daemon=True)
    server.start()
    try:
        port = ready.get(timeout=120)
        urls = [f"http://127.0.0.1:{port}/img/{n}.jpg" for n in range(args.images)]
        root = args.out / SCRATCH  # only this sub-folder of --out is ever emptied or removed
        shutil.rmtree(root, ignore_errors=True)  # a fresh folder: nothing to skip
        root.mkdir(parents=True)
        list_path = root / "list.csv"
        list_path.write_text("".join(f"{n},{url},{LABELS}\n" for n, url in enumerate(urls)))
        studio_rate, summary = run_studio(list_path, root / "studio", args.workers, args.per_host)
        serial_urls = urls if args.serial <= 0 else urls[: args.serial]
        serial_rate = run_serial(serial_urls, root / "serial")
    finally:
        server.terminate()
        server.join()
        if not args.keep:
            shutil.rmtree(args.out / SCRATCH, ignore_errors=True)
    report(args, studio_rate, summary, serial_rate, len(serial_urls))


def report(args: argparse.Namespace, studio: float, summary: dict, serial: float, serial_count: int) -> None:
    ratio = studio / serial
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"server: {args.images} JPEGs, {args.latency * 1000:.0f} ms latency per request, separate process")
    print(
        f"studio downloader: {summary['ok']} images in {summary['elapsed']:.2f} s = {studio:.1f} images/s "
        f"(workers={summary['workers']}, per_host_limit={summary['per_host_limit']})"
    )
    print(f"serial loop (requests.get one at a time, {serial_count} images timed): {serial:.1f} images/s")
    print(f"speed-up: {ratio:.1f}x (target >= {TARGET:.0f}x: {'met' if ratio >= TARGET else 'NOT met'})")
    print(f"peak RSS of this process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()

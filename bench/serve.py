"""Serving speed: the CLI's cold start, the HTTP API under load, INT8 against float (issue 18).

Prints, in one run:

1. The CLI's cold start for one photo (process start to answer) and its peak RSS: before (the
   TensorFlow path, ``predict --engine tf``: TensorFlow imported, the Keras model loaded, as every
   prediction did before serving models) and after (the run's serving model in LiteRT, no
   TensorFlow). Targets: under 1.5 s and under 300 MB.
2. The API (``serve``, separate processes) with ``--workers 1`` and ``--workers 2`` at 1, 4 and
   16 concurrent clients: photos per second, p50 and p99 latency, against the bare batched
   forward pass (the run's serving model in LiteRT, one thread, batches of 16 decoded photos, in
   this process). Target: at 16 clients at least 0.8 of the bare batched rate. The clients are
   lean keep-alive HTTP clients (they share the machine with the server); the server's (all its
   processes') and the clients' CPU time per photo are printed.
3. INT8 against float: validation accuracy and one photo's forward pass (``quantize``).

Without ``--run`` it draws the demo data in a temporary workspace and trains a quick
EfficientNet-Lite0 run (bundled weights, 224 px) first. Run: ``.venv/bin/python bench/serve.py``.

Measured 2026-12-05 on the default demo run (``--run 20261205-050641-3644 --home /tmp/ws``, 2
cores, another workload deprioritised): cold start 1.14 s and 171 MB (TensorFlow path 9.36 s,
734 MB); 16 clients 182 photos/s with one worker (0.70 of the bare 261/s), 250 with two (0.96);
server CPU 6.6-6.9 ms per photo against the forward pass's 3.8 ms; INT8 0.8509 vs float 0.8576
accuracy, 4.1 vs 3.9 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as the CLI: no LiteRT or TensorFlow log lines
sys.path.insert(0, str(ROOT))
PY = sys.executable
# Runs a command and prints its wall time and peak RSS (the only child of this wrapper).
MEASURE = ("import resource, subprocess, sys, time; t = time.perf_counter();"
           " r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL);"
           " print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")


def cli(home: Path, *args: str, capture: bool = True) -> str:
    done = subprocess.run([PY, "-m", "fashion_core", "--home", str(home), *args], cwd=ROOT,
                          capture_output=capture, text=True, check=True)
    return done.stdout if capture else ""


def prepare(home: Path) -> str:
    print(f"no --run: drawing demo data and training a quick run in {home} ...", flush=True)
    cli(home, "demo-data", "--images", "600")
    out = cli(home, "train", "--dataset", "demo", "--backbone", "efficientnet_lite0", "--weights", "bundled",
              "--image-size", "224", "--quick", "--epochs", "5", "--json")
    return json.loads(out.strip().splitlines()[-1])["run"]


def val_photos(home: Path, run_id: str, count: int) -> list[Path]:
    from fashion_core.modeling.lite import LiteForward  # noqa: F401 - imported here: numpy/LiteRT only
    from fashion_core.runs.files import RunDir, get_run
    from fashion_core.store import LabelStore

    store = LabelStore.open(home)
    run = get_run(store, run_id)
    import pandas as pd

    split = pd.read_csv(RunDir(run.run_dir).split)
    root = Path(store.dataset(run.dataset).images_root)
    return [root / p for p in split.loc[split["subset"] == "val", "path"].head(count)]


def cold_start(home: Path, run_id: str, photo: Path, repeats: int) -> None:
    print("\n1. CLI cold start, one photo (process start to answer; median of", repeats, "runs)")
    results = {}
    for label, extra in (("before: TensorFlow path (--engine tf)", ["--engine", "tf"]),
                         ("after:  serving model in LiteRT", [])):
        times, rss = [], []
        for _ in range(repeats):
            cmd = [PY, "-c", MEASURE, PY, "-m", "fashion_core", "--home", str(home), "predict", "--run", run_id,
                   str(photo), "--json", *extra]
            seconds, kb, code = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
            assert code == "0", f"predict failed ({label})"
            times.append(float(seconds))
            rss.append(int(kb) / 1024)
        results[label] = (statistics.median(times), max(rss))
        print(f"   {label:40s} {statistics.median(times):6.2f} s   peak RSS {max(rss):6.0f} MB")
    (tb, rb), (ta, ra) = results.values()
    print(f"   after/before: time {ta / tb:.2f}x, memory {ra / rb:.2f}x   (targets: < 1.5 s, < 300 MB:"
          f" {'met' if ta < 1.5 and ra < 300 else 'NOT met'})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_load(home: Path, run_id: str, photos: list[Path], total: int, workers: list[int]) -> None:

    from fashion_core.serving import Predictor
    from fashion_core.serving.photos import decode_batches
    from fashion_core.store import LabelStore

    store = LabelStore.open(home)
    predictor = Predictor.from_run(store, run_id)  # the serving model as the API loads it
    forward = predictor.forward
    batch = next(decode_batches([str(p) for p in photos[:16]], predictor.image_size,
                                __import__("fashion_core.imaging.decode", fromlist=["x"]).DATASET_LIMITS,
                                batch_size=16)).pixels.astype(np.float32)
    forward(batch)
    started, rounds = time.perf_counter(), 0
    while time.perf_counter() - started < 8:
        forward(batch)
        rounds += 1
    bare = rounds * len(batch) / (time.perf_counter() - started)
    one = batch[:1]
    started, singles = time.perf_counter(), 0
    while time.perf_counter() - started < 4:
        forward(one)
        singles += 1
    bare_single = singles / (time.perf_counter() - started)
    bodies = [(p.name, p.read_bytes()) for p in photos]
    print(f"\n2. API (POST /v1/predict, multipart upload, {len(bodies)} validation photos) vs the bare forward pass")
    print(f"   bare forward pass: batches of 16 {bare:7.1f} photos/s; one photo at a time {bare_single:7.1f} photos/s")
    for count in workers:
        print(f"   serve --workers {count}:")
        _serve_load(home, run_id, bodies, total, count, bare)
    print(f"   the bare forward pass costs {1000 / bare:.1f} ms of CPU per photo (one LiteRT thread)")


def _serve_load(home: Path, run_id: str, bodies: list, total: int, workers: int, bare: float) -> None:
    import httpx

    port = free_port()
    server = subprocess.Popen([PY, "-m", "fashion_core", "--home", str(home), "serve", "--run", run_id,
                               "--port", str(port), "--workers", str(workers)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit(f"the API did not start: {server.stderr.read().decode() if server.stderr else ''}")
            time.sleep(0.2)
        for clients in (1, 4, 16):
            per_client = max(total // clients, 2)
            latencies: list[float] = []
            lock = threading.Lock()

            threads = [threading.Thread(target=_client, args=(port, bodies, k, per_client, latencies, lock))
                       for k in range(clients)]
            server_cpu, client_cpu, t0 = _tree_cpu_seconds(server.pid), time.process_time(), time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rate = len(latencies) / (time.perf_counter() - t0)
            server_ms = (_tree_cpu_seconds(server.pid) - server_cpu) * 1000 / len(latencies)
            client_ms = (time.process_time() - client_cpu) * 1000 / len(latencies)
            p50, p99 = np.percentile(latencies, 50), np.percentile(latencies, 99)
            print(f"     {clients:2d} clients: {rate:7.1f} photos/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
                  f"   CPU per photo: server {server_ms:4.1f} ms, clients {client_ms:3.1f} ms"
                  f"   vs bare batched {rate / bare:.2f}" + ("  (target >= 0.8)" if clients == 16 else ""))
    finally:
        server.terminate()
        server.wait(timeout=30)


def _multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="{name}"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _client(port: int, bodies: list, k: int, count: int, latencies: list[float], lock: threading.Lock) -> None:
    # A lean keep-alive client (the standard library's, bodies built once): the load generator shares
    # the 2 cores with the server, and httpx spent ~4 ms of CPU per request here, a third of the
    # server's own cost. Load tools such as wrk or hey are lean for the same reason.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    prepared = [_multipart(name, data) for name, data in bodies]
    try:
        for i in range(count):
            body, kind = prepared[(k * count + i) % len(prepared)]
            t = time.perf_counter()
            conn.request("POST", "/v1/predict", body=body, headers={"Content-Type": kind})
            response = conn.getresponse()
            answer = response.read()
            assert response.status == 200 and json.loads(answer), answer[:200]
            with lock:
                latencies.append((time.perf_counter() - t) * 1000)
    finally:
        conn.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its children still running (``serve --workers N``'s processes)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(k) for k in children.read_text().split()] if children.exists() else []
    return _cpu_seconds(pid) + sum(_tree_cpu_seconds(k) for k in kids)


def int8(home: Path, run_id: str) -> None:
    report = json.loads(cli(home, "quantize", "--run", run_id, "--json"))
    f, q = report["float"], report["int8"]
    print(f"\n3. INT8 vs float ({report['images']} validation images)")
    print(f"   accuracy: float {f['accuracy']:.4f}, INT8 {q['accuracy']:.4f} (change {q['accuracy'] - f['accuracy']:+.4f});"
          f" same top answer {report['agreement']:.1%}")
    print(f"   one photo's forward pass: float {f['ms']:.1f} ms, INT8 {q['ms']:.1f} ms ({f['ms'] / q['ms']:.2f}x);"
          f" size {report['float_bytes'] / 1e6:.1f} MB -> {report['int8_bytes'] / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None, help="workspace (default: a temporary one)")
    parser.add_argument("--run", default=None, help="a finished run (default: train a quick one on demo data)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=96, help="requests at each client count (split between clients)")
    parser.add_argument("--workers", default="1,2", help="server processes to measure, comma-separated (default 1,2)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-serve-"))
    run_id = args.run or prepare(home)
    print(f"run {run_id}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    photos = val_photos(home, run_id, 32)
    cold_start(home, run_id, photos[0], args.repeats)
    api_load(home, run_id, photos, args.requests, [int(w) for w in args.workers.split(",")])
    int8(home, run_id)
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

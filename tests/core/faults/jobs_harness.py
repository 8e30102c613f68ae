"""Fault injection for the long jobs: a download and a tiny training run, killed with SIGKILL.

Shared by ``tests/core/faults/test_kill_jobs.py`` and ``bench/faults.py``; builds on ``harness.py``
(``Lab.run`` starts the real CLI and kills it at a named ``FASHION_CORE_FAULT`` point).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import signal
from pathlib import Path

from PIL import Image

from tests.conftest import serve_pages
from tests.core.faults.harness import Lab, Outcome, Run, _clear

DOWNLOAD_POINTS = ("download:row-recorded", "download:image-part", "download:manifest-commit")
TRAIN_POINTS = ("train:epoch-end", "train:before-finish")
N_URLS = 12
LABELS = ",".join(["1"] + ["0"] * 12)
# Tiny and fast: no weights to fetch, 32 px, one epoch of quick mode (cached features + heads).
TRAIN_ARGS = (
    "--dataset", "tiny", "--backbone", "mobilenet_v3_small", "--weights", "none", "--image-size", "32",
    "--epochs", "1", "--quick", "--batch-size", "8",
)  # fmt: skip
TRAIN_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
TRAIN_TIMEOUT = 300  # seconds; a tiny run takes 15-40 s on 2 busy cores, mostly importing TensorFlow


# -- download ---------------------------------------------------------------------------------


def _pages() -> dict[str, tuple[int, bytes]]:
    pages = {}
    for i in range(N_URLS):
        body = io.BytesIO()
        Image.new("RGB", (24, 24), (i * 20, 90, 200 - i * 10)).save(body, "JPEG", quality=90)
        pages[f"/{i}.jpg"] = (200, body.getvalue())
    pages["/missing.jpg"] = (404, b"")  # one row fails on purpose: failures are recorded too
    return pages


def _write_list(path: Path, base: str, n: int) -> Path:
    rows = [f"img{i},{base}/{i}.jpg,{LABELS}\n" for i in range(n)]
    path.write_text("".join(rows) + f"gone,{base}/missing.jpg,{LABELS}\n")
    return path


def manifest_problems(out: Path, list_path: Path) -> list[str]:
    """What is wrong with a finished download folder; [] when the manifest and files agree.

    Every list line is in the manifest once; every kept row's file is there with its hash; no
    image is on disk that the manifest does not list; no ``.part`` file is left.
    """
    problems = [f"leftover {p.name}" for p in out.glob("*.part")]
    manifest = out / "manifest.csv"
    if not manifest.is_file():
        return [*problems, "no manifest.csv"]
    with manifest.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    wanted = len(list_path.read_text().splitlines())
    if sorted(int(r["line"]) for r in rows) != list(range(1, wanted + 1)):
        problems.append(f"manifest lines {sorted(int(r['line']) for r in rows)} for a list of {wanted}")
    kept = {r["id"]: r["sha256"] for r in rows if r["status"] in ("ok", "skipped")}
    for image_id, sha in kept.items():
        path = out / f"{image_id}.jpg"
        if not path.is_file() or (sha and hashlib.sha256(path.read_bytes()).hexdigest() != sha):
            problems.append(f"{path.name} missing or not the file the manifest names")
    strays = {p.stem for p in out.glob("*.jpg")} - set(kept)
    problems += [f"{s}.jpg on disk but not in the manifest" for s in sorted(strays)]
    return problems


def _whole_images(out: Path) -> bool:
    """Every visible image in the folder decodes (a killed write may only leave ``.part`` files)."""
    try:
        for path in out.glob("*.jpg"):
            with Image.open(path) as image:
                image.load()
    except OSError:
        return False
    return True


def kill_download(lab: Lab, *, fault: str, resume: bool) -> Outcome:
    """Kill ``download`` at ``fault``; with ``resume``, over the finished download of half the list.

    After the kill, a manifest is either absent (first run) or the previous run's, byte for byte,
    and every image is whole. The same command run again exits 0, leaves no ``.part`` file, and
    its manifest agrees with the files.
    """
    out = lab.folder / f"dl_{fault.split(':')[1]}_{int(resume)}"
    with serve_pages(_pages()) as base:
        full = _write_list(lab.folder / f"{out.name}.csv", base, N_URLS)
        args = ["download", str(full), "--out", str(out), "--allow-private", "--workers", "2"]
        before = None
        if resume:
            half = _write_list(lab.folder / f"{out.name}_half.csv", base, N_URLS // 2)
            lab.run(["download", str(half), "--out", str(out), "--allow-private"])
            before = (out / "manifest.csv").read_bytes()
        killed = lab.run(args, fault=fault)
        manifest = out / "manifest.csv"
        after = manifest.read_bytes() if manifest.exists() else None
        intact = after == before and _whole_images(out)
        again = lab.run(args)
    problems = manifest_problems(out, full)
    return Outcome(
        f"kill download at {fault}" + (" (resuming)" if resume else ""),
        intact and again.returncode == 0 and not problems,
        0,
        _clear(again),
        "; ".join(problems) or again.stderr.strip()[-300:],
        killed.returncode == -signal.SIGKILL,
    )


# -- training ---------------------------------------------------------------------------------


def add_tiny_dataset(lab: Lab) -> None:
    """The 24 coloured squares of the modeling tests as dataset ``tiny`` in the lab's workspace."""
    from fashion_core.store import LabelStore
    from tests.core.modeling._tiny_data import make_dataset

    store = LabelStore.open(lab.home)
    try:
        make_dataset(store, lab.folder / "tiny_images", n=24, categories=("colour", "size"))
    finally:
        store.close()


def runs_now(lab: Lab) -> dict[str, str]:
    """Run id -> state after a reconcile (``runs list`` reconciles first, as the app does)."""
    listed = lab.run(["runs", "list", "--json"])
    return {r["run"]: r["state"] for r in json.loads(listed.stdout)["runs"]} if listed.returncode == 0 else {}


def _train(lab: Lab, *, background: bool, fault: str | None = None) -> tuple[Run, str | None]:
    """Train once, in the foreground or through the queue (then wait); return the run id too."""
    if not background:
        before = set(runs_now(lab))
        run = lab.run(["train", *TRAIN_ARGS], fault=fault, env=TRAIN_ENV, timeout=TRAIN_TIMEOUT)
        new = set(runs_now(lab)) - before
        return run, next(iter(new), None)
    submitted = lab.run(["runs", "submit", *TRAIN_ARGS, "--json"], fault=fault, env=TRAIN_ENV)
    if submitted.returncode != 0:
        return submitted, None
    run_id = json.loads(submitted.stdout)["run"]
    return lab.run(
        ["runs", "wait", run_id, "--timeout", str(TRAIN_TIMEOUT)], timeout=TRAIN_TIMEOUT + 30
    ), run_id


def kill_training(lab: Lab, *, fault: str, background: bool) -> Outcome:
    """Kill a tiny training run at ``fault``: it ends failed (or cancelled) on reconcile, the
    store passes ``PRAGMA integrity_check``, and the next run of the same command ends done.

    The lab's workspace must hold the ``tiny`` dataset (``add_tiny_dataset``).
    """
    killed, run_id = _train(lab, background=background, fault=fault)
    state = runs_now(lab).get(run_id or "")
    # In the background the queue's own process dies; the command that waited for it only sees the end.
    injected = killed.returncode == -signal.SIGKILL if not background else state in ("failed", "cancelled")
    again, next_id = _train(lab, background=background)
    finished = runs_now(lab).get(next_id or "")
    ok = (
        state in ("failed", "cancelled")
        and lab.integrity_ok()
        and again.returncode == 0
        and finished == "done"
    )
    where = "background" if background else "foreground"
    return Outcome(
        f"kill {where} training at {fault}",
        ok,
        0,
        "Traceback" not in again.stderr,
        f"killed run {run_id}: {state}; next run {next_id}: {finished}; {again.stderr.strip()[-300:]}",
        injected,
    )

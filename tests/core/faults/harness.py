"""Fault injection: run real ``python -m fashion_core`` processes, SIGKILL them, check what is left.

Shared by ``tests/core/faults`` and ``bench/faults.py``. Kills happen either at a named point
(``FASHION_CORE_FAULT``, see ``fashion_core/faults.py``) or after a random delay.
"""

from __future__ import annotations

import copy
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from fashion_core.faults import FAULT_ENV, MAX_PAGES_ENV

REPO = Path(__file__).resolve().parents[3]
SLEEVE = "sleeve_length_labels"
CODES = ["nynnnnnnn", "nnynnnnnn", "nnnynnnnn"]
IMPORT_POINTS = ("import:images", "import:annotations", "import:deleted-old", "import:before-commit")
FIRST_IMPORT_POINTS = ("import:images", "import:annotations", "import:before-commit")  # no old dataset
Labels = frozenset[tuple[str, str, str]]


@dataclass(frozen=True)
class Outcome:
    """What one injected fault left behind."""

    fault: str
    intact: bool  # integrity ok and the dataset is its old or its new self
    edits_lost: int
    message_clear: bool  # the fault's message (or the next run) is one clear line, no traceback
    detail: str = ""
    injected: bool = True  # False when a kill at a random moment came after the process ended


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


class Lab:
    """A workspace and two versions of a tiny FashionAI source (``a``: all images, ``b``: fewer)."""

    def __init__(self, folder: Path, n_images: int = 12) -> None:
        self.folder = folder
        self.home = folder / "ws"
        self.root = folder / "data"
        for i in range(n_images):
            path = self.root / f"Images/{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 16), (i * 20 % 256, 80, 160)).save(path, "JPEG")
        self.labels = {
            "a": self._label_file("a", range(n_images), 0),
            "b": self._label_file("b", range(3, n_images), 1),
        }

    def elsewhere(self, name: str) -> Lab:
        """The same sources with another (new) workspace."""
        other = copy.copy(self)
        other.home = self.folder / name
        return other

    def _label_file(self, name: str, ids: range, shift: int) -> Path:
        path = self.folder / f"label_{name}.csv"
        path.write_text("".join(f"Images/{i}.jpg,{SLEEVE},{CODES[(i + shift) % 3]}\n" for i in ids))
        return path

    def expected(self, name: str) -> Labels:
        """The original labels a whole import of source ``name`` gives."""
        from fashion_core.ingest import read_fashionai

        parsed = read_fashionai([self.labels[name]])
        return frozenset((r.image, r.category, r.value) for r in parsed.rows)

    def ingest_args(self, name: str, *extra: str) -> list[str]:
        return [
            "ingest",
            str(self.labels[name]),
            "--format",
            "fashionai",
            "--dataset",
            "d",
            "--images-root",
            str(self.root),
            *extra,
        ]

    def run(
        self,
        args: list[str],
        *,
        fault: str | None = None,
        kill_after: float | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> Run:
        """Run the CLI in a subprocess; kill it at ``fault`` or after ``kill_after`` seconds."""
        full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        full_env.pop(FAULT_ENV, None)
        if fault:
            full_env[FAULT_ENV] = fault
        cmd = [sys.executable, "-m", "fashion_core", "--home", str(self.home), *args]
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        if kill_after is not None:
            time.sleep(kill_after)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=timeout)
        return Run(proc.returncode, out, err)

    # -- what is in the store -------------------------------------------------------------

    def integrity_ok(self) -> bool:
        db = self.home / "studio.db"
        if not db.exists():
            return True
        conn = sqlite3.connect(db)
        try:
            return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()

    def labels_now(self) -> Labels | None:
        """The dataset's original labels, or None when there is no dataset ``d``."""
        from fashion_core.store import LabelStore

        store = LabelStore.open(self.home)
        try:
            if not any(d.name == "d" for d in store.datasets()):
                return None
            return frozenset(
                store.original_labels("d")[["path", "category", "value"]].itertuples(index=False)
            )
        finally:
            store.close()

    def edits_now(self) -> dict[int, str]:
        """Edit id -> image path, for every edit of dataset ``d``."""
        from fashion_core.store import LabelStore

        store = LabelStore.open(self.home)
        try:
            if not any(d.name == "d" for d in store.datasets()):
                return {}
            paths = {v: k for k, v in store.image_ids("d").items()}
            return {
                int(i): paths[int(m)]
                for i, m in store.edit_history("d")[["id", "image_id"]].itertuples(index=False)
            }
        finally:
            store.close()

    def make_edits(self, n: int = 4) -> dict[int, str]:
        from fashion_core.store import LabelStore

        store = LabelStore.open(self.home)
        try:
            ids = sorted(store.image_ids("d").items())[:n]
            for _path, image_id in ids:
                store.edit_label("d", image_id, SLEEVE, "Elbow Sleeves", annotator="fault-test")
        finally:
            store.close()
        return self.edits_now()


def _clear(run: Run) -> bool:
    return "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) <= 1


def kill_first_import(lab: Lab, *, fault: str | None = None, kill_after: float | None = None) -> Outcome:
    """Kill a first import; it must leave no dataset or the whole one, and a re-run must work."""
    killed = lab.run(lab.ingest_args("a"), fault=fault, kill_after=kill_after).returncode == -signal.SIGKILL
    now = lab.labels_now()
    intact = lab.integrity_ok() and now in (None, lab.expected("a"))
    again = lab.run(lab.ingest_args("a", *(["--replace"] if now is not None else [])))
    intact = intact and again.returncode == 0 and lab.labels_now() == lab.expected("a")
    return Outcome(
        f"kill first ingest at {fault or f'{kill_after:.2f} s'}",
        intact,
        0,
        _clear(again),
        again.stderr.strip()[-300:],
        killed,
    )


def kill_replace(lab: Lab, *, fault: str | None = None, kill_after: float | None = None) -> Outcome:
    """Kill ``ingest --replace`` over a dataset with edits: old self or new self, no edit lost."""
    if lab.labels_now() != lab.expected("a"):
        lab.run(lab.ingest_args("a", "--replace"))
    before = lab.make_edits()
    run = lab.run(lab.ingest_args("b", "--replace"), fault=fault, kill_after=kill_after)
    now, edits = lab.labels_now(), lab.edits_now()
    new_paths = {p for p, _, _ in lab.expected("b")}
    if now == lab.expected("a"):
        lost = len(set(before) - set(edits))
    elif now == lab.expected("b"):
        lost = len({i for i, p in before.items() if p in new_paths} - set(edits))
    else:
        lost = len(before)
    intact = lab.integrity_ok() and now in (lab.expected("a"), lab.expected("b"))
    again = lab.run(lab.ingest_args("b", "--replace"))
    intact = intact and again.returncode == 0 and lab.labels_now() == lab.expected("b")
    lost += len({i for i, p in before.items() if p in new_paths} - set(lab.edits_now()))
    lab.run(lab.ingest_args("a", "--replace"))  # back to the starting point for the next fault
    return Outcome(
        f"kill ingest --replace at {fault or f'{kill_after:.2f} s'}",
        intact,
        lost,
        _clear(again),
        again.stderr.strip()[-300:],
        run.returncode == -signal.SIGKILL,
    )


RELABEL_SCRIPT = """
import sys
from fashion_core.labels.gallery import relabel_images
from fashion_core.store import LabelStore
store = LabelStore.open(sys.argv[1])
for image_id in sorted(store.image_ids("d").values()):  # one image a call: report each edit made
    report = relabel_images(store, "d", [image_id], "sleeve_length_labels", sys.argv[2], annotator="bulk")
    print(*report.edit_ids, flush=True)
"""


def kill_bulk_relabel(lab: Lab, *, kill_after: float) -> Outcome:
    """Kill a bulk relabel: every edit it reported as made must be in the log; a re-run works."""
    if lab.labels_now() is None:
        lab.run(lab.ingest_args("a"))
    before = lab.edits_now()
    value = random.choice(["Short Sleeves", "Long Sleeves"])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(FAULT_ENV, None)
    proc = subprocess.Popen(
        [sys.executable, "-c", RELABEL_SCRIPT, str(lab.home), value],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(kill_after)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    reported = {int(i) for i in out.split()}
    after = lab.edits_now()
    lost = len(set(before) - set(after)) + len(reported - set(after))
    again = subprocess.run(
        [sys.executable, "-c", RELABEL_SCRIPT, str(lab.home), value],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    intact = lab.integrity_ok() and lab.labels_now() == lab.expected("a") and again.returncode == 0
    return Outcome(
        f"kill bulk relabel at {kill_after:.2f} s",
        intact,
        lost,
        "Traceback" not in again.stderr,
        again.stderr.strip()[-300:],
        killed,
    )


def full_disk_during_import(lab: Lab) -> Outcome:
    """A disk that fills during an import: a clear message, nothing half-written, re-run works."""
    full = lab.elsewhere("ws_full")  # a fresh store: no free pages left over from other faults
    full.run(["datasets"])  # creates the store, so the page cap bites on the import
    run = full.run(full.ingest_args("a", "--replace"), env={MAX_PAGES_ENV: "8"})
    clear = run.returncode == 5 and "no space left" in run.stderr and _clear(run)
    intact = full.integrity_ok() and full.labels_now() is None
    again = full.run(full.ingest_args("a", "--replace"))
    return Outcome("disk full during ingest", intact and again.returncode == 0, 0, clear, run.stderr.strip())


def corrupt_store(lab: Lab) -> Outcome:
    """A damaged studio.db: a clear message with the path and what to do."""
    damaged = lab.elsewhere("ws_damaged")
    damaged.home.mkdir(exist_ok=True)
    db = damaged.home / "studio.db"
    db.write_bytes(b"not a database" * 300)
    run = damaged.run(["datasets"])
    clear = run.returncode == 6 and str(db) in run.stderr and "restore" in run.stderr and _clear(run)
    return Outcome("damaged studio.db", True, 0, clear, run.stderr.strip())

"""A run's folder: its file names, atomic status/history files, and the hashes that guard its model.

A run folder (``<workspace>/runs/<run_id>/``) holds: ``config.json``, ``schema.json``,
``label_map.json``, ``split.csv``, ``status.json`` (live state, rewritten atomically),
``history.csv`` (one row per epoch), ``metrics.json``, ``model.keras`` (best checkpoint),
``log.txt``, to ask a running job to stop a ``cancel`` flag file, and later
``thresholds.json`` and ``evaluation.json`` (evaluation), ``serving.tflite`` (the model prediction
runs, written when the run finishes; ``serving-int8.tflite`` on request; their checks in
``serving.json``; a quick run's heads in ``serving-heads.npz``), ``suspicious.json`` (the suspicious-label queue). Every name is defined on ``RunDir`` only.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from fashion_core.csv_cells import SafeDictWriter, plain_cell
from fashion_core.errors import JobError, ModelError
from fashion_core.store import LabelStore, utc_now
from fashion_core.store.runs import FINISHED as FINISHED  # re-exported: callers know runs, not rows
from fashion_core.store.runs import STATES as STATES
from fashion_core.store.runs import RunRecord

_STATUS_LOCK = threading.Lock()


def new_run_id() -> str:
    """A sortable, unique run id such as ``20261123-114501-3fa2``."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON via a temporary file and ``os.replace``, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any = None) -> Any:
    """A JSON file's content, ``default`` if it does not exist.

    Raises:
        JobError: naming the file, if it is not valid JSON.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except json.JSONDecodeError as exc:
        raise JobError(f"{path}: not valid JSON ({exc})") from exc


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class RunDir:
    """Paths and small file operations of one run folder."""

    path: Path

    CONFIG: ClassVar[str] = "config.json"
    SCHEMA: ClassVar[str] = "schema.json"
    LABEL_MAP: ClassVar[str] = "label_map.json"
    SPLIT: ClassVar[str] = "split.csv"
    STATUS: ClassVar[str] = "status.json"
    HISTORY: ClassVar[str] = "history.csv"
    METRICS: ClassVar[str] = "metrics.json"
    MODEL: ClassVar[str] = "model.keras"
    LOG: ClassVar[str] = "log.txt"
    CANCEL: ClassVar[str] = "cancel"
    THRESHOLDS: ClassVar[str] = "thresholds.json"  # tuned multi-label thresholds {category: {value: t}}
    EVALUATION: ClassVar[str] = "evaluation.json"
    SERVING: ClassVar[str] = "serving.tflite"  # the converted model prediction runs (no TensorFlow)
    SERVING_INT8: ClassVar[str] = "serving-int8.tflite"  # the same, INT8-quantized (on request)
    SERVING_HEADS: ClassVar[str] = "serving-heads.npz"  # a quick run's heads: serving.tflite is then its backbone
    SERVING_INFO: ClassVar[str] = "serving.json"  # their checks against the Keras model, INT8's accuracy
    LITE_CACHE: ClassVar[str] = SERVING  # the name older code knew it by
    SUSPICIOUS: ClassVar[str] = "suspicious.json"
    CALIBRATION: ClassVar[str] = "calibration.json"  # temperatures, familiarity threshold, ECE before/after
    FAMILIARITY: ClassVar[str] = "familiarity.npz"  # reference features and the applies estimators
    # The files that change what the model answers: their SHA-256 are recorded and checked.
    ANSWER_FILES: ClassVar[tuple[str, ...]] = (MODEL, SCHEMA, LABEL_MAP, THRESHOLDS, CALIBRATION, FAMILIARITY)
    # The models a run serves with: hashed when written, trusted only if recorded (older runs have none).
    SERVING_FILES: ClassVar[tuple[str, ...]] = (SERVING, SERVING_INT8, SERVING_HEADS)

    @property
    def run_id(self) -> str:
        return self.path.name

    config = property(lambda self: self.path / RunDir.CONFIG)
    schema = property(lambda self: self.path / RunDir.SCHEMA)
    label_map = property(lambda self: self.path / RunDir.LABEL_MAP)
    split = property(lambda self: self.path / RunDir.SPLIT)
    status_file = property(lambda self: self.path / RunDir.STATUS)
    history = property(lambda self: self.path / RunDir.HISTORY)
    metrics = property(lambda self: self.path / RunDir.METRICS)
    model = property(lambda self: self.path / RunDir.MODEL)
    log = property(lambda self: self.path / RunDir.LOG)
    cancel_flag = property(lambda self: self.path / RunDir.CANCEL)
    thresholds = property(lambda self: self.path / RunDir.THRESHOLDS)
    evaluation = property(lambda self: self.path / RunDir.EVALUATION)
    lite_cache = property(lambda self: self.path / RunDir.LITE_CACHE)
    serving = property(lambda self: self.path / RunDir.SERVING)
    serving_int8 = property(lambda self: self.path / RunDir.SERVING_INT8)
    serving_heads = property(lambda self: self.path / RunDir.SERVING_HEADS)
    serving_info = property(lambda self: self.path / RunDir.SERVING_INFO)
    suspicious = property(lambda self: self.path / RunDir.SUSPICIOUS)
    calibration = property(lambda self: self.path / RunDir.CALIBRATION)
    familiarity = property(lambda self: self.path / RunDir.FAMILIARITY)

    def write_status(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into status.json (atomically) and return the new status.

        A finished run's status is final: once ``finished_at`` is set, only another write with
        ``finished_at`` changes it, so a stuck trainer thread still reporting progress after
        its watchdog recorded the end cannot overwrite that record.
        """
        with _STATUS_LOCK:  # read-modify-write: the trainer and the watchdog thread both write
            status = self.read_status()
            if status.get("finished_at") and "finished_at" not in fields:
                return status
            status.update(fields, run=self.run_id, updated_at=utc_now())
            write_json_atomic(self.status_file, status)
            return status

    def read_status(self) -> dict[str, Any]:
        return read_json(self.status_file, default={}) or {}

    def append_history(self, row: dict[str, Any]) -> None:
        """Append one epoch's row to history.csv (columns grow if a new key appears)."""
        rows = self.read_history()
        rows.append({k: row[k] for k in row})
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".history.", suffix=".tmp")
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = SafeDictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.history)

    def read_history(self) -> list[dict[str, Any]]:
        if not self.history.exists():
            return []
        with open(self.history, newline="", encoding="utf-8") as f:
            return [{k: _number(plain_cell(v)) for k, v in r.items()} for r in csv.DictReader(f)]

    def request_cancel(self) -> None:
        self.cancel_flag.touch()

    def cancel_requested(self) -> bool:
        return self.cancel_flag.exists()

    def answer_file_hashes(self) -> dict[str, str]:
        """SHA-256 of each of ``ANSWER_FILES`` present now, by file name."""
        return {name: sha256_file(self.path / name) for name in self.ANSWER_FILES if (self.path / name).exists()}

    def read_label_map(self) -> dict[str, Any]:
        """``label_map.json``: ``{"name", "version", "map"}`` (name None: no map); {} if absent.

        Raises:
            ModelError: The file is not valid JSON or not an object.
        """
        try:
            record = read_json(self.label_map, default={}) or {}
        except JobError as exc:
            raise ModelError(str(exc)) from exc
        if not isinstance(record, dict):
            raise ModelError(f"{self.label_map}: expected an object with name, version and map")
        return record

    def label_map_name(self) -> str | None:
        """The name of the label map the run read its labels through, or None (none, or unreadable)."""
        try:
            name = self.read_label_map().get("name")
        except ModelError:
            return None
        return name if isinstance(name, str) and name else None

def _number(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


# -- the run's row in the store ------------------------------------------------------------

MODEL_STATES = ("done", "cancelled")  # a cancelled run keeps its best checkpoint so far


def register_run(store: LabelStore, run_dir: RunDir, dataset: str, config: dict[str, Any]) -> RunRecord:
    """Record a new run (state ``queued``) in the store and write its config and status."""
    store.dataset(dataset)  # an unknown dataset fails before anything is written
    run_dir.path.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir.config, config)
    run_dir.write_status(state="queued")
    return store.insert_run(run_dir.run_id, dataset, run_dir.path, config)


def update_run(store: LabelStore, run_id: str, **fields: Any) -> None:
    """Update status, metrics (dict), model_sha256, error, map_name or files_sha256 of a run."""
    store.update_run_row(run_id, **fields)


def get_run(store: LabelStore, run_id: str) -> RunRecord:
    """A run's record. Raises JobError for an unknown id."""
    return store.run_row(run_id)


def list_runs(store: LabelStore, dataset: str | None = None) -> list[RunRecord]:
    """Runs, newest first (in the order they were registered); optionally only those of one dataset."""
    return store.run_rows(dataset)


def has_model(run: RunRecord) -> bool:
    """Whether a run has a model to predict with or evaluate: it ended ``done`` or ``cancelled``
    (a cancelled run keeps its best checkpoint) with a model hash recorded.

    The one definition of "a run with a model": prediction's run choice and evaluation use it.
    Whether the file is still there and unchanged is ``verified_model_path``'s check.
    """
    return run.status in MODEL_STATES and bool(run.model_sha256)


def runs_with_model(store: LabelStore, dataset: str | None = None) -> list[RunRecord]:
    """Runs with a model (see ``has_model``), newest first; optionally only one dataset's."""
    return [r for r in list_runs(store, dataset) if has_model(r)]


def runs_using_map(store: LabelStore, name: str) -> list[str]:
    """Ids of runs that trained (or will train) through label map ``name``, oldest first.

    Named in the run's config, or resolved from the active map when the run read its labels
    (the run row's ``map_name``; for runs recorded before that column, ``label_map.json``).
    """
    used = store.runs_naming_map(name)
    for run in reversed(list_runs(store)):
        if run.id not in used and run.map_name is None and RunDir(run.run_dir).label_map_name() == name:
            used.append(run.id)
    return used


# -- the hashes that guard a run's answers -------------------------------------------------------


def record_run_files(store: LabelStore, run_id: str, *, serving: bool = False) -> dict[str, str] | None:
    """Record the SHA-256 of the run's ``ANSWER_FILES`` as they are now; None if it has no model.

    The model's entry is the hash recorded when the model was saved (not re-read), so a model
    file swapped before this call is still refused. The serving models' entries are kept as
    recorded, unless ``serving`` (their writer, right after writing them) asks to hash them now.
    """
    run = get_run(store, run_id)
    if not run.model_sha256:
        return None
    run_dir = RunDir(run.run_dir)
    hashes = run_dir.answer_file_hashes()
    hashes[RunDir.MODEL] = run.model_sha256
    for name in RunDir.SERVING_FILES:
        if serving and (run_dir.path / name).exists():
            hashes[name] = sha256_file(run_dir.path / name)
        elif not serving and name in (run.files_sha256 or {}):
            hashes[name] = run.files_sha256[name]
    update_run(store, run_id, files_sha256=hashes)
    return hashes


def verified_model_path(store: LabelStore, run_id: str) -> Path:
    """The run's model file, only if the studio produced it and no file it answers with changed.

    Keras model files are programs, and the schema, label map and thresholds decide what its
    outputs mean: loading only files whose hashes we recorded keeps a swapped-in file from
    running or from silently changing answers. Runs recorded before the other files were
    hashed have only the model checked.

    Raises:
        ModelError: No recorded model, or a file missing, added or changed since it was recorded.
    """
    run = get_run(store, run_id)
    run_dir = RunDir(run.run_dir)
    if not run.model_sha256:
        raise ModelError(f"Run {run_id} has no recorded model (state: {run.status}).")
    if not run_dir.model.exists():
        raise ModelError(f"Model file of run {run_id} is missing: {run_dir.model}")
    recorded = run.files_sha256 or {RunDir.MODEL: run.model_sha256}
    names = RunDir.ANSWER_FILES if run.files_sha256 else (RunDir.MODEL,)
    for name in names:
        path = run_dir.path / name
        actual = sha256_file(path) if path.exists() else None
        if actual != recorded.get(name) or (name == RunDir.MODEL and actual != run.model_sha256):
            raise ModelError(_changed_message(path, run_id, recorded.get(name), actual))
    return run_dir.model


def verified_serving_path(store: LabelStore, run_id: str, name: str = RunDir.SERVING) -> Path | None:
    """The run's serving model ``name`` if it was recorded when written and every file the run answers
    with is unchanged; None if the run has none recorded (an older run: TensorFlow serves it).

    Raises:
        ModelError: A recorded file is missing or changed (as ``verified_model_path``).
    """
    verified_model_path(store, run_id)  # model, schema, label map, thresholds, calibration unchanged
    run = get_run(store, run_id)
    recorded = (run.files_sha256 or {}).get(name)
    if recorded is None:
        return None
    path = Path(run.run_dir) / name
    actual = sha256_file(path) if path.exists() else None
    if actual != recorded:
        raise ModelError(_changed_message(path, run_id, recorded, actual))
    return path


_FILE_TITLES = {RunDir.MODEL: "Model file", RunDir.SCHEMA: "Schema file", RunDir.LABEL_MAP: "Label map file",
                RunDir.THRESHOLDS: "Thresholds file", RunDir.CALIBRATION: "Calibration file",
                RunDir.FAMILIARITY: "Familiarity file", RunDir.SERVING: "Serving model",
                RunDir.SERVING_INT8: "INT8 serving model", RunDir.SERVING_HEADS: "Serving heads file"}


def _changed_message(path: Path, run_id: str, recorded: str | None, actual: str | None) -> str:
    how = " (it is missing)" if actual is None else " (it was added since)" if recorded is None else ""
    return (f"{_FILE_TITLES.get(path.name, 'File')} {path} does not match the SHA-256 recorded when run"
            f" {run_id} saved it{how}; refusing to load it.")

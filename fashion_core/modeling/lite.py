"""A run's serving model in the LiteRT interpreter: the forward pass without TensorFlow.

``ai_edge_litert`` (LiteRT, TensorFlow Lite's successor) runs the ``.tflite`` flatbuffer a run
writes when it finishes (``modeling.serving_model``). This module imports NumPy and LiteRT only:
the CLI, the API and the Predict page answer photos without loading TensorFlow (~5 s, ~700 MB).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fashion_core.errors import ModelError
from fashion_core.stderr import silenced

INPUT_NAME = "image"
SIGNATURE = "serving_default"
# The backbone's pooled features, beside the per-category outputs: what familiarity and applies
# compare (``serving.calibration``). Head keys never start with "_" (``modeling.heads.make_heads``).
FEATURES = "_features"
# XNNPACK kernels run these small convolutional nets about 2.5x faster than TensorFlow on this
# CPU (bench/predict.py); one thread, because the machine is shared and a second thread mostly
# waits for a busy core (measured slower under load).
LITE_THREADS = 1
MAX_CHUNK = 16  # the largest batch one interpreter runs (a batch of 16 gains ~10% per photo over one at a time)
_OPENED_ONE = threading.Event()  # LiteRT announces its XNNPACK delegate once per process, on stderr


class LiteForward:
    """A ``.tflite`` model's forward pass (thread-safe): float32 ``(N, S, S, 3)`` pixels in 0..255 to
    a dict of per-output ``(N, K)`` arrays (NumPy).

    A batch runs as one invocation per chunk of 16, 8, 4, 2 or 1 rows, each on an interpreter
    allocated for that size once and kept (reallocating per batch size would cost more than the
    pass): a batch of concurrent requests costs about one forward pass.

    Args:
        blob: A ``.tflite`` model with the ``serving_default`` signature and the input ``image``.
        threads: Interpreter threads.

    Raises:
        ModelError: The blob is not a TFLite model with that signature.
    """

    def __init__(self, blob: bytes, *, threads: int = LITE_THREADS) -> None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ModelError(f"`threads` must be a positive integer. Received: threads={threads!r}")
        self._blob, self._threads = bytes(blob), threads
        single = self._open(1)
        self.image_size = single.image_size
        self.output_names: tuple[str, ...] = tuple(single.outputs)
        self.quantized = single.quantized
        self._by_size: dict[int, _Sized] = {1: single}
        self._lock = threading.Lock()  # an interpreter holds its tensors: one call at a time

    @classmethod
    def from_file(cls, path: Path, *, threads: int = LITE_THREADS) -> LiteForward:
        try:
            blob = Path(path).read_bytes()
        except OSError as exc:
            raise ModelError(f"Cannot read the serving model {path}: {exc.strerror or exc}") from exc
        return cls(blob, threads=threads)

    def _open(self, batch: int) -> _Sized:
        from ai_edge_litert.interpreter import Interpreter

        with _quiet_first_open():
            return self._allocate(Interpreter, batch)

    def _allocate(self, interpreter_class: type, batch: int) -> _Sized:
        try:
            interpreter = interpreter_class(model_content=self._blob, num_threads=self._threads)
            runner = interpreter.get_signature_runner(SIGNATURE)
            inputs, outputs = runner.get_input_details(), runner.get_output_details()
            del runner  # it holds the interpreter's internals, which would block resizing below
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"Not a usable TFLite model: {exc}") from exc
        if list(inputs) != [INPUT_NAME]:
            raise ModelError(f"The TFLite model's inputs are {list(inputs)}, expected [{INPUT_NAME!r}]")
        size = int(inputs[INPUT_NAME]["shape"][1])
        index = inputs[INPUT_NAME]["index"]
        # Raw tensor calls on a fixed input shape: the signature runner's per-call checks cost ~1 ms.
        interpreter.resize_tensor_input(index, [batch, size, size, 3], strict=False)
        interpreter.allocate_tensors()
        quantized = any(d["dtype"] == np.int8 for d in interpreter.get_tensor_details())
        return _Sized(interpreter, index, {n: d["index"] for n, d in outputs.items()}, size, quantized)

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        rows = np.ascontiguousarray(batch, np.float32)
        if rows.ndim != 4 or rows.shape[1:] != (self.image_size, self.image_size, 3):
            raise ModelError(f"Expected pixels of shape (N, {self.image_size}, {self.image_size}, 3); got {rows.shape}")
        if not len(rows):
            return {name: np.zeros((0, 0), np.float32) for name in self.output_names}
        with self._lock:
            parts, first = [], 0
            while first < len(rows):  # chunks of 16, 8, 4, 2, 1 rows: a few interpreters serve every batch size
                size = min(MAX_CHUNK, 1 << ((len(rows) - first).bit_length() - 1))
                parts.append(self._sized(size).run(rows[first : first + size]))
                first += size
        return {name: np.concatenate([p[name] for p in parts]) for name in self.output_names}

    def _sized(self, size: int) -> _Sized:
        sized = self._by_size.get(size)
        if sized is None:
            sized = self._by_size[size] = self._open(size)
        return sized


class _Sized:
    """One interpreter allocated for one batch size."""

    def __init__(self, interpreter: object, index: int, outputs: dict[str, int], size: int, quantized: bool) -> None:
        self.interpreter, self.index, self.outputs = interpreter, index, outputs
        self.image_size, self.quantized = size, quantized

    def run(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        self.interpreter.set_tensor(self.index, rows)
        self.interpreter.invoke()
        return {name: np.array(self.interpreter.get_tensor(i)) for name, i in self.outputs.items()}


@contextlib.contextmanager
def _quiet_first_open() -> Iterator[None]:
    """Silence LiteRT's one "Created TensorFlow Lite XNNPACK delegate" line (C++, on file descriptor 2)
    where TensorFlow's own log lines are silenced too (``TF_CPP_MIN_LOG_LEVEL`` >= 1, as the CLI sets)."""
    if _OPENED_ONE.is_set() or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0"):
        yield
        return
    with silenced():
        try:
            yield
        finally:
            _OPENED_ONE.set()

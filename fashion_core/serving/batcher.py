"""Photos that arrive together go through the model together: one forward pass per batch.

The API decodes each request's photo in its own thread, then hands the pixels to a ``Batcher``.
One worker thread takes everything waiting (up to ``max_batch``) and runs one forward pass; the
requests that arrive meanwhile form the next batch. Nothing waits for a batch to fill: a lone
request is answered at once, and batches grow only when requests queue behind a busy model.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from fashion_core.errors import ModelError

MAX_BATCH = 32
BatchFn = Callable[[np.ndarray], Sequence[Any]]  # (N, S, S, 3) pixels -> N answers, in order


class Batcher:
    """Runs ``predict`` on batches of rows submitted from many threads; each caller gets its row's answer.

    Args:
        predict: One forward pass over a batch (e.g. ``Predictor.predict_pixels``).
        max_batch: The largest batch run at once.
    """

    def __init__(self, predict: BatchFn, *, max_batch: int = MAX_BATCH) -> None:
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ModelError(f"`max_batch` must be a positive integer. Received: max_batch={max_batch!r}")
        self._predict, self._max = predict, max_batch
        self._queue: queue.Queue[tuple[np.ndarray, Future] | None] = queue.Queue()
        self.batches: list[int] = []  # sizes of the last batches run (for tests and the bench)
        self._worker = threading.Thread(target=self._run, name="fashion-batcher", daemon=True)
        self._worker.start()

    def submit(self, row: np.ndarray) -> Future:
        """Queue one photo's pixels ``(S, S, 3)``; the future gives its answer (or the batch's error)."""
        future: Future = Future()
        self._queue.put((row, future))
        return future

    def close(self) -> None:
        """Stop the worker after the requests already queued."""
        self._queue.put(None)
        self._worker.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            items = [first]
            while len(items) < self._max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                items.append(item)
            self._answer(items)

    def _answer(self, items: list[tuple[np.ndarray, Future]]) -> None:
        live = [(row, f) for row, f in items if f.set_running_or_notify_cancel()]
        if not live:
            return
        self.batches = [*self.batches[-999:], len(live)]
        try:
            answers = self._predict(np.stack([row for row, _ in live]))
        except Exception as exc:  # noqa: BLE001 - every waiting caller gets the batch's error
            for _, future in live:
                future.set_exception(exc)
            return
        for (_, future), answer in zip(live, answers):
            future.set_result(answer)

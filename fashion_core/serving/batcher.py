"""Photos that arrive together go through the model together: one forward pass per batch.

The API decodes each request's photo in its own thread, then hands the pixels to a ``Batcher``.
One worker thread takes everything waiting (up to ``max_batch``) and runs one forward pass; the
requests that arrive meanwhile form the next batch. Nothing waits for a batch to fill: a lone
request is answered at once, and batches grow only when requests queue behind a busy model.

An optional second stage (``then``: familiarity and applies) runs on each finished batch in its
own thread, beside the next batch's forward pass: on two cores the two overlap, and it still
works on whole batches (vectorised, far cheaper than photo by photo).
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
ThenFn = Callable[[np.ndarray, Any], Sequence[Any]]  # (pixels, the first step's result) -> N answers


class Batcher:
    """Runs ``predict`` on batches of rows submitted from many threads; each caller gets its row's answer.

    Args:
        predict: One forward pass over a batch (e.g. ``Predictor.predict_pixels``).
        then: An optional second step over each finished batch, in its own thread: it gets the
            pixels and whatever ``predict`` returned, and its N answers are the callers'; the next
            batch's ``predict`` runs meanwhile.
        max_batch: The largest batch run at once.
    """

    def __init__(self, predict: BatchFn, *, then: ThenFn | None = None, max_batch: int = MAX_BATCH) -> None:
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ModelError(f"`max_batch` must be a positive integer. Received: max_batch={max_batch!r}")
        self._predict, self._then, self._max = predict, then, max_batch
        self._queue: queue.Queue[tuple[np.ndarray, Future] | None] = queue.Queue()
        self._finished: queue.Queue[tuple[np.ndarray, Any, list[Future]] | None] = queue.Queue(maxsize=2)
        self.batches: list[int] = []  # sizes of the last batches run (for tests and the bench)
        self._worker = threading.Thread(target=self._run, name="fashion-batcher", daemon=True)
        self._worker.start()
        self._second = None
        if then is not None:
            self._second = threading.Thread(target=self._run_then, name="fashion-batcher-then", daemon=True)
            self._second.start()

    def submit(self, row: np.ndarray) -> Future:
        """Queue one photo's pixels ``(S, S, 3)``; the future gives its answer (or the batch's error)."""
        future: Future = Future()
        self._queue.put((row, future))
        return future

    def close(self) -> None:
        """Stop the worker after the requests already queued."""
        self._queue.put(None)
        self._worker.join(timeout=10)
        if self._second is not None:
            self._finished.put(None)
            self._second.join(timeout=10)

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
        futures = [f for _, f in live]
        try:
            pixels = np.stack([row for row, _ in live])
            answers = self._predict(pixels)
        except Exception as exc:  # noqa: BLE001 - every waiting caller gets the batch's error
            _fail(futures, exc)
            return
        if self._then is None:
            _deliver(futures, answers)
        else:
            self._finished.put((pixels, answers, futures))  # bounded: a slow second step holds the first back

    def _run_then(self) -> None:
        assert self._then is not None
        while (item := self._finished.get()) is not None:
            pixels, answers, futures = item
            try:
                final = self._then(pixels, answers)
            except Exception as exc:  # noqa: BLE001 - as above
                _fail(futures, exc)
                continue
            _deliver(futures, final)


def _deliver(futures: list[Future], answers: Sequence[Any]) -> None:
    for future, answer in zip(futures, answers):
        future.set_result(answer)


def _fail(futures: list[Future], exc: Exception) -> None:
    for future in futures:
        future.set_exception(exc)

"""Refuse Keras loads that fit only in part.

Keras loads what matches in a file saved by an older Keras (which did not write nested
containers) and only warns that the rest "will retain their freshly-initialized weights": the
model then predicts with partly random layers. Inside ``whole_load`` that warning is an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from fashion_core.errors import ModelError

_PARTIAL = "freshly-initialized"


@contextmanager
def whole_load(what: str, fix: str) -> Iterator[None]:
    """Run a Keras load; raise ``ModelError`` naming ``what`` and ``fix`` if it fitted only in part.

    Other warnings raised inside are shown as they would have been.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    partial = [str(w.message) for w in caught if _PARTIAL in str(w.message)]
    if partial:
        raise ModelError(f"{what} fits only in part: some layers would keep random weights (Keras: {partial[0]})."
                         f" {fix}")
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

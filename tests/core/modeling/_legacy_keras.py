"""A Keras loader that behaves as Keras does with a file saved by an older Keras."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any


def loads_in_part(load: Callable[..., Any]) -> Callable[..., Any]:
    """``load`` that, like Keras with a legacy file, loads what matches and warns about the part it skipped."""

    def partial(*args: Any, **kwargs: Any) -> Any:
        model = load(*args, **kwargs)
        warnings.warn("Skipping nested container at '_operations_by_depth/container_2': no matching group found in"
                      " the saved file. Affected layers will retain their freshly-initialized weights.", UserWarning,
                      stacklevel=2)
        return model

    return partial

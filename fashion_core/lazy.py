"""Lazy package surfaces (PEP 562): a name is imported from its module the first time it is used.

``modeling``, ``serving`` and ``analysis`` list many names whose modules import TensorFlow, FastAPI
or scikit-learn; importing the package itself must stay cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_surface"]


def lazy_surface(package: str, namespace: dict[str, Any], where: Mapping[str, str], public: Sequence[str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__``.

    Args:
        package: The package's ``__name__``.
        namespace: Its ``globals()``: a loaded name is stored there, so the next look-up is plain.
        where: Name -> ``"module"`` (the name is in that submodule), ``"module:attr"`` (under
            another name), or ``""`` (the name is a submodule itself).
        public: Its ``__all__``.
    """

    def getattr_(name: str) -> Any:
        spec = where.get(name)
        if spec is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = spec.partition(":")
        if not module:
            value: Any = importlib.import_module(f"{package}.{name}")
        else:
            value = getattr(importlib.import_module(f"{package}.{module}"), attr or name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(public))

    return getattr_, dir_

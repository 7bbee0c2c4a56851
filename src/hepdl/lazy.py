"""Package ``__init__``s that import their submodules on first use.

A package lists where each public name lives, ``{"simulate_shard": "stage", ...}``, and sets
``__getattr__ = lazy_exports(__name__, homes)``: importing the package (or one of its light
submodules) then loads nothing heavy it does not need, e.g. ``hepdl.gan`` no Pythia.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: each name of ``homes`` from its submodule,
    imported when the name is first asked for; any other name an :class:`AttributeError`."""

    def __getattr__(name: str) -> Any:
        if name in homes:
            return getattr(importlib.import_module(f"{package}.{homes[name]}"), name)
        msg = f"module {package!r} has no attribute {name!r}"
        raise AttributeError(msg)

    return __getattr__

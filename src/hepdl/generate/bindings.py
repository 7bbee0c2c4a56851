"""Pythia 8's Python bindings, from whichever package provides them.

The same pybind11 bindings (built from Pythia's own source) come under two import names:

- ``pythia8mc``: the PyPI wheel, pinned in ``pyproject.toml`` (laptops, CI, pip installs);
- ``pythia8``: conda-forge's ``pythia8`` package (``envs/simulation.yaml``, clusters), which
  also provides the C++ library that conda-forge's Delphes links against.

The rest of the package imports ``pythia8`` from here and never names either package.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = ["MODULES", "bindings_version", "import_pythia8", "pythia8"]

#: Import names of the bindings, in order of preference.
MODULES = ("pythia8mc", "pythia8")

#: The distribution that installs each import name (for the version recorded in the output).
_DISTRIBUTIONS = {"pythia8mc": "pythia8mc", "pythia8": "pythia8"}


def import_pythia8(candidates: Sequence[str] = MODULES) -> ModuleType:
    """The first of ``candidates`` that imports.

    Raises:
        ModuleNotFoundError: naming every module tried and how to install one. A module that
            exists but fails inside its own import (a broken install) is re-raised as it is,
            not hidden behind the next candidate.
    """
    for name in candidates:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
    tried = ", ".join(candidates)
    msg = (
        f"Pythia 8's Python bindings are not installed (tried the modules {tried}); install "
        "them with: pip install pythia8mc==8.317.2, or conda install -c conda-forge pythia8"
    )
    raise ModuleNotFoundError(msg, name=candidates[0] if candidates else None)


def bindings_version(module: ModuleType) -> str:
    """``<package> <version>`` of the bindings in use, e.g. ``pythia8mc 8.317.2``."""
    name = module.__name__
    distribution = _DISTRIBUTIONS.get(name, name)
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        # conda packages of compiled bindings need not carry Python metadata.
        version = "unknown"
    return f"{name} {version}"


if TYPE_CHECKING:
    import pythia8mc as pythia8
else:
    pythia8 = import_pythia8()

"""Optional dependencies, imported on use: one function per library, saying how to install it.

(Pythia's bindings, which have several package names, are found by
:func:`hepdl.generate.bindings.pythia8`.)
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["require_torch_geometric"]


def require_torch_geometric() -> Any:
    """Import torch_geometric, or explain how to install it."""
    try:
        with warnings.catch_warnings():
            # torch-geometric 2.8 applies torch.jit.script to a few helpers when imported, which
            # torch >= 2.10 deprecates; nothing of ours is scripted.
            warnings.filterwarnings(
                "ignore", message=r".*torch\.jit\.script.*deprecated", category=DeprecationWarning
            )
            import torch_geometric  # noqa: PLC0415 (optional dependency, imported on use)
    except ModuleNotFoundError:
        msg = "loading graphs needs torch-geometric; install it with: pip install torch_geometric"
        raise ModuleNotFoundError(msg) from None
    return torch_geometric

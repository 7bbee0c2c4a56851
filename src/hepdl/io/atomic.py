"""Atomic file output: write to a temporary name in the same folder, then rename.

A reader (or Snakemake, after an interrupted job) therefore sees either the complete file or
none at all, never a half-written one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hepdl.errors import HepdlError

__all__ = [
    "atomic_path",
    "check_creatable_dir",
    "ensure_writable_dir",
    "write_json_atomic",
    "write_text_atomic",
]


def ensure_writable_dir(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` (and parents) if needed and check that files can be written in it.

    Raises:
        HepdlError: naming the folder, if it cannot be created or written to.
    """
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HepdlError(f"cannot create output folder '{path}': {err.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise HepdlError(f"output folder '{path}' is not writable")
    return path


def check_creatable_dir(folder: str | os.PathLike[str]) -> Path:
    """Check, creating nothing, that ``folder`` is a writable folder or could be created.

    For checks that must not write (a dry run): its nearest existing ancestor must be a
    writable folder.

    Raises:
        HepdlError: naming the folder, if it could not be created or written to.
    """
    path = Path(folder)
    existing = next(candidate for candidate in (path, *path.parents) if candidate.exists())
    if not existing.is_dir():
        raise HepdlError(f"cannot create output folder '{path}': '{existing}' is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise HepdlError(
            f"output folder '{existing if existing == path else path}' is not writable"
        )
    return path


@contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` if the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary file is removed and
    ``final`` is left untouched.
    """
    final_path = Path(final)
    ensure_writable_dir(final_path.parent)
    temporary = final_path.with_name(f".{final_path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        temporary.replace(final_path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(final: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``final`` atomically and return the path."""
    with atomic_path(final) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(final)


def write_json_atomic(final: str | os.PathLike[str], payload: Any) -> Path:
    """Write ``payload`` as indented, key-sorted JSON (stable bytes for the same content)."""
    return write_text_atomic(final, json.dumps(payload, indent=2, sort_keys=True) + "\n")

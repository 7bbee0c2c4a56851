"""Atomic file output: write to a temporary name in the same folder, then rename.

A reader (or Snakemake, after an interrupted job) therefore sees either the complete file or
none at all, never a half-written one.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hepdl.errors import HepdlError

__all__ = [
    "STALE_TEMPORARY_SECONDS",
    "atomic_path",
    "check_creatable_dir",
    "check_output_path",
    "ensure_writable_dir",
    "remove_stale_temporaries",
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


def check_output_path(final: str | os.PathLike[str]) -> Path:
    """Check, creating nothing, before a stage's work, that ``final`` can be written: its
    folder is writable or could be created, and ``final`` itself is not a folder (which the
    closing rename could not replace, found only after hours of generation otherwise).

    Raises:
        HepdlError: naming the path.
    """
    final_path = Path(final)
    check_creatable_dir(final_path.parent)
    if final_path.is_dir():
        raise HepdlError(f"output '{final_path}' is a folder; expected a file path")
    return final_path


#: A temporary file older than this (seconds) is stale even if its writer's pid is alive again
#: (pids are reused; no stage takes a day to write one file).
STALE_TEMPORARY_SECONDS = 24 * 3600


def _temporary_name(final: Path, pid: int) -> str:
    """The name :func:`atomic_path` writes ``final`` under: ``.NAME.PID.tmp``."""
    return f".{final.name}.{pid}.tmp"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(final: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries a killed writer of ``final`` left behind (``kill -9``, a node
    lost): files named as :func:`atomic_path` names them, whose writer pid is dead or which
    are older than :data:`STALE_TEMPORARY_SECONDS`.

    Only ``final``'s own temporaries are considered, never another file's, and a live writer's
    (a concurrent job on this host) is kept. Returns the paths removed.
    """
    final_path = Path(final)
    pattern = re.compile(re.escape(f".{final_path.name}.") + r"(\d+)\.tmp")
    removed: list[Path] = []
    try:
        candidates = list(final_path.parent.iterdir())
    except OSError:
        return removed
    now = time.time()
    for candidate in candidates:
        match = pattern.fullmatch(candidate.name)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        try:
            old = now - candidate.stat().st_mtime > STALE_TEMPORARY_SECONDS
            if old or not _pid_alive(int(match.group(1))):
                candidate.unlink()
                removed.append(candidate)
        except OSError:  # gone already (another cleaner), or not ours to remove
            continue
    return removed


@contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` if the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary file is removed and
    ``final`` is left untouched. A ``kill -9`` cannot be caught: the temporaries it leaves
    are removed by the next write of the same ``final`` (:func:`remove_stale_temporaries`).
    """
    final_path = Path(final)
    ensure_writable_dir(final_path.parent)
    check_output_path(final_path)
    remove_stale_temporaries(final_path)
    temporary = final_path.with_name(_temporary_name(final_path, os.getpid()))
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

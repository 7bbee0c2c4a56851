"""Redirecting what C++ libraries print: Pythia and Delphes write to file descriptor 1.

A stage's standard output is its one-line summary (and, under Snakemake, the rule's log takes
standard error), so the libraries' own printing is sent to standard error or captured.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["redirected_stdout", "stdout_to_stderr"]


@contextmanager
def redirected_stdout(target_fd: int) -> Iterator[None]:
    """Point file descriptor 1 (C's and C++'s stdout) at ``target_fd`` inside the block."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    libc.fflush(None)
    saved = os.dup(1)
    os.dup2(target_fd, 1)
    try:
        yield
    finally:
        libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 1 (e.g. Pythia's std::cout) to standard error."""
    with redirected_stdout(sys.stderr.fileno()):
        yield

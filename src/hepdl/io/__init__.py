"""Reading and writing the files passed between stages.

- :mod:`hepdl.io.atomic`: atomic output (temporary name, then rename).
- :mod:`hepdl.io.events`: generator-level event files (Parquet).
- :mod:`hepdl.io.delphes`: detector files in the Delphes schema (ROOT), hepdl's or Delphes'.
"""

from __future__ import annotations

from hepdl.io.atomic import atomic_path, ensure_writable_dir, write_json_atomic, write_text_atomic
from hepdl.io.delphes import DelphesFile, DelphesWriter, read_collections, read_delphes
from hepdl.io.events import EventFile, read_event_metadata, read_events, write_events

__all__ = [
    "DelphesFile",
    "DelphesWriter",
    "EventFile",
    "atomic_path",
    "ensure_writable_dir",
    "read_collections",
    "read_delphes",
    "read_event_metadata",
    "read_events",
    "write_events",
    "write_json_atomic",
    "write_text_atomic",
]

"""Reading and writing the files passed between stages.

- :mod:`hepdl.io.atomic`: atomic output (temporary name, then rename).
- :mod:`hepdl.io.events`: generator-level event files (Parquet).
"""

from __future__ import annotations

from hepdl.io.atomic import atomic_path, ensure_writable_dir, write_json_atomic, write_text_atomic
from hepdl.io.events import EventFile, read_event_metadata, read_events, write_events

__all__ = [
    "EventFile",
    "atomic_path",
    "ensure_writable_dir",
    "read_event_metadata",
    "read_events",
    "write_events",
    "write_json_atomic",
    "write_text_atomic",
]

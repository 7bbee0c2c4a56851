"""The files passed between stages: where they live and how they are read and written.

- :mod:`hepdl.io.layout`: every path of the results folder, one method per artifact, for the
  stages and the Snakemake rules alike.
- :mod:`hepdl.io.atomic`: atomic output (temporary name, then rename).
- :mod:`hepdl.io.events`: generator-level event files (Parquet).
- :mod:`hepdl.io.delphes`: detector files in the Delphes schema (ROOT), hepdl's or Delphes'.
- :mod:`hepdl.io.features`: feature tables (Parquet), per shard and per split.
- :mod:`hepdl.io.splits`: the merged split files (images, features, graphs), one reader each.
- :mod:`hepdl.io.skim`: the skim record ``features/skim.json``.

Submodules are imported on first use (``hepdl.io.DelphesFile`` imports uproot then), so that
the paths of :mod:`hepdl.io.layout` cost the rules and the config checks no heavy import.
"""

from __future__ import annotations

from hepdl.lazy import lazy_exports

__all__ = [
    "DelphesFile",
    "DelphesWriter",
    "EventFile",
    "Layout",
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

#: Where each public name lives.
_HOMES = {
    "DelphesFile": "delphes",
    "DelphesWriter": "delphes",
    "read_collections": "delphes",
    "read_delphes": "delphes",
    "EventFile": "events",
    "read_event_metadata": "events",
    "read_events": "events",
    "write_events": "events",
    "Layout": "layout",
    "atomic_path": "atomic",
    "ensure_writable_dir": "atomic",
    "write_json_atomic": "atomic",
    "write_text_atomic": "atomic",
}


__getattr__ = lazy_exports(__name__, _HOMES)

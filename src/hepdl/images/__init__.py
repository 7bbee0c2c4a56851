"""Whole-detector eta-phi images (``hepdl images``, ``hepdl merge --kind images``).

- :mod:`~hepdl.images.histogram`: 3-channel images of all events of a shard, vectorised.
- :mod:`~hepdl.images.stage`: one shard to ``images/{sample}/{shard}.h5``.
- :mod:`~hepdl.images.merge`: the shards gathered into ``images/{split}.h5``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepdl.lazy import lazy_exports

if TYPE_CHECKING:
    from hepdl.images.histogram import CHANNELS, ImageSpec, event_images

__all__ = ["CHANNELS", "ImageSpec", "event_images"]

#: The submodule of each public name: imported on first use, so that importing the package (or
#: one of its light submodules) loads nothing heavy it does not need.
_HOMES = {"CHANNELS": "histogram", "ImageSpec": "histogram", "event_images": "histogram"}


__getattr__ = lazy_exports(__name__, _HOMES)

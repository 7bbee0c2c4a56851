"""Whole-detector eta-phi images (``hepdl images``, ``hepdl merge --kind images``).

- :mod:`~hepdl.images.histogram`: 3-channel images of all events of a shard, vectorised.
- :mod:`~hepdl.images.stage`: one shard to ``images/{sample}/{shard}.h5``.
- :mod:`~hepdl.images.merge`: the shards gathered into ``images/{split}.h5``.
"""

from __future__ import annotations

from hepdl.images.histogram import CHANNELS, ImageSpec, event_images

__all__ = ["CHANNELS", "ImageSpec", "event_images"]

"""The classifiers' networks, as plain ``torch.nn.Module``s (no training logic here).

- :mod:`hepdl.models.channels`: the image channels a network may ask for (no torch needed).
- :mod:`hepdl.models.images`: channel selection and augmentation of the whole-detector images.
- :mod:`hepdl.models.cnn`: the convolutional network on eta-phi images (Bhimji et al. 2017).
- :mod:`hepdl.models.mlp`: the one-hidden-layer network on standardised jet variables (and on
  the CNN score combined with them).
- :mod:`hepdl.models.gnn`: graph networks on the event graphs (kernel GCN, EdgeConv; the
  ``gnn`` extra, torch-geometric, is imported when one is built).

The Lightning modules that train them live in :mod:`hepdl.train`. Submodules are imported
where they are used, so the config checks do not load torch.
"""

from __future__ import annotations

__all__ = ["channels", "cnn", "gnn", "images", "mlp"]

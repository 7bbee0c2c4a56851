"""Generative adversarial networks on whole-detector images (Farrell et al., CHEP 2018).

- :mod:`hepdl.gan.settings`: which GANs a config trains, their samples, mass grid and files
  (no torch import: the Snakemake rules and the config checks use it);
- :mod:`hepdl.gan.scaling`: the pixel scaling the networks see, t = log(1 + E/E0) / log(1 + E_max/E0);
- :mod:`hepdl.gan.data`: the signal images of a split, in physical units, and the training data;
- :mod:`hepdl.gan.models`: the DCGAN generator and discriminator (plain ``nn.Module`` s);
- :mod:`hepdl.gan.module`: the Lightning module (manual optimisation, BCE or WGAN-GP);
- :mod:`hepdl.gan.train`: ``hepdl train gan``, with the best epoch chosen by a KS metric;
- :mod:`hepdl.gan.generate`: ``hepdl generate-gan``, images at any mass point;
- :mod:`hepdl.gan.observables`: jets clustered on images (pixels as massless pseudo-particles);
- :mod:`hepdl.gan.validate`: ``hepdl validate-gan``, generated vs real against the noise floor;
- :mod:`hepdl.gan.plots`: overlaid histograms with ratio panels, mean images, mass shift.
"""

from __future__ import annotations

__all__: list[str] = []

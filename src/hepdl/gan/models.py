"""The DCGAN of the whole-detector GAN studies, for 64 x 64 images.

Generator: the latent vector (and, for the conditional GAN, the scaled masses) is a 1 x 1 map
that five transposed convolutions grow 4 -> 8 -> 16 -> 32 -> 64 (the authors' public code: 16
base filters, 128 -> 64 -> 32 -> 16 -> 1 channels), with batch norm and ReLU between them. Its
output is a sigmoid followed by a threshold (the authors' ``nn.Threshold``): values at or below
the zero suppression (``gan.pixel_threshold_gev`` in network units) become exact zeros, empty
pixels as in the detector, and no pixel exceeds the scale (t <= 1).
Discriminator: four strided 4 x 4 convolutions 64 -> 32 -> 16 -> 8 -> 4 with LeakyReLU 0.2
and batch norm (none after the first, as DCGAN), then one dense layer to a logit. The
conditional discriminator receives the scaled masses either concatenated to the flattened
convolution features before the dense layer (``dense``, the authors' code), or as constant
extra input planes (``planes``), so that its convolutions can check an image against its
masses: joined only at one dense layer, a condition adds a term to the logit that is the same
for a real and a generated image of the same masses, so it cannot tell them apart by their
masses. For WGAN-GP the critic normalises
with a per-sample layer norm (GroupNorm with one group) instead of batch norm, which would
couple the samples the gradient penalty treats one at a time. With spectral normalisation
(Miyato et al. 2018, ``gan.discriminator_norm: spectral``) every convolution's and dense
layer's weight is divided by its largest singular value (one power iteration per step) and
there is no batch norm: each layer is 1-Lipschitz, which bounds how steep D can become and
so how far one of its updates can move the generator's gradient.

Energy summary (``gan.energy_summary``, after CaloGAN): convolutions on log-scaled pixels judge
shapes well but the energy scale poorly, since an error dt on a hot pixel is an error of
log(1 + E_max / E0) dt (about 9 dt) in log E. The discriminator can also be given, per
channel, the image's total energy and its hottest pixel, both in the pixel scaling's units,
and (for the BCE discriminator, not the WGAN-GP critic) the spread of the totals over the batch
(a minibatch feature: a generator that collapses to one energy is caught). They join the
convolutional features at the dense layer.

Jet summary (``gan.jet_summary``): the jet multiplicity is a count of objects that pass a
threshold (anti-kt R = 1 jets with pT > 200 GeV and |eta| < 2), which four strided
convolutions and one linear layer judge poorly: the GANs of ``config/gan.yaml`` had the other
observables at their floors and the multiplicity at 4-6x, with too many 2- and 3-jet events.
:class:`JetSummary` counts jets differentiably: the pT within Delta R < R of every pixel, its
local maxima (found on a Gaussian-smoothed pT map, so that a jet is one maximum, not a
plateau), and at each maximum with |eta| below the cut a sigmoid of (pT - pT_min); their sum
is a soft jet count, given to the dense layer as soft indicators of n >= k. Linear in those,
the logit can weigh each multiplicity on its own, so D can ask for the real distribution of
the count, not only its mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hepdl.gan.observables import ImageJets
from hepdl.gan.scaling import PixelScaling

__all__ = [
    "CONDITIONINGS",
    "DISCRIMINATOR_NORMS",
    "GENERATOR_CONDITIONINGS",
    "Discriminator",
    "EnergySummary",
    "Generator",
    "JetSummary",
    "PixelViews",
    "init_weights",
]

#: Where the conditional discriminator receives the masses (``gan.discriminator_conditioning``).
CONDITIONINGS = ("dense", "planes", "projection")

#: How the discriminator's layers are normalised: batch norm (DCGAN), a per-sample layer norm
#: (the WGAN-GP critic) or spectral normalisation of every weight without batch norm.
DISCRIMINATOR_NORMS = ("batch", "layer", "spectral")

#: Where the conditional generator receives the masses (``gan.generator_conditioning``).
GENERATOR_CONDITIONINGS = ("input", "batch_norm")


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: convolutions N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.GroupNorm):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _up(inputs: int, outputs: int, first: bool = False) -> list[nn.Module]:
    stride, padding = (1, 0) if first else (2, 1)
    return [
        nn.ConvTranspose2d(inputs, outputs, 4, stride, padding, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    ]


class ZeroSuppression(nn.Module):
    """Values at or below a per-channel threshold -> exact zeros (the rest unchanged).

    Args:
        thresholds: One threshold per channel, in network units.
    """

    def __init__(self, thresholds: Sequence[float]) -> None:
        super().__init__()
        self.thresholds: Tensor
        self.register_buffer(
            "thresholds", torch.tensor(list(thresholds), dtype=torch.float32).view(1, -1, 1, 1)
        )

    def forward(self, images: Tensor) -> Tensor:
        """(N, C, H, W) -> the same, zero where at or below the channel's threshold (a NaN
        stays NaN, so that a broken generator is caught, not hidden as empty pixels)."""
        return torch.where(images <= self.thresholds.to(images.dtype), 0.0, images)


class Generator(nn.Module):
    """Latent vector (+ conditions) -> (N, channels, 64, 64) images in network units, in [0, 1].

    Args:
        latent_dim: Size of the latent vector.
        n_conditions: Number of conditioning values (0: unconditional).
        channels: Image channels.
        filters: Filters at 32 x 32; 2x, 4x, 8x towards 4 x 4.
        thresholds: Per channel, the network value at or below which a pixel is empty (None:
            zeros for every channel, a plain sigmoid).
        conditioning: ``input`` (the conditions join the latent vector, the authors' code) or
            ``batch_norm``: also conditional batch norm, each batch norm's output scaled by
            1 + a(c) and shifted by b(c) per channel, a and b linear in the conditions and
            zero at the start (de Vries et al. 2017; BigGAN). Joined at the input only, the
            masses reach the 64 x 64 pixels through four layers of mixing; modulating every
            layer lets each scale of the image depend on them directly.
    """

    def __init__(
        self,
        latent_dim: int,
        n_conditions: int,
        channels: int,
        filters: int,
        *,
        thresholds: Sequence[float] | None = None,
        conditioning: str = "input",
    ) -> None:
        super().__init__()
        if thresholds is not None and len(thresholds) != channels:
            msg = f"{channels} channels but {len(thresholds)} thresholds"
            raise ValueError(msg)
        if conditioning not in GENERATOR_CONDITIONINGS:
            msg = f"conditioning must be one of {GENERATOR_CONDITIONINGS}, got {conditioning!r}"
            raise ValueError(msg)
        self.latent_dim = latent_dim
        self.n_conditions = n_conditions
        f = filters
        self.net = nn.Sequential(
            *_up(latent_dim + n_conditions, 8 * f, first=True),  # 4 x 4
            *_up(8 * f, 4 * f),  # 8 x 8
            *_up(4 * f, 2 * f),  # 16 x 16
            *_up(2 * f, f),  # 32 x 32
            nn.ConvTranspose2d(f, channels, 4, 2, 1),  # 64 x 64
            nn.Sigmoid(),
            ZeroSuppression(thresholds if thresholds is not None else [0.0] * channels),
        )
        self.apply(init_weights)
        if thresholds is not None:
            # Start near-empty, as detector images are (~4% of the pixels filled): the output
            # bias at the threshold's logit puts about half the pixels just below it (exact
            # zeros) and half just above, so gradients flow. With the bias at 0, sigmoid(0)
            # fills every pixel with half the scale (2 TeV), and in 250 steps on the study's
            # images the generator had not emptied one of them (docs/gans.md).
            last = self.net[-3]
            assert isinstance(last, nn.ConvTranspose2d)
            assert last.bias is not None
            with torch.no_grad():
                last.bias.copy_(torch.logit(torch.tensor(list(thresholds)).clamp(1e-6, 0.5)))
        self.modulations: nn.ModuleList | None = None
        if conditioning == "batch_norm" and n_conditions:
            norms = [layer for layer in self.net if isinstance(layer, nn.BatchNorm2d)]
            linears = [nn.Linear(n_conditions, 2 * norm.num_features) for norm in norms]
            for linear in linears:  # the plain generator at the start
                nn.init.zeros_(linear.weight)
                nn.init.zeros_(linear.bias)
            self.modulations = nn.ModuleList(linears)

    def forward(self, latent: Tensor, conditions: Tensor | None = None) -> Tensor:
        """(N, latent_dim) noise and (N, n_conditions) conditions -> images."""
        inputs = latent if conditions is None else torch.cat([latent, conditions], dim=1)
        out: Tensor = inputs.view(len(inputs), -1, 1, 1)
        if self.modulations is None or conditions is None:
            plain: Tensor = self.net(out)
            return plain
        modulations = iter(self.modulations)
        for layer in self.net:
            out = layer(out)
            if isinstance(layer, nn.BatchNorm2d):
                scale, shift = next(modulations)(conditions).view(len(out), 2, -1, 1, 1).unbind(1)
                out = out * (1.0 + scale) + shift
        return out


class EnergySummary(nn.Module):
    """Images in network units -> per channel the total and hottest pixel (and the batch spread).

    Args:
        scaling: The pixel scaling the images are in; the total is summed in physical units and
            scaled back, so it is the network value of one pixel holding the whole image.
        batch_spread: Add the spread of the totals over the batch (a minibatch feature). Off for
            the WGAN-GP critic, whose gradient penalty treats samples one at a time.
    """

    def __init__(self, scaling: PixelScaling, batch_spread: bool = True) -> None:
        super().__init__()
        self.scaling = scaling
        self.batch_spread = batch_spread

    @property
    def n_features(self) -> int:
        """Features per image: total and hottest pixel per channel (and the batch spread)."""
        return 2 * len(self.scaling.scales) + int(self.batch_spread)

    def forward(self, images: Tensor) -> Tensor:
        """(N, C, H, W) network values -> (N, n_features) features."""
        physical = self.scaling.to_physical_torch(images)
        total = self.scaling.to_network_torch(physical.sum(dim=(2, 3), keepdim=True), clip=False)
        total = total.flatten(1)
        features = [total, images.amax(dim=(2, 3))]
        if self.batch_spread:
            spread = total.std(dim=0, correction=0).mean()
            features.append(spread.expand(len(images), 1))
        return torch.cat(features, dim=1)


class JetSummary(nn.Module):
    """Images in network units -> soft indicators that the image has at least k jets.

    A jet is a local maximum of the pT within Delta R < R of a pixel (pT = E / cosh(eta) at
    the pixel centres, as :func:`~hepdl.gan.observables.image_observables` clusters); it counts
    sigmoid((pT - pT_min) / ``softness_gev``) if its pixel is within the jets' |eta| bound. The
    indicators are sigmoid((n - k + 1/2) / ``count_softness``), k = 1 ... ``max_jets``. The
    maxima are those of the pT smoothed by a Gaussian of width R/2 over the box of half-widths
    R around each pixel (phi periodic), and they count only where the Delta R < R sum holds a
    quarter of pT_min: empty regions are flat, not jets.

    Args:
        scaling: The pixel scaling of the images.
        calorimeter: The channels whose energies sum to the calorimeter energy.
        jets: The jets to count: their geometry, R, pT threshold and |eta| bound (the pixel
            threshold and M_J's jets are the validation's only).
        max_jets: Indicators of n >= 1 ... n >= max_jets.
        softness_gev: Width of the pT threshold's sigmoid (GeV).
        count_softness: Width of the indicators' sigmoids (jets).
    """

    def __init__(
        self,
        scaling: PixelScaling,
        calorimeter: Sequence[int],
        jets: ImageJets,
        *,
        max_jets: int = 8,
        softness_gev: float = 20.0,
        count_softness: float = 0.2,
    ) -> None:
        super().__init__()
        if not calorimeter:
            msg = "no calorimeter channel to count jets in"
            raise ValueError(msg)
        self.scaling = scaling
        self.calorimeter = list(calorimeter)
        self.pt_min_gev = jets.pt_min_gev
        self.softness_gev = softness_gev
        self.count_softness = count_softness
        self.max_jets = max_jets
        spec, radius = jets.spec, jets.radius
        d_eta, d_phi = 2.0 * spec.eta_max / spec.n_eta, 2.0 * math.pi / spec.n_phi
        centres = torch.from_numpy(spec.eta_centres)
        self.reach_eta = math.floor(radius / d_eta)
        self.reach_phi = min(math.floor(radius / d_phi), (spec.n_phi - 1) // 2)
        # Per eta offset, the phi half-width of the Delta R < R disc about a pixel centre.
        offsets = torch.arange(-self.reach_eta, self.reach_eta + 1, dtype=torch.float64)
        half = torch.sqrt((radius**2 - (offsets * d_eta) ** 2).clamp(min=0.0)) / d_phi
        self.half_widths = [min(int(w), self.reach_phi) for w in half.floor().tolist()]
        self.inverse_cosh: Tensor
        self.register_buffer("inverse_cosh", (1.0 / torch.cosh(centres)).float().view(1, -1, 1))
        self.central: Tensor
        self.register_buffer("central", (centres.abs() < jets.abs_eta_max).view(1, -1, 1))
        sigma = 0.5 * radius
        # The Gaussian smoothing as two matrix products (a convolution of one channel is
        # several times slower on a CPU): along phi periodic, along eta within the image.
        rows = torch.arange(spec.n_eta, dtype=torch.float64)
        d_rows = rows.view(-1, 1) - rows.view(1, -1)
        columns = torch.arange(spec.n_phi, dtype=torch.float64)
        d_columns = columns.view(-1, 1) - columns.view(1, -1)
        d_columns = torch.remainder(d_columns + spec.n_phi // 2, spec.n_phi) - spec.n_phi // 2
        self.smooth_eta: Tensor
        smooth_eta = torch.exp(-0.5 * (d_rows * d_eta / sigma) ** 2) * (
            d_rows.abs() <= self.reach_eta
        )
        self.register_buffer("smooth_eta", smooth_eta.float())
        self.smooth_phi: Tensor
        smooth_phi = torch.exp(-0.5 * (d_columns * d_phi / sigma) ** 2) * (
            d_columns.abs() <= self.reach_phi
        )
        self.register_buffer("smooth_phi", smooth_phi.float())
        self.tilt: Tensor
        pixels = torch.arange(spec.n_eta * spec.n_phi, dtype=torch.float64)
        tilt = 1.0 + 2.4e-7 * pixels.view(spec.n_eta, spec.n_phi)
        self.register_buffer("tilt", tilt.float())
        self.thresholds: Tensor
        self.register_buffer("thresholds", torch.arange(1, max_jets + 1).float() - 0.5)

    @property
    def n_features(self) -> int:
        """Features per image: the indicators of n >= 1 ... n >= max_jets."""
        return self.max_jets

    def _wrap_phi(self, maps: Tensor) -> Tensor:
        r = self.reach_phi
        return torch.cat([maps[..., -r:], maps, maps[..., :r]], dim=-1) if r else maps

    def disc_sums(self, pt: Tensor) -> Tensor:
        """(N, H, W) pT -> the pT within Delta R < R of each pixel centre (boxes of cumulative
        sums along phi, one per eta offset: O(H W R) work, not a 2R x 2R convolution's)."""
        height, width = pt.shape[1:]
        r, a = self.reach_phi, self.reach_eta
        cumulative = F.pad(self._wrap_phi(pt).cumsum(dim=-1), (1, 0))
        boxes = {
            w: F.pad(
                cumulative[..., r + w + 1 : r + w + 1 + width]
                - cumulative[..., r - w : r - w + width],
                (0, 0, a, a),
            )
            for w in set(self.half_widths)
        }
        total = boxes[self.half_widths[0]][:, :height]
        for index, w in enumerate(self.half_widths[1:], start=1):
            total = total + boxes[w][:, index : index + height]
        return total

    def count(self, images: Tensor) -> Tensor:
        """(N, C, H, W) network values -> (N,) soft jet counts."""
        energy = self.scaling.to_physical_torch(images)[:, self.calorimeter].sum(dim=1)
        pt = energy * self.inverse_cosh.to(energy.dtype)
        sums = self.disc_sums(pt)
        with torch.no_grad():
            # Smoothed by a Gaussian of width R/2, two equal prongs are one maximum when closer
            # than R, as anti-kt merges them; tilted by a few parts in 1e7 per pixel, a jet
            # split evenly between two pixels is one maximum, not two equal ones.
            smooth = self.smooth_eta.to(pt.dtype) @ pt.detach() @ self.smooth_phi.to(pt.dtype)
            smooth = smooth * self.tilt.to(pt.dtype)
            neighbours = torch.maximum(smooth.roll(1, dims=-1), smooth.roll(-1, dims=-1))
            neighbours = torch.maximum(neighbours, smooth)
            edge = neighbours.new_full(neighbours[:, :1].shape, -torch.inf)
            above = torch.cat([edge, neighbours[:, :-1]], dim=1)
            below = torch.cat([neighbours[:, 1:], edge], dim=1)
            neighbours = torch.maximum(torch.maximum(above, below), neighbours)
            peaks = (smooth == neighbours) & self.central & (sums > 0.25 * self.pt_min_gev)
        passing = torch.sigmoid((sums - self.pt_min_gev) / self.softness_gev)
        return torch.where(peaks, passing, 0.0).sum(dim=(1, 2))

    def forward(self, images: Tensor) -> Tensor:
        """(N, C, H, W) network values -> (N, max_jets) soft indicators of n >= k jets."""
        count = self.count(images).unsqueeze(1)
        return torch.sigmoid((count - self.thresholds) / self.count_softness)


class PixelViews(nn.Module):
    """Images in one pixel scaling -> the same images in each of several, stacked as channels.

    The generator's scaling decides how its errors grow (linear: an error dt on a pixel is
    dt E_max; log: it is exponentiated), the discriminator's input what it can see: in linear
    units a 1 GeV pixel is 2.5e-4 and a fog of them over the whole image goes unseen, in log
    units the energy of the hottest pixels is compressed. Showing the discriminator both lets
    it judge the soft radiation and the energy scale at once.

    Args:
        source: The scaling of the images given.
        kinds: The scalings to show (each a :data:`~hepdl.gan.scaling.SCALING_KINDS` name).
    """

    def __init__(self, source: PixelScaling, kinds: Sequence[str]) -> None:
        super().__init__()
        if not kinds:
            msg = "no pixel views"
            raise ValueError(msg)
        self.source = source
        scales = source.scales.tolist()
        self.views = [PixelScaling(scales, source.offset, kind) for kind in kinds]
        self.identity = list(kinds) == [source.kind]

    def forward(self, images: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, C * len(kinds), H, W)."""
        if self.identity:
            return images
        physical = self.source.to_physical_torch(images)
        return torch.cat([view.to_network_torch(physical) for view in self.views], dim=1)


class Discriminator(nn.Module):
    """(N, channels, 64, 64) images (+ conditions) -> (N,) logits (or critic values).

    Args:
        channels: Image channels.
        n_conditions: Number of conditioning values (0: unconditional).
        filters: Filters of the first convolution; doubled per layer.
        conditioning: Where the conditions enter: ``dense`` (with the flattened features),
            ``planes`` (constant input planes) or ``projection`` (the inner product of the
            features with an embedding of the conditions, Miyato and Koyama 2018).
        norm: ``batch`` (BCE loss), ``layer`` (WGAN-GP critic) or ``spectral`` (spectral
            normalisation of every weight, no norm layers).
        energy_scaling: The pixel scaling of the images, to give the dense layer the
            :class:`EnergySummary` of each image (None: none).
        views: The pixel scalings the convolutions see (:class:`PixelViews`; None: the images
            as given).
        jets: Give the dense layer the :class:`JetSummary` of each image (None: none).
    """

    def __init__(
        self,
        channels: int,
        n_conditions: int,
        filters: int,
        *,
        norm: str = "batch",
        energy_scaling: PixelScaling | None = None,
        conditioning: str = "dense",
        views: PixelViews | None = None,
        jets: JetSummary | None = None,
    ) -> None:
        super().__init__()
        if norm not in DISCRIMINATOR_NORMS:
            msg = f"norm must be one of {DISCRIMINATOR_NORMS}, got {norm!r}"
            raise ValueError(msg)
        if conditioning not in CONDITIONINGS:
            msg = f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}"
            raise ValueError(msg)
        self.n_conditions = n_conditions
        self.conditioning = conditioning
        planes = n_conditions if conditioning == "planes" else 0
        dense = n_conditions if conditioning == "dense" else 0
        self.views = views
        seen = channels * (len(views.views) if views is not None else 1)
        f = filters
        layers: list[nn.Module] = [
            nn.Conv2d(seen + planes, f, 4, 2, 1),  # 32 x 32
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for inputs, outputs in ((f, 2 * f), (2 * f, 4 * f), (4 * f, 8 * f)):  # 16, 8, 4
            if norm == "spectral":  # no norm layer after it, so the convolution keeps a bias
                layers += [nn.Conv2d(inputs, outputs, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
                continue
            layers += [
                nn.Conv2d(inputs, outputs, 4, 2, 1, bias=False),
                nn.BatchNorm2d(outputs) if norm == "batch" else nn.GroupNorm(1, outputs),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.energy = None
        if energy_scaling is not None:
            if len(energy_scaling.scales) != channels:
                msg = f"{channels} channels but a pixel scaling of {len(energy_scaling.scales)}"
                raise ValueError(msg)
            self.energy = EnergySummary(energy_scaling, batch_spread=norm != "layer")
        self.jets = jets
        extra = self.energy.n_features if self.energy is not None else 0
        extra += jets.n_features if jets is not None else 0
        width = 8 * f * 4 * 4 + extra + dense
        self.dense = nn.Linear(width, 1)
        # A condition joined at the last linear layer adds the same term to the logits of a
        # real and a generated image of the same masses; projected onto the features, it
        # weighs what D sees by the masses (a small MLP, so it is smooth between mass points).
        self.projection = (
            nn.Sequential(
                nn.Linear(n_conditions, 4 * f), nn.LeakyReLU(0.2), nn.Linear(4 * f, width)
            )
            if conditioning == "projection" and n_conditions
            else None
        )
        self.apply(init_weights)
        if norm == "spectral":
            for module in list(self.modules()):
                if isinstance(module, nn.Conv2d | nn.Linear):
                    nn.utils.parametrizations.spectral_norm(module)

    def forward(self, images: Tensor, conditions: Tensor | None = None) -> Tensor:
        """Images and conditions -> one logit per image."""
        inputs = self.views(images) if self.views is not None else images
        if conditions is not None and self.conditioning == "planes":
            n, _, height, width = images.shape
            planes = conditions.view(n, -1, 1, 1).expand(n, conditions.shape[1], height, width)
            inputs = torch.cat([inputs, planes.to(images.dtype)], dim=1)
        features = self.features(inputs)
        if self.energy is not None:
            features = torch.cat([features, self.energy(images)], dim=1)
        if self.jets is not None:
            features = torch.cat([features, self.jets(images).to(features.dtype)], dim=1)
        if conditions is not None and self.conditioning == "dense":
            features = torch.cat([features, conditions.to(features.dtype)], dim=1)
        out: Tensor = self.dense(features).squeeze(1)
        if conditions is not None and self.projection is not None:
            out = out + (self.projection(conditions.to(features.dtype)) * features).sum(dim=1)
        return out

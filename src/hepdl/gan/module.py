"""The GAN as a Lightning module: two networks, two Adam optimisers, manual optimisation.

Each training batch updates the discriminator on the real images against freshly generated
ones (detached), then, every ``critic_steps`` batches, the generator. Losses:

- ``bce`` (default, as published): D minimises BCE(D(x), 1) + BCE(D(G(z)), 0); G the
  non-saturating BCE(D(G(z)), 1). With ``label_flip`` p, each image's target in the D update is
  flipped with probability p (the authors' option), which keeps D from saturating early. With
  ``r1_penalty`` gamma, D also minimises gamma/2 E|grad_x D(x)|^2 on the real images (R1,
  Mescheder et al. 2018): it damps the rotation of G and D about their equilibrium, around which
  the unregularised non-saturating GAN can circle without converging. The penalty costs a second
  backward pass through D; with ``r1_interval`` k it is added every k-th batch with k times the
  weight (the lazy regularisation of StyleGAN2), at about 1/k of the cost.
- ``wgan_gp``: the critic minimises D(G(z)) - D(x) + lambda (|grad D(x_hat)| - 1)^2 on random
  interpolates x_hat; G minimises -D(G(z)). Its loss has a meaning (an estimate of the
  Wasserstein distance) and it does not saturate, at the cost of ``critic_steps`` critic updates.

The conditional GAN's batches carry ``c``, (m_gluino, m_neutralino) in GeV, which
:meth:`ImageGAN.conditions` scales for the networks; generated images of a batch get the real
images' conditions. A NaN or infinite loss stops training with
:class:`~hepdl.errors.NonFiniteLossError` naming the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from hepdl.errors import NonFiniteLossError
from hepdl.gan.data import calorimeter_channels
from hepdl.gan.models import Discriminator, Generator, JetSummary, PixelViews
from hepdl.gan.observables import ImageJets
from hepdl.gan.scaling import PixelScaling
from hepdl.gan.settings import IMAGE_SIZE
from hepdl.gan.symmetries import check_symmetries, symmetrise
from hepdl.images.histogram import ImageSpec

__all__ = ["ImageGAN"]

Batch = dict[str, Tensor]


class ImageGAN(pl.LightningModule):
    """DCGAN (optionally conditional) on whole-detector images.

    Args:
        channels: GAN channel names (e.g. ``["energy"]``).
        scales: E_max per channel in physical units (the pixel scaling's top).
        conditional: Condition on the masses.
        mass_points: Trained (m_gluino, m_neutralino) points in GeV (the cgan's grid).
        mass_scale_gev: Conditions are masses divided by this (after the centre's subtraction).
        centre_masses: Subtract the centre of the trained grid (the midpoint of its range in
            each mass) first, so the conditions differ by order one between the trained points
            rather than sitting at ~1.5 +- 0.2 beside unit-variance noise.
        pixel_offset: E0 of the pixel scaling (GeV or tracks).
        pixel_scaling: ``linear`` (the authors') or ``log`` (:class:`PixelScaling`).
        pixel_threshold: Physical value (GeV, tracks) at or below which a generated pixel is an
            exact zero (the generator's threshold after its sigmoid).
        latent_dim: Latent vector size.
        generator_filters: Generator filters at 32 x 32.
        discriminator_filters: Discriminator filters of the first convolution.
        loss: ``bce`` or ``wgan_gp``.
        gradient_penalty: WGAN-GP penalty weight.
        critic_steps: Discriminator updates per generator update.
        r1_penalty: Weight gamma of the R1 penalty gamma/2 E|grad_x D(x)|^2 on real images (BCE
            only, as ``label_flip``: the WGAN-GP critic has its own penalty); 0: none (the
            authors').
        r1_interval: Add the R1 penalty, times this, every this many batches.
        discriminator_norm: ``batch`` (DCGAN; a layer norm for the WGAN-GP critic) or
            ``spectral`` (:class:`~hepdl.gan.models.Discriminator`).
        energy_summary: Give the discriminator each image's total energy, hottest pixel and the
            batch's spread of totals (:class:`~hepdl.gan.models.EnergySummary`).
        jet_summary: Give the discriminator each image's soft jet count
            (:class:`~hepdl.gan.models.JetSummary`) for the jets of ``jet_radius``,
            ``jet_pt_min_gev`` and ``jet_abs_eta_max``, on images spanning |eta| < ``eta_max``.
        discriminator_conditioning: ``dense``, ``planes`` or ``projection``
            (:class:`~hepdl.gan.models.Discriminator`).
        discriminator_views: Pixel scalings the discriminator's convolutions see
            (:class:`~hepdl.gan.models.PixelViews`); None: the generator's ``pixel_scaling``.
        generator_conditioning: ``input`` or ``batch_norm``
            (:class:`~hepdl.gan.models.Generator`).
        label_flip: Probability of flipping an image's target in a BCE discriminator update.
        symmetries: Exact symmetries applied at random to the real and generated images in
            training and to every generated image (:mod:`hepdl.gan.symmetries`).
        learning_rate: Adam learning rate of the generator (and of the discriminator unless
            ``discriminator_learning_rate`` is given).
        discriminator_learning_rate: Adam learning rate of the discriminator (two time scales,
            Heusel et al. 2017); None: ``learning_rate``.
        beta1: Adam beta1.
        beta2: Adam beta2.
        lr_patience_epochs: Multiply both learning rates by ``lr_decay_factor`` once the
            selection metric ``val_ks`` has not improved on its best for this many epochs
            (``ReduceLROnPlateau``); None: a constant learning rate (the authors').
        lr_decay_factor: That factor.
        min_learning_rate: The learning rates never fall below this.
    """

    #: Hyper-parameters that fix the networks' shapes.
    ARCHITECTURE = (
        "channels",
        "conditional",
        "latent_dim",
        "generator_filters",
        "discriminator_filters",
        "loss",
        "energy_summary",
        "jet_summary",
        "pixel_scaling",
        "pixel_threshold",
        "discriminator_conditioning",
        "discriminator_views",
        "generator_conditioning",
        "discriminator_norm",
    )

    def __init__(
        self,
        *,
        channels: Sequence[str] = ("energy",),
        scales: Sequence[float] = (4000.0,),
        conditional: bool = False,
        mass_points: Sequence[Sequence[float]] = (),
        mass_scale_gev: float = 1000.0,
        centre_masses: bool = False,
        pixel_offset: float = 1.0,
        pixel_scaling: str = "linear",
        pixel_threshold: float = 0.5,
        latent_dim: int = 64,
        generator_filters: int = 16,
        discriminator_filters: int = 16,
        loss: str = "bce",
        gradient_penalty: float = 10.0,
        critic_steps: int = 1,
        r1_penalty: float = 0.0,
        r1_interval: int = 1,
        discriminator_norm: str = "batch",
        energy_summary: bool = False,
        jet_summary: bool = False,
        eta_max: float = 2.5,
        jet_radius: float = 1.0,
        jet_pt_min_gev: float = 200.0,
        jet_abs_eta_max: float = 2.0,
        discriminator_conditioning: str = "dense",
        discriminator_views: Sequence[str] | None = None,
        generator_conditioning: str = "input",
        label_flip: float = 0.0,
        symmetries: Sequence[str] = (),
        learning_rate: float = 2e-4,
        discriminator_learning_rate: float | None = None,
        beta1: float = 0.5,
        beta2: float = 0.999,
        lr_patience_epochs: int | None = None,
        lr_decay_factor: float = 0.5,
        min_learning_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if loss not in ("bce", "wgan_gp"):
            msg = f"loss must be 'bce' or 'wgan_gp', got {loss!r}"
            raise ValueError(msg)
        if len(scales) != len(channels):
            msg = f"{len(channels)} channels but {len(scales)} scales"
            raise ValueError(msg)
        self.automatic_optimization = False
        n_conditions = 2 if conditional else 0
        if not 0.0 <= label_flip < 0.5:
            msg = f"label_flip must be in [0, 0.5), got {label_flip}"
            raise ValueError(msg)
        if r1_penalty < 0.0:
            msg = f"r1_penalty must be >= 0, got {r1_penalty}"
            raise ValueError(msg)
        if r1_interval < 1:
            msg = f"r1_interval must be at least 1, got {r1_interval}"
            raise ValueError(msg)
        if discriminator_norm not in ("batch", "spectral"):
            msg = f"discriminator_norm must be 'batch' or 'spectral', got {discriminator_norm!r}"
            raise ValueError(msg)
        if not 0.0 < lr_decay_factor < 1.0:
            msg = f"lr_decay_factor must be in (0, 1), got {lr_decay_factor}"
            raise ValueError(msg)
        if conditional and centre_masses and not mass_points:
            msg = "centre_masses needs the trained mass_points"
            raise ValueError(msg)
        # The midpoint of the trained grid's range in each mass, or none (the authors' masses).
        self.mass_centre = torch.zeros(2)
        if centre_masses and mass_points:
            points = torch.as_tensor(mass_points, dtype=torch.float32)
            self.mass_centre = 0.5 * (points.amin(dim=0) + points.amax(dim=0))
        self.symmetries = check_symmetries(symmetries)
        self.scaling = PixelScaling(scales, pixel_offset, pixel_scaling)
        threshold = np.full((len(channels), 1, 1), pixel_threshold, dtype=np.float64)
        self.generator = Generator(
            latent_dim,
            n_conditions,
            len(channels),
            generator_filters,
            thresholds=self.scaling.to_network(threshold).ravel().tolist(),
            conditioning=generator_conditioning,
        )
        self.discriminator = Discriminator(
            len(channels),
            n_conditions,
            discriminator_filters,
            norm=(
                "spectral"
                if discriminator_norm == "spectral"
                else "layer"
                if loss == "wgan_gp"
                else "batch"
            ),
            energy_scaling=self.scaling if energy_summary else None,
            conditioning=discriminator_conditioning,
            views=PixelViews(self.scaling, discriminator_views) if discriminator_views else None,
            jets=(
                JetSummary(
                    self.scaling,
                    calorimeter_channels(channels),
                    ImageJets(
                        ImageSpec(IMAGE_SIZE, IMAGE_SIZE, eta_max),
                        radius=jet_radius,
                        pt_min_gev=jet_pt_min_gev,
                        abs_eta_max=jet_abs_eta_max,
                    ),
                )
                if jet_summary
                else None
            ),
        )

    @property
    def conditional(self) -> bool:
        """Whether the GAN is conditioned on the masses."""
        return bool(self.hparams["conditional"])

    @property
    def latent_dim(self) -> int:
        """Size of the latent vector."""
        return int(self.hparams["latent_dim"])

    def conditions(self, masses_gev: Tensor) -> Tensor:
        """(N, 2) masses in GeV -> the network's conditions."""
        centre = self.mass_centre.to(masses_gev.device, masses_gev.dtype)
        return (masses_gev - centre) / float(self.hparams["mass_scale_gev"])

    def forward(self, latent: Tensor, conditions: Tensor | None = None) -> Tensor:
        """Latent vectors (and conditions) -> images in network units."""
        images: Tensor = self.generator(latent, conditions if self.conditional else None)
        return images

    def _d(self, images: Tensor, conditions: Tensor | None) -> Tensor:
        logits: Tensor = self.discriminator(images, conditions if self.conditional else None)
        return logits

    def _check(self, name: str, loss: Tensor, batch_idx: int) -> None:
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                name, loss.detach().item(), self.global_step, self.current_epoch, batch_idx
            )

    def _gradient_penalty(self, real: Tensor, fake: Tensor, conditions: Tensor | None) -> Tensor:
        alpha = torch.rand(len(real), 1, 1, 1, device=real.device, dtype=real.dtype)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self._d(mixed, conditions).sum(), mixed, create_graph=True)
        penalty: Tensor = ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
        return penalty

    def discriminator_loss(
        self, real: Tensor, fake: Tensor, conditions: Tensor | None, batch_idx: int
    ) -> Tensor:
        """The discriminator's (critic's) loss on real and generated images in batch
        ``batch_idx`` of an epoch (a lazy R1 penalty is due in every ``r1_interval``-th)."""
        interval = int(self.hparams["r1_interval"])
        due = batch_idx % interval == 0 and self.hparams["loss"] == "bce"  # WGAN-GP has its own
        gamma = float(self.hparams["r1_penalty"]) if due else 0.0
        if gamma > 0.0:
            real = real.detach().requires_grad_(True)
        d_real, d_fake = self._d(real, conditions), self._d(fake, conditions)
        if self.hparams["loss"] == "wgan_gp":
            penalty = self._gradient_penalty(real, fake, conditions)
            weight = float(self.hparams["gradient_penalty"])
            return d_fake.mean() - d_real.mean() + weight * penalty
        loss = F.binary_cross_entropy_with_logits(
            d_real, self._targets(d_real, 1.0)
        ) + F.binary_cross_entropy_with_logits(d_fake, self._targets(d_fake, 0.0))
        if gamma > 0.0:
            loss = loss + 0.5 * gamma * interval * self._r1_penalty(real, d_real)
        return loss

    def _r1_penalty(self, real: Tensor, d_real: Tensor) -> Tensor:
        """The batch mean of |grad_x D(x)|^2 (summed over pixels) at the real images ``real``
        (which require grad), D(x) = ``d_real``, kept in the graph so that D's update minimises
        it. The gradient is of the batch's summed logit: with batch norm and the energy
        summary's batch spread, each logit also depends on the batch's other images."""
        (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        penalty: Tensor = grad.flatten(1).square().sum(dim=1).mean()
        return penalty

    def _targets(self, logits: Tensor, label: float) -> Tensor:
        """The D update's targets: ``label``, each flipped with probability ``label_flip``."""
        targets = torch.full_like(logits, label)
        flip = float(self.hparams["label_flip"])
        if flip > 0.0 and self.training:
            flipped = torch.rand_like(logits) < flip
            targets = torch.where(flipped, 1.0 - targets, targets)
        return targets

    def generator_loss(self, fake: Tensor, conditions: Tensor | None) -> Tensor:
        """The generator's loss (non-saturating BCE or -critic)."""
        d_fake = self._d(fake, conditions)
        if self.hparams["loss"] == "wgan_gp":
            return -d_fake.mean()
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))

    def _noise(self, n: int, like: Tensor) -> Tensor:
        return torch.randn(n, self.latent_dim, device=like.device, dtype=like.dtype)

    def training_step(self, batch: Batch, batch_idx: int) -> None:
        """One discriminator update and (every ``critic_steps`` batches) one generator update."""
        optimizers = self.optimizers()
        assert isinstance(optimizers, list)
        opt_g, opt_d = optimizers
        real = symmetrise(batch["x"].float(), self.symmetries)
        conditions = self.conditions(batch["c"].float()) if self.conditional else None
        n = len(real)

        self.toggle_optimizer(opt_d)
        fake = symmetrise(self(self._noise(n, real), conditions), self.symmetries).detach()
        d_loss = self.discriminator_loss(real, fake, conditions, batch_idx)
        self._check("discriminator", d_loss, batch_idx)
        opt_d.zero_grad()
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)
        logs = {"d_loss": d_loss.detach()}

        if (batch_idx + 1) % int(self.hparams["critic_steps"]) == 0:
            self.toggle_optimizer(opt_g)
            fake = symmetrise(self(self._noise(n, real), conditions), self.symmetries)
            g_loss = self.generator_loss(fake, conditions)
            self._check("generator", g_loss, batch_idx)
            opt_g.zero_grad()
            self.manual_backward(g_loss)
            opt_g.step()
            self.untoggle_optimizer(opt_g)
            logs["g_loss"] = g_loss.detach()
        self.log_dict(logs, prog_bar=True, on_step=True, on_epoch=True, batch_size=n)

    def configure_optimizers(self) -> Any:
        """Adam for the generator and for the discriminator (lr 2e-4, beta1 0.5 by default),
        each with a ``ReduceLROnPlateau`` on ``val_ks`` when ``lr_patience_epochs`` is set."""
        betas = (float(self.hparams["beta1"]), float(self.hparams["beta2"]))
        lr = float(self.hparams["learning_rate"])
        d_lr = self.hparams["discriminator_learning_rate"]
        optimizers = [
            torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas),
            torch.optim.Adam(
                self.discriminator.parameters(),
                lr=lr if d_lr is None else float(d_lr),
                betas=betas,
            ),
        ]
        patience = self.hparams["lr_patience_epochs"]
        if patience is None:
            return optimizers
        schedulers = [
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="min",
                factor=float(self.hparams["lr_decay_factor"]),
                patience=int(patience),
                threshold=0.0,  # "not improved on its best": any lower metric is better
                min_lr=float(self.hparams["min_learning_rate"]),
            )
            for optimizer in optimizers
        ]
        return optimizers, schedulers

    def on_train_epoch_end(self) -> None:
        """Log the learning rate this epoch trained with, then step the schedules on the
        epoch's ``val_ks`` (logged by :class:`~hepdl.gan.train.KSSelection`: callbacks run
        before this hook, checkpoints after it)."""
        optimizers = self.optimizers()
        assert isinstance(optimizers, list)  # the generator's and the discriminator's
        self.log("lr", float(optimizers[0].param_groups[0]["lr"]), on_epoch=True)
        schedulers = self.lr_schedulers()
        metric = self.trainer.callback_metrics.get("val_ks")
        if schedulers is None or metric is None:
            return
        assert isinstance(schedulers, list)  # one per optimiser
        for scheduler in schedulers:
            assert isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
            scheduler.step(float(metric))

    @torch.no_grad()
    def generate(
        self,
        n: int,
        masses_gev: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        batch_size: int = 512,
    ) -> Tensor:
        """``n`` images in physical units (GeV, tracks) on the CPU, in evaluation mode.

        Args:
            n: Number of images.
            masses_gev: (n, 2) masses per image (conditional GAN only).
            generator: Random-number generator of the latent vectors (CPU), for reproducibility.
            batch_size: Images per forward pass.
        """
        was_training = self.training
        self.eval()
        out = []
        for low in range(0, n, batch_size):
            size = min(batch_size, n - low)
            latent = torch.randn(size, self.latent_dim, generator=generator).to(self.device)
            conditions = None
            if self.conditional:
                if masses_gev is None:
                    msg = "a conditional GAN needs masses to generate"
                    raise ValueError(msg)
                conditions = self.conditions(masses_gev[low : low + size].to(self.device).float())
            images = symmetrise(self(latent, conditions), self.symmetries, generator)
            out.append(self.scaling.to_physical_torch(images).float().cpu())
        self.train(was_training)
        return torch.cat(out) if out else torch.zeros(0)

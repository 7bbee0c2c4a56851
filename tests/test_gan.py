"""The GANs: networks, pixel scaling, training, generation at mass points, validation."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import matplotlib as mpl
import numpy as np
import pytest
import torch
import yaml
from numpy.typing import NDArray
from torch import nn

from hepdl.cli import main
from hepdl.errors import CheckpointError, ConfigError, InputFileError, TrainingError
from hepdl.gan import train as gan_train
from hepdl.gan import validate as validation
from hepdl.gan.data import calorimeter_energy, load_images
from hepdl.gan.generate import ExtrapolationWarning, check_mass_point, generate_gan
from hepdl.gan.io import export_gan, load_gan, read_generated
from hepdl.gan.metrics import (
    W1_TARGETS,
    ks_metric,
    ks_metric_per_mass_point,
    neg_log_pvalue,
    target_fractions,
)
from hepdl.gan.models import Discriminator, EnergySummary, JetSummary, PixelViews
from hepdl.gan.module import ImageGAN
from hepdl.gan.observables import ImageJets, image_observables
from hepdl.gan.scaling import PixelScaling
from hepdl.gan.settings import gan_models, gan_samples, is_conditional, mass_grid
from hepdl.gan.symmetries import symmetrise
from hepdl.gan.train import train_gan
from hepdl.gan.validate import compare_sets, target_checks, validate_gan
from hepdl.images.histogram import ImageSpec
from hepdl.plots.style import save
from hepdl.seeds import model_seed
from hepdl.train.checkpoint import HEPDL_KEY

from .synthetic_splits import make_config, write_splits

SCALE_GEV = 5000.0
TINY_GAN = {
    "generator_filters": 4,
    "discriminator_filters": 4,
    "batch_size": 16,
    "max_epochs": 1,
    "limit_train_batches": 3,
    "select_events": 16,
    "generate_events": 24,
    "validation_events": 60,
    "learning_rate": 1e-3,
    "plot_formats": None,
}


def tiny_config(results: Path, **gan: Any) -> dict[str, Any]:
    settings = {**TINY_GAN, **gan}
    settings.pop("plot_formats")
    return make_config(results, gan=settings)


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 x 64 synthetic splits: signal at 1400/850 and 1600/850, and QCD."""
    results = tmp_path_factory.mktemp("gan_splits")
    write_splits(results, sizes={"train": 120, "val": 40, "test": 1000}, n_pix=64, chunk=16)
    return results


def split_inputs(splits: Path) -> dict[str, Any]:
    """train_gan's input files from the synthetic splits, without a progress bar."""
    images = splits / "images"
    return {"train_file": images / "train.h5", "val_file": images / "val.h5", "progress": False}


def saved_gan(path: Path, **hparams: Any) -> Path:
    """An untrained GAN written as a model file."""
    module = ImageGAN(**{"generator_filters": 4, "discriminator_filters": 4, **hparams})
    checkpoint = path.with_suffix(".lightning")
    torch.save(
        {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, checkpoint
    )
    return export_gan(checkpoint, path, {})


# --- networks and scaling ----------------------------------------------------------------


@pytest.mark.parametrize("channels", [["energy"], ["ecal", "hcal", "tracks"]])
def test_generated_images_have_the_image_shape_and_physical_range(channels: list[str]) -> None:
    scales = [SCALE_GEV] * len(channels)
    module = ImageGAN(
        channels=channels, scales=scales, generator_filters=4, discriminator_filters=4
    )
    images = module.generate(5, generator=torch.Generator().manual_seed(1))
    assert images.shape == (5, len(channels), 64, 64)
    assert torch.isfinite(images).all()
    assert images.min() >= 0.0
    assert images.max() <= SCALE_GEV  # a sigmoid: never above the pixel scale
    assert module.discriminator(torch.rand(3, len(channels), 64, 64)).shape == (3,)


@pytest.mark.parametrize("scaling", ["linear", "log"])
def test_generator_threshold_gives_exact_zeros_and_never_exceeds_the_scale(scaling: str) -> None:
    module = ImageGAN(scales=[SCALE_GEV], pixel_scaling=scaling, pixel_threshold=0.5).eval()
    threshold = float(module.scaling.to_network(np.full((1, 1, 1), 0.5)).item())
    expected = 0.5 / SCALE_GEV if scaling == "linear" else np.log1p(0.5) / np.log1p(SCALE_GEV)
    assert threshold == pytest.approx(expected, rel=1e-5)
    # the output stage (sigmoid, threshold) on pre-activations from far below to far above
    output = module.generator.net[-2:]
    pre = torch.linspace(-40.0, 40.0, 64 * 64).view(1, 1, 64, 64)
    network = output(pre)
    assert not ((network > 0) & (network <= threshold)).any()
    assert (network == 0).sum() == (torch.sigmoid(pre) <= threshold).sum() > 1000
    assert network.max() == 1.0
    physical = module.scaling.to_physical_torch(network)
    assert physical.max() <= SCALE_GEV
    assert physical[physical > 0].min() > 0.5
    # and the whole generator, in GeV: never above the scale, a NaN kept as NaN
    assert module.generate(8, generator=torch.Generator().manual_seed(2)).max() <= SCALE_GEV
    assert torch.isnan(output(torch.full((1, 1, 2, 2), float("nan")))).all()


def test_pixel_scaling_keeps_zero_maps_the_scale_to_one_and_inverts() -> None:
    scaling = PixelScaling([SCALE_GEV], offset=1.0)
    energies = np.array([0.0, 0.5, 1.0, 30.0, SCALE_GEV], dtype=np.float32).reshape(1, 1, 5)
    network = scaling.to_network(energies)
    assert network[0, 0, 0] == 0.0
    assert network[0, 0, -1] == pytest.approx(1.0)
    assert np.all(np.diff(network.ravel()) > 0)
    # the decades are spread: 1 GeV is not ~1e-4 of the scale, as it is in linear scaling
    assert network[0, 0, 2] > 0.05
    np.testing.assert_allclose(scaling.to_physical(network), energies, rtol=1e-4, atol=1e-5)
    tensor = scaling.to_physical_torch(torch.from_numpy(network))
    np.testing.assert_allclose(tensor.numpy(), energies, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("conditioning", "generator_conditioning"),
    [("dense", "input"), ("planes", "input"), ("projection", "input"), ("planes", "batch_norm")],
)
def test_conditional_generator_and_discriminator_respond_to_the_masses(
    conditioning: str, generator_conditioning: str
) -> None:
    module = ImageGAN(
        conditional=True,
        mass_points=[[1400.0, 850.0], [1800.0, 850.0]],
        generator_filters=4,
        discriminator_filters=4,
        discriminator_conditioning=conditioning,
        generator_conditioning=generator_conditioning,
    )
    # one batch of both masses (batch norm in training mode would remove a condition shared by
    # the whole batch), the same latent vectors for each
    latent = torch.randn(4, 64, generator=torch.Generator().manual_seed(3)).repeat(2, 1)
    masses = torch.tensor([[1400.0, 850.0]] * 4 + [[1800.0, 850.0]] * 4)
    images = module(latent, module.conditions(masses))
    low, high = images[:4], images[4:]
    assert (low - high).abs().max() > 0.01 * images.max()
    module.eval()
    images = torch.rand(4, 1, 64, 64)
    d_low = module.discriminator(images, module.conditions(torch.tensor([[1400.0, 850.0]] * 4)))
    d_high = module.discriminator(images, module.conditions(torch.tensor([[1800.0, 850.0]] * 4)))
    assert not torch.allclose(d_low, d_high)


@pytest.mark.parametrize(
    ("conditioning", "image_dependent"), [("dense", False), ("planes", True), ("projection", True)]
)
def test_only_planes_and_projection_let_the_masses_weigh_what_the_discriminator_sees(
    conditioning: str, image_dependent: bool
) -> None:
    module = ImageGAN(
        conditional=True,
        mass_points=[[1400.0, 850.0], [1800.0, 850.0]],
        discriminator_filters=4,
        discriminator_conditioning=conditioning,
    ).eval()
    images = torch.rand(6, 1, 64, 64, generator=torch.Generator().manual_seed(8))
    low = module.conditions(torch.tensor([[1400.0, 850.0]] * 6))
    high = module.conditions(torch.tensor([[1800.0, 850.0]] * 6))
    with torch.no_grad():
        shift = module.discriminator(images, high) - module.discriminator(images, low)
    # dense: the masses add one constant to every image's logit, real or generated alike
    assert bool(shift.std() > 1e-4 * shift.abs().max()) is image_dependent


def test_conditional_batch_norm_starts_as_the_plain_generator_and_learns_per_layer() -> None:
    torch.manual_seed(0)
    grid = [[1400.0, 850.0], [1800.0, 850.0]]
    networks = {"conditional": True, "mass_points": grid, "generator_filters": 4}
    modulated = ImageGAN(generator_conditioning="batch_norm", **networks)
    plain = ImageGAN(**networks)
    plain.load_state_dict(modulated.state_dict(), strict=False)
    assert modulated.generator.modulations is not None
    assert len(modulated.generator.modulations) == 4  # one per batch norm
    latent = torch.randn(8, 64, generator=torch.Generator().manual_seed(5))
    conditions = modulated.conditions(torch.tensor(grid * 4))
    torch.testing.assert_close(modulated(latent, conditions), plain(latent, conditions))
    # every layer's modulation gets a gradient from the image, so each can learn the masses
    modulated(latent, conditions).square().mean().backward()
    for modulation in modulated.generator.modulations:
        assert modulation.weight.grad is not None
        assert modulation.weight.grad.abs().sum() > 0
    # and with the modulations learnt, the masses move the image beyond their input path (with
    # one layer's alone, the shift over the input path's was 1.26-4.0 over 20 initialisations;
    # with all four, 1.8-8.9)
    with torch.no_grad():
        for modulation in modulated.generator.modulations:
            modulation.weight.normal_(0.0, 0.5)
    low, high = (modulated.conditions(torch.tensor([grid[k]] * 8)) for k in (0, 1))
    shift = (modulated(latent, high) - modulated(latent, low)).abs().sum()
    plain_shift = (plain(latent, high) - plain(latent, low)).abs().sum()
    assert shift > 1.5 * plain_shift
    with pytest.raises(ValueError, match="conditioning"):
        ImageGAN(generator_conditioning="film")


def test_pixel_views_show_the_discriminator_each_scaling_of_the_same_pixels() -> None:
    linear = PixelScaling([SCALE_GEV], offset=1.0, kind="linear")
    log = PixelScaling([SCALE_GEV], offset=1.0, kind="log")
    physical = np.zeros((2, 1, 64, 64))
    physical[0, 0, 10, 10], physical[1, 0, 3, 4] = 1.0, 1200.0
    for source in (linear, log):
        images = torch.from_numpy(source.to_network(physical))
        views = PixelViews(source, ["linear", "log"])(images).numpy()
        assert views.shape == (2, 2, 64, 64)
        np.testing.assert_allclose(views[:, :1], linear.to_network(physical), rtol=1e-5)
        np.testing.assert_allclose(views[:, 1:], log.to_network(physical), rtol=1e-5, atol=1e-7)
        assert views[0, 1, 10, 10] > 300 * views[0, 0, 10, 10]  # 1 GeV is visible in log units
        assert PixelViews(source, [source.kind])(images) is images
    module = ImageGAN(
        scales=[SCALE_GEV], discriminator_views=["linear", "log"], discriminator_filters=4
    )
    first = module.discriminator.features[0]
    assert isinstance(first, torch.nn.Conv2d)
    assert first.in_channels == 2
    with pytest.raises(ValueError, match="no pixel views"):
        PixelViews(linear, [])


def test_energy_summary_measures_total_energy_hottest_pixel_and_batch_spread() -> None:
    scaling = PixelScaling([SCALE_GEV, 50.0], offset=1.0)
    rng = np.random.default_rng(5)
    physical = rng.exponential(3.0, size=(6, 2, 64, 64)) * (rng.random((6, 2, 64, 64)) < 0.03)
    physical[:, 0, 30, 30] = [40.0, 400.0, 900.0, 1500.0, 2500.0, 4000.0]
    network = torch.from_numpy(scaling.to_network(physical))
    summary = EnergySummary(scaling)
    features = summary(network).numpy()
    assert features.shape == (6, summary.n_features) == (6, 5)
    summed = torch.from_numpy(physical.sum(axis=(2, 3))[:, :, None, None])
    total = scaling.to_network_torch(summed, clip=False)[:, :, 0, 0].numpy()
    assert total[:, 1].min() > 1.0  # a total above the pixel scale is not clipped
    np.testing.assert_allclose(features[:, :2], total, rtol=1e-4)
    np.testing.assert_allclose(features[:, 2:4], network.amax(dim=(2, 3)).numpy())
    assert np.all(np.diff(features[:, 0]) > 0)  # the hot pixel sets the energy scale
    np.testing.assert_allclose(features[:, 4], features[0, 4])
    assert features[0, 4] > 0.0
    same = summary(network[:1].expand(4, -1, -1, -1)).numpy()
    np.testing.assert_allclose(same[:, 4], 0.0, atol=1e-6)  # a collapsed batch has no spread
    per_sample = EnergySummary(scaling, batch_spread=False)
    assert per_sample.n_features == 4
    np.testing.assert_allclose(per_sample(network).numpy(), features[:, :4])


def test_discriminator_with_energy_summary_sees_the_energy_scale_of_a_fixed_shape() -> None:
    module = ImageGAN(scales=[SCALE_GEV], energy_summary=True, discriminator_filters=4)
    assert module.discriminator.energy is not None
    assert module.discriminator.energy.batch_spread
    assert ImageGAN(scales=[SCALE_GEV], discriminator_filters=4).discriminator.energy is None
    critic = ImageGAN(scales=[SCALE_GEV], energy_summary=True, loss="wgan_gp")
    assert critic.discriminator.energy is not None
    assert not critic.discriminator.energy.batch_spread  # the penalty needs per-sample critics
    # only the total-energy feature reaches the logit: its gradient must reach the pixels
    weights = module.discriminator.dense.weight
    with torch.no_grad():
        weights.zero_()
        weights[0, -3] = 1.0  # the total energy
    images = torch.rand(3, 1, 64, 64).mul(0.4).requires_grad_(True)
    module.discriminator(images).sum().backward()
    assert images.grad is not None
    assert torch.all(images.grad > 0)  # every pixel adds energy
    brighter = module.discriminator(images.detach() * 1.05)
    assert torch.all(brighter > module.discriminator(images.detach()))
    with pytest.raises(ValueError, match="a pixel scaling of 2"):
        Discriminator(1, 0, 4, energy_scaling=PixelScaling([1.0, 2.0], 1.0))


def test_r1_penalty_is_its_term_in_the_discriminator_loss_and_flattens_d_at_real_images() -> None:
    rng = np.random.default_rng(11)
    sparse = rng.random((2, 16, 1, 64, 64)) * (rng.random((2, 16, 1, 64, 64)) < 0.05)
    real, fake = (torch.from_numpy(half).float() for half in sparse)

    def trained(gamma: float, steps: int) -> ImageGAN:
        torch.manual_seed(3)
        module = ImageGAN(generator_filters=4, discriminator_filters=4, r1_penalty=gamma)
        optimiser = torch.optim.Adam(module.discriminator.parameters(), lr=1e-3)
        for _ in range(steps):
            loss = module.discriminator_loss(real, fake, None, 0)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        return module

    def squared_gradient(module: ImageGAN) -> float:
        at = real.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(module._d(at, None).sum(), at)
        return float((grad**2).sum(dim=(1, 2, 3)).mean())

    def loss(module: ImageGAN) -> float:
        return module.discriminator_loss(real, fake, None, 0).item()

    plain, penalised = trained(0.0, 0), trained(10.0, 0)
    assert squared_gradient(plain) > 0.0
    assert loss(penalised) - loss(plain) == pytest.approx(5.0 * squared_gradient(plain), rel=1e-4)
    # lazy: every 4th batch, 4 times the weight
    torch.manual_seed(3)
    lazy = ImageGAN(generator_filters=4, discriminator_filters=4, r1_penalty=10.0, r1_interval=4)
    gaps = [
        lazy.discriminator_loss(real, fake, None, batch_idx).item() - loss(plain)
        for batch_idx in range(5)
    ]
    lazy_term = 20.0 * squared_gradient(plain)
    assert gaps == pytest.approx([lazy_term, 0.0, 0.0, 0.0, lazy_term], rel=1e-4, abs=1e-5)
    # 40 updates: without R1, D sharpens at the real images; with it, its gradient there shrinks
    free, smooth = trained(0.0, 40), trained(10.0, 40)
    assert squared_gradient(smooth) < 0.1 * squared_gradient(free)
    critic = ImageGAN(generator_filters=4, discriminator_filters=4, loss="wgan_gp", r1_penalty=1.0)
    torch.manual_seed(4)
    with_r1 = critic.discriminator_loss(real, fake, None, 0).item()
    critic.hparams["r1_penalty"] = 0.0
    torch.manual_seed(4)  # the same interpolates for the critic's own penalty
    assert critic.discriminator_loss(real, fake, None, 0).item() == pytest.approx(with_r1)
    with pytest.raises(ValueError, match="r1_penalty"):
        ImageGAN(r1_penalty=-1.0)
    with pytest.raises(ValueError, match="r1_interval"):
        ImageGAN(r1_penalty=1.0, r1_interval=0)


def test_spectral_discriminator_has_unit_singular_values_no_batch_norm_and_still_learns(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(12)
    sparse = rng.random((2, 16, 1, 64, 64)) * (rng.random((2, 16, 1, 64, 64)) < 0.05)
    real, fake = (torch.from_numpy(half).float() for half in sparse)
    fake = fake * 0.5  # colder than the real images
    conditions = torch.zeros(16, 2)
    torch.manual_seed(5)
    module = ImageGAN(
        conditional=True,
        generator_filters=4,
        discriminator_filters=4,
        discriminator_norm="spectral",
        discriminator_conditioning="planes",
        energy_summary=True,
        r1_penalty=0.01,
    )
    d = module.discriminator
    assert not any(isinstance(layer, nn.BatchNorm2d | nn.GroupNorm) for layer in d.modules())
    weighted = [layer for layer in d.modules() if isinstance(layer, nn.Conv2d | nn.Linear)]
    assert len(weighted) == 5  # four convolutions and the dense layer
    optimiser = torch.optim.Adam(d.parameters(), lr=1e-3)
    losses = []
    for _ in range(60):  # each training-mode pass is one power iteration
        loss = module.discriminator_loss(real, fake, conditions, 0)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    with torch.no_grad():
        d(real, conditions)
    for layer in weighted:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert float(sigma) == pytest.approx(1.0, rel=0.02)
    assert losses[-1] < 0.5 * losses[0]  # bounded, but it tells hot from cold images
    # a spectral GAN goes through the model file and back with the same logits
    d.eval()
    path = tmp_path / "spectral.pt"
    checkpoint = path.with_suffix(".lightning")
    torch.save(
        {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, checkpoint
    )
    loaded = load_gan(export_gan(checkpoint, path, {}))
    loaded.discriminator.eval()
    assert torch.equal(loaded.discriminator(real, conditions), d(real, conditions))
    with pytest.raises(ValueError, match="discriminator_norm"):
        ImageGAN(discriminator_norm="layer")


def test_discriminator_learning_rate_is_its_own_and_defaults_to_the_generators(
    tmp_path: Path, splits: Path
) -> None:
    two_scales = ImageGAN(learning_rate=1e-4, discriminator_learning_rate=4e-4)
    generator, discriminator = two_scales.configure_optimizers()
    assert generator.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert discriminator.param_groups[0]["lr"] == pytest.approx(4e-4)
    config = tiny_config(splits, limit_train_batches=1, discriminator_learning_rate=3e-3)
    train_gan(config, "gan", output=tmp_path / "model.ckpt", **split_inputs(splits))
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    rates = [state["param_groups"][0]["lr"] for state in last["optimizer_states"]]
    assert rates == pytest.approx([1e-3, 3e-3])  # TINY_GAN's learning_rate for the generator
    same = [group.param_groups[0]["lr"] for group in ImageGAN().configure_optimizers()]
    assert same == pytest.approx([2e-4, 2e-4])


def test_a_kind_trains_with_its_own_settings_and_its_seed_replicas_too(
    tmp_path: Path, splits: Path
) -> None:
    own = {"jet_summary": True, "discriminator_learning_rate": 3e-3, "limit_train_batches": 3}
    config = tiny_config(splits, limit_train_batches=1, max_epochs=1, per_kind={"gan": own})
    assert config["gan"]["jet_summary"] is False  # the block keeps its own value
    assert gan_train.gan_hparams(config, "gan_seed1", [1.0])["jet_summary"] is True
    assert gan_train.gan_hparams(config, "cgan", [1.0])["jet_summary"] is False
    steps = {}
    for name in ("gan", "cgan"):
        output = tmp_path / name / "model.ckpt"
        train_gan(config, name, output=output, **split_inputs(splits))
        last = torch.load(output.parent / "checkpoints" / "last.ckpt", weights_only=False)
        steps[name] = last["global_step"]
    assert steps["gan"] == 3 * steps["cgan"]  # the gan's own batches per epoch: 3, not 1
    trained = {name: load_gan(tmp_path / name / "model.ckpt").hparams for name in ("gan", "cgan")}
    assert trained["gan"]["jet_summary"]
    assert not trained["cgan"]["jet_summary"]
    assert trained["gan"]["discriminator_learning_rate"] == pytest.approx(3e-3)
    assert trained["cgan"]["discriminator_learning_rate"] is None


@pytest.mark.parametrize(
    ("per_kind", "message"),
    [
        ({"gan": {"seeds": 3}}, r"gan\.per_kind\.gan\.seeds': seeds is shared by every GAN"),
        (
            {"cgan": {"validation_events": 9}},
            r"per_kind\.cgan\.validation_events': validation_events is shared",
        ),
        ({"cgan": {"jet_sumary": True}}, r"per_kind\.cgan\.jet_sumary': 'jet_sumary' is not a key"),
        ({"gan": {"jet_summary": "yes"}}, r"per_kind\.gan\.jet_summary': 'yes' is not of type"),
        ({"gan": {"learning_rate": 0.0}}, r"per_kind\.gan\.learning_rate': 0\.0 is less than"),
        ({"dcgan": {}}, r"gan\.per_kind\.dcgan"),
    ],
)
def test_a_kinds_own_settings_are_checked_when_the_config_is_read(
    tmp_path: Path, per_kind: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_config(tmp_path, gan={"per_kind": per_kind})


def test_a_kind_cannot_set_what_its_hyper_parameter_search_varies(tmp_path: Path) -> None:
    searched = {
        "studies": ["gan"],
        "gan": {"model": "cgan", "space": {"learning_rate": {"low": 1e-4, "high": 1e-3}}},
    }
    own = {"cgan": {"learning_rate": 1e-3}}
    with pytest.raises(ConfigError, match=r"per_kind\.cgan\.learning_rate': hpo\.gan\.space"):
        make_config(tmp_path, gan={"per_kind": own}, hpo=searched)
    # the other kind is not searched, nor a key whose space is null
    make_config(tmp_path, gan={"per_kind": {"gan": {"learning_rate": 1e-3}}}, hpo=searched)
    searched["gan"]["space"]["pixel_offset"] = None
    make_config(tmp_path, gan={"per_kind": {"cgan": {"pixel_offset": 2.0}}}, hpo=searched)


def _jet_blobs(
    rng: np.random.Generator, n_events: int, spec: ImageSpec
) -> tuple[NDArray[np.float64], list[list[tuple[int, int, float]]]]:
    """Events of up to 6 compact jets (3 x 3 pixels) far apart, each (row, column, pT), with
    pT and |eta| away from the cuts, and a soft fog of 1 GeV pixels."""
    eta = spec.eta_centres
    n_eta, n_phi = spec.n_eta, spec.n_phi
    energy = np.where(rng.random((n_events, n_eta, n_phi)) < 0.02, 1.0, 0.0)
    placed: list[list[tuple[int, int, float]]] = []
    for event in range(n_events):
        jets: list[tuple[int, int, float]] = []
        for _ in range(int(rng.integers(0, 7))):
            for _attempt in range(50):
                row, column = int(rng.integers(1, n_eta - 1)), int(rng.integers(0, n_phi))
                d_phi = [
                    min(abs(column - c), n_phi - abs(column - c)) * 2 * np.pi / n_phi
                    for _, c, _ in jets
                ]
                d_eta = [abs(eta[row] - eta[r]) for r, _, _ in jets]
                far = all(np.hypot(a, b) > 2.2 for a, b in zip(d_eta, d_phi, strict=True))
                if far and abs(abs(eta[row]) - 2.0) > 0.1:
                    break
            else:
                continue
            pt = float(rng.choice([rng.uniform(60.0, 170.0), rng.uniform(230.0, 900.0)]))
            weights = np.outer([0.1, 0.6, 0.1], [0.15, 1.0, 0.15])
            energy_gev = pt * np.cosh(eta[row]) * weights / weights.sum()
            columns = np.arange(column - 1, column + 2) % n_phi
            energy[event, row - 1 : row + 2, columns] += energy_gev
            jets.append((row, column, pt))
        placed.append(jets)
    return energy, placed


@pytest.mark.parametrize(
    "spec", [ImageSpec(), ImageSpec(n_eta=48, n_phi=80, eta_max=3.0)], ids=["64x64", "48x80"]
)
def test_jet_summary_counts_the_jets_the_validation_clusters(spec: ImageSpec) -> None:
    energy, placed = _jet_blobs(np.random.default_rng(11), 60, spec)
    expected = image_observables(energy, ImageJets(spec))["n_jet"]
    assert len(set(expected)) >= 4  # several multiplicities, some jets cut by pT or |eta|
    assert sum(len(jets) for jets in placed) > expected.sum() + 10
    scaling = PixelScaling([SCALE_GEV], offset=1.0, kind="log")
    summary = JetSummary(scaling, [0], ImageJets(spec), softness_gev=5.0)
    network = torch.from_numpy(scaling.to_network(energy[:, None])).float()
    count = summary.count(network).numpy()
    np.testing.assert_allclose(count, expected, atol=0.02)
    indicators = summary(network).numpy()
    assert indicators.shape == (60, summary.n_features) == (60, 8)
    assert np.all(np.diff(indicators, axis=1) <= 0)  # n >= k falls with k
    np.testing.assert_array_equal((indicators > 0.5).sum(axis=1), expected)


def test_jet_summary_is_periodic_in_phi_and_pulls_a_jet_over_the_threshold() -> None:
    spec = ImageSpec()
    scaling = PixelScaling([SCALE_GEV], offset=1.0, kind="linear")
    summary = JetSummary(scaling, [0], ImageJets(spec))
    energy = np.zeros((3, 64, 64))
    energy[0, 32, [63, 0]] = [150.0, 150.0]  # one jet across the phi edge
    energy[1, 2, 10] = 1000.0  # beyond |eta| < 2
    energy[2, 32, 20] = 195.0  # just below the threshold
    expected = image_observables(energy, ImageJets(spec))["n_jet"]
    assert expected.tolist() == [1.0, 0.0, 0.0]
    images = torch.from_numpy(energy[:, None] / SCALE_GEV).float().requires_grad_(True)
    count = summary.count(images)
    assert count.detach().numpy() == pytest.approx([1.0, 0.0, 0.4], abs=0.05)
    count[2].backward()
    assert images.grad is not None
    grad = images.grad[2, 0]
    assert grad[32, 20] > 0  # more pT in the jet makes it count
    near = torch.zeros_like(grad, dtype=torch.bool)
    near[20:45, 10:31] = True  # the box of Delta R < 1 about the jet
    assert torch.all(grad[~near] == 0)
    assert torch.all(images.grad[:2] == 0)  # far from the threshold, nothing to learn


def test_discriminator_with_a_jet_summary_sees_the_jet_count() -> None:
    module = ImageGAN(scales=[SCALE_GEV], jet_summary=True, discriminator_filters=4)
    jets = module.discriminator.jets
    assert jets is not None
    assert ImageGAN(scales=[SCALE_GEV], discriminator_filters=4).discriminator.jets is None
    weights = module.discriminator.dense.weight
    with torch.no_grad():
        weights.zero_()
        weights[0, -jets.n_features + 1] = 1.0  # at least two jets
    one, two = torch.zeros(2, 1, 64, 64)
    one[0, 32, 10] = two[0, 32, 10] = 600.0 / SCALE_GEV
    two[0, 32, 42] = 600.0 / SCALE_GEV
    logits = module.discriminator(torch.stack([one, two]))
    # n >= 2 is sigmoid((n - 1.5) / 0.2): 0.08 for one jet, 0.92 for two
    expected = float(torch.sigmoid(torch.tensor(2.5)) - torch.sigmoid(torch.tensor(-2.5)))
    assert float((logits[1] - logits[0]).detach()) == pytest.approx(expected, abs=0.02)
    with pytest.raises(ValueError, match="no calorimeter energy"):
        ImageGAN(channels=["tracks"], scales=[50.0], jet_summary=True)


def test_gan_saved_before_the_energy_summary_still_loads(tmp_path: Path) -> None:
    path = saved_gan(tmp_path / "old.ckpt")
    record = torch.load(path, weights_only=True)
    for newer in (
        "energy_summary",
        "jet_summary",
        "r1_penalty",
        "r1_interval",
        "discriminator_norm",
        "discriminator_learning_rate",
    ):
        del record["hyper_parameters"][newer]
    torch.save(record, path)
    module = load_gan(path)
    assert module.discriminator.energy is None
    assert module.discriminator.jets is None
    assert module.hparams["r1_penalty"] == 0.0
    assert module.hparams["discriminator_norm"] == "batch"
    assert [group.param_groups[0]["lr"] for group in module.configure_optimizers()] == [2e-4] * 2


# --- config checks -----------------------------------------------------------------------


def test_gans_need_64_by_64_images_and_signal_samples(tmp_path: Path, splits: Path) -> None:
    config = make_config(tmp_path, images={"n_eta": 32, "n_phi": 32})
    with pytest.raises(ConfigError, match=r"images\.n_eta.*64 x 64"):
        gan_models(config)
    assert gan_models(make_config(tmp_path, images={"n_eta": 32}, gan={"models": []})) == []
    config = make_config(tmp_path, gan={"samples": ["JZ4"]})
    with pytest.raises(ConfigError, match=r"gan\.samples.*'JZ4' is a qcd sample"):
        gan_models(config)
    config = make_config(tmp_path)
    assert gan_models(config) == ["gan", "cgan"]
    seeds = make_config(tmp_path, gan={"seeds": 2})
    assert gan_models(seeds) == ["gan", "gan_seed1", "cgan", "cgan_seed1"]
    assert is_conditional("cgan_seed1")
    assert not is_conditional("gan_seed1")
    assert model_seed(seeds, "cgan_seed1") != model_seed(seeds, "cgan")
    for bad in ("dcgan", "cgan_seed0", "gan_seedx"):
        with pytest.raises(ConfigError, match=r"gan\.models.*seed replica"):
            is_conditional(bad)
    assert gan_samples(config) == ["RPV_1400_850", "RPV_1600_850"]
    assert mass_grid(config) == [[1400.0, 850.0], [1600.0, 850.0]]
    small = tmp_path / "small"
    write_splits(small, sizes={"train": 8, "val": 8, "test": 8}, n_pix=16)
    with pytest.raises(InputFileError, match="16 x 16; the GANs need 64 x 64"):
        load_images(small / "images" / "train.h5", ["energy"], None)


# --- validation --------------------------------------------------------------------------


def test_validation_puts_real_halves_at_the_noise_floor_and_flags_shifted_energies(
    splits: Path,
) -> None:
    real = load_images(splits / "images" / "test.h5", ["energy"], ["RPV_1400_850", "RPV_1600_850"])
    energy = calorimeter_energy(real.images, real.channels)
    assert len(energy) > 300
    half = len(energy) // 2
    jets = ImageJets(ImageSpec())
    same, generated_obs, _ = compare_sets(energy[:half], energy[half:], jets, seed=1)
    assert np.mean(generated_obs["n_jet"]) > 2  # the blobs are jets
    assert same["flagged"] == []
    for name in ("n_jet", "mj_gev", "jet1_pt_gev", "total_energy_gev"):
        assert same[name]["ratio"]["wasserstein"] < 3.0
        assert same[name]["generated"]["ks_pvalue"] > 0.01
    assert same["ks_metric_generated"] < 2 * same["ks_metric_floor"]
    shifted, _, _ = compare_sets(1.5 * energy[:half], energy[half:], jets, seed=1)
    for name in ("mj_gev", "jet1_pt_gev", "total_energy_gev", "pixel_energy_gev"):
        assert name in shifted["flagged"], name
        assert shifted[name]["generated"]["ks_pvalue"] < 1e-3
    assert target_checks({"overall": same})["passed"]
    assert not target_checks({"overall": shifted})["passed"]
    # energies 10% too high (500 events per half): flagged, each energy observable well above
    # its floor, the positions at it
    ten, _, _ = compare_sets(1.1 * energy[:half], energy[half:], jets, seed=1)
    assert {"jet1_pt_gev", "pixel_energy_gev"} <= set(ten["flagged"])
    for name in ("mj_gev", "jet1_pt_gev", "total_energy_gev", "pixel_energy_gev"):
        assert ten[name]["ratio"]["wasserstein"] > 1.5 * same[name]["ratio"]["wasserstein"], name
    for name in ("n_jet", "jet1_eta", "jet1_phi"):
        assert ten[name]["ratio"]["wasserstein"] < 3.0, name


def test_ks_metric_is_near_one_for_one_distribution_and_clipped_for_disjoint_ones() -> None:
    rng = np.random.default_rng(4)
    names = ("n_jet", "mj_gev")

    def sample(shift: float) -> dict[str, Any]:
        return {"n_jet": rng.poisson(4, 4096) + shift, "mj_gev": rng.normal(900, 100, 4096)}

    same = [ks_metric(sample(0.0), sample(0.0), names) for _ in range(20)]
    assert 0.5 < np.mean(same) < 1.6  # -ln p of a uniform p has mean 1
    assert ks_metric(sample(100.0), sample(0.0), names) == pytest.approx(
        (700.0 + np.mean(same)) / 2, rel=0.5
    )
    assert ks_metric(sample(100.0), sample(0.0), ("n_jet",)) == 700.0
    assert neg_log_pvalue(0.0) == 700.0
    assert neg_log_pvalue(np.exp(-3.0)) == pytest.approx(3.0)


def test_per_mass_point_metric_catches_a_cgan_that_ignores_its_masses() -> None:
    rng = np.random.default_rng(5)
    names = ("mj_gev",)
    masses = np.repeat([[1400.0, 850.0], [1800.0, 850.0]], 2048, axis=0)
    means = np.where(masses[:, 0] == 1400.0, 780.0, 950.0)

    def following() -> dict[str, Any]:
        return {"mj_gev": rng.normal(means, 100.0)}

    # the right mixture, but each image's M_J drawn from either point's distribution at random
    ignoring = {"mj_gev": rng.normal(rng.permutation(means), 100.0)}
    real = following()
    assert ks_metric(ignoring, real, names) < 4.0  # pooled it looks as good as a real sample
    assert ks_metric_per_mass_point(ignoring, real, masses, names) > 20.0
    assert ks_metric_per_mass_point(following(), real, masses, names) < 4.0


def test_cgan_mass_targets_need_each_trained_point_within_two_percent_and_monotonic() -> None:
    overall = {name: {"ratio": {"wasserstein": 1.0}} for name in W1_TARGETS}
    real = [900.0, 1000.0, 1100.0]

    def checks(generated: list[float]) -> dict[str, Any]:
        shift = {
            "m_gluino_gev": [1400.0, 1500.0, 1600.0, 1700.0, 1800.0],
            "generated_mean_mj_gev": generated,
            "real_m_gluino_gev": [1400.0, 1600.0, 1800.0],
            "real_mean_mj_gev": real,
        }
        return target_checks({"overall": overall, "mj_shift": shift})

    good = checks([905.0, 950.0, 990.0, 1040.0, 1110.0])
    assert good["passed"]
    assert good["mj_relative_to_real"]["values"]["1400"] == pytest.approx(5 / 900)
    assert good["interpolated_between_neighbours"] == {"1500": True, "1700": True}
    off = checks([905.0, 950.0, 1030.0, 1040.0, 1110.0])  # 1600 3% high
    assert not off["passed"]
    assert not off["mj_relative_to_real"]["passed"]
    kinked = checks([905.0, 1010.0, 990.0, 1040.0, 1110.0])  # 1500 above 1600
    assert not kinked["passed"]
    assert not kinked["mj_monotonic_in_m_gluino"]
    assert kinked["interpolated_between_neighbours"]["1500"] is False


# --- training ----------------------------------------------------------------------------


def test_training_reduces_the_discriminator_loss_on_real_vs_noise_and_is_reproducible(
    tmp_path: Path, splits: Path
) -> None:
    # log pixels: uniform noise in [0, 1] is then a plausible image scale (linear noise pixels
    # of ~2 TeV would be far from anything the discriminator saw)
    config = tiny_config(splits, pixel_scaling="log")
    images = splits / "images"
    kwargs = split_inputs(splits)
    fit = train_gan(config, "gan", output=tmp_path / "a" / "model.ckpt", **kwargs)
    assert fit.epochs == 1
    assert fit.n_train > 16
    folder = tmp_path / "a"
    for name in (
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "training_log.csv",
        "config.yaml",
    ):
        assert (folder / name).is_file(), name
    record = torch.load(fit.model_file, weights_only=True)[HEPDL_KEY]
    assert record["class"] == "ImageGAN"
    assert record["best_ks"] == pytest.approx(min(record["ks_history"]))

    real = load_images(images / "train.h5", ["energy"], None, max_events=32)
    trained = load_gan(fit.model_file)
    untrained = ImageGAN(**dict(trained.hparams))
    # batch statistics, as the discriminator sees batches in training
    trained.train()
    untrained.train()
    x = torch.from_numpy(trained.scaling.to_network(real.images))
    noise = torch.rand(32, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = untrained.discriminator_loss(x, noise, None, 0).item()
        after = trained.discriminator_loss(x, noise, None, 0).item()
    assert after < before

    again = train_gan(config, "gan", output=tmp_path / "b" / "model.ckpt", **kwargs)
    first = torch.load(fit.model_file, weights_only=True)["state_dict"]
    second = torch.load(again.model_file, weights_only=True)["state_dict"]
    assert all(torch.equal(first[key], second[key]) for key in first)


class PoisonAtSecondEpoch(pl.Callback):
    """Turns the generator's weights into NaN when the second epoch starts."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == 1:
            with torch.no_grad():
                for parameter in pl_module.generator.parameters():
                    parameter.fill_(float("nan"))


def test_nan_loss_stops_training_naming_the_step_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, splits: Path
) -> None:
    config = tiny_config(splits, max_epochs=3, limit_train_batches=2)
    with pytest.raises(
        TrainingError, match=r"loss is nan at global step \d+ \(epoch 1, batch 0\)"
    ) as err:
        train_gan(
            config,
            "gan",
            output=tmp_path / "model.ckpt",
            **split_inputs(splits),
            callbacks=[PoisonAtSecondEpoch()],
        )
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert f"the last good checkpoint is {last}" in str(err.value)
    kept = torch.load(last, weights_only=True)
    assert kept["epoch"] == 0
    assert all(
        torch.isfinite(value).all()
        for value in kept["state_dict"].values()
        if value.is_floating_point()
    )


# --- generation --------------------------------------------------------------------------


def test_cgan_generates_at_grid_and_interpolated_points_and_warns_when_extrapolating(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, gan={"generate_events": 3, "interpolate": [[1500, 850]]})
    grid = mass_grid(config)
    model = saved_gan(tmp_path / "cgan.ckpt", conditional=True, mass_points=grid)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = generate_gan(config, "cgan", checkpoint=model, output=tmp_path / "g.h5")
    assert result.mass_points == [[1400.0, 850.0], [1600.0, 850.0], [1500.0, 850.0]]
    generated = read_generated(result.path)
    assert generated.images.shape == (9, 1, 64, 64)
    assert generated.conditional
    assert sorted(set(generated.masses[:, 0].tolist())) == [1400.0, 1500.0, 1600.0]
    with pytest.warns(ExtrapolationWarning, match=r"\(1800, 850\) GeV is outside the trained grid"):
        generate_gan(
            config, "cgan", checkpoint=model, output=tmp_path / "x.h5", masses=[[1800, 850]]
        )
    with pytest.warns(ExtrapolationWarning, match="m_neutralino 850-850"):
        assert not check_mass_point([1500, 900], grid)
    # same seed, same images
    again = generate_gan(config, "cgan", checkpoint=model, output=tmp_path / "g2.h5")
    np.testing.assert_array_equal(read_generated(again.path).images, generated.images)


def test_wrong_kind_of_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    model = saved_gan(tmp_path / "gan.ckpt")
    with pytest.raises(
        CheckpointError, match="unconditional GAN, which cannot generate at given masses"
    ):
        generate_gan(config, "gan", checkpoint=model, masses=[[1400, 850]])
    with pytest.raises(CheckpointError, match="holds a unconditional GAN, but 'cgan'"):
        generate_gan(config, "cgan", checkpoint=model)
    classifier = tmp_path / "cnn.ckpt"
    torch.save(
        {"state_dict": {}, "hyper_parameters": {}, HEPDL_KEY: {"class": "ImageClassifier"}},
        classifier,
    )
    with pytest.raises(CheckpointError, match="checkpoint of a ImageClassifier, expected a GAN"):
        generate_gan(config, "gan", checkpoint=classifier)


def test_validate_gan_writes_json_and_plots_for_the_cgan(
    tmp_path: Path, splits: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels: dict[str, str] = {}

    def save_and_read_labels(figure: Any, path: Any, formats: Any) -> list[Path]:
        drawn = " ".join(text.get_text() for text in figure.findobj(mpl.text.Text))
        labels[Path(path).name] = drawn
        return save(figure, path, formats)

    monkeypatch.setattr(validation, "save", save_and_read_labels)
    config = tiny_config(splits, generate_events=30, interpolate=[[1500, 850]])
    model = saved_gan(tmp_path / "model.ckpt", conditional=True, mass_points=mass_grid(config))
    generate_gan(config, "cgan", checkpoint=model, output=tmp_path / "generated.h5")
    result = validate_gan(
        config,
        "cgan",
        generated=tmp_path / "generated.h5",
        real=splits / "images" / "test.h5",
        output_dir=tmp_path,
    )
    saved = json.loads((tmp_path / "validation.json").read_text())
    assert set(saved["per_mass_point"]) == {"RPV_1400_850", "RPV_1600_850"}
    assert saved["mj_shift"]["m_gluino_gev"] == [1400.0, 1500.0, 1600.0]
    assert saved["n_generated"] == 60  # the trained points only
    overall = saved["overall"]
    for name in ("n_jet", "mj_gev", "jet1_pt_gev", "pixel_energy_gev", "mean_image"):
        assert {"generated", "floor", "ratio", "flagged"} <= set(overall[name])
    # an untrained generator is flagged
    assert "total_energy_gev" in overall["flagged"]
    names = {path.name for path in result.plots}
    assert {"mj_gev.png", "n_jet.png", "mean_image.png", "mj_shift.png", "mj_per_mass.png"} <= names
    # Every plot says what it shows: the simulation and its collision energy.
    assert {"mj_gev", "mean_image", "mj_shift", "mj_per_mass"} <= set(labels)
    for name, drawn in labels.items():
        assert "Simulation" in drawn, name
        assert "13 TeV" in drawn, name


def test_command_line_reports_a_wrong_checkpoint_as_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(make_config(tmp_path / "results")))
    model = saved_gan(tmp_path / "gan.ckpt")
    argv = ["generate-gan", "--config", str(config), "--checkpoint", str(model)]
    assert main([*argv, "--mass", "1400", "850"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    expected = (
        f"hepdl generate-gan: error: {model}: holds an unconditional GAN, which cannot generate "
        "at given masses; leave out the masses or use a conditional (cgan) checkpoint"
    )
    assert error == [expected]
    assert main([*argv, "--events", "3", "--output", str(tmp_path / "g.h5")]) == 0
    assert "generate-gan gan: 3 images [unconditional]" in capsys.readouterr().out


class _Killed(Exception):
    """The job's end in the middle of a training."""


class _KilledInEpoch(pl.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise _Killed


def test_training_resumes_from_the_last_checkpoint(tmp_path: Path, splits: Path) -> None:
    kwargs = {**split_inputs(splits), "output": tmp_path / "model.ckpt"}
    config = tiny_config(splits, limit_train_batches=1, max_epochs=2)
    with pytest.raises(_Killed):  # the job ends (a Slurm time-out) after the first epoch
        train_gan(config, "cgan", callbacks=[_KilledInEpoch(1)], **kwargs)
    resumed = train_gan(config, "cgan", resume=True, **kwargs)
    assert resumed.epochs == 2
    record = torch.load(resumed.model_file, weights_only=True)[HEPDL_KEY]
    assert len(record["ks_history"]) == 1  # this run's epochs; the first is in the log
    # Another learning rate: a fresh training of both epochs, not a continuation.
    faster = tiny_config(splits, limit_train_batches=1, max_epochs=2, learning_rate=3e-3)
    afresh = train_gan(faster, "cgan", resume=True, **kwargs)
    assert afresh.global_step == resumed.global_step
    assert len(torch.load(afresh.model_file, weights_only=True)[HEPDL_KEY]["ks_history"]) == 2
    log = (tmp_path / "training_log.csv").read_text()
    assert log.count("\n") >= 3


def _epoch_rows(log: Path) -> dict[int, dict[str, str]]:
    """training_log.csv's epoch-end rows (those with a ``val_ks``), by epoch."""
    with log.open() as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("val_ks")]
    return {int(row["epoch"]): row for row in rows}


def test_learning_rates_decay_once_the_selection_metric_stops_improving(
    tmp_path: Path, splits: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The selection metric scripted: best at epoch 0, then worse and worse.
    scripted = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    monkeypatch.setattr(gan_train, "ks_metric", lambda *_: next(scripted))
    config = tiny_config(
        splits,
        limit_train_batches=1,
        max_epochs=5,
        lr_patience_epochs=1,
        lr_decay_factor=0.5,
        min_learning_rate=3e-4,
    )
    fit = train_gan(
        config,
        "gan",
        output=tmp_path / "model.ckpt",
        **split_inputs(splits),
    )
    assert fit.best_epoch == 0
    rows = _epoch_rows(tmp_path / "training_log.csv")
    rates = [float(rows[epoch]["lr"]) for epoch in range(5)]
    # patience 1: the second epoch without a new best (epoch 2) decays 1e-3 to 5e-4 for
    # epoch 3, the fourth (epoch 4) to the floor of 3e-4 for epoch 5
    assert rates == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4, 5e-4])
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    for state in last["optimizer_states"]:  # the generator's and the discriminator's
        assert state["param_groups"][0]["lr"] == pytest.approx(3e-4)
    assert len(last["lr_schedulers"]) == 2  # so that a resumed training keeps its schedule
    # a constant learning rate by default
    constant = tiny_config(splits, limit_train_batches=1, max_epochs=3)
    scripted = iter([1.0, 2.0, 3.0])
    train_gan(
        constant,
        "gan",
        output=tmp_path / "constant" / "model.ckpt",
        **split_inputs(splits),
    )
    rows = _epoch_rows(tmp_path / "constant" / "training_log.csv")
    assert [float(rows[epoch]["lr"]) for epoch in range(3)] == pytest.approx([1e-3] * 3)


def _observables(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Event observables of a made-up signal-like population."""
    return {
        "n_jet": rng.poisson(4.0, n).astype(np.float64),
        "mj_gev": rng.normal(850.0, 250.0, n),
        "jet1_pt_gev": rng.normal(700.0, 150.0, n),
        "jet1_eta": rng.normal(0.0, 1.0, n),
        "jet1_phi": rng.uniform(-np.pi, np.pi, n),
        "total_energy_gev": rng.normal(4300.0, 700.0, n),
    }


def _worst_target(
    generated: dict[str, NDArray[np.float64]],
    real: dict[str, NDArray[np.float64]],
    masses: NDArray[np.float64] | None = None,
) -> float:
    """The worst target's fraction: val_targets, as the selection logs it."""
    return max(target_fractions(generated, real, masses).values())


def test_target_fractions_are_within_one_for_real_events_and_name_the_worst_target() -> None:
    rng = np.random.default_rng(21)
    real, other = _observables(rng, 3000), _observables(rng, 3000)
    masses = np.repeat([[1400.0, 850.0], [1600.0, 850.0], [1800.0, 850.0]], 1000, axis=0)
    assert _worst_target(other, real) < 1.0  # real vs real: W1 at its floor, 1/3 of 3x
    # 10% more energy everywhere: the total energy's W1 is far above 5x its floor
    hotter = {**other, "total_energy_gev": 1.1 * other["total_energy_gev"]}
    assert _worst_target(hotter, real) > 2.0
    # the cgan's M_J 3% high at one mass point: 1.5 times the 2% tolerance, the worst target
    high = {**real, "mj_gev": np.where(masses[:, 0] == 1600.0, 1.03, 1.0) * real["mj_gev"]}
    assert _worst_target(high, real, masses) == pytest.approx(1.5)
    assert _worst_target(high, real) < 1.0  # pooled, without masses, 3% of a third is small
    # each target on its own, under its name: the worst one is where the 3% is
    each = target_fractions(high, real, masses)
    assert list(each) == [*W1_TARGETS, "mj_at_1400", "mj_at_1600", "mj_at_1800"]
    assert each["mj_at_1600"] == pytest.approx(1.5)
    assert each["mj_at_1400"] == each["mj_at_1800"] == 0.0
    hot = target_fractions(hotter, real)
    assert max(hot, key=hot.__getitem__) == "total_energy_gev"
    # two neutralino masses at one gluino mass: both in the key
    two = np.repeat([[1400.0, 850.0], [1400.0, 600.0], [1800.0, 850.0]], 1000, axis=0)
    assert list(target_fractions(high, real, two))[-3:] == [
        "mj_at_1400_600",
        "mj_at_1400_850",
        "mj_at_1800_850",
    ]
    # no jet at all: no W1, the clip
    empty = {**other, "jet1_pt_gev": np.full(3000, np.nan)}
    assert _worst_target(empty, real) == 1000.0
    no_jet = target_fractions(empty, real)
    assert no_jet["jet1_pt_gev"] == 1000.0
    assert max(v for k, v in no_jet.items() if k != "jet1_pt_gev") < 1.0
    rounded = np.repeat([[1400.0, 850.0], [1400.0 + 1e-9, 850.0], [1800.0, 850.0]], 1000, axis=0)
    with pytest.raises(ValueError, match="two mass points print as mj_at_1400"):
        target_fractions(high, real, rounded)
    assert set(W1_TARGETS) <= set(real)


@pytest.mark.parametrize("model", ["gan", "cgan"])
def test_selected_by_the_targets_logs_them_as_its_metric_beside_the_ks_metric(
    tmp_path: Path, splits: Path, model: str
) -> None:
    config = tiny_config(splits, limit_train_batches=1, max_epochs=2, select_by_targets=True)
    fit = train_gan(config, model, output=tmp_path / "model.ckpt", **split_inputs(splits))
    rows = _epoch_rows(tmp_path / "training_log.csv")
    targets = [f"val_target_{name}" for name in W1_TARGETS]
    if model == "cgan":  # the tiny splits' mass points
        targets += ["val_target_mj_at_1400", "val_target_mj_at_1600"]
    for row in rows.values():
        assert float(row["val_ks"]) == pytest.approx(float(row["val_targets"]))
        assert float(row["val_targets"]) != pytest.approx(float(row["val_ks_pooled"]))
        assert sorted(k for k in row if k.startswith("val_target_")) == sorted(targets)
        assert float(row["val_targets"]) == pytest.approx(max(float(row[k]) for k in targets))
    assert fit.best_ks == pytest.approx(min(float(row["val_targets"]) for row in rows.values()))
    both = tiny_config(splits, select_by_targets=True, select_per_mass_point=True)
    with pytest.raises(ConfigError, match=r"gan\.select_by_targets.*select_per_mass_point"):
        train_gan(both, model, output=tmp_path / "both" / "model.ckpt", **split_inputs(splits))
    assert not (tmp_path / "both").exists()


@pytest.mark.parametrize("per_mass_point", [False, True])
def test_cgan_logs_both_selection_metrics_and_selects_by_the_configured_one(
    tmp_path: Path, splits: Path, per_mass_point: bool
) -> None:
    config = tiny_config(
        splits, limit_train_batches=1, max_epochs=2, select_per_mass_point=per_mass_point
    )
    fit = train_gan(
        config,
        "cgan",
        output=tmp_path / "model.ckpt",
        **split_inputs(splits),
    )
    rows = _epoch_rows(tmp_path / "training_log.csv")
    selected = "val_ks_per_mass_point" if per_mass_point else "val_ks_pooled"
    for row in rows.values():
        assert float(row["val_ks"]) == pytest.approx(float(row[selected]))
        assert float(row["val_ks_pooled"]) != pytest.approx(float(row["val_ks_per_mass_point"]))
    assert fit.best_ks == pytest.approx(min(float(row[selected]) for row in rows.values()))


def test_symmetries_rotate_in_phi_and_reflect_in_eta_each_image_on_its_own() -> None:
    images = torch.zeros(6400, 1, 4, 64)  # (N, C, n_eta, n_phi)
    images[:, 0, 1, 5] = torch.arange(1, 6401, dtype=torch.float32)  # one hot pixel per image
    assert symmetrise(images, []) is images
    rotated = symmetrise(images, ["phi_rotation"], torch.Generator().manual_seed(1))
    _, rows, columns = (rotated[:, 0] > 0).nonzero(as_tuple=True)
    assert len(rows) == 6400
    assert torch.all(rows == 1)  # eta untouched
    torch.testing.assert_close(rotated.sum(dim=(1, 2, 3)), images.sum(dim=(1, 2, 3)))
    counts = torch.bincount(columns, minlength=64)  # uniform: 100 +- 10 per phi pixel
    assert counts.min() > 60
    assert counts.max() < 140
    reflected = symmetrise(images, ["eta_reflection"], torch.Generator().manual_seed(1))
    flipped = reflected[:, 0, 2, 5] > 0  # eta pixel 1 of 4 -> pixel 2
    assert 3000 < int(flipped.sum()) < 3400  # about half
    assert torch.all((reflected[:, 0, 1, 5] > 0) != flipped)
    again = symmetrise(images, ["phi_rotation"], torch.Generator().manual_seed(1))
    assert torch.equal(again, rotated)  # seeded
    with pytest.raises(ValueError, match="unknown symmetries"):
        ImageGAN(symmetries=["z_rotation"])


def test_generation_with_symmetries_is_seeded_and_symmetric() -> None:
    networks = {"generator_filters": 4, "discriminator_filters": 4}
    module = ImageGAN(symmetries=["phi_rotation", "eta_reflection"], **networks)
    first = module.generate(64, generator=torch.Generator().manual_seed(4))
    second = module.generate(64, generator=torch.Generator().manual_seed(4))
    assert torch.equal(first, second)
    plain = ImageGAN(**networks)
    plain.load_state_dict(module.state_dict())
    unrotated = plain.generate(64, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(first, unrotated)
    # the same networks and latent vectors: the symmetries move pixels, they do not change them
    torch.testing.assert_close(first.sum(dim=(1, 2, 3)), unrotated.sum(dim=(1, 2, 3)))
    torch.testing.assert_close(first.flatten(1).sort().values, unrotated.flatten(1).sort().values)


def test_a_cgan_with_the_study_options_trains_reproducibly_and_loads(
    tmp_path: Path, splits: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    penalised_batches = []
    r1_penalty = ImageGAN._r1_penalty

    def counted(module: ImageGAN, real: torch.Tensor, d_real: torch.Tensor) -> torch.Tensor:
        penalised_batches.append(module.trainer.fit_loop.epoch_loop.batch_idx)
        return r1_penalty(module, real, d_real)

    monkeypatch.setattr(ImageGAN, "_r1_penalty", counted)
    config = tiny_config(
        splits,
        discriminator_conditioning="projection",
        discriminator_views=["linear", "log"],
        energy_summary=True,
        symmetries=["phi_rotation", "eta_reflection"],
        centre_masses=True,
        mass_scale_gev=200.0,
        generator_conditioning="batch_norm",
        select_per_mass_point=True,
        r1_penalty=0.5,
        r1_interval=2,
    )
    kwargs = split_inputs(splits)
    fit = train_gan(config, "cgan", output=tmp_path / "a" / "model.ckpt", **kwargs)
    assert penalised_batches == [0, 2]  # of the epoch's 3
    again = train_gan(config, "cgan", output=tmp_path / "b" / "model.ckpt", **kwargs)
    first = torch.load(fit.model_file, weights_only=True)["state_dict"]
    second = torch.load(again.model_file, weights_only=True)["state_dict"]
    assert all(torch.equal(first[key], second[key]) for key in first)
    module = load_gan(fit.model_file)
    assert module.hparams["symmetries"] == ["phi_rotation", "eta_reflection"]
    masses = torch.tensor([[1400.0, 850.0]] * 6)
    torch.testing.assert_close(
        module.generate(6, masses, generator=torch.Generator().manual_seed(1)),
        load_gan(again.model_file).generate(6, masses, generator=torch.Generator().manual_seed(1)),
    )


def test_centred_conditions_put_the_trained_grid_at_minus_one_to_one() -> None:
    grid = [[1400.0, 850.0], [1600.0, 850.0], [1800.0, 850.0]]
    module = ImageGAN(conditional=True, mass_points=grid, mass_scale_gev=200.0, centre_masses=True)
    masses = torch.tensor([*grid, [1500.0, 850.0], [2000.0, 850.0]])
    expected = torch.tensor([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0], [-0.5, 0.0], [2.0, 0.0]])
    torch.testing.assert_close(module.conditions(masses), expected)
    plain = ImageGAN(conditional=True, mass_points=grid)  # the authors' masses / 1000
    torch.testing.assert_close(plain.conditions(masses), masses / 1000.0)
    with pytest.raises(ValueError, match="mass_points"):
        ImageGAN(conditional=True, centre_masses=True)

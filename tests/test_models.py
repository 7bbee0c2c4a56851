"""The networks: shapes, channel selection, augmentation as a symmetry, standardisation."""

from __future__ import annotations

import pytest
import torch

from hepdl.errors import ConfigError
from hepdl.models.channels import check_channels
from hepdl.models.cnn import ImageCNN
from hepdl.models.images import ChannelSelect, ImageAugment
from hepdl.models.mlp import FeatureMLP


def test_cnn_gives_one_logit_per_image() -> None:
    net = ImageCNN(3, (64, 64), conv_filters=(8, 16, 32), dense_units=32)
    assert net(torch.rand(5, 3, 64, 64)).shape == (5,)
    # The published variant: 3 x 128 filters, dense 512 on 8 x 8 x 128.
    published = ImageCNN(3, (64, 64))
    assert published.head[1].in_features == 128 * 8 * 8
    assert published.head[1].out_features == 512


def test_cnn_rejects_more_poolings_than_the_image_allows() -> None:
    with pytest.raises(ValueError, match="poolings"):
        ImageCNN(1, (4, 4), conv_filters=(4, 4, 4))


def test_energy_channel_adds_ecal_and_hcal_in_gev() -> None:
    scales = (100.0, 300.0, 7.0)  # GeV, GeV, tracks
    images = torch.zeros(1, 3, 2, 2)
    images[0, 0, 0, 0] = 0.5  # 50 GeV ECal
    images[0, 1, 0, 0] = 0.5  # 150 GeV HCal
    images[0, 2, 1, 1] = 1.0  # 7 tracks
    energy = ChannelSelect(["energy"], scales)(images)
    assert energy.shape == (1, 1, 2, 2)
    assert energy[0, 0, 0, 0].item() == pytest.approx(200.0 / 400.0)
    assert energy[0, 0, 1, 1].item() == 0.0
    three = ChannelSelect(["tracks", "ecal"], scales)(images)
    assert torch.equal(three[0, 0], images[0, 2])
    assert torch.equal(three[0, 1], images[0, 0])


@pytest.mark.parametrize("channels", [["ecal", "muons"], [], ["ecal", "ecal"]])
def test_unknown_or_repeated_channel_is_a_config_error(channels: list[str]) -> None:
    with pytest.raises(ConfigError, match=r"train\.cnn\.channels\.cnn"):
        check_channels(channels, key="train.cnn.channels.cnn")


def test_unknown_channel_names_the_channel() -> None:
    with pytest.raises(ConfigError, match="'muons'"):
        ChannelSelect(["muons"], (1.0, 1.0, 1.0))


def _symmetry_images(image: torch.Tensor) -> list[torch.Tensor]:
    """The 32 images an augmentation may produce: 2 eta flips x 2 phi flips x 8 rolls."""
    n_phi = image.shape[-1]
    out = []
    for eta in (False, True):
        for phi in (False, True):
            x = image.flip(-2) if eta else image
            x = x.flip(-1) if phi else x
            out += [torch.roll(x, k * n_phi // 8, dims=-1) for k in range(8)]
    return out


def test_augmentation_is_a_detector_symmetry() -> None:
    torch.manual_seed(0)
    images = torch.rand(16, 3, 8, 16)
    augment = ImageAugment().train()
    augmented = augment(images)
    changed = 0
    for before, after in zip(images, augmented, strict=True):
        assert any(torch.equal(after, candidate) for candidate in _symmetry_images(before))
        assert after.sum().item() == pytest.approx(before.sum().item(), rel=1e-5)
        changed += not torch.equal(before, after)
    assert changed > 8  # each event is transformed independently


def test_augmentation_is_off_in_eval_mode_and_when_disabled() -> None:
    images = torch.rand(4, 3, 8, 16)
    assert ImageAugment().eval()(images) is images
    off = ImageAugment(eta_flip=False, phi_flip=False, phi_roll=False).train()
    assert torch.equal(off(images), images)


def test_mlp_standardises_with_training_statistics() -> None:
    net = FeatureMLP(mean=[10.0, -1.0], std=[2.0, 0.0], hidden_units=4)
    assert torch.equal(net.scale, torch.tensor([2.0, 1.0]))  # zero spread -> 1
    assert net(torch.tensor([[10.0, -1.0], [12.0, 0.0]])).shape == (2,)

"""The GAN speed table: the generator's images/s against Pythia + detector simulation events/s."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from hepdl import __version__
from hepdl.cli import main
from hepdl.errors import CheckpointError
from hepdl.gan import speed
from hepdl.gan.io import load_gan
from hepdl.gan.settings import mass_grid
from hepdl.io.layout import Layout

from .synthetic_splits import make_config
from .test_gan import saved_gan

TIMING = {"speed_events": 6, "speed_images": 24, "speed_repeat": 2}


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    return make_config(tmp_path / "results", gan=TIMING)


@pytest.fixture
def cgan(tmp_path: Path, config: dict[str, Any]) -> Path:
    return saved_gan(tmp_path / "cgan.ckpt", conditional=True, mass_points=mass_grid(config))


class FixedChain:
    """Pythia at 25 events/s and the simulation at 100 (their fastest runs), in place of the
    real stages, recording what it was asked to time."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def __call__(
        self, config: dict[str, Any], sample: str, n_events: int, *, repeat: int
    ) -> tuple[speed.Rate, speed.Rate, str]:
        self.calls.append((sample, n_events, repeat))
        return (
            speed.Rate(n_events, (n_events / 20.0, n_events / 25.0)),
            speed.Rate(n_events, (n_events / 100.0, n_events / 50.0)),
            "fastsim",
        )


def test_chain_rate_adds_the_time_per_event_of_each_stage() -> None:
    assert speed.chain_rate(25.0, 100.0) == pytest.approx(20.0)
    assert speed.chain_rate(10.0) == pytest.approx(10.0)
    rate = speed.Rate(50, (2.0, 1.0, 4.0))
    assert rate.per_second == pytest.approx(50.0)
    assert rate.slowest_per_second == pytest.approx(12.5)


def test_the_generator_is_timed_after_a_warm_up_at_the_sample_masses(
    monkeypatch: pytest.MonkeyPatch, cgan: Path
) -> None:
    module = load_gan(cgan)
    seen: list[tuple[int, torch.Tensor]] = []
    generate = module.generate

    def recording(n: int, masses: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        assert masses is not None
        seen.append((n, masses))
        return generate(n, masses, **kwargs)

    monkeypatch.setattr(module, "generate", recording)
    rate = speed.time_generator(module, 20, [1600.0, 850.0], repeat=3, batch_size=8)
    assert rate.count == 20
    assert len(rate.seconds) == 3
    assert all(seconds > 0 for seconds in rate.seconds)
    assert [n for n, _ in seen] == [8, 20, 20, 20]  # one warm-up batch, then the timed runs
    for n, masses in seen:
        assert masses.shape[1] == 2
        assert torch.equal(masses[:n], torch.tensor([[1600.0, 850.0]]).expand(n, 2))


def test_speed_json_holds_every_rate_and_the_ratio_to_the_chain(
    monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], cgan: Path
) -> None:
    chain = FixedChain()
    monkeypatch.setattr(speed, "measure_chain", chain)
    result = speed.gan_speed(config, "cgan", checkpoint=cgan)
    layout = Layout.of(config)
    assert result.path == layout.gan_speed("cgan")
    assert result.table == layout.gan_speed_table("cgan")
    # The first GAN sample, with the config's counts and repeats.
    assert chain.calls == [("RPV_1400_850", 6, 2)]
    record = json.loads(result.path.read_text())
    assert record == json.loads(json.dumps(result.record))
    assert record["model"] == "cgan"
    assert record["checkpoint"] == str(cgan)
    assert record["sample"] == "RPV_1400_850"
    assert (record["m_gluino_gev"], record["m_neutralino_gev"]) == (1400.0, 850.0)
    assert record["hepdl_version"] == __version__
    assert record["pythia"]["per_second"] == pytest.approx(25.0)
    assert record["pythia"]["slowest_per_second"] == pytest.approx(20.0)
    assert record["simulation"]["per_second"] == pytest.approx(100.0)
    assert record["simulation"]["backend"] == "fastsim"
    assert record["chain"]["per_second"] == pytest.approx(20.0)
    generator = record["generator"]
    assert generator["count"] == 24
    assert len(generator["seconds"]) == 2
    assert generator["per_second"] == pytest.approx(24 / min(generator["seconds"]))
    assert generator["conditional"] is True
    assert generator["device"] == "cpu"
    assert generator["threads"] == torch.get_num_threads()
    assert generator["parameters"] > 0
    assert generator["batch_size"] == 24  # generate-gan's 512, but no more than the images
    assert record["generator_over_chain"] == pytest.approx(generator["per_second"] / 20.0)
    table = result.table.read_text()
    assert table.count("<tr>") == 5  # the heading and four stages
    assert "Pythia + detector simulation" in table
    assert f"{record['generator_over_chain']:.4g}" in table


def test_command_line_writes_the_table_where_asked(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    config: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(speed, "measure_chain", FixedChain())
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    model = saved_gan(tmp_path / "gan.ckpt")
    out = tmp_path / "elsewhere"
    argv = ["gan-speed", "--config", str(path), "--checkpoint", str(model), "--output-dir"]
    threads = torch.get_num_threads()
    try:
        assert main([*argv, str(out), "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    line = capsys.readouterr().out
    assert "gan-speed gan: RPV_1400_850: Pythia 25.0, simulation 100.0, chain 20.0" in line
    assert sorted(p.name for p in out.iterdir()) == ["speed.html", "speed.json"]
    assert json.loads((out / "speed.json").read_text())["generator"]["conditional"] is False


@pytest.mark.parametrize("problem", ["missing", "not a checkpoint", "other kind"])
def test_a_bad_checkpoint_is_one_line_naming_the_file_before_anything_is_timed(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    config: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    problem: str,
) -> None:
    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Pythia ran for a bad checkpoint")

    monkeypatch.setattr(speed, "measure_chain", never)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    model = tmp_path / "models" / "cgan.ckpt"
    expected = {
        "missing": "checkpoint not found",
        "not a checkpoint": "not a readable weights-only checkpoint",
        "other kind": "holds an unconditional GAN, but 'cgan' is not unconditional",
    }[problem]
    if problem == "not a checkpoint":
        model.parent.mkdir()
        model.write_text("not torch\n")
    elif problem == "other kind":
        model.parent.mkdir()
        saved_gan(model)
    out = tmp_path / "out"
    argv = ["gan-speed", "--config", str(path), "--model", "cgan", "--checkpoint", str(model)]
    assert main([*argv, "--output-dir", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert error[0].startswith(f"hepdl gan-speed: error: {model}: {expected}"), error
    assert not out.exists()
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        speed.gan_speed(config, "cgan", checkpoint=tmp_path / "nothing.ckpt")


@pytest.mark.slow
def test_a_tiny_real_run_times_pythia_the_simulation_and_the_generator(
    config: dict[str, Any], cgan: Path
) -> None:
    record = speed.gan_speed(config, "cgan", checkpoint=cgan).record
    assert record["pythia"]["count"] == record["simulation"]["count"] == 6
    for stage in ("pythia", "simulation", "generator"):
        assert len(record[stage]["seconds"]) == 2
        assert record[stage]["per_second"] >= record[stage]["slowest_per_second"] > 0
    chain = 1 / (1 / record["pythia"]["per_second"] + 1 / record["simulation"]["per_second"])
    assert record["chain"]["per_second"] == pytest.approx(chain)
    assert record["generator_over_chain"] == pytest.approx(
        record["generator"]["per_second"] / chain
    )

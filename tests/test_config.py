"""Config validation: defaults, and a clear error naming the key for each bad input."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hepdl.config import (
    check_results_folder,
    load_config,
    load_schema,
    pinned_config_path,
    validate_config,
    write_pinned_config,
)
from hepdl.errors import ConfigError
from hepdl.gan.settings import gan_models, mass_grid

from .conftest import JZ4, REPO, SIGNAL


def config_with(**samples: dict[str, Any]) -> dict[str, Any]:
    return {"samples": samples}


@pytest.mark.parametrize("name", sorted(path.name for path in (REPO / "config").glob("*.yaml")))
def test_shipped_configs_are_valid(name: str) -> None:
    config = load_config(REPO / "config" / name)
    assert config["samples"]
    assert config["generator"]["ecm_gev"] == 13000.0
    gan_models(config)


def test_gan_study_config_trains_on_the_full_configs_mass_grid() -> None:
    study = load_config(REPO / "config" / "gan.yaml")
    full = load_config(REPO / "config" / "config.yaml")
    assert gan_models(study) == ["gan", "gan_seed1", "cgan", "cgan_seed1"]  # two seeds
    assert mass_grid(study) == mass_grid(full)
    assert study["gan"]["interpolate"] == full["gan"]["interpolate"]
    # the authors' width on 2 CPU cores, the published one on a GPU
    assert (study["gan"]["generator_filters"], study["gan"]["discriminator_filters"]) == (16, 16)
    assert study["gan"]["max_minutes"] <= 60
    assert study["train"]["threads"] == 1
    gpu = load_config(REPO / "config" / "gan-gpu.yaml")
    assert mass_grid(gpu) == mass_grid(full)
    assert (gpu["gan"]["generator_filters"], gpu["gan"]["discriminator_filters"]) == (64, 64)


def schema_defaults(
    properties: dict[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(key path, default) of every non-block default, inside the blocks that default to {}."""
    for key, spec in properties.items():
        if "default" not in spec:
            continue
        if spec["default"] == {} and "properties" in spec:
            yield from schema_defaults(spec["properties"], (*prefix, key))
        else:
            yield (*prefix, key), spec["default"]


def test_defaults_are_filled_in_without_touching_the_input() -> None:
    raw = config_with(JZ4={**JZ4, "events": 10, "shards": 1})
    config = validate_config(raw)
    defaults = dict(schema_defaults(load_schema()["properties"]))
    assert ("generator", "tune_pp") in defaults  # the walk reaches into the blocks
    for path, default in defaults.items():
        assert functools.reduce(operator.getitem, path, config) == default, path
    assert config["samples"]["JZ4"]["pileup_mu"] == 0.0
    assert validate_config({**raw, "luminosity_ifb": 139.0})["luminosity_ifb"] == 139.0
    assert "generator" not in raw


def test_ci_config_exercises_sharding_on_the_default_signal_point() -> None:
    samples = load_config(REPO / "config" / "ci.yaml")["samples"]
    signal = samples["RPV_1400_850"]
    assert (signal["m_gluino_gev"], signal["m_neutralino_gev"]) == (1400, 850)
    assert signal["shards"] >= 2
    assert samples["JZ4"]["pthat_min_gev"] == 400


def test_full_config_has_the_conditional_gan_grid_and_all_slices() -> None:
    samples = load_config(REPO / "config" / "config.yaml")["samples"]
    gluinos = {s["m_gluino_gev"] for s in samples.values() if s["process"] == "rpv_gluino"}
    assert {1400, 1600, 1800} <= gluinos
    assert {f"JZ{k}" for k in range(3, 12)} <= set(samples)


def test_truth_fat_jets_are_on_by_default_and_a_boolean() -> None:
    raw = config_with(JZ4={**JZ4, "events": 10, "shards": 1})
    assert validate_config(raw)["detector"]["fatjet"]["truth"] is True
    off = validate_config({**raw, "detector": {"fatjet": {"truth": False}}})
    assert off["detector"]["fatjet"]["truth"] is False
    assert off["detector"]["fatjet"]["radius"] == 1.0  # the other defaults still filled in
    expect_error({**raw, "detector": {"fatjet": {"truth": "no"}}}, "detector.fatjet.truth")


def test_selection_cannot_count_large_r_jets_the_detector_does_not_keep() -> None:
    raw = config_with(JZ4={**JZ4, "events": 10, "shards": 1})
    assert validate_config(raw)["detector"]["fatjet"]["pt_min_gev"] == 200.0
    softer = {**raw, "selection": {"jet_pt_min_gev": 150.0}}
    expect_error(softer, "selection.jet_pt_min_gev", "150.0 GeV", "detector.fatjet.pt_min_gev")
    validate_config({**softer, "detector": {"fatjet": {"pt_min_gev": 150.0}}})


def expect_error(config: Any, key: str, *fragments: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        validate_config(config, source="test.yaml")
    assert caught.value.key == key
    message = str(caught.value)
    assert message.startswith("test.yaml: config key ")
    for fragment in fragments:
        assert fragment in message
    return caught.value


def test_unknown_top_level_key() -> None:
    config = {**config_with(JZ4={**JZ4, "events": 1, "shards": 1}), "lumi": 36}
    expect_error(config, "lumi", "unknown key", "luminosity_ifb")


def test_unknown_sample_key_is_named_with_its_path() -> None:
    config = config_with(JZ4={**JZ4, "events": 1, "shards": 1, "event": 5})
    expect_error(config, "samples.JZ4.event", "unknown key", "events")


def test_unknown_generator_key() -> None:
    config = {**config_with(JZ4={**JZ4, "events": 1, "shards": 1}), "generator": {"ecm": 13}}
    expect_error(config, "generator.ecm", "unknown key")


@pytest.mark.parametrize("events", [0, -5])
def test_events_must_be_positive(events: int) -> None:
    config = config_with(JZ4={**JZ4, "events": events, "shards": 1})
    expect_error(config, "samples.JZ4.events", str(events), "minimum")


def test_shards_must_be_positive() -> None:
    expect_error(config_with(JZ4={**JZ4, "events": 3, "shards": 0}), "samples.JZ4.shards")


def test_more_shards_than_events() -> None:
    config = config_with(JZ4={**JZ4, "events": 3, "shards": 4})
    expect_error(config, "samples.JZ4.shards", "4 shards for 3 events")


def test_neutralino_heavier_than_gluino() -> None:
    sample = {**SIGNAL, "m_neutralino_gev": 1500, "events": 1, "shards": 1}
    expect_error(config_with(S=sample), "samples.S.m_neutralino_gev", "1500", "1400")


def test_missing_mass() -> None:
    sample = {"process": "rpv_gluino", "m_gluino_gev": 1400, "events": 1, "shards": 1}
    expect_error(config_with(S=sample), "samples.S", "m_neutralino_gev")


def test_overlapping_pthat_slices() -> None:
    config = config_with(
        JZ3={
            "process": "qcd",
            "pthat_min_gev": 160,
            "pthat_max_gev": 450,
            "events": 1,
            "shards": 1,
        },
        JZ4={**JZ4, "events": 1, "shards": 1},
    )
    expect_error(config, "samples.JZ4.pthat_min_gev", "JZ3", "overlap")


def test_pileup_copy_of_a_slice_is_not_an_overlap() -> None:
    config = config_with(
        JZ4={**JZ4, "events": 1, "shards": 1},
        JZ4_mu20={**JZ4, "events": 1, "shards": 1, "pileup_mu": 20},
    )
    assert set(validate_config(config)["samples"]) == {"JZ4", "JZ4_mu20"}


def test_empty_pthat_slice() -> None:
    sample = {
        "process": "qcd",
        "pthat_min_gev": 800,
        "pthat_max_gev": 400,
        "events": 1,
        "shards": 1,
    }
    expect_error(config_with(JZ4=sample), "samples.JZ4.pthat_max_gev", "empty")


def test_unknown_process() -> None:
    sample = {"process": "ttbar", "events": 1, "shards": 1}
    expect_error(config_with(T=sample), "samples.T.process", "ttbar")


def test_sample_name_must_be_a_wildcard_value() -> None:
    expect_error(config_with(**{"JZ-4": {**JZ4, "events": 1, "shards": 1}}), "samples.JZ-4")


def test_unreadable_and_invalid_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("samples: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)


def test_unwritable_results_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the results folder should be")
    config = validate_config(
        {"results": str(blocker / "results"), **config_with(JZ4={**JZ4, "events": 1, "shards": 1})}
    )
    # The dry run's check, which writes nothing, and the real run's write fail alike.
    for check in (check_results_folder, write_pinned_config):
        with pytest.raises(ConfigError) as caught:
            check(config)
        assert caught.value.key == "results"
        assert str(blocker / "results") in str(caught.value)


def test_results_folder_check_creates_nothing(tmp_path: Path) -> None:
    config = validate_config(
        {"results": str(tmp_path / "a/b"), **config_with(JZ4={**JZ4, "events": 1, "shards": 1})}
    )
    check_results_folder(config)
    assert list(tmp_path.iterdir()) == []


def test_pinned_config_round_trips_and_is_never_rewritten(tmp_path: Path) -> None:
    config = validate_config(
        {"results": str(tmp_path / "r"), **config_with(JZ4={**JZ4, "events": 1, "shards": 1})}
    )
    path = write_pinned_config(config)
    assert path == pinned_config_path(config)
    assert path.parent == tmp_path / "r/configs"
    assert load_config(path) == config
    stamp = path.stat().st_mtime_ns
    write_pinned_config(config)
    assert path.stat().st_mtime_ns == stamp
    # Another config is pinned beside it, and leaves the first as it was.
    other = write_pinned_config({**config, "seed": config["seed"] + 1})
    assert other != path
    assert path.stat().st_mtime_ns == stamp
    assert load_config(path) == config


def test_changed_pinned_config_is_refused(tmp_path: Path) -> None:
    config = validate_config(
        {"results": str(tmp_path / "r"), **config_with(JZ4={**JZ4, "events": 1, "shards": 1})}
    )
    path = write_pinned_config(config)
    path.write_text(path.read_text().replace(f"seed: {config['seed']}", "seed: 7"))
    with pytest.raises(ConfigError, match="pinned config changed") as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    # Nor is it taken as the pin of its config by a later run.
    with pytest.raises(ConfigError, match="pinned config changed"):
        write_pinned_config(config)

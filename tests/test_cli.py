"""The command line: stages listed, errors as one line naming the key or file."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hepdl.cli import build_parser, main
from hepdl.io.layout import Layout


def test_help_lists_the_stages(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "generate" in out
    assert "xsec" in out


def test_bad_config_is_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    sample = {
        "process": "qcd",
        "pthat_min_gev": 400,
        "pthat_max_gev": 800,
        "events": 0,
        "shards": 1,
    }
    config.write_text(yaml.safe_dump({"results": str(tmp_path), "samples": {"JZ4": sample}}))
    status = main(["generate", "--config", str(config), "--sample", "JZ4", "--shard", "0"])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "bad.yaml" in err
    assert "samples.JZ4.events" in err
    assert not list(tmp_path.rglob("*.parquet"))


def test_unknown_sample_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    sample = {
        "process": "qcd",
        "pthat_min_gev": 400,
        "pthat_max_gev": 800,
        "events": 1,
        "shards": 1,
    }
    config.write_text(yaml.safe_dump({"results": str(tmp_path), "samples": {"JZ4": sample}}))
    assert main(["generate", "--config", str(config), "--sample", "JZ9", "--shard", "0"]) == 2
    assert "no sample named 'JZ9'" in capsys.readouterr().err


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every (sub-)sub-command parser below ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from _subcommands(sub)


def test_every_default_in_the_help_is_a_path_or_a_config_key() -> None:
    """No help text says "default: contract" or elides the path: each names the file."""
    helps = [
        action.help
        for sub in _subcommands(build_parser())
        for action in sub._actions
        if action.help and action.help != argparse.SUPPRESS
    ]
    assert len(helps) > 100
    vague = [text for text in helps if "contract" in text or "..." in text or "theirs" in text]
    assert not vague
    layout = Layout(Path("{results}"))
    assert any(str(layout.features_shard("{sample}", "{shard}")) in text for text in helps)
    assert any(str(layout.gan_model("{model}")) in text for text in helps)


@pytest.mark.parametrize("option", ["--devices", "--num-nodes"])
def test_train_gan_refuses_the_process_layout(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GAN trains on one device: a DDP layout would be ignored, so it is refused."""
    with pytest.raises(SystemExit) as caught:
        main(["train", "gan", "--config", "config/ci.yaml", option, "2"])
    assert caught.value.code == 2
    assert f"{option} is not used here: a GAN trains on one device" in capsys.readouterr().err


def test_a_model_option_names_a_model_and_a_file_option_a_file() -> None:
    """--model takes a name everywhere; the files are --model-file and --cnn-model-file."""
    parser = build_parser()
    for sub in _subcommands(parser):
        for action in sub._actions:
            if "--model" in action.option_strings:
                assert action.type is None, sub.prog
            if any(option.endswith("-file") for option in action.option_strings):
                assert action.type is Path, sub.prog
    args = parser.parse_args(
        ["train", "cnn_jets", "--config", "c.yaml", "--cnn-model-file", "m.ckpt"]
    )
    assert args.cnn_model_file == Path("m.ckpt")

"""The command line: stages listed, errors as one line naming the key or file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hepdl.cli import main


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

"""Shared fixtures: small, physical configs and generated shards reused across tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hepdl.config import validate_config
from hepdl.generate import ShardResult, generate_shard

REPO = Path(__file__).resolve().parents[1]


def make_config(results: Path, **samples: dict[str, Any]) -> dict[str, Any]:
    """A validated config writing to ``results`` with the given samples."""
    return validate_config({"results": str(results), "samples": samples})


SIGNAL = {"process": "rpv_gluino", "m_gluino_gev": 1400, "m_neutralino_gev": 850}
JZ4 = {"process": "qcd", "pthat_min_gev": 400, "pthat_max_gev": 800}


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ShardResult]:
    """A few events of the signal (two shards) and of JZ4, generated once per session."""
    results = tmp_path_factory.mktemp("results")
    config = make_config(
        results,
        RPV_1400_850={**SIGNAL, "events": 24, "shards": 2},
        JZ4={**JZ4, "events": 20, "shards": 1},
    )
    return {
        "signal0": generate_shard(config, "RPV_1400_850", 0, progress=False),
        "signal1": generate_shard(config, "RPV_1400_850", 1, progress=False),
        "jz4": generate_shard(config, "JZ4", 0, progress=False),
    }

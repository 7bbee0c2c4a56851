"""Shared fixtures: small, physical configs and generated shards reused across tests."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest

from hepdl.config import validate_config
from hepdl.detector.delphes_install import DelphesBuild, find_root, install_delphes
from hepdl.errors import HepdlError
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


def delphes_source() -> Path | None:
    """The Delphes sources CI builds: ``$HEPDL_DELPHES_SOURCE``, else the vendored archive
    ``../shared/vendor/delphes-*.tar.gz`` beside the repository; None if neither exists."""
    given = os.environ.get("HEPDL_DELPHES_SOURCE")
    if given:
        return Path(given)
    found = sorted((REPO.parent / "shared" / "vendor").glob("delphes-*.tar.gz"))
    return found[-1] if found else None


@functools.cache
def delphes_build_or_reason() -> tuple[DelphesBuild | None, str]:
    """Delphes built (once: ``hepdl delphes install`` is idempotent, into the default cache)
    from :func:`delphes_source`, or None and why it cannot be."""
    source = delphes_source()
    if source is None:
        return None, (
            "no Delphes sources: set HEPDL_DELPHES_SOURCE or put delphes-*.tar.gz in "
            f"{REPO.parent / 'shared' / 'vendor'}"
        )
    try:
        find_root()
    except HepdlError as err:
        return None, f"no ROOT to build Delphes with ({err})"
    return install_delphes(source), ""


@pytest.fixture(scope="session")
def delphes_build() -> DelphesBuild:
    """Real Delphes (skipped, with the reason, where it cannot be built)."""
    build, reason = delphes_build_or_reason()
    if build is None:
        pytest.skip(reason)
    return build

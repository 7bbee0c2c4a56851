"""Pythia 8 configuration and initialisation for each kind of sample.

Pythia prints to the C++ standard output. Its messages are sent to standard error, which the
Snakemake rules keep in the job's log, and an initialisation failure raises
:class:`~hepdl.errors.GenerationError` carrying Pythia's own error lines.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from hepdl.errors import GenerationError
from hepdl.generate.bindings import pythia8
from hepdl.samples import Sample
from hepdl.streams import redirected_stdout, stdout_to_stderr

__all__ = ["init_pythia", "process_settings", "pythia_output_to_stderr", "pythia_version"]

_QUIET_EVENT_LOOP = (
    "Next:numberCount = 0",
    "Next:numberShowEvent = 0",
    "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0",
    "Init:showChangedParticleData = off",
)


def process_settings(sample: Sample, slha_file: str | None = None) -> list[str]:
    """The Pythia settings that define ``sample``'s hard process.

    Args:
        sample: The sample.
        slha_file: Path of the SLHA spectrum (signal samples only).
    """
    if sample.process == "rpv_gluino":
        if slha_file is None:
            msg = f"sample {sample.name}: the rpv_gluino process needs an SLHA file"
            raise ValueError(msg)
        return [
            f"SLHA:file = {slha_file}",
            "SUSY:gg2gluinogluino = on",
            "SUSY:qqbar2gluinogluino = on",
        ]
    if sample.process == "qcd":
        return [
            "HardQCD:all = on",
            f"PhaseSpace:pTHatMin = {sample.pthat_min_gev}",
            f"PhaseSpace:pTHatMax = {sample.pthat_max_gev}",
        ]
    if sample.process == "qcd_biased":
        settings = [
            "HardQCD:all = on",
            f"PhaseSpace:pTHatMin = {sample.pthat_min_gev}",
            "PhaseSpace:bias2Selection = on",
            f"PhaseSpace:bias2SelectionPow = {sample.bias_power}",
            f"PhaseSpace:bias2SelectionRef = {sample.pthat_min_gev}",
        ]
        if (
            sample.pthat_max_gev is not None
        ):  # a biased slice: the bias spends its events near the top
            settings.append(f"PhaseSpace:pTHatMax = {sample.pthat_max_gev}")
        return settings
    if sample.process == "minbias":
        return ["SoftQCD:inelastic = on"]
    msg = f"sample {sample.name}: unknown process '{sample.process}'"
    raise ValueError(msg)


def common_settings(generator: dict[str, Any], seed: int) -> list[str]:
    """Beam, tune, seed and output settings shared by all samples (before the process)."""
    return [
        f"Beams:eCM = {generator['ecm_gev']}",
        f"Tune:pp = {generator['tune_pp']}",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        # Particles with c*tau above this reach the detector undecayed (K0S, Lambda, ...),
        # as in ATLAS generator-level conventions; the detector card knows what they deposit.
        "ParticleDecays:limitTau0 = on",
        f"ParticleDecays:tau0Max = {generator['stable_ctau_mm']}",
        *_QUIET_EVENT_LOOP,
    ]


def pythia_output_to_stderr() -> AbstractContextManager[None]:
    """Send everything written to file descriptor 1 (Pythia's std::cout) to standard error."""
    return stdout_to_stderr()


def _error_lines(log: str) -> list[str]:
    return [line.strip() for line in log.splitlines() if "PYTHIA Error" in line or "Abort" in line]


def init_pythia(settings: Sequence[str], context: str) -> pythia8.Pythia:
    """Create and initialise a Pythia instance; its banner goes to standard error.

    Args:
        settings: "Key = value" strings, applied in order.
        context: What is being initialised (sample and shard), for error messages.

    Raises:
        GenerationError: if Pythia rejects a setting or fails to initialise, with Pythia's
            own error lines.
    """
    with tempfile.TemporaryFile() as capture:
        with redirected_stdout(capture.fileno()):
            pythia = pythia8.Pythia("", False)
            rejected = [line for line in settings if not pythia.readString(line)]
            ok = not rejected and pythia.init()
        capture.seek(0)
        log = capture.read().decode("utf-8", errors="replace")
    sys.stderr.write(log)
    sys.stderr.flush()
    if rejected:
        raise GenerationError(f"{context}: Pythia rejected the settings {rejected}")
    if not ok:
        details = "\n  ".join(_error_lines(log)) or "(Pythia printed no error line)"
        raise GenerationError(f"{context}: Pythia failed to initialise:\n  {details}")
    return pythia


def pythia_version(pythia: pythia8.Pythia) -> str:
    """Pythia's version number as a string, e.g. ``8.317``."""
    return f"{pythia.parm('Pythia:versionNumber'):.3f}"

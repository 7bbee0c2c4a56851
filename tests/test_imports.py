"""The import structure: stages reach files through hepdl.io, and light imports stay light."""

from __future__ import annotations

import subprocess
import sys


def _imported_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    run = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return set(run.stdout.split())


def test_the_gans_import_no_generator() -> None:
    """GAN training, generation and validation (jets clustered on images) need neither Pythia
    nor the generator nor the detector simulation: the GPU environment installs none of them."""
    imported = _imported_after(
        "import hepdl.gan, hepdl.gan.train, hepdl.gan.generate, hepdl.gan.validate"
    )
    assert "fastjet" in imported  # the jets of the validation (hepdl.jets)
    for module in ("pythia8", "pythia8mc", "hepdl.generate", "hepdl.detector"):
        assert module not in imported


def test_package_inits_are_lazy() -> None:
    """Importing a stage package loads none of its submodules: paths and config checks stay
    cheap for the Snakemake rules."""
    packages = ["io", "generate", "detector", "reco", "images", "graphs"]
    imported = _imported_after("; ".join(f"import hepdl.{name}" for name in packages))
    loaded = sorted(m for m in imported if m.count(".") == 2 and m.split(".")[1] in packages)
    assert loaded == []
    assert "uproot" not in imported
    assert "awkward" not in imported

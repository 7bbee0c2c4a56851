"""The import structure: stages reach files through hepdl.io, and light imports stay light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import REPO


def _python_files() -> list[Path]:
    """The package's, the tests' and the benchmarks' modules."""
    return sorted(p for folder in ("src", "tests", "bench") for p in (REPO / folder).rglob("*.py"))


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


def test_no_private_name_is_imported_across_modules() -> None:
    """A name starting with ``_`` is its module's own: another module needing it gets a public
    one (config.SchemaValidator, train.trainer.join_training_logs, io.splits.ragged_arange)."""
    found = [
        f"{path.relative_to(REPO)}:{node.lineno} {node.module}.{alias.name}"
        for path in _python_files()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hepdl")
        for alias in node.names
        if alias.name.startswith("_") and alias.name != "__version__"
    ]
    assert not found


def test_one_splitmix64() -> None:
    """The detector's random numbers and the split assignment hash with hepdl.seeds alone."""
    constant = "0x9E3779B97F4A7C15"
    holders = [
        str(path.relative_to(REPO))
        for path in _python_files()
        if path != Path(__file__) and constant.lower() in path.read_text(encoding="utf-8").lower()
    ]
    assert holders == ["src/hepdl/seeds.py"]

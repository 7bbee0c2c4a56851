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
    nor the generator nor the detector simulation: the GPU environment installs none of them.
    The speed table imports the last two only when it times them."""
    imported = _imported_after(
        "import hepdl.gan, hepdl.gan.train, hepdl.gan.generate, hepdl.gan.validate, hepdl.gan.speed"
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


#: The stage packages: each reaches the files between stages through hepdl.io only.
STAGES = {"generate", "detector", "reco", "images", "graphs", "train", "evaluate", "gan"}

#: The only imports of one stage package from another: public code they share, never paths or
#: file readers (docs/development.md, "Import rules", draws this graph).
ALLOWED = {
    # The fast simulation and real Delphes compared on the analysis' jet variables and signal
    # region (compare-detectors).
    "detector": {"hepdl.reco.jets", "hepdl.reco.selection"},
    # Images and graphs are built from the events the features stage's skim keeps, and merged
    # with its split assignment.
    "images": {"hepdl.reco.inputs", "hepdl.reco.stage", "hepdl.reco.merge"},
    "graphs": {
        "hepdl.reco.inputs",
        "hepdl.reco.stage",
        "hepdl.reco.merge",
        "hepdl.images.histogram",  # the eta-phi geometry of the towers
        "hepdl.images.merge",  # the per-event datasets every split file holds
    },
    # The models' names and kinds, and the one API that loads and scores a trained model.
    "evaluate": {"hepdl.train.settings", "hepdl.train.trained"},
    # The GANs train with the classifiers' checkpointing and Trainer; their images have the
    # classifiers' geometry. Their speed table times the generator against the generation and
    # detector-simulation stages (imported inside the function only) and is written as the
    # evaluation's HTML tables are.
    "gan": {
        "hepdl.train.checkpoint",
        "hepdl.train.trainer",
        "hepdl.images.histogram",
        "hepdl.generate.stage",
        "hepdl.detector.stage",
        "hepdl.evaluate.tables",
    },
}


def _stage_imports() -> dict[str, set[str]]:
    """Per stage package, the modules of other stage packages it imports (anywhere in a file)."""
    found: dict[str, set[str]] = {stage: set() for stage in STAGES}
    for stage in STAGES:
        for path in (REPO / "src" / "hepdl" / stage).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    # `from hepdl.train import trained` imports the module hepdl.train.trained
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                    modules = [n for n in names if n.count(".") == 2] or [node.module]
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                else:
                    continue
                for module in modules:
                    parts = module.split(".")
                    if parts[0] == "hepdl" and len(parts) > 1 and parts[1] in STAGES - {stage}:
                        found[stage].add(".".join(parts[:3]))
    return found


def test_stages_import_each_other_only_through_the_allowed_edges() -> None:
    imports = _stage_imports()
    unexpected = {stage: sorted(m - ALLOWED.get(stage, set())) for stage, m in imports.items()}
    assert not any(unexpected.values()), {k: v for k, v in unexpected.items() if v}
    # The documented graph is the real one: no edge allowed that nothing uses.
    unused = {stage: sorted(m - imports[stage]) for stage, m in ALLOWED.items()}
    assert not any(unused.values()), unused


def test_only_the_layout_reads_the_results_folder() -> None:
    """Every path below ``results`` comes from hepdl.io.layout: no module builds one itself."""
    readers = sorted(
        {
            str(path.relative_to(REPO))
            for path in (REPO / "src" / "hepdl").rglob("*.py")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and node.slice.value == "results"
        }
    )
    # config.py checks, before any job, that the folder can be created (no path inside it).
    assert readers == ["src/hepdl/config.py", "src/hepdl/io/layout.py"]

"""The README and docs/ stay true: the two commands are the ones CI runs, the config reference
is what its generator writes, and every path the pages name or link exists."""

from __future__ import annotations

import re
from pathlib import Path

from hepdl.config import non_result_keys
from hepdl.docs_config import COMMAND, NO_RERUN, render_config_reference

from .conftest import REPO


def readme_commands() -> list[str]:
    first_block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)
    assert first_block, "README.md must open with a bash block holding the two commands"
    lines = [
        line for line in first_block.group(1).splitlines() if line and not line.startswith("#")
    ]
    assert len(lines) == 2, lines
    return lines


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci_lines = (REPO / ".ci/run").read_text().splitlines()
    assert readme_commands()[1] in ci_lines


def test_main_job_is_the_demo_dag_with_cpu_torch_first() -> None:
    install_and_run, install_and_test = readme_commands()
    for command in (install_and_run, install_and_test):
        assert command.index("pip install torch==2.13.0") < command.index("pip install -e")
    assert "snakemake --configfile config/demo.yaml" in install_and_run
    assert install_and_test.endswith("python -m pytest")


def test_config_reference_is_what_the_generator_writes() -> None:
    """docs/config.md is generated from the schema; regenerate it after editing the schema."""
    committed = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == render_config_reference(), f"docs/config.md is stale: run `{COMMAND}`"


def test_config_reference_marks_exactly_the_keys_that_rerun_nothing() -> None:
    marked = {
        match.group(1)
        for match in re.finditer(
            r"^\| `([^`]+)` \|.*\*\*" + re.escape(NO_RERUN.capitalize()),
            render_config_reference(),
            re.MULTILINE,
        )
    }
    assert marked == set(non_result_keys())


#: Top-level entries of the repository: a path named in the docs starting with one must exist.
ROOTS = ("docs", "bench", "config", "src", "workflow", "tests", "envs", ".ci")
#: Folders a named file may live in without being in the repository: the pipeline's outputs
#: (each config's results folder, results-demo/ and the like, and a training's checkpoints
#: beside its model), and the cards of a Delphes installation.
OUTSIDE = ("results", "logs", "benchmarks", "checkpoints", "cards")
OUTSIDE_PREFIX = "results-"

#: A relative path named in prose or code (globs allowed): at least one folder, then a name.
NAMED_PATH = re.compile(r"(?<![\w./~-])([\w.-]+/[\w.*/-]*)")


def _is_repository_path(name: str) -> bool:
    """A root-relative repository path: under one of ROOTS, or any file name (``a/b.md``) not
    under OUTSIDE; ``eta/phi`` and ``FatJet.PT/Mass`` are prose."""
    first = name.split("/", 1)[0]
    if first in ROOTS:
        return True
    if first in OUTSIDE or first.startswith(OUTSIDE_PREFIX):
        return False
    return re.search(r"\.[A-Za-z][A-Za-z0-9]*$", name) is not None


#: A Markdown link or image target: ](target) or ](target "title").
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def doc_pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _exists(path: Path) -> bool:
    if any(char in path.name for char in "*?"):
        return any(path.parent.glob(path.name))
    return path.exists()


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces -> '-'."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def dangling_references() -> list[str]:
    dangling = []
    for page in doc_pages():
        text = page.read_text(encoding="utf-8")
        where = page.relative_to(REPO)
        for found in NAMED_PATH.findall(text):
            name = found.rstrip(".,;:")
            if not _is_repository_path(name):
                continue
            if not _exists(REPO / name):
                dangling.append(f"{where}: names {name}")
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not _exists(path):
                dangling.append(f"{where}: links {target}")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                dangling.append(f"{where}: links {target} (no such heading)")
    return dangling


def test_every_path_the_docs_name_or_link_exists() -> None:
    assert not dangling_references()


def test_the_reference_check_finds_paths_and_links() -> None:
    text = (
        "see `bench/nothing.py`, notes/physics.md. and eta/phi, results/configs/x.yaml,"
        " results-demo/report.html"
    )
    named = [name.rstrip(".,;:") for name in NAMED_PATH.findall(text)]
    assert [name for name in named if _is_repository_path(name)] == [
        "bench/nothing.py",
        "notes/physics.md",
    ]
    assert not NAMED_PATH.findall("https://x.org/docs/a.md and ~/.config/snakemake/")
    assert LINK.findall("[a](docs/a.md#b) ![c](rulegraph.svg)") == ["docs/a.md#b", "rulegraph.svg"]

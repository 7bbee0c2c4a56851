"""The README's two commands are the ones CI runs and the ones that exist."""

from __future__ import annotations

import re

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
    from hepdl.docs_config import COMMAND, render_config_reference

    committed = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == render_config_reference(), f"docs/config.md is stale: run `{COMMAND}`"


def test_config_reference_marks_exactly_the_keys_that_rerun_nothing() -> None:
    from hepdl.config import non_result_keys
    from hepdl.docs_config import NO_RERUN, render_config_reference

    marked = {
        match.group(1)
        for match in re.finditer(
            r"^\| `([^`]+)` \|.*\*\*" + re.escape(NO_RERUN.capitalize()),
            render_config_reference(),
            re.MULTILINE,
        )
    }
    assert marked == set(non_result_keys())

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

"""A stand-in Slurm for running ``snakemake --executor slurm`` without a cluster.

:func:`install` writes ``sbatch``, ``srun``, ``sacct``, ``squeue``, ``sinfo``, ``scontrol`` and
``sacctmgr`` into a folder to put first on ``PATH``. ``sbatch`` starts the submitted command
(``--wrap`` or the script on stdin) at once, in the background, with the ``SLURM_*`` variables of
an allocation (array jobs: one process per task with ``SLURM_ARRAY_TASK_*``), and records every
task's state and start and end times in ``$FAKE_SLURM_STATE``; ``sacct`` reports those states,
``srun`` runs its command as it is, ``sacctmgr`` names the one account the tests use. Nothing is
queued: every job runs as soon as it is submitted, so the recorded times show how a job's own
command runs its work, serially or in parallel.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: The only Slurm account the stand-in knows (the plugin checks the given one with sacctmgr).
ACCOUNT = "m1234"

_SBATCH = r"""
import json, os, re, subprocess, sys, time
from pathlib import Path

state = Path(os.environ["FAKE_SLURM_STATE"])
state.mkdir(parents=True, exist_ok=True)
args = sys.argv[1:]
options = {}
index = 0
while index < len(args):
    arg = args[index]
    if arg.startswith("--") and "=" in arg:
        key, value = arg[2:].split("=", 1)
        options[key] = value
    elif arg in ("-o", "--output", "-J", "--job-name", "-A", "--account", "-C", "-t", "--mem",
                 "--qos", "-p", "--comment", "--workdir", "-D", "--chdir", "--mem-per-cpu"):
        options[arg.lstrip("-")] = args[index + 1]
        index += 1
    index += 1
# The command: --wrap, or the script sbatch reads from its last argument (/dev/stdin).
command = options.get("wrap")
if command is None:
    command = sys.stdin.read()
counter = state / "counter"
job_id = int(counter.read_text()) + 1 if counter.exists() else 1000
counter.write_text(str(job_id))
(state / f"{job_id}.sbatch").write_text(json.dumps(args))
tasks = [None]
if "array" in options:
    first, last = (int(n) for n in options["array"].split("-"))
    tasks = list(range(first, last + 1))
cpus = options.get("cpus-per-task", "1")
for task in tasks:
    name = str(job_id) if task is None else f"{job_id}_{task}"
    env = dict(os.environ, SLURM_JOB_ID=str(job_id), SLURM_JOBID=str(job_id),
               SLURM_CPUS_PER_TASK=cpus, SLURM_CPUS_ON_NODE=cpus, SLURM_NTASKS="1",
               SLURM_NNODES="1", SLURM_JOB_NUM_NODES="1", SLURM_JOB_NAME=options.get("J", ""))
    if task is not None:
        env |= {"SLURM_ARRAY_JOB_ID": str(job_id), "SLURM_ARRAY_TASK_ID": str(task),
                "SLURM_ARRAY_TASK_MIN": str(tasks[0]), "SLURM_ARRAY_TASK_MAX": str(tasks[-1])}
    log = options.get("o", options.get("output", os.devnull))
    log = log.replace("%A", str(job_id)).replace("%a", str(task)).replace("%j", str(job_id))
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    record = state / f"{name}.json"
    record.write_text(json.dumps({"state": "RUNNING"}))
    subprocess.Popen([sys.executable, os.environ["FAKE_SLURM_TASK"], str(record), command],
                     env=env, stdout=open(log, "a"), stderr=subprocess.STDOUT,
                     stdin=subprocess.DEVNULL, start_new_session=True)
print(job_id)
"""

_TASK = r"""
import json, subprocess, sys, time
from pathlib import Path

record, command = Path(sys.argv[1]), sys.argv[2]
start = time.time()
record.write_text(json.dumps({"state": "RUNNING", "start": start}))
returncode = subprocess.call(["/bin/sh", "-c", command])
state = "COMPLETED" if returncode == 0 else "FAILED"
record.write_text(json.dumps({"state": state, "start": start, "end": time.time(),
                              "returncode": returncode}))
"""

# A task that fails at once without running its command: for looking at what was submitted.
_FAILING_TASK = r"""
import json, sys
from pathlib import Path

Path(sys.argv[1]).write_text(json.dumps({"state": "FAILED", "start": 0, "end": 0}))
"""

_SACCT = r"""
import json, os, sys
from pathlib import Path

# The plugin asks `sacct -X --parsable2 --noheader --format=JobIdRaw,State ...`.
state = Path(os.environ["FAKE_SLURM_STATE"])
for record in sorted(state.glob("*.json")):
    print(f"{record.stem}|{json.loads(record.read_text())['state']}")
"""

# srun runs the command after its options (the jobstep gives them all as --key=value or -n1).
_SRUN = """#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in -*) shift ;; *) break ;; esac
done
exec "$@"
"""

_SCONTROL = """#!/bin/sh
echo "MaxArraySize            = 1001"
echo "MinJobAge               = 300 sec"
"""


def install(folder: Path) -> Path:
    """Write the stand-in commands into ``folder`` and return it (to put first on ``PATH``)."""
    folder.mkdir(parents=True, exist_ok=True)
    python = f"#!{sys.executable}\n"
    scripts = {
        "sbatch": python + _SBATCH,
        "fake_slurm_task": python + _TASK,
        "fake_slurm_failing_task": python + _FAILING_TASK,
        "sacct": python + _SACCT,
        "srun": _SRUN,
        "scontrol": _SCONTROL,
        "sacctmgr": f"#!/bin/sh\necho {ACCOUNT}\n",
        "squeue": "#!/bin/sh\nexit 0\n",
        "sinfo": "#!/bin/sh\nexit 0\n",
        "scancel": "#!/bin/sh\nexit 0\n",
    }
    for name, text in scripts.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)
    return folder


def environment(
    folder: Path, state: Path, base: dict[str, str], run_tasks: bool = True
) -> dict[str, str]:
    """``base`` with the stand-in first on ``PATH`` and its state folder set.

    With ``run_tasks=False`` every submitted task fails at once without running.
    """
    task = "fake_slurm_task" if run_tasks else "fake_slurm_failing_task"
    return base | {
        "PATH": f"{folder}:{base.get('PATH', '')}",
        "FAKE_SLURM_STATE": str(state),
        "FAKE_SLURM_TASK": str(folder / task),
    }


def task_times(state: Path) -> dict[str, tuple[float, float]]:
    """(start, end) in seconds since the epoch of every finished task, by Slurm job id."""
    times = {}
    for record in state.glob("*.json"):
        entry = json.loads(record.read_text(encoding="utf-8"))
        if "end" in entry:
            times[record.stem] = (entry["start"], entry["end"])
    return times


def submissions(state: Path) -> list[list[str]]:
    """The arguments of every sbatch call, in submission order."""
    records = sorted(state.glob("*.sbatch"), key=lambda path: int(path.stem))
    return [json.loads(path.read_text(encoding="utf-8")) for path in records]

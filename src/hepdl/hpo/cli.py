"""The ``hepdl hpo`` sub-commands: ``worker``, ``best``, ``report``.

hepdl hpo worker --config config/ci.yaml --study cnn --worker 0
hepdl hpo best --config config/ci.yaml --study cnn
hepdl hpo report --config config/ci.yaml --study cnn
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from hepdl.config import load_config

__all__ = ["add_hpo_commands", "require_optuna"]


def require_optuna() -> None:
    """Fail with how to install Optuna where it is missing.

    Raises:
        ModuleNotFoundError: saying ``pip install -e ".[hpo]"``.
    """
    if importlib.util.find_spec("optuna") is None:
        msg = 'the hyper-parameter search needs Optuna: pip install -e ".[hpo]"'
        raise ModuleNotFoundError(msg, name="optuna")


def _cmd_worker(args: argparse.Namespace) -> None:
    require_optuna()
    from hepdl.hpo.worker import run_worker

    config = load_config(args.config)
    result = run_worker(
        config,
        args.study,
        args.worker,
        train_file=args.train,
        val_file=args.val,
        output=args.output,
    )
    states = ", ".join(f"{t.number} {t.state.lower()}" for t in result.trials) or "none"
    print(
        f"hpo worker {args.worker}: study {result.study_name}: trials {states}; "
        f"{len(result.interrupted)} interrupted marked failed; {result.seconds:.1f} s "
        f"-> {result.path}"
    )


def _cmd_best(args: argparse.Namespace) -> None:
    require_optuna()
    from hepdl.hpo.best import export_best

    config = load_config(args.config)
    best = export_best(config, args.study, args.output)
    record = best.record
    print(
        f"hpo best: study {record['study_name']}: trial {record['trial']} of "
        f"{sum(record['trials'].values())} ({record['trials']}), {record['metric']} = "
        f"{record['value']:.4g}, {record['parameters']} -> {best.path}"
    )


def _cmd_report(args: argparse.Namespace) -> None:
    require_optuna()
    from hepdl.hpo.report import write_report

    config = load_config(args.config)
    written = write_report(config, args.study, args.output_dir)
    print(f"hpo report: {len(written)} plots -> {written[0].parent if written else '-'}")


def add_hpo_commands(stages: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``hepdl hpo worker|best|report``."""
    hpo = stages.add_parser("hpo", help="hyper-parameter search (Optuna): worker, best, report")
    actions = hpo.add_subparsers(dest="action", required=True, metavar="<action>")
    helps = {
        "worker": (_cmd_worker, "run trials of a study until it has hpo.n_trials"),
        "best": (_cmd_best, "write the best trial's settings (best.yaml)"),
        "report": (_cmd_report, "optimisation history and parameter importance plots"),
    }
    for name, (func, text) in helps.items():
        sub = actions.add_parser(name, help=text)
        sub.add_argument(
            "--config", required=True, type=Path, help="pipeline config (YAML), e.g. config/ci.yaml"
        )
        sub.add_argument("--study", required=True, choices=["cnn", "gan"], help="the search")
        sub.set_defaults(func=func)
        if name == "worker":
            sub.add_argument("--worker", required=True, type=int, help="worker index, from 0")
            sub.add_argument(
                "--train",
                type=Path,
                help="images training split (default: {results}/images/train.h5)",
            )
            sub.add_argument(
                "--val",
                type=Path,
                help="images validation split (default: {results}/images/val.h5)",
            )
            sub.add_argument("--output", type=Path, help="default: {results}/hpo/{study}/workers/")
        elif name == "best":
            sub.add_argument("--output", type=Path, help="default: {results}/hpo/{study}/best.yaml")
        else:
            sub.add_argument("--output-dir", type=Path, help="default: {results}/hpo/{study}/plots")

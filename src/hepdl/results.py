"""A run's results folder as typed accessors, for ``notebooks/results.ipynb`` and by hand.

    import hepdl.results
    run = hepdl.results.open("results")
    run.metrics()["cnn"]["tpr_at_benchmark_fpr"]
    hepdl.results.plot_rocs(run)
    hepdl.results.watch_training(run, "cnn")      # redraws while the training runs

:func:`open` reads nothing up front: every accessor reads its file when called (a folder of a
run still going is fine), and a missing file is an :class:`~hepdl.errors.InputFileError` naming
it and the stage that writes it. The folder layout is the pipeline's: the accessors go through
the stages' own path functions where they have them. The plotting functions here are what the
notebook draws, so that it holds no logic of its own.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from hepdl.errors import InputFileError
from hepdl.evaluate.metrics import Roc, WorkingPoint, benchmark_point, roc_curve
from hepdl.io.layout import Layout

__all__ = [
    "Results",
    "open",
    "plot_rocs",
    "plot_training",
    "show",
    "show_images",
    "watch_training",
]


def _read_json(path: Path, writer: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(path, f"not found (written by {writer})") from None
    except ValueError as err:
        raise InputFileError(path, f"not valid JSON ({err})") from None


def _read_csv(path: Path, writer: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise InputFileError(path, f"not found (written by {writer})") from None
    except (ValueError, pd.errors.ParserError) as err:
        raise InputFileError(path, f"not a readable CSV table ({err})") from None


def _folders(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


@dataclass(frozen=True)
class Results:
    """The results folder of one run (the config's ``results``).

    Attributes:
        root: The folder.
    """

    root: Path

    @property
    def _layout(self) -> Layout:
        """The pipeline's files in this folder (:class:`hepdl.io.layout.Layout`)."""
        return Layout(self.root)

    # Evaluation -------------------------------------------------------------------------------
    def metrics(self) -> dict[str, dict[str, Any]]:
        """``evaluation/metrics.json``: per classifier (and ``cuts``) its AUC, signal efficiency
        at the cuts' background efficiency (``tpr_at_benchmark_fpr``), their errors..."""
        found: dict[str, dict[str, Any]] = _read_json(self._layout.metrics(), "hepdl evaluate")
        return found

    def summary(self) -> pd.DataFrame:
        """``evaluation/summary.csv``: the comparison table of the report."""
        return _read_csv(self._layout.evaluation() / "summary.csv", "hepdl evaluate")

    def cutflow(self) -> pd.DataFrame:
        """``evaluation/cutflow.csv``: per sample, generated, baseline and signal-region events
        and weighted yields with their errors."""
        return _read_csv(self._layout.evaluation() / "cutflow.csv", "hepdl evaluate")

    def models(self) -> list[str]:
        """The models with test-split predictions (``predictions/{model}.parquet``)."""
        folder = self.root / "predictions"
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []

    def predictions(self, model: str) -> dict[str, Any]:
        """A model's test-split predictions (columns of :mod:`hepdl.evaluate.predict`)."""
        from hepdl.evaluate.predict import read_predictions  # noqa: PLC0415

        return read_predictions(self._layout.predictions(model))

    def headline_samples(self, model: str) -> list[str] | None:
        """The samples the model trained on (``train.samples`` of the config beside it; None:
        all), which its headline metrics use."""
        path = self._layout.model_dir(model) / "config.yaml"
        if not path.is_file():
            return None
        trained = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        samples = trained.get("train", {}).get("samples")
        return list(samples) if samples is not None else None

    def _headline(self, model: str) -> dict[str, Any]:
        columns = self.predictions(model)
        samples = self.headline_samples(model)
        if samples is None:
            return columns
        keep = np.isin(np.asarray(columns["sample"]).astype(str), samples)
        return {name: np.asarray(values)[keep] for name, values in columns.items()}

    def roc(self, model: str) -> Roc:
        """The model's weighted ROC curve on the test events of its headline samples."""
        columns = self._headline(model)
        return roc_curve(columns["score"], columns["label"], columns["weight"])

    def working_point(self, model: str | None = None) -> WorkingPoint:
        """The cut-based signal region's (background, signal) efficiency on the same events
        (those of ``model``'s predictions, default the first model)."""
        model = model or self.models()[0]
        columns = self._headline(model)
        return benchmark_point(columns["passSR"], columns["label"], columns["weight"])

    # Training ---------------------------------------------------------------------------------
    def trained_models(self) -> list[str]:
        """The model folders (``models/{model}``)."""
        return _folders(self.root / "models")

    def training_finished(self, model: str) -> bool:
        """Whether the training wrote its joined ``training_log.csv`` (it does at the end)."""
        return self._layout.training_log(model).is_file()

    def training_log(self, model: str) -> pd.DataFrame:
        """The model's training log: ``training_log.csv`` once the training ended, while it
        runs the CSV logs Lightning flushes (``logs/version_*/metrics.csv``), joined.

        Raises:
            InputFileError: naming the model folder, if it holds neither yet.
        """
        folder = self._layout.model_dir(model)
        joined = self._layout.training_log(model)
        if joined.is_file():
            return _read_csv(joined, "hepdl train")
        parts = sorted(
            (folder / "logs").glob("version_*/metrics.csv"),
            key=lambda p: int(p.parent.name.split("_")[1]),
        )
        frames = [pd.read_csv(p) for p in parts if p.stat().st_size > 0]
        if not frames:
            raise InputFileError(folder, "no training log yet (hepdl train writes logs/ first)")
        return pd.concat(frames, ignore_index=True)

    # GANs -------------------------------------------------------------------------------------
    def gans(self) -> list[str]:
        """The GAN folders (``gan/{model}``)."""
        return _folders(self.root / "gan")

    def gan_validation(self, gan: str) -> dict[str, Any]:
        """``gan/{gan}/validation.json``: generated against real observables and noise floors."""
        found: dict[str, Any] = _read_json(self._layout.gan_validation(gan), "hepdl validate-gan")
        return found

    def gan_plots(self, gan: str) -> list[Path]:
        """The GAN's validation overlays (``gan/{gan}/plots/*.png``)."""
        return sorted(self._layout.gan_plots(gan).glob("*.png"))

    # Detector ---------------------------------------------------------------------------------
    def _detector_dir(self) -> Path:
        return self.root / "validation" / "detector"

    def detector_samples(self) -> list[str]:
        """Samples with a detector validation (``validation/detector/{sample}``)."""
        return _folders(self._detector_dir())

    def detector_validation(self, sample: str) -> dict[str, Any]:
        """``validation/detector/{sample}/metrics.json``: jet response and resolution, tower
        occupancy, tracking efficiency."""
        found: dict[str, Any] = _read_json(
            self._layout.detector_validation_metrics(sample), "hepdl validate-detector"
        )
        return found

    def detector_plots(self, sample: str) -> list[Path]:
        """The sample's detector validation plots (``*.png``)."""
        return sorted(self._layout.detector_validation(sample).glob("*.png"))

    # Hyper-parameter searches -----------------------------------------------------------------
    def studies(self) -> list[str]:
        """The hyper-parameter searches with a folder (``hpo/{study}``)."""
        return _folders(self.root / "hpo")

    def hpo_best(self, study: str) -> dict[str, Any]:
        """``hpo/{study}/best.yaml``: the best trial, its settings, the trial counts."""
        path = self._layout.hpo_best(study)
        if not path.is_file():
            raise InputFileError(path, "not found (written by hepdl hpo best)")
        found: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        return found

    def hpo_trials(self, study: str) -> pd.DataFrame:
        """Every trial the study's workers ran (``hpo/{study}/workers/*.json``): worker,
        number, state, value, seconds and drawn parameters."""
        folder = self._layout.hpo_study(study)
        files = sorted(self._layout.hpo_worker_record(study, "*").parent.glob("*.json"))
        if not files:
            raise InputFileError(folder, "no worker record (hepdl hpo worker)")
        rows = [
            {
                "worker": record["worker"],
                **trial,
                **{f"param_{k}": v for k, v in trial["params"].items()},
            }
            for record in (_read_json(path, "hepdl hpo worker") for path in files)
            for trial in record["trials"]
        ]
        table = pd.DataFrame(rows).drop(columns="params")
        return table.sort_values("number", ignore_index=True)

    def hpo_plots(self, study: str) -> list[Path]:
        """The study's report plots (``hpo/{study}/plots/*.png``)."""
        return sorted(self._layout.hpo_plots(study).glob("*.png"))


def open(path: str | os.PathLike[str]) -> Results:
    """The results folder at ``path``.

    Raises:
        InputFileError: if ``path`` is not a folder.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputFileError(root, "not a results folder (the config's 'results')")
    return Results(root)


# Plots the notebook draws -----------------------------------------------------------------------


def plot_rocs(run: Results, models: list[str] | None = None) -> Figure:
    """Background rejection against signal efficiency of every model, with the cuts' point
    (the evaluation's ROC plot, :func:`hepdl.evaluate.plots.plot_roc`)."""
    from hepdl.evaluate.plots import plot_roc  # noqa: PLC0415

    names = models or run.models()
    return plot_roc({name: run.roc(name) for name in names}, run.working_point(names[0]))


def plot_training(run: Results, model: str) -> Figure:
    """The model's training curves (:func:`hepdl.plots.training.plot_training_curves`), from
    its live logs while it trains; the legend says whether it is still running."""
    from hepdl.plots.training import plot_training_curves, training_curves  # noqa: PLC0415

    curves = training_curves(run.training_log(model), run._layout.model_dir(model))
    state = "finished" if run.training_finished(model) else "running"
    return plot_training_curves(curves, f"{model} ({state})")


def watch_training(
    run: Results,
    model: str,
    *,
    every_seconds: float = 10.0,
    timeout_seconds: float = 3600.0,
    display: Callable[[Figure], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Redraw :func:`plot_training` every ``every_seconds`` until the training finishes or
    ``timeout_seconds`` pass (0: draw once); returns whether it finished.

    ``display`` shows a figure (default: IPython's, clearing the cell's previous output).
    """
    if display is None:
        display = _notebook_display
    start = time.monotonic()
    while True:
        display(plot_training(run, model))
        if (
            run.training_finished(model)
            or time.monotonic() - start + every_seconds > timeout_seconds
        ):
            return run.training_finished(model)
        sleep(every_seconds)


def show(figure: Figure) -> None:
    """Show ``figure`` in the notebook as a PNG (the pipeline's figures are drawn without
    pyplot, so the notebook's inline backend does not see them)."""
    import io  # noqa: PLC0415

    from IPython.display import Image, display  # noqa: PLC0415

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", dpi=100)
    display(Image(data=buffer.getvalue(), format="png"))  # type: ignore[no-untyped-call]


def _notebook_display(figure: Figure) -> None:
    from IPython.display import clear_output  # noqa: PLC0415

    clear_output(wait=True)  # type: ignore[no-untyped-call]
    show(figure)


def show_images(paths: list[Path], columns: int = 3) -> Figure:
    """The PNG files ``paths`` side by side in one figure (validation overlays, detector plots)."""
    import matplotlib.image as mpimg  # noqa: PLC0415

    if not paths:
        raise InputFileError("<plots>", "no plots to show")
    rows = -(-len(paths) // columns)
    figure = Figure(figsize=(4 * columns, 3.3 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, path in zip(axes.flat, paths, strict=False):
        ax.imshow(mpimg.imread(path))
        ax.set_title(path.stem, fontsize="small")
    return figure

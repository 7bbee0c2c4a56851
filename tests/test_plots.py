"""The plotting module, the training curves and the benchmark summary of the report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest

from hepdl.config import validate_config
from hepdl.errors import InputFileError
from hepdl.evaluate.benchmarks import read_benchmarks, write_benchmark_summary
from hepdl.evaluate.metrics import WorkingPoint, roc_curve
from hepdl.evaluate.plots import plot_roc
from hepdl.gan.metrics import W1_TARGETS
from hepdl.plots.style import PlotLabel, add_label, new_figure, save
from hepdl.plots.training import plot_training_curves, read_training_curves

BENCHMARK_HEADER = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"
)


def texts(figure: object) -> str:
    """Every text drawn on a figure (its axes' and its own), joined."""
    found = [text.get_text() for text in figure.findobj(mpl.text.Text)]  # type: ignore[attr-defined]
    return " | ".join(found)


def test_label_reads_energy_and_luminosity_from_config(tmp_path: Path) -> None:
    sample = {
        "process": "qcd",
        "pthat_min_gev": 800,
        "pthat_max_gev": 1300,
        "events": 10,
        "shards": 1,
    }
    config = validate_config(
        {"results": str(tmp_path), "luminosity_ifb": 36.0, "samples": {"JZ5": sample}}
    )
    label = PlotLabel.from_config(config)
    assert (label.sqrt_s_tev, label.luminosity_ifb, label.status) == (13.0, 36.0, "Simulation")
    assert label.conditions == "$\\sqrt{s}$ = 13 TeV, 36 fb$^{-1}$"
    assert PlotLabel.from_config(config, weighted=False).conditions == "$\\sqrt{s}$ = 13 TeV"


def test_every_evaluation_plot_is_labelled_and_leaves_global_style_alone() -> None:
    before = dict(mpl.rcParams)
    rng = np.random.default_rng(1)
    label = rng.integers(0, 2, 400)
    score = np.clip(label * 0.3 + rng.random(400) * 0.7, 0, 1)
    roc = roc_curve(score, label, np.ones(400))
    figure = plot_roc({"cnn": roc}, WorkingPoint(tpr=0.4, fpr=0.01), label=PlotLabel(13.0, 36.0))
    drawn = texts(figure)
    assert "hepdl" in drawn
    assert "Simulation" in drawn
    assert "13 TeV" in drawn
    assert "36 fb" in drawn
    # The ATLAS style applied inside the plot only: the caller's rcParams are untouched.
    assert dict(mpl.rcParams) == before


def test_multi_panel_figures_carry_the_label_as_their_title() -> None:
    figure, _axes = new_figure(1, 2)
    add_label(figure, PlotLabel(13.6, None))
    assert "Simulation" in texts(figure)
    assert "13.6 TeV" in texts(figure)
    assert "fb" not in texts(figure)


def test_save_writes_each_format_and_nothing_else(tmp_path: Path) -> None:
    figure, ax = new_figure()
    ax.plot([0, 1], [0, 1])
    written = save(figure, tmp_path / "line", ("png", "pdf"))
    assert written == [tmp_path / "line.png", tmp_path / "line.pdf"]
    assert written[0].read_bytes()[:4] == b"\x89PNG"
    assert written[1].read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.pdf", "line.png"]


def test_plotting_modules_keep_the_users_backend() -> None:
    """Importing and using the plots chooses no backend: a notebook keeps its inline one."""
    code = (
        "import matplotlib, hepdl.evaluate.plots, hepdl.plots.inputs, hepdl.plots.training;"
        " from hepdl.plots.style import new_figure; new_figure();"
        " print(matplotlib.get_backend())"
    )
    environment = {**os.environ, "MPLBACKEND": "svg"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    assert run.stdout.strip() == "svg"


def test_training_curves_of_lightning_log(tmp_path: Path) -> None:
    log = tmp_path / "training_log.csv"
    log.write_text(
        "epoch,step,train_loss_epoch,train_loss_step,val_loss\n"
        "0,0,,0.74,\n0,1,,0.85,\n0,1,,,0.70\n0,1,0.80,,\n"
        "1,2,,0.60,\n1,3,,,0.65\n1,3,0.62,,\n"
    )
    curves = read_training_curves(log)
    assert curves.x_name == "epoch"
    # The per-epoch loss replaces the per-step one.
    assert set(curves.curves) == {"train_loss", "val_loss"}
    np.testing.assert_allclose(curves.curves["train_loss"][1], [0.80, 0.62])
    np.testing.assert_allclose(curves.curves["val_loss"][1], [0.70, 0.65])
    figure = plot_training_curves(curves, "cnn", PlotLabel(13.0, 36.0))
    assert "cnn" in texts(figure)
    assert "Simulation" in texts(figure)


def test_training_curves_of_gbdt_and_gan_logs(tmp_path: Path) -> None:
    gbdt = tmp_path / "gbdt.csv"
    gbdt.write_text("round,train_loss,val_loss\n0,0.66,0.67\n1,0.63,0.64\n2,0.61,0.63\n")
    curves = read_training_curves(gbdt)
    assert curves.x_name == "round"
    np.testing.assert_allclose(curves.curves["val_loss"][1], [0.67, 0.64, 0.63])
    gan = tmp_path / "gan.csv"
    # a cgan's columns: the losses, the learning rate, the selection metric and beside it the
    # other candidates and each target (six observables, three mass points)
    targets = [f"val_target_{name}" for name in W1_TARGETS] + [
        f"val_target_mj_at_{m}" for m in (1400, 1600, 1800)
    ]
    extra = ["lr", "val_ks_pooled", "val_ks_per_mass_point", "val_targets", *targets]
    gan.write_text(
        ",".join(["d_loss_epoch,d_loss_step,epoch,g_loss_epoch,g_loss_step,step,val_ks", *extra])
        + "\n"
        + "".join(
            f",{d},{epoch},,{g},{epoch},{',' * len(extra)}\n"
            f"{d},,{epoch},{g},,{epoch},{',' * len(extra)}\n"
            f",,{epoch},,,{epoch},{ks},{','.join(['2.5'] * len(extra))}\n"
            for epoch, d, g, ks in ((0, 1.47, 0.59, 0.9), (1, 1.2, 0.8, 0.6))
        )
    )
    curves = read_training_curves(gan)
    assert set(curves.curves) == {"d_loss", "g_loss", "val_ks", *extra}
    np.testing.assert_allclose(curves.curves["val_ks"][1], [0.9, 0.6])
    np.testing.assert_allclose(curves.curves["val_target_mj_at_1800"][1], [2.5, 2.5])
    figure = plot_training_curves(curves, "cgan")
    assert "KS metric (validation)" in texts(figure)
    drawn = {line.get_label() for axis in figure.axes for line in axis.get_lines()}
    assert drawn == {"d_loss", "g_loss", "val_ks"}


def test_bad_training_log_names_the_file(tmp_path: Path) -> None:
    log = tmp_path / "training_log.csv"
    log.write_text("loss\n0.5\n")
    with pytest.raises(InputFileError, match=r"training_log\.csv.*epoch, round or step"):
        read_training_curves(log)
    log.write_text("epoch,val_loss\n")
    with pytest.raises(InputFileError, match="no values yet"):
        read_training_curves(log)


def write_benchmark(path: Path, wall: float, cpu: float, rss: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    row = f"{wall}\t0:00:01\t{rss}\t0\t0\t0\t0.0\t0.0\t50.0\t{cpu}"
    path.write_text(f"{BENCHMARK_HEADER}\n{row}\n")
    return path


def test_benchmark_summary_per_stage(tmp_path: Path) -> None:
    root = tmp_path / "benchmarks"
    files = [
        write_benchmark(root / "generate/JZ4/0.tsv", 10.0, 9.0, 300.0),
        write_benchmark(root / "generate/JZ4/1.tsv", 14.0, 13.0, 320.0),
        write_benchmark(root / "train/cnn.tsv", 60.0, 110.0, 2000.0),
        write_benchmark(root / "evaluate.tsv", 6.0, 5.0, 800.0),
    ]
    jobs = read_benchmarks(files, root)
    assert list(jobs["stage"]) == ["generate", "generate", "train", "evaluate"]
    assert list(jobs["job"]) == ["JZ4/0", "JZ4/1", "cnn", "evaluate"]
    rows = write_benchmark_summary(
        files, root, table=tmp_path / "b.csv", html_table=tmp_path / "b.html"
    )
    assert [row["stage"] for row in rows] == ["train", "generate", "evaluate"]
    generate = rows[1]
    assert (generate["jobs"], generate["wall_s_sum"], generate["wall_s_max"]) == (2, 24.0, 14.0)
    assert (generate["cpu_s_sum"], generate["max_rss_mb"]) == (22.0, 320.0)
    assert generate["wall_share"] == pytest.approx(24.0 / 90.0, abs=1e-4)
    assert "4 jobs, 90 s" in (tmp_path / "b.html").read_text()
    assert (tmp_path / "b.csv").read_text().splitlines()[0].startswith("stage,jobs,")


def test_bad_benchmark_files_are_named(tmp_path: Path) -> None:
    root = tmp_path / "benchmarks"
    outside = write_benchmark(tmp_path / "elsewhere/x.tsv", 1.0, 1.0, 1.0)
    with pytest.raises(InputFileError, match="must lie under"):
        read_benchmarks([outside], root)
    broken = root / "generate/JZ4/0.tsv"
    broken.parent.mkdir(parents=True)
    broken.write_text("wall\n1\n")
    with pytest.raises(InputFileError, match=r"0\.tsv.*columns"):
        read_benchmarks([broken], root)

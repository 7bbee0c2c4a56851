"""Where every file between stages lives: one method per artifact, for the stages and the rules.

The results folder (the config's ``results``) holds, per sample and shard, then merged::

    events/{sample}/{shard}.parquet       generator-level events (hepdl.io.events)
    events/{sample}/xsec.json             the sample's cross-section from its shards
    detector/{sample}/{shard}.root        Delphes-schema detector file (hepdl.io.delphes)
    validation/detector/{sample}/         detector validation plots and metrics.json
    validation/compare_detectors/         the fast simulation against real Delphes
    {features,images,graphs}/{sample}/{shard}.{parquet,h5,h5}   per-shard stage outputs
    {features,images,graphs}/{split}.{parquet,h5,h5}            the merged splits (hepdl.io.splits)
    features/skim.json                    per-sample counts before the skim
    plots/inputs/                         input plots
    models/{model}/                       model file, costs.json, training log, checkpoints
    predictions/{model}.parquet           test-split scores
    evaluation/                           metrics.json, summary and cut-flow tables, robustness
    plots/                                evaluation plots; plots/training/ every training's curves
    gan/{gan}/                            model.ckpt, generated.h5, validation.json, plots/,
                                          speed.{json,html}
    configs/{digest}.yaml                 the validated config a Snakemake run pins
    logs/{rule}/{wildcards}.log           each job's log
    benchmarks/{rule}/{wildcards}.tsv     each benchmarked job's time and memory (Snakemake)

Every method takes its wildcards as ``str | int``, so the Snakemake rules build their patterns
from the same methods (``layout.events("{sample}", "{shard}")``) as the stages build their paths.
No file is read or written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PINNED_CONFIG_FOLDER", "SHARD_KINDS", "SPLITS", "SPLIT_KINDS", "Layout"]

#: The splits every merge writes, in order.
SPLITS = ("train", "val", "test")

#: Per-shard outputs, by stage output kind, with their file suffixes.
SHARD_KINDS = {
    "events": ".parquet",
    "detector": ".root",
    "features": ".parquet",
    "images": ".h5",
    "graphs": ".h5",
}

#: Merged split files, by kind, with their file suffixes.
SPLIT_KINDS = {"features": ".parquet", "images": ".h5", "graphs": ".h5"}

#: The folder of the results folder where Snakemake runs pin their configs, one file per content.
PINNED_CONFIG_FOLDER = "configs"

Wildcard = str | int


@dataclass(frozen=True)
class Layout:
    """The files of one results folder.

    Attributes:
        results: The results folder (the config's ``results``).
        samples: The config's ``samples`` (name -> entry with ``shards``), for the lists of
            every shard.
    """

    results: Path
    samples: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Layout:
        """The layout of a (validated) config: its results folder and samples."""
        return cls(Path(config["results"]), config.get("samples") or {})

    # Per shard -----------------------------------------------------------------------------

    def shard_file(self, kind: str, sample: Wildcard, shard: Wildcard) -> Path:
        """``{results}/{kind}/{sample}/{shard}{suffix}``, kind one of :data:`SHARD_KINDS`.

        Raises:
            ValueError: for an unknown kind.
        """
        if kind not in SHARD_KINDS:
            msg = f"unknown shard kind {kind!r}; expected one of {list(SHARD_KINDS)}"
            raise ValueError(msg)
        return self.results / kind / str(sample) / f"{shard}{SHARD_KINDS[kind]}"

    def events(self, sample: Wildcard, shard: Wildcard) -> Path:
        """Generated events of one shard: ``events/{sample}/{shard}.parquet``."""
        return self.shard_file("events", sample, shard)

    def xsec(self, sample: Wildcard) -> Path:
        """The sample's cross-section record: ``events/{sample}/xsec.json``."""
        return self.results / "events" / str(sample) / "xsec.json"

    def detector(self, sample: Wildcard, shard: Wildcard) -> Path:
        """Detector file of one shard: ``detector/{sample}/{shard}.root``."""
        return self.shard_file("detector", sample, shard)

    def detector_validation(self, sample: Wildcard) -> Path:
        """Folder of the sample's detector validation: ``validation/detector/{sample}``."""
        return self.results / "validation" / "detector" / str(sample)

    def detector_validation_metrics(self, sample: Wildcard) -> Path:
        """The sample's detector validation numbers: ``validation/detector/{sample}/metrics.json``."""
        return self.detector_validation(sample) / "metrics.json"

    def detector_comparison(self) -> Path:
        """Folder of the fast simulation against real Delphes: ``validation/compare_detectors``."""
        return self.results / "validation" / "compare_detectors"

    def features_shard(self, sample: Wildcard, shard: Wildcard) -> Path:
        """Feature table of one shard: ``features/{sample}/{shard}.parquet``."""
        return self.shard_file("features", sample, shard)

    def images_shard(self, sample: Wildcard, shard: Wildcard) -> Path:
        """Images of one shard: ``images/{sample}/{shard}.h5``."""
        return self.shard_file("images", sample, shard)

    def graphs_shard(self, sample: Wildcard, shard: Wildcard) -> Path:
        """Graphs of one shard: ``graphs/{sample}/{shard}.h5``."""
        return self.shard_file("graphs", sample, shard)

    def shard_keys(self) -> list[tuple[str, int]]:
        """Every (sample, shard): samples by name, shards in order, the merges' input order."""
        return [
            (name, shard)
            for name in sorted(self.samples)
            for shard in range(int(self.samples[name]["shards"]))
        ]

    def all_shards(self, kind: str) -> list[Path]:
        """:meth:`shard_file` of every shard of every sample, in :meth:`shard_keys` order."""
        return [self.shard_file(kind, name, shard) for name, shard in self.shard_keys()]

    # Merged splits -------------------------------------------------------------------------

    def split_file(self, kind: str, split: Wildcard) -> Path:
        """``{results}/{kind}/{split}{suffix}``, kind one of :data:`SPLIT_KINDS`.

        Raises:
            ValueError: for an unknown kind.
        """
        if kind not in SPLIT_KINDS:
            msg = f"unknown split kind {kind!r}; expected one of {list(SPLIT_KINDS)}"
            raise ValueError(msg)
        return self.results / kind / f"{split}{SPLIT_KINDS[kind]}"

    def splits(self, kind: str) -> dict[str, Path]:
        """:meth:`split_file` of every split of :data:`SPLITS`."""
        return {split: self.split_file(kind, split) for split in SPLITS}

    def features_split(self, split: Wildcard) -> Path:
        """``features/{split}.parquet``."""
        return self.split_file("features", split)

    def images_split(self, split: Wildcard) -> Path:
        """``images/{split}.h5``."""
        return self.split_file("images", split)

    def graphs_split(self, split: Wildcard) -> Path:
        """``graphs/{split}.h5``."""
        return self.split_file("graphs", split)

    def skim(self) -> Path:
        """The per-sample skim record of the features merge: ``features/skim.json``."""
        return self.results / "features" / "skim.json"

    def input_plots(self) -> Path:
        """Folder of the input plots: ``plots/inputs``."""
        return self.plots() / "inputs"

    # Classifiers ---------------------------------------------------------------------------

    def model_dir(self, name: Wildcard) -> Path:
        """A classifier's folder: ``models/{name}``."""
        return self.results / "models" / str(name)

    def model_file(self, name: Wildcard, kind: str) -> Path:
        """The trained model: ``model.json`` (xgboost) for a GBDT, ``model.ckpt`` otherwise."""
        return self.model_dir(name) / ("model.json" if kind == "gbdt" else "model.ckpt")

    def costs(self, name: Wildcard) -> Path:
        """A network's training costs: ``models/{name}/costs.json``."""
        return self.model_dir(name) / "costs.json"

    def training_log(self, name: Wildcard) -> Path:
        """A model's joined training log: ``models/{name}/training_log.csv``."""
        return self.model_dir(name) / "training_log.csv"

    def predictions(self, name: Wildcard) -> Path:
        """A model's test-split scores: ``predictions/{name}.parquet``."""
        return self.results / "predictions" / f"{name}.parquet"

    # Evaluation ----------------------------------------------------------------------------

    def evaluation(self) -> Path:
        """Folder of the evaluation tables: ``evaluation``."""
        return self.results / "evaluation"

    def metrics(self) -> Path:
        """The classifiers' comparison: ``evaluation/metrics.json``."""
        return self.evaluation() / "metrics.json"

    def robustness_table(self) -> Path:
        """``evaluation/robustness.csv``."""
        return self.evaluation() / "robustness.csv"

    def plots(self) -> Path:
        """Folder of the evaluation plots: ``plots``."""
        return self.results / "plots"

    def training_plot(self, name: Wildcard) -> Path:
        """A model's (or GAN's) training curves, without suffix: ``plots/training/{name}``."""
        return self.plots() / "training" / str(name)

    def robustness_plot(self) -> Path:
        """The robustness bar chart, without suffix: ``plots/robustness``."""
        return self.plots() / "robustness"

    # GANs ----------------------------------------------------------------------------------

    def gan_dir(self, name: Wildcard) -> Path:
        """A GAN's folder: ``gan/{name}``."""
        return self.results / "gan" / str(name)

    def gan_model(self, name: Wildcard) -> Path:
        """The trained GAN (best epoch): ``gan/{name}/model.ckpt``."""
        return self.gan_dir(name) / "model.ckpt"

    def gan_generated(self, name: Wildcard) -> Path:
        """Images the GAN generated: ``gan/{name}/generated.h5``."""
        return self.gan_dir(name) / "generated.h5"

    def gan_validation(self, name: Wildcard) -> Path:
        """The GAN's validation metrics: ``gan/{name}/validation.json``."""
        return self.gan_dir(name) / "validation.json"

    def gan_plots(self, name: Wildcard) -> Path:
        """Folder of the GAN's validation plots: ``gan/{name}/plots``."""
        return self.gan_dir(name) / "plots"

    def gan_speed(self, name: Wildcard) -> Path:
        """The GAN's generator against Pythia + detector simulation: ``gan/{name}/speed.json``."""
        return self.gan_dir(name) / "speed.json"

    def gan_speed_table(self, name: Wildcard) -> Path:
        """The same as the report's table: ``gan/{name}/speed.html``."""
        return self.gan_dir(name) / "speed.html"

    # Run bookkeeping -----------------------------------------------------------------------

    def pinned_config(self, name: str) -> Path:
        """A pinned config file: ``configs/{name}``."""
        return self.results / PINNED_CONFIG_FOLDER / name

    def hpo_study(self, study: Wildcard) -> Path:
        """A hyper-parameter search's folder: ``hpo/{study}`` (journal, trials, workers)."""
        return self.results / "hpo" / str(study)

    def hpo_worker_record(self, study: Wildcard, worker: Wildcard) -> Path:
        """What one search worker ran: ``hpo/{study}/workers/{worker}.json``."""
        return self.hpo_study(study) / "workers" / f"{worker}.json"

    def hpo_best(self, study: Wildcard) -> Path:
        """A search's best trial's settings: ``hpo/{study}/best.yaml``."""
        return self.hpo_study(study) / "best.yaml"

    def hpo_plots(self, study: Wildcard) -> Path:
        """A search's report plots: ``hpo/{study}/plots``."""
        return self.hpo_study(study) / "plots"

    def log(self, name: Wildcard) -> Path:
        """A job's log: ``logs/{name}.log`` (name: the rule, then its wildcards as folders)."""
        return self.results / "logs" / f"{name}.log"

    def benchmarks(self) -> Path:
        """Folder of the jobs' benchmark files: ``benchmarks``."""
        return self.results / "benchmarks"

    def benchmark(self, name: Wildcard) -> Path:
        """A job's benchmark file: ``benchmarks/{name}.tsv`` (name as for :meth:`log`)."""
        return self.benchmarks() / f"{name}.tsv"

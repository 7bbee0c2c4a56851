"""The ``hepdl`` command line: one sub-command per pipeline stage.

Every Snakemake rule is one call of this interface, so each stage can also be run by hand::

    hepdl generate --config config/ci.yaml --sample JZ4 --shard 0
    hepdl xsec --config config/ci.yaml --sample JZ4

Errors a user can cause are printed as one line naming the config key or file, with exit
status 2; nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hepdl import __version__
from hepdl.config import load_config
from hepdl.errors import HepdlError
from hepdl.hpo.cli import add_hpo_commands
from hepdl.io.layout import SPLITS, Layout

__all__ = ["main"]

log = logging.getLogger("hepdl")

#: The layout with the placeholders the help texts show: a default is the path the stage writes.
_AT = Layout(Path("{results}"))


def _default(path: Path | str) -> str:
    return f"default: {path}"


def _refused(reason: str) -> type[argparse.Action]:
    """An option a command accepts elsewhere but would ignore here: refused, saying why."""

    class Refused(argparse.Action):
        def __call__(
            self,
            parser: argparse.ArgumentParser,
            namespace: argparse.Namespace,
            values: object,
            option_string: str | None = None,
        ) -> None:
            parser.error(f"{option_string} is not used here: {reason}")

    return Refused


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, type=Path, help="pipeline config (YAML), e.g. config/ci.yaml"
    )


def _cmd_generate(args: argparse.Namespace) -> None:
    from hepdl.generate import generate_shard

    config = load_config(args.config)
    result = generate_shard(
        config, args.sample, args.shard, args.output, progress=not args.no_progress
    )
    meta = result.metadata
    print(
        f"generate: {meta['sample']} shard {meta['shard']}: {result.n_events} events in "
        f"{result.seconds:.1f} s ({result.events_per_second:.1f} events/s), "
        f"sigma = {meta['sigma_pb']:.4g} +- {meta['sigma_err_pb']:.2g} pb -> {result.path}"
    )


def _cmd_xsec(args: argparse.Namespace) -> None:
    from hepdl.generate.xsec import write_sample_xsec
    from hepdl.samples import get_sample

    config = load_config(args.config)
    layout = Layout.of(config)
    sample = get_sample(config, args.sample)
    inputs = args.inputs or [layout.events(sample.name, k) for k in range(sample.shards)]
    output = args.output or layout.xsec(sample.name)
    xsec = write_sample_xsec(inputs, output, sample=sample.name, shards=sample.shards)
    print(
        f"xsec: {xsec['sample']}: sigma = {xsec['sigma_pb']:.4g} +- {xsec['sigma_err_pb']:.2g} pb "
        f"from {len(inputs)} shards, {xsec['n_events']} events -> {output}"
    )


def _cmd_simulate(args: argparse.Namespace) -> None:
    from hepdl.detector import simulate_shard

    config = load_config(args.config)
    result = simulate_shard(
        config,
        args.sample,
        args.shard,
        events_file=args.input,
        output=args.output,
        progress=not args.no_progress,
    )
    meta = result.metadata
    steps = ", ".join(f"{name} {sec:.2f}" for name, sec in result.steps.items() if sec > 0)
    print(
        f"simulate: {meta['sample']} shard {meta['shard']} ({meta['backend']}): "
        f"{result.n_events} events in {result.seconds:.1f} s "
        f"({result.events_per_second:.1f} events/s; s per step: {steps}) -> {result.path}"
    )


def _cmd_validate_detector(args: argparse.Namespace) -> None:
    from hepdl.detector.validate import validate_detector
    from hepdl.plots.style import PlotLabel
    from hepdl.samples import get_sample

    config = load_config(args.config)
    layout = Layout.of(config)
    sample = get_sample(config, args.sample)
    shards = range(sample.shards)
    inputs = args.inputs or [layout.detector(sample.name, k) for k in shards]
    events = args.events or [layout.events(sample.name, k) for k in shards]
    output = args.output_dir or layout.detector_validation(sample.name)
    metrics = validate_detector(
        inputs,
        events,
        output,
        max_events=config["detector"]["validation_events"],
        label=PlotLabel.from_config(config, weighted=False),
    )
    print(
        f"validate-detector: {sample.name}: {metrics['n_events']} events from {len(inputs)} "
        f"files -> {output}"
    )


def _cmd_compare_detectors(args: argparse.Namespace) -> None:
    from hepdl.detector.compare import compare_detectors
    from hepdl.samples import get_sample

    config = load_config(args.config)
    layout = Layout.of(config)
    names = args.samples or list(config["samples"])
    files: dict[str, list[Path]] = {}
    for name in names:
        sample = get_sample(config, name)
        files[name] = [layout.events(sample.name, k) for k in range(sample.shards)]
    output = args.output_dir or layout.detector_comparison()
    comparison = compare_detectors(config, files, output)
    for name, result in comparison["samples"].items():
        verdicts = ", ".join(
            f"{key} {target['value']:.4g} ({'meets' if target['met'] else 'misses'})"
            for key, target in result["targets"].items()
        )
        print(f"compare-detectors: {name}: {result['n_events']} events: {verdicts}")
    print(f"compare-detectors: -> {output}")


def _add_detector_stages(stages: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Sub-commands of the detector stage: simulate, validate-detector."""
    simulate = stages.add_parser(
        "simulate", help="detector simulation of one shard (Delphes-schema ROOT file)"
    )
    _add_config(simulate)
    simulate.add_argument("--sample", required=True, help="sample name (a key of 'samples')")
    simulate.add_argument("--shard", required=True, type=int, help="shard index, from 0")
    simulate.add_argument(
        "--input",
        type=Path,
        help=f"events file ({_default(_AT.events('{sample}', '{shard}'))})",
    )
    simulate.add_argument(
        "--output",
        type=Path,
        help=f"output file ({_default(_AT.detector('{sample}', '{shard}'))})",
    )
    simulate.add_argument("--no-progress", action="store_true", help="no progress bar")
    simulate.set_defaults(func=_cmd_simulate)

    validate = stages.add_parser(
        "validate-detector",
        help="jet response, tower occupancy and tracking efficiency plots of one sample",
    )
    _add_config(validate)
    validate.add_argument("--sample", required=True, help="sample name (a key of 'samples')")
    validate.add_argument(
        "--inputs",
        nargs="+",
        type=Path,
        help=f"the sample's detector files ({_default(_AT.detector('{sample}', '{shard}'))}, "
        "every shard)",
    )
    validate.add_argument(
        "--events",
        nargs="+",
        type=Path,
        help=f"the matching event files ({_default(_AT.events('{sample}', '{shard}'))}, "
        "every shard)",
    )
    validate.add_argument(
        "--output-dir",
        type=Path,
        help=f"folder for the plots and metrics.json ({_default(_AT.detector_validation('{sample}'))})",
    )
    validate.set_defaults(func=_cmd_validate_detector)

    compare = stages.add_parser(
        "compare-detectors",
        help="the fast simulation against real Delphes on the same events (JSON and plots)",
    )
    _add_config(compare)
    compare.add_argument(
        "--samples", nargs="+", help="samples compared (default: every sample of the config)"
    )
    compare.add_argument(
        "--output-dir",
        type=Path,
        help=f"folder for comparison.json and the plots ({_default(_AT.detector_comparison())})",
    )
    compare.set_defaults(func=_cmd_compare_detectors)


def _cmd_features(args: argparse.Namespace) -> None:
    from hepdl.reco.stage import features_shard

    config = load_config(args.config)
    layout = Layout.of(config)
    detector = args.input or layout.detector(args.sample, args.shard)
    xsec = args.xsec or layout.xsec(args.sample)
    result = features_shard(config, args.sample, args.shard, detector, xsec, output=args.output)
    print(
        f"features: {args.sample} shard {args.shard}: {result.n_events} events, "
        f"{result.n_pass} pass the signal region, in {result.seconds:.1f} s -> {result.path}"
    )


def _shard_features_arg(config: dict[str, Any], args: argparse.Namespace) -> Path | None:
    """The shard's feature table that decides the skim: --features, else the contract path
    (none needed without a skim)."""
    if args.features is not None:
        return Path(args.features)
    if config["preselection"] == "none":
        return None
    return Layout.of(config).features_shard(args.sample, args.shard)


def _skimmed_shard_inputs(args: argparse.Namespace) -> tuple[dict[str, Any], Path, Path | None]:
    """The config, the detector file and the feature table of an images or graphs command."""
    config = load_config(args.config)
    detector = args.input or Layout.of(config).detector(args.sample, args.shard)
    return config, Path(detector), _shard_features_arg(config, args)


def _cmd_images(args: argparse.Namespace) -> None:
    from hepdl.images.stage import images_shard

    config, detector, features = _skimmed_shard_inputs(args)
    result = images_shard(
        config, args.sample, args.shard, detector, output=args.output, features_file=features
    )
    rate = result.n_events / result.histogram_seconds if result.histogram_seconds > 0 else 0.0
    print(
        f"images: {args.sample} shard {args.shard}: {result.n_events} events in "
        f"{result.seconds:.1f} s (histogramming {rate:.0f} events/s) -> {result.path}"
    )


def _cmd_graphs(args: argparse.Namespace) -> None:
    from hepdl.graphs.stage import graphs_shard

    config, detector, features = _skimmed_shard_inputs(args)
    result = graphs_shard(
        config, args.sample, args.shard, detector, output=args.output, features_file=features
    )
    print(
        f"graphs: {args.sample} shard {args.shard}: {result.n_events} graphs, {result.n_nodes} "
        f"nodes, {result.n_edges} edges in {result.seconds:.1f} s -> {result.path}"
    )


def _cmd_merge(args: argparse.Namespace) -> None:
    from hepdl.reco.merge import load_events, merge_features

    config = load_config(args.config)
    layout = Layout.of(config)
    features = args.features or layout.all_shards("features")
    outputs = dict(zip(SPLITS, args.outputs, strict=True)) if args.outputs else None
    outputs = outputs or layout.splits(args.kind)
    merged = load_events(config, features)
    if args.kind == "features":
        sizes = merge_features(merged, outputs, config, skim_output=args.skim)
    else:
        # By default, the shard files of the same (sample, shard) as the feature tables.
        inputs = args.inputs or [
            layout.shard_file(args.kind, Path(path).parent.name, int(Path(path).stem))
            for path in features
        ]
        if args.kind == "images":
            from hepdl.images.merge import merge_images

            sizes = merge_images(merged, inputs, outputs, config).sizes
        else:
            from hepdl.graphs.merge import merge_graphs

            sizes = merge_graphs(merged, inputs, outputs, config).sizes
    counts = ", ".join(f"{split} {sizes[split]}" for split in SPLITS)
    print(f"merge: {args.kind}: {counts} events -> {', '.join(map(str, outputs.values()))}")


def _cmd_plot_inputs(args: argparse.Namespace) -> None:
    from hepdl.plots.inputs import plot_inputs

    config = load_config(args.config)
    layout = Layout.of(config)
    images = args.images or layout.images_split("train")
    features = args.features or list(layout.splits("features").values())
    output_dir = args.output_dir or layout.input_plots()
    written = plot_inputs(config, images, features, output_dir)
    print(f"plot-inputs: {len(written)} files -> {output_dir}")


def _add_shard_stage(
    stages: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str
) -> argparse.ArgumentParser:
    stage = stages.add_parser(name, help=help_text)
    _add_config(stage)
    stage.add_argument("--sample", required=True, help="sample name (a key of 'samples')")
    stage.add_argument("--shard", required=True, type=int, help="shard index, from 0")
    stage.add_argument(
        "--input",
        type=Path,
        help=f"detector file ({_default(_AT.detector('{sample}', '{shard}'))})",
    )
    stage.add_argument(
        "--output",
        type=Path,
        help=f"output file ({_default(_AT.shard_file(name, '{sample}', '{shard}'))})",
    )
    return stage


def _add_preprocessing_stages(stages: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Sub-commands of the preprocessing stages: features, images, graphs, merge, plot-inputs."""
    features = _add_shard_stage(
        stages, "features", "jet variables, passSR, weight and label of one shard (Parquet)"
    )
    features.add_argument(
        "--xsec", type=Path, help=f"the sample's cross-section ({_default(_AT.xsec('{sample}'))})"
    )
    features.set_defaults(func=_cmd_features)
    for name, help_text, func in (
        ("images", "3-channel eta-phi images of one shard's skimmed events (HDF5)", _cmd_images),
        ("graphs", "tower and track graphs of one shard's skimmed events (HDF5)", _cmd_graphs),
    ):
        stage = _add_shard_stage(stages, name, help_text)
        stage.add_argument(
            "--features",
            type=Path,
            help="the shard's feature table, whose passBaseline decides the skim "
            f"({_default(_AT.features_shard('{sample}', '{shard}'))}; unused with "
            "preselection: none)",
        )
        stage.set_defaults(func=func)

    merge = stages.add_parser(
        "merge", help="shuffle the shards of all samples into the train/val/test splits"
    )
    _add_config(merge)
    merge.add_argument(
        "--kind", required=True, choices=["features", "images", "graphs"], help="what to merge"
    )
    merge.add_argument(
        "--features",
        nargs="+",
        type=Path,
        help=f"per-shard feature tables ({_default(_AT.features_shard('{sample}', '{shard}'))}"
        ", every shard of every sample)",
    )
    merge.add_argument(
        "--inputs",
        nargs="+",
        type=Path,
        help="per-shard image or graph files, in the order of --features (default: those of the "
        "same sample and shard as each feature table)",
    )
    merge.add_argument(
        "--outputs",
        nargs=3,
        type=Path,
        metavar=("TRAIN", "VAL", "TEST"),
        help=f"split files ({_default(_AT.results / '{kind}' / '{train,val,test}.*')})",
    )
    merge.add_argument(
        "--skim",
        type=Path,
        help=f"with --kind features: the per-sample skim record ({_default(_AT.skim())})",
    )
    merge.set_defaults(func=_cmd_merge)

    plots = stages.add_parser("plot-inputs", help="plots of the images and jet variables")
    _add_config(plots)
    plots.add_argument(
        "--images", type=Path, help=f"an images split file ({_default(_AT.images_split('train'))})"
    )
    plots.add_argument(
        "--features",
        nargs="+",
        type=Path,
        help=f"features split files ({_default(_AT.features_split('{train,val,test}'))})",
    )
    plots.add_argument("--output-dir", type=Path, help=_default(_AT.input_plots()))
    plots.set_defaults(func=_cmd_plot_inputs)


def _lightning_logs_once() -> None:
    """Lightning has its own log handler: keep its messages from reaching ours a second time."""
    logging.getLogger("lightning.pytorch").propagate = False


def _with_hpo_best(config: dict[str, Any], model: str, best: Path | None) -> dict[str, Any]:
    """For ``cnn_hpo`` (and its replicas), the config with the CNN search's best settings."""
    from hepdl.train.settings import HPO_MODEL, base_model

    if base_model(model) != HPO_MODEL:
        return config
    from hepdl.hpo.best import with_best
    from hepdl.hpo.settings import best_file

    return with_best(config, best or best_file(config, "cnn"))


def _cmd_train(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    # The process layout of a (Slurm-launched) DDP run: the rule takes it from its resources.
    for key in ("num_nodes", "devices"):
        if getattr(args, key, None) is not None:
            config["train"][key] = getattr(args, key)
    _lightning_logs_once()
    progress = not args.no_progress
    if args.kind != "gan":
        from hepdl.errors import ConfigError
        from hepdl.train.settings import model_kind

        args.model = args.model or args.kind
        config = _with_hpo_best(config, args.model, getattr(args, "hpo_best", None))
        if model_kind(config, args.model) != args.kind:
            raise ConfigError(
                "train.models",
                f"--model {args.model} is a {model_kind(config, args.model)}, not a {args.kind}",
            )
    if args.kind == "gbdt":
        from hepdl.train.gbdt import train_gbdt

        gbdt = train_gbdt(
            config,
            args.model,
            train_file=args.train,
            val_file=args.val,
            output=args.output,
            threads=args.threads or config["train"]["threads"],
            progress=progress,
        )
        print(
            f"train gbdt: {gbdt.best_round} rounds, val log-loss {gbdt.best_val_loss:.4g} in "
            f"{gbdt.seconds:.1f} s -> {gbdt.model_file}"
        )
        return
    if args.kind == "gan":
        from hepdl.gan.train import train_gan

        fit = train_gan(
            config,
            args.model or "gan",
            train_file=args.train,
            val_file=args.val,
            output=args.output,
            resume=args.resume,
            progress=progress,
        )
        print(
            f"train gan {args.model or 'gan'}: {fit.epochs} epochs, {fit.global_step} steps on "
            f"{fit.n_train} images, best KS metric {fit.best_ks:.4g} (epoch {fit.best_epoch}) "
            f"in {fit.seconds:.1f} s -> {fit.model_file}"
        )
        return
    from hepdl.train.cnn import train_cnn
    from hepdl.train.mlp import train_cnn_jets, train_mlp

    if args.kind == "gnn":
        from hepdl.train.gnn import train_gnn

        result = train_gnn(
            config,
            args.model,
            train_file=args.train,
            val_file=args.val,
            output=args.output,
            resume=args.resume,
            progress=progress,
        )
    elif args.kind == "cnn":
        result = train_cnn(
            config,
            args.model,
            train_file=args.train,
            val_file=args.val,
            output=args.output,
            resume=args.resume,
            progress=progress,
        )
    elif args.kind == "mlp":
        result = train_mlp(
            config,
            args.model,
            train_file=args.train,
            val_file=args.val,
            output=args.output,
            resume=args.resume,
            progress=progress,
        )
    else:
        result = train_cnn_jets(
            config,
            args.model,
            cnn_model=args.cnn_model_file,
            images=dict(zip(("train", "val"), args.images, strict=True)) if args.images else None,
            features=(
                dict(zip(("train", "val"), args.features, strict=True)) if args.features else None
            ),
            output=args.output,
            resume=args.resume,
            progress=progress,
        )
    if result.is_global_zero:
        resumed = f", resumed from {result.resumed_from}" if result.resumed_from else ""
        print(
            f"train {args.model or args.kind}: {result.epochs} epochs, {result.global_step} steps, "
            f"best val loss {result.best_val_loss:.4g} in {result.seconds:.1f} s{resumed} "
            f"-> {result.model_file}"
        )


def _cmd_predict(args: argparse.Namespace) -> None:
    from hepdl.evaluate.predict import predict

    config = _with_hpo_best(load_config(args.config), args.model, args.hpo_best)
    _lightning_logs_once()
    result = predict(
        config,
        args.model,
        model=args.model_file,
        images=args.images,
        features=args.features,
        graphs=args.graphs,
        cnn_predictions=args.cnn_predictions,
        output=args.output,
        progress=not args.no_progress,
    )
    print(
        f"predict {args.model}: {result.n_events} test events in {result.seconds:.1f} s "
        f"({result.n_events / max(result.seconds, 1e-9):.0f} events/s) -> {result.path}"
    )


def _predictions_arg(config: dict[str, Any], given: list[Path] | None) -> dict[str, Path]:
    from hepdl.train.settings import models

    if given:
        return {path.stem: path for path in given}
    layout = Layout.of(config)
    return {name: layout.predictions(name) for name in models(config)}


def _costs_arg(config: dict[str, Any], given: list[Path] | None) -> dict[str, Path]:
    """Costs files by model (their folder's name); default: every network's that exists."""
    from hepdl.train.settings import models

    if given:
        return {path.parent.name: path for path in given}
    layout = Layout.of(config)
    found = {name: layout.costs(name) for name in models(config)}
    return {name: path for name, path in found.items() if path.is_file()}


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from hepdl.evaluate.stage import evaluate

    config = load_config(args.config)
    result = evaluate(
        config,
        _predictions_arg(config, args.predictions),
        features=args.features,
        skim=args.skim,
        output=args.output,
        plots_dir=args.plots_dir,
        costs=_costs_arg(config, args.costs),
    )
    cuts = result.metrics["cuts"]
    best = ", ".join(
        f"{name} {m['tpr_at_benchmark_fpr']:.3f}"
        for name, m in result.metrics.items()
        if name != "cuts" and m["tpr_at_benchmark_fpr"] is not None
    )
    print(
        f"evaluate: cuts tpr {cuts['tpr']:.3f} at fpr {cuts['fpr']:.3g} (background N_eff "
        f"{cuts['background']['n_eff']:.1f}{', UNMEASURED' if cuts['unmeasured'] else ''}); "
        f"signal efficiency at "
        f"that fpr: {best}; {len(result.plots)} plots in {result.seconds:.1f} s "
        f"-> {result.metrics_file}"
    )


def _cmd_results_table(args: argparse.Namespace) -> None:
    import json

    from hepdl.evaluate.markdown import results_markdown

    try:
        metrics = json.loads(Path(args.metrics).read_text(encoding="utf-8"))
        text = results_markdown(metrics, title=args.title)
    except (OSError, ValueError, KeyError, TypeError) as err:
        from hepdl.errors import InputFileError

        raise InputFileError(
            args.metrics, f"not a metrics.json of hepdl evaluate ({err})"
        ) from None
    print(text, end="")


def _cmd_robustness(args: argparse.Namespace) -> None:
    from hepdl.evaluate.robustness import robustness

    config = load_config(args.config)
    rows = robustness(
        config, _predictions_arg(config, args.predictions), output=args.output, plot=args.plot
    )
    output = args.output or Layout.of(config).robustness_table()
    print(f"robustness: {len(rows)} cases -> {output}")


#: What ``hepdl train <kind>`` trains.
_TRAIN_HELP = {
    "cnn": "a CNN on the images (Lightning)",
    "gbdt": "gradient-boosted trees on the 23 jet variables (xgboost JSON)",
    "mlp": "a one-hidden-layer network on the 23 jet variables (Lightning)",
    "cnn_jets": "a one-hidden-layer network on a CNN's score and the jet variables",
    "gnn": "a graph network on the event graphs (Lightning, torch-geometric)",
    "gan": "a GAN generating the signal images: gan, or cgan conditioned on the masses",
}

#: The split files each kind trains on (cnn_jets: images and features, options of its own).
_TRAIN_SPLITS = {"cnn": "images", "gan": "images", "gbdt": "features", "mlp": "features"}
_TRAIN_SPLITS["gnn"] = "graphs"


def _add_process_options(sub: argparse.ArgumentParser, kind: str) -> None:
    """--resume and the DDP process layout, for the kinds that use them."""
    if kind == "gbdt":
        return
    sub.add_argument("--resume", action="store_true", help="continue from checkpoints/last.ckpt")
    if kind == "gan":
        one_device = "a GAN trains on one device (hepdl.gan.train)"
        for option in ("--num-nodes", "--devices"):
            sub.add_argument(option, action=_refused(one_device), help=argparse.SUPPRESS)
        return
    sub.add_argument("--num-nodes", type=int, help="nodes of a DDP run (default: train.num_nodes)")
    sub.add_argument(
        "--devices", type=int, help="processes (GPUs) per node (default: train.devices)"
    )


def _add_model_option(sub: argparse.ArgumentParser, kind: str) -> None:
    """--model: the name of what is trained (a model file is always --...-file)."""
    if kind == "gan":
        sub.add_argument(
            "--model", help="which GAN: gan, cgan or a seed replica, e.g. cgan_seed1 (default gan)"
        )
    elif kind == "cnn":
        sub.add_argument(
            "--model",
            help="CNN name, a key of train.cnn.channels, cnn_hpo (the CNN search's best) "
            "or a seed replica {name}_seed{k} (default cnn)",
        )
        sub.add_argument(
            "--hpo-best",
            type=Path,
            help="cnn_hpo: the CNN search's best.yaml (default: {results}/hpo/cnn/best.yaml)",
        )
    else:
        sub.add_argument(
            "--model", help=f"{kind} or a seed replica {kind}_seed{{k}} (default {kind})"
        )


def _add_cnn_jets_inputs(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--cnn-model-file",
        type=Path,
        help="the model file of the CNN whose score it combines "
        f"({_default(_AT.model_file('{train.cnn_jets.cnn}', 'cnn'))})",
    )
    for kind in ("images", "features"):
        split = _AT.split_file(kind, "{train,val}")
        sub.add_argument(
            f"--{kind}",
            nargs=2,
            type=Path,
            metavar=("TRAIN", "VAL"),
            help=f"{kind} training and validation splits ({_default(split)})",
        )


def _add_train_stage(stages: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The train sub-command, with one sub-command per model kind."""
    train = stages.add_parser("train", help="train a model (cnn, gbdt, mlp, cnn_jets, gnn, gan)")
    kinds = train.add_subparsers(dest="kind", required=True, metavar="<model>")
    for kind, text in _TRAIN_HELP.items():
        sub = kinds.add_parser(kind, help=text)
        _add_config(sub)
        model = _AT.gan_model("{model}") if kind == "gan" else _AT.model_file("{model}", kind)
        sub.add_argument("--output", type=Path, help=f"model file ({_default(model)})")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
        if kind == "cnn_jets":
            _add_cnn_jets_inputs(sub)
        else:
            for split, name in (("train", "training"), ("val", "validation")):
                path = _AT.split_file(_TRAIN_SPLITS[kind], split)
                sub.add_argument(f"--{split}", type=Path, help=f"{name} split ({_default(path)})")
        _add_process_options(sub, kind)
        _add_model_option(sub, kind)
        if kind == "gbdt":
            sub.add_argument("--threads", type=int, help="CPU threads (default: train.threads)")
        sub.set_defaults(func=_cmd_train, model=None)


def _add_model_stages(stages: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Sub-commands of the classifiers: train, predict, evaluate, robustness."""
    _add_train_stage(stages)
    predict = stages.add_parser("predict", help="test-split scores of one model (Parquet)")
    _add_config(predict)
    predict.add_argument("--model", required=True, help="model name (see train.models)")
    predict.add_argument(
        "--model-file",
        type=Path,
        help=f"{_default(_AT.model_dir('{model}') / 'model.ckpt')}, model.json for a GBDT",
    )
    predict.add_argument(
        "--hpo-best",
        type=Path,
        help="cnn_hpo: the CNN search's best.yaml (default: {results}/hpo/cnn/best.yaml)",
    )
    for kind, who in (("images", "CNNs"), ("features", "GBDT, MLP, cnn_jets"), ("graphs", "GNN")):
        path = _AT.split_file(kind, "test")
        predict.add_argument(
            f"--{kind}", type=Path, help=f"{kind} test split, {who} ({_default(path)})"
        )
    predict.add_argument(
        "--cnn-predictions",
        type=Path,
        help=f"cnn_jets: its CNN's predictions ({_default(_AT.predictions('{train.cnn_jets.cnn}'))})",
    )
    predict.add_argument("--output", type=Path, help=_default(_AT.predictions("{model}")))
    predict.add_argument("--no-progress", action="store_true", help="no progress bar")
    predict.set_defaults(func=_cmd_predict)

    evaluate = stages.add_parser(
        "evaluate", help="ROC, AUC, efficiency at the cuts' working point, plots (metrics.json)"
    )
    robust = stages.add_parser(
        "robustness", help="trained models on other mass points and with pile-up (table)"
    )
    for sub in (evaluate, robust):
        _add_config(sub)
        sub.add_argument(
            "--predictions",
            nargs="+",
            type=Path,
            help=f"predictions files ({_default(_AT.predictions('{model}'))}, every model of "
            "train.models and its seed replicas)",
        )
    evaluate.add_argument(
        "--output",
        type=Path,
        help=f"metrics file, the tables beside it ({_default(_AT.metrics())})",
    )
    robust.add_argument("--output", type=Path, help=f"table ({_default(_AT.robustness_table())})")
    evaluate.add_argument(
        "--features",
        type=Path,
        help=f"features test split ({_default(_AT.features_split('test'))})",
    )
    evaluate.add_argument(
        "--skim", type=Path, help=f"the features merge's skim record ({_default(_AT.skim())})"
    )
    evaluate.add_argument("--plots-dir", type=Path, help=_default(_AT.plots()))
    evaluate.add_argument(
        "--costs",
        nargs="+",
        type=Path,
        help=f"the networks' training costs ({_default(_AT.costs('{model}'))}, those that exist)",
    )
    evaluate.set_defaults(func=_cmd_evaluate)

    table = stages.add_parser(
        "results-table", help="a run's metrics.json as the Markdown tables of the docs"
    )
    table.add_argument("--metrics", required=True, type=Path, help="a run's metrics.json")
    table.add_argument("--title", default="hepdl result", help="the bold line above the table")
    table.set_defaults(func=_cmd_results_table)
    robust.add_argument(
        "--plot", type=Path, help=f"bar chart, without suffix ({_default(_AT.robustness_plot())})"
    )
    robust.set_defaults(func=_cmd_robustness)


def _cmd_generate_gan(args: argparse.Namespace) -> None:
    from hepdl.gan.generate import generate_gan

    config = load_config(args.config)
    result = generate_gan(
        config,
        args.model,
        checkpoint=args.checkpoint,
        output=args.output,
        n_events=args.events,
        masses=args.mass,
        device=args.device,
    )
    points = ", ".join(f"({mg:g}, {mn:g})" for mg, mn in result.mass_points) or "unconditional"
    print(
        f"generate-gan {args.model}: {result.n_images} images [{points}] in "
        f"{result.seconds:.2f} s ({result.images_per_second:.0f} images/s) -> {result.path}"
    )


def _cmd_validate_gan(args: argparse.Namespace) -> None:
    from hepdl.gan.validate import validate_gan

    config = load_config(args.config)
    result = validate_gan(
        config, args.model, generated=args.generated, real=args.real, output_dir=args.output_dir
    )
    overall = result.metrics["overall"]
    parts = ", ".join(
        f"{name} W1 {overall[name]['ratio']['wasserstein']:.2f}x floor"
        for name in ("n_jet", "mj_gev")
    )
    flagged = ", ".join(overall["flagged"]) or "none"
    print(
        f"validate-gan {args.model}: {result.metrics['n_generated']} generated vs "
        f"{result.metrics['n_real']} real; {parts}; flagged: {flagged}; {len(result.plots)} "
        f"plots in {result.seconds:.1f} s -> {result.path}"
    )


def _cmd_gan_speed(args: argparse.Namespace) -> None:
    import torch

    from hepdl.gan.speed import gan_speed

    config = load_config(args.config)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = gan_speed(
        config,
        args.model,
        checkpoint=args.checkpoint,
        output_dir=args.output_dir,
        device=args.device,
    )
    record = result.record
    print(
        f"gan-speed {args.model}: {record['sample']}: Pythia {record['pythia']['per_second']:.1f}, "
        f"simulation {record['simulation']['per_second']:.1f}, chain "
        f"{record['chain']['per_second']:.1f} events/s; generator "
        f"{record['generator']['per_second']:.0f} images/s on {record['generator']['device']} "
        f"(torch threads: {record['generator']['threads']}): "
        f"{record['generator_over_chain']:.1f}x, in "
        f"{result.seconds:.1f} s -> {result.path}"
    )


def _add_gan_stages(stages: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Sub-commands of the GANs besides training: generate-gan, validate-gan, gan-speed."""
    generate = stages.add_parser(
        "generate-gan", help="images from a trained GAN, at any mass point for the cgan (HDF5)"
    )
    validate = stages.add_parser(
        "validate-gan", help="generated vs real images by jets, against the noise floor"
    )
    for sub in (generate, validate):
        _add_config(sub)
        sub.add_argument(
            "--model", default="gan", help="which GAN: gan, cgan or a seed replica (cgan_seed1)"
        )
    generate.add_argument("--checkpoint", type=Path, help=_default(_AT.gan_model("{model}")))
    generate.add_argument("--events", type=int, help="images per mass point (gan.generate_events)")
    generate.add_argument(
        "--mass",
        nargs=2,
        type=float,
        action="append",
        metavar=("M_GLUINO", "M_NEUTRALINO"),
        help="a mass point in GeV (cgan; repeatable; default: trained grid + gan.interpolate)",
    )
    generate.add_argument(
        "--device",
        help="torch device, e.g. cpu or cuda (default: a GPU if train.accelerator allows)",
    )
    generate.add_argument("--output", type=Path, help=_default(_AT.gan_generated("{model}")))
    generate.set_defaults(func=_cmd_generate_gan)
    validate.add_argument("--generated", type=Path, help=_default(_AT.gan_generated("{model}")))
    validate.add_argument(
        "--real", type=Path, help=f"real images ({_default(_AT.images_split('test'))})"
    )
    validate.add_argument(
        "--output-dir",
        type=Path,
        help=f"validation.json and plots/ ({_default(_AT.gan_dir('{model}'))})",
    )
    validate.set_defaults(func=_cmd_validate_gan)

    speed = stages.add_parser(
        "gan-speed",
        help="the generator's images/s against Pythia 8 + detector simulation events/s (table)",
    )
    _add_config(speed)
    speed.add_argument(
        "--model", default="gan", help="which GAN: gan, cgan or a seed replica (cgan_seed1)"
    )
    speed.add_argument("--checkpoint", type=Path, help=_default(_AT.gan_model("{model}")))
    speed.add_argument(
        "--output-dir",
        type=Path,
        help=f"speed.json and speed.html ({_default(_AT.gan_dir('{model}'))})",
    )
    speed.add_argument(
        "--device",
        help="the generator's torch device, e.g. cpu or cuda (default: as generate-gan)",
    )
    speed.add_argument(
        "--threads", type=int, help="torch CPU threads of the generator (default: torch's)"
    )
    speed.set_defaults(func=_cmd_gan_speed)


def _cmd_profiles_install(args: argparse.Namespace) -> None:
    from hepdl.cluster import install_profile

    for name in args.names:
        path = install_profile(name, args.source, args.target, args.cpu_constraint)
        print(f"profiles: installed {name} -> {path} (use: snakemake --profile {name})")


def _cmd_delphes_install(args: argparse.Namespace) -> None:
    from hepdl.detector.delphes_install import install_delphes

    build = install_delphes(args.source, args.prefix, jobs=args.jobs)
    if build.existed:
        print(f"delphes: Delphes {build.version} is already built: {build.executable}")
    else:
        print(
            f"delphes: built Delphes {build.version} in {build.seconds:.0f} s: {build.executable}"
        )
    print(f"delphes: its ATLAS card: {build.atlas_card}")


def _add_delphes_commands(stages: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    delphes = stages.add_parser("delphes", help="build Delphes for detector.backend: delphes")
    actions = delphes.add_subparsers(dest="action", required=True, metavar="<action>")
    install = actions.add_parser(
        "install",
        help="build DelphesHepMC3 against ROOT from PyPI (the delphes extra) into a cache",
    )
    install.add_argument(
        "--source",
        type=Path,
        help="Delphes source archive (.tar.gz) or folder (default: download the release)",
    )
    install.add_argument(
        "--prefix",
        type=Path,
        help="build folder (default: ~/.cache/hepdl/delphes/<version>, where hepdl finds it)",
    )
    install.add_argument(
        "--jobs", type=int, help="parallel compilations (default: the number of CPUs)"
    )
    install.set_defaults(func=_cmd_delphes_install)


def _add_cluster_commands(stages: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    profiles = stages.add_parser("profiles", help="install the Snakemake cluster profiles")
    actions = profiles.add_subparsers(dest="action", required=True, metavar="<action>")
    install = actions.add_parser(
        "install", help="copy profiles to where `snakemake --profile NAME` finds them"
    )
    install.add_argument(
        "names", nargs="+", metavar="NAME", help="profile names, e.g. cori perlmutter"
    )
    install.add_argument(
        "--source",
        type=Path,
        default=Path("workflow/profiles"),
        help="the repository's profile folder (default: workflow/profiles)",
    )
    install.add_argument(
        "--target", type=Path, help="destination (default: $XDG_CONFIG_HOME/snakemake)"
    )
    install.add_argument(
        "--cpu-constraint", help="node type of the CPU rules, e.g. haswell on Cori (default: knl)"
    )
    install.set_defaults(func=_cmd_profiles_install)


def _cmd_plot_training(args: argparse.Namespace) -> None:
    from hepdl.plots.style import PlotLabel, save
    from hepdl.plots.training import plot_training_curves, read_training_curves

    config = load_config(args.config)
    curves = read_training_curves(args.log)
    figure = plot_training_curves(curves, args.title, PlotLabel.from_config(config))
    written = save(figure, args.output, config["evaluate"]["plot_formats"])
    print(f"plot-training: {args.log} -> {', '.join(map(str, written))}")


def _cmd_summarize_benchmarks(args: argparse.Namespace) -> None:
    from hepdl.evaluate.benchmarks import write_benchmark_summary

    rows = write_benchmark_summary(args.inputs, args.root, table=args.output, html_table=args.html)
    print(f"summarize-benchmarks: {len(args.inputs)} jobs of {len(rows)} rules -> {args.output}")


def _add_report_commands(stages: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Sub-commands of the report's summaries: plot-training, summarize-benchmarks."""
    training = stages.add_parser(
        "plot-training", help="a model's training curves from its training_log.csv"
    )
    _add_config(training)
    training.add_argument("--log", required=True, type=Path, help="the training_log.csv")
    training.add_argument("--title", required=True, help="the legend's title: the model")
    training.add_argument(
        "--output",
        required=True,
        type=Path,
        help="the plot, without suffix: one file per evaluate.plot_formats",
    )
    training.set_defaults(func=_cmd_plot_training)

    benchmarks = stages.add_parser(
        "summarize-benchmarks", help="per-rule time and memory from Snakemake's benchmark files"
    )
    benchmarks.add_argument(
        "--inputs", required=True, nargs="+", type=Path, help="benchmark TSV files"
    )
    benchmarks.add_argument(
        "--root",
        required=True,
        type=Path,
        help="their folder: the first folder below it names the rule",
    )
    benchmarks.add_argument("--output", required=True, type=Path, help="the summary CSV")
    benchmarks.add_argument("--html", required=True, type=Path, help="the summary HTML page")
    benchmarks.set_defaults(func=_cmd_summarize_benchmarks)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage."""
    parser = argparse.ArgumentParser(
        prog="hepdl",
        description="Whole-detector deep learning for collider physics: pipeline stages.",
    )
    parser.add_argument("--version", action="version", version=f"hepdl {__version__}")
    stages = parser.add_subparsers(dest="stage", required=True, metavar="<stage>")

    generate = stages.add_parser(
        "generate", help="generate one shard of one sample with Pythia 8 (Parquet)"
    )
    _add_config(generate)
    generate.add_argument("--sample", required=True, help="sample name (a key of 'samples')")
    generate.add_argument("--shard", required=True, type=int, help="shard index, from 0")
    generate.add_argument(
        "--output",
        type=Path,
        help=f"output file ({_default(_AT.events('{sample}', '{shard}'))})",
    )
    generate.add_argument("--no-progress", action="store_true", help="no progress bar")
    generate.set_defaults(func=_cmd_generate)

    xsec = stages.add_parser("xsec", help="combine a sample's shards into its cross-section (JSON)")
    _add_config(xsec)
    xsec.add_argument("--sample", required=True, help="sample name (a key of 'samples')")
    xsec.add_argument(
        "--inputs",
        nargs="+",
        type=Path,
        help=f"the sample's event files ({_default(_AT.events('{sample}', '{shard}'))}, every "
        "shard)",
    )
    xsec.add_argument("--output", type=Path, help=f"output file ({_default(_AT.xsec('{sample}'))})")
    xsec.set_defaults(func=_cmd_xsec)
    _add_detector_stages(stages)
    _add_preprocessing_stages(stages)
    _add_model_stages(stages)
    _add_gan_stages(stages)
    _add_report_commands(stages)
    _add_delphes_commands(stages)
    _add_cluster_commands(stages)
    add_hpo_commands(stages)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hepdl`` command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    try:
        args.func(args)
    except HepdlError as err:
        print(f"hepdl {args.stage}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

# Shared helpers of the rules: config validation, sample and shard lists, final targets.
# Pure Python over the config; the physics lives in the hepdl package.
from pathlib import Path

from hepdl.cluster import check_slurm_account, training_launcher, training_layout_args
from hepdl.config import (
    check_results_folder,
    pinned_config_path,
    read_config_file,
    result_settings,
    validate_config,
    write_pinned_config,
)
from hepdl.hpo.settings import hpo_models, worker_ids
from hepdl.hpo.settings import plot_files as hpo_plot_files
from hepdl.io.layout import Layout
from hepdl.samples import get_sample
from hepdl.train.settings import training_settings

# Snakemake's `configfile:` keeps the last of a key given twice; read each file again with
# the command line's loader, which refuses that, naming the key and file.
for _configfile in workflow.configfiles:
    read_config_file(_configfile)

# One validation for Snakemake and the command line: schema (defaults filled in) and
# physics checks, failing here, before any job starts.
config.update(validate_config(config, source=", ".join(map(str, workflow.configfiles))))

# A cluster run never guesses the Slurm account (the executor would): stop here instead.
check_slurm_account(
    getattr(workflow.resource_settings.default_resources, "args", None) or [],
    workflow.executor_plugin.name if workflow.executor_plugin else None,
)

# An unwritable results folder stops a dry run too, before any job (this check writes nothing).
check_results_folder(config)

# The validated config every job reads, so that `snakemake --config key=value` reaches the
# jobs: {results}/configs/<sha256>.yaml, named by its content and never rewritten, so that
# another snakemake (say `-n --config seed=7`) cannot change what a running one's jobs read.
# Named here, written when a run starts (onstart: never on a dry run).
PINNED_CONFIG = str(pinned_config_path(config))


onstart:
    write_pinned_config(config)


# Every path of the results folder, for the stages and the rules alike (hepdl.io.layout):
# a rule's pattern is the method called with its wildcards, e.g. LAYOUT.events("{sample}", "{shard}").
LAYOUT = Layout.of(config)
SAMPLES = sorted(config["samples"])


def log_file(name):
    """A rule's log, {results}/logs/<name>.log: each config's logs beside its results."""
    return str(LAYOUT.log(name))


def benchmark_file(name):
    """A rule's benchmark (time, memory), {results}/benchmarks/<name>.tsv."""
    return str(LAYOUT.benchmark(name))


def report_pngs(paths, caption, category, subcategory=None):
    """`paths` with the PNGs marked for the report (caption: a file in workflow/report/); the
    other formats (PDF for papers) stay plain outputs beside them."""
    paths = [str(path) for path in paths]
    return [
        (
            path
            if not path.endswith(".png")
            else report(
                path,
                caption=f"../report/{caption}",
                category=category,
                subcategory=subcategory,
            )
        )
        for path in paths
    ]


def sample_spec(wildcards):
    """The sample's config entry: a rule parameter, so editing it reruns that sample only."""
    return config["samples"][wildcards.sample]


def pinned_config(wildcards, input):
    """The `config` parameter of every rule: PINNED_CONFIG. A function of `input`, so that
    Snakemake counts it as derived from the (tracked) inputs and not as a rerun trigger: its
    name changes with any key, and would rerun every job; each rule's own params hold the
    settings its output depends on, without the keys that change no result
    (hepdl.config.result_settings: the schema's `x-rerun: false`)."""
    return PINNED_CONFIG


def launcher(wildcards, resources):
    """Before `hepdl train`: `srun --nodes=N --ntasks-per-node=G ...` where the profile's
    set-resources give the training several processes (nodes, tasks_per_node and mpi=srun);
    empty for one process."""
    return training_launcher(resources)


def layout(wildcards, resources):
    """The matching `--num-nodes N --devices G` of `hepdl train` (empty: the config's)."""
    return training_layout_args(resources)


def shard_files(kind):
    """Input function: the `kind` file (hepdl.io.layout.SHARD_KINDS) of every shard of the
    sample."""

    def files(wildcards):
        sample = get_sample(config, wildcards.sample)
        return [LAYOUT.shard_file(kind, sample.name, shard) for shard in range(sample.shards)]

    return files


def get_final_output():
    """The targets of the default run: per sample, its cross-section (and so its shards), its
    detector files and their validation plots; the train/val/test splits of features, images
    (and graphs, if enabled) and input plots; the evaluation, the GANs, and the report's
    training curves and benchmark summary."""
    targets = [LAYOUT.xsec(name) for name in SAMPLES]
    targets += LAYOUT.all_shards("detector")
    targets += [LAYOUT.detector_validation_metrics(name) for name in SAMPLES]
    # The fast simulation against real Delphes on the same events, where the config asks.
    if config["compare_detectors"]["enabled"]:
        targets += rules.compare_detectors.output
    targets += rules.merge_features.output + rules.merge_images.output
    targets += rules.plot_inputs.output
    if config["graphs"]["enabled"]:
        targets += rules.merge_graphs.output
    # The classifiers' comparison with the cuts (metrics, summary table, plots) and, where the
    # config asks for it, the robustness table.
    targets += rules.evaluate.output
    if config["evaluate"]["robustness"]:
        targets += rules.robustness.output
    # Each GAN of gan.models, trained, generating and validated (validation.json and plots),
    # and its generator timed against Pythia + detector simulation (the report's speed table).
    targets += [LAYOUT.gan_validation(name) for name in GAN_MODELS]
    targets += [LAYOUT.gan_speed(name) for name in GAN_MODELS]
    # The report's summaries: every model's training curves, and the run's cost per stage.
    targets += [
        f"{LAYOUT.training_plot(name)}.{fmt}"
        for name in [*MODELS, *GAN_MODELS]
        for fmt in PLOT_FORMATS
    ]
    targets += rules.summarize_benchmarks.output
    # Each hyper-parameter search's best settings and report plots (hpo.studies; hpo.smk).
    for study in HPO_STUDIES:
        targets.append(f"{LAYOUT.results}/hpo/{study}/best.yaml")
        targets += [str(path) for path in hpo_plot_files(config, study)]
    return targets


# The training rules' helpers (train.smk has rules only).
RESUME = "--resume" if config["train"]["resume"] else ""


def resume_flag(wildcards, input):
    """`--resume` where train.resume asks for it. A function of `input`, so that Snakemake
    counts it as derived and not as a rerun trigger: how a job starts changes no result (the
    training resumes only a checkpoint of the same settings, hepdl.train.checkpoint)."""
    return RESUME


def settings_of(model):
    """The `settings` parameter of a training rule: what training the wildcard `model` depends
    on (hepdl.train.settings.training_settings), so that a change retrains that model only."""
    return lambda wildcards: training_settings(config, wildcards[model])


# The report's helpers (report.smk has rules only).
def trained_model_file(wildcards):
    """The model file of a classifier (models/) or a GAN (gan/): its training log lies beside."""
    if wildcards.trained in GAN_MODELS:
        return LAYOUT.gan_model(wildcards.trained)
    return LAYOUT.model_file(wildcards.trained, MODELS[wildcards.trained])


def benchmarked_jobs():
    """Per rule with a benchmark, the wildcards of each of its jobs in this config's DAG
    (tests/test_workflow.py checks, on a ci run, that the summary holds every benchmark file
    the run wrote)."""
    shards = [{"sample": s, "shard": k} for s, k in zip(SHARD_SAMPLES, SHARD_INDICES)]
    graphs = config["graphs"]["enabled"]
    jobs = {
        "generate": shards,
        "simulate": shards,
        "features": shards,
        "images": shards,
        "graphs": shards if graphs else [],
        "merge_images": [{}],
        "merge_graphs": [{}] if graphs else [],
        "predict": [{"model": name} for name in MODELS],
        "evaluate": [{}],
        "train_gan": [{"gan": name} for name in GAN_MODELS],
        "generate_gan": [{"gan": name} for name in GAN_MODELS],
        "validate_gan": [{"gan": name} for name in GAN_MODELS],
        "gan_speed": [{"gan": name} for name in GAN_MODELS],
        "compare_detectors": [{}] if config["compare_detectors"]["enabled"] else [],
    }
    for name, kind in HAND_SET.items():
        jobs.setdefault(f"train_{kind}", []).append({kind: name})
    # The searches' workers and the CNN with the best settings (hpo.smk).
    jobs["hpo_worker"] = [
        {"study": study, "worker": worker} for study in HPO_STUDIES for worker in worker_ids(config)
    ]
    jobs["train_cnn_hpo"] = [{"cnn_hpo": name} for name in hpo_models(config)]
    return jobs


def benchmark_files(wildcards):
    """Every benchmark file of this config's DAG."""
    return [
        getattr(rules, rule).benchmark.format(**job)
        for rule, jobs in benchmarked_jobs().items()
        for job in jobs
    ]

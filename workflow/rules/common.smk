# Shared helpers of the rules: config validation, sample and shard lists, final targets.
# Pure Python over the config; the physics lives in the hepdl package.
from pathlib import Path

from hepdl.config import validate_config, write_effective_config
from hepdl.samples import get_sample

# One validation for Snakemake and the command line: schema (defaults filled in) and
# physics checks, failing here, before any job starts.
config.update(validate_config(config, source=", ".join(map(str, workflow.configfiles))))

# The validated config every job reads, so `snakemake --config key=value` reaches the jobs.
EFFECTIVE_CONFIG = str(write_effective_config(config))
RESULTS = config["results"]
SAMPLES = sorted(config["samples"])


def sample_spec(wildcards):
    """The sample's config entry: a rule parameter, so editing it reruns that sample only."""
    return config["samples"][wildcards.sample]


def shard_files(pattern):
    """Input function: `pattern` (with {sample} and {shard}) for every shard of the sample."""

    def files(wildcards):
        sample = get_sample(config, wildcards.sample)
        return expand(pattern, sample=sample.name, shard=range(sample.shards))

    return files


def get_final_output():
    """The targets of the default run: per sample, its cross-section (and so its shards)."""
    return expand(f"{RESULTS}/events/{{sample}}/xsec.json", sample=SAMPLES)

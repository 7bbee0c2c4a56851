# hepdl: whole-detector deep learning, from Pythia 8 to trained models, as one DAG.
# This file only wires the stages; the logic lives in the `hepdl` package (src/hepdl).
from snakemake.utils import min_version

min_version("9.0")


# The full reproduction unless the command line names a config: `--configfile` would otherwise
# be merged into this one, and the samples of both would run.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    sample="[A-Za-z][A-Za-z0-9_]*",
    shard=r"\d+",


include: "workflow/rules/generate.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/hpo.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/gan.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),

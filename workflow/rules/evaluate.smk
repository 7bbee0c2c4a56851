# Stage 6: test-split scores of every model, their comparison with the cut-based benchmark
# (metrics.json, summary table, plots for the report) and the robustness studies.
from hepdl.evaluate.predict import input_arguments as predict_input_arguments
from hepdl.evaluate.predict import rule_inputs as predict_rule_inputs
from hepdl.evaluate.stage import plot_files

PREDICTIONS = {name: LAYOUT.predictions(name) for name in MODELS}
# The networks' training costs (parameters, step time, memory), for the summary table.
COSTS = [LAYOUT.costs(name) for name, kind in MODELS.items() if kind != "gbdt"]
PLOT_FORMATS = config["evaluate"]["plot_formats"]


# The evaluation plots: PNGs in the report with their captions, the other formats beside them.
EVALUATION_PLOTS = [
    (
        path
        if not path.endswith(".png")
        else report(path, caption=f"../report/{caption}", category="Evaluation")
    )
    for path, caption in plot_files(config, list(MODELS))
]


rule predict:
    input:
        unpack(lambda wildcards: predict_rule_inputs(config, wildcards.model)),
    output:
        LAYOUT.predictions("{model}"),
    log:
        log_file("predict/{model}"),
    benchmark:
        benchmark_file("predict/{model}")
    wildcard_constraints:
        model="|".join(MODELS) or "no_model",
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=pinned_config,
        # --images, --features, --cnn-predictions: the test data the model reads
        inputs=lambda wildcards, input: predict_input_arguments(input),
    shell:
        "hepdl predict --config {params.config:q} --model {wildcards.model:q}"
        " --model-file {input.model:q} {params.inputs:q} --output {output:q} --no-progress"
        " > {log:q} 2>&1"


rule evaluate:
    input:
        predictions=list(PREDICTIONS.values()),
        features=SPLIT_FILES["features"]["test"],
        skim=rules.merge_features.output.skim,
        costs=COSTS,
    output:
        metrics=LAYOUT.metrics(),
        summary=report(
            str(LAYOUT.evaluation() / "summary.html"),
            caption="../report/summary.rst",
            category="Summary",
        ),
        table=str(LAYOUT.evaluation() / "summary.csv"),
        cutflow=str(LAYOUT.evaluation() / "cutflow.csv"),
        cutflow_html=report(
            str(LAYOUT.evaluation() / "cutflow.html"),
            caption="../report/cutflow.rst",
            category="Summary",
        ),
        plots=EVALUATION_PLOTS,
    log:
        log_file("evaluate"),
    benchmark:
        benchmark_file("evaluate")
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        config=pinned_config,
        evaluate=result_settings(config, "evaluate"),
        samples=config["train"]["samples"],
        plots=LAYOUT.plots(),
        # A list of arguments, so the shell command quotes each path.
        costs=lambda wildcards, input: ["--costs", *input.costs] if input.costs else [],
    shell:
        "hepdl evaluate --config {params.config:q} --predictions {input.predictions:q}"
        " --features {input.features:q} --skim {input.skim:q} --output {output.metrics:q}"
        " --plots-dir {params.plots:q} {params.costs:q} > {log:q} 2>&1"


rule robustness:
    input:
        predictions=list(PREDICTIONS.values()),
    output:
        table=LAYOUT.robustness_table(),
        html=report(
            str(LAYOUT.evaluation() / "robustness.html"),
            caption="../report/robustness_table.rst",
            category="Robustness",
        ),
        plots=[
            (
                report(path, caption="../report/robustness.rst", category="Robustness")
                if path.endswith(".png")
                else path
            )
            for path in expand(f"{LAYOUT.robustness_plot()}.{{fmt}}", fmt=PLOT_FORMATS)
        ],
    log:
        log_file("robustness"),
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        config=pinned_config,
        evaluate=result_settings(config, "evaluate"),
        plot=lambda wildcards, output: Path(output.plots[0]).with_suffix(""),
    shell:
        "hepdl robustness --config {params.config:q} --predictions {input.predictions:q}"
        " --output {output.table:q} --plot {params.plot:q} > {log:q} 2>&1"

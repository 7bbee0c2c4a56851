# The report's summaries across stages: each trained model's training curves, and what the run
# cost per stage (Snakemake's benchmark files of every job).


rule plot_training:
    input:
        trained_model_file,
    output:
        report_pngs(
            expand(
                f"{LAYOUT.training_plot('{trained}')}.{{fmt}}",
                fmt=PLOT_FORMATS,
                allow_missing=True,
            ),
            "training.rst",
            "Training",
        ),
    log:
        log_file("plot_training/{trained}"),
    wildcard_constraints:
        trained="|".join([*MODELS, *GAN_MODELS]) or "no_model",
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config=pinned_config,
        training_log=lambda wildcards, input: Path(input[0]).parent / "training_log.csv",
        output=lambda wildcards, output: Path(output[0]).with_suffix(""),
    shell:
        "hepdl plot-training --config {params.config:q} --log {params.training_log:q}"
        " --title {wildcards.trained:q} --output {params.output:q} 2> {log:q}"


rule summarize_benchmarks:
    input:
        benchmark_files,
    output:
        table=LAYOUT.evaluation() / "benchmarks.csv",
        html=report(
            str(LAYOUT.evaluation() / "benchmarks.html"),
            caption="../report/benchmarks.rst",
            category="Benchmarks",
        ),
    log:
        log_file("summarize_benchmarks"),
    conda:
        "../../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        root=LAYOUT.benchmarks(),
    shell:
        "hepdl summarize-benchmarks --inputs {input:q} --root {params.root:q}"
        " --output {output.table:q} --html {output.html:q} 2> {log:q}"

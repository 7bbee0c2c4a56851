# Stage 5b: hyper-parameter searches (Optuna), one per entry of hpo.studies. Each study's
# hpo.workers jobs share its journal, {results}/hpo/{study}/journal.log, pulling trials until
# hpo.n_trials have finished; then its best trial's settings (best.yaml) and the report's
# plots. The CNN study's best settings train one more CNN, cnn_hpo, evaluated beside the others.
from hepdl.hpo.settings import REPORT_PLOTS, hpo_models, studies, study_settings, worker_ids

# Checked here, before any job starts: the searched CNN or GAN exists and suits the data.
HPO_STUDIES = studies(config)


rule hpo_worker:
    input:
        train=SPLIT_FILES["images"]["train"],
        val=SPLIT_FILES["images"]["val"],
    output:
        LAYOUT.hpo_worker_record("{study}", "{worker}"),
    log:
        log_file("hpo_worker/{study}/{worker}"),
    benchmark:
        benchmark_file("hpo_worker/{study}/{worker}")
    wildcard_constraints:
        study="|".join(HPO_STUDIES) or "no_study",
        worker=r"\d+",
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        config=pinned_config,
        # What the trials depend on (hepdl.hpo.settings.study_settings): a change starts a new
        # study in the same journal, named by these settings.
        settings=lambda wildcards: study_settings(config, wildcards.study),
    shell:
        "hepdl hpo worker --config {params.config:q} --study {wildcards.study:q}"
        " --worker {wildcards.worker:q} --train {input.train:q} --val {input.val:q}"
        " --output {output:q} > {log:q} 2>&1"


rule hpo_best:
    input:
        expand(
            str(LAYOUT.hpo_worker_record("{study}", "{worker}")),
            worker=worker_ids(config),
            allow_missing=True,
        ),
    output:
        LAYOUT.hpo_best("{study}"),
    log:
        log_file("hpo_best/{study}"),
    wildcard_constraints:
        study="|".join(HPO_STUDIES) or "no_study",
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=pinned_config,
        settings=lambda wildcards: study_settings(config, wildcards.study),
    shell:
        "hepdl hpo best --config {params.config:q} --study {wildcards.study:q}"
        " --output {output:q} > {log:q} 2>&1"


rule hpo_report:
    input:
        rules.hpo_best.output,
    output:
        report_pngs(
            expand(
                f"{LAYOUT.hpo_plots('{study}')}/{{plot}}.{{fmt}}",
                plot=REPORT_PLOTS,
                fmt=config["evaluate"]["plot_formats"],
                allow_missing=True,
            ),
            "hpo_plots.rst",
            "Search",
        ),
    log:
        log_file("hpo_report/{study}"),
    wildcard_constraints:
        study="|".join(HPO_STUDIES) or "no_study",
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=pinned_config,
        plots=lambda wildcards, output: Path(output[0]).parent,
    shell:
        "hepdl hpo report --config {params.config:q} --study {wildcards.study:q}"
        " --output-dir {params.plots:q} > {log:q} 2>&1"


rule train_cnn_hpo:
    input:
        best=LAYOUT.hpo_best("cnn"),
        train=SPLIT_FILES["images"]["train"],
        val=SPLIT_FILES["images"]["val"],
    output:
        model=LAYOUT.model_file("{cnn_hpo}", "cnn"),
        costs=LAYOUT.costs("{cnn_hpo}"),
    log:
        log_file("train/{cnn_hpo}"),
    benchmark:
        benchmark_file("train/{cnn_hpo}")
    wildcard_constraints:
        cnn_hpo="|".join(hpo_models(config)) or "no_cnn_hpo",
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        config=pinned_config,
        # The search's settings (its best.yaml is an input): a change retrains it.
        settings=lambda wildcards: study_settings(config, "cnn"),
        resume=resume_flag,
        launch=launcher,
        layout=layout,
    shell:
        "{params.launch:q} hepdl train cnn --config {params.config:q}"
        " --model {wildcards.cnn_hpo:q} --hpo-best {input.best:q} --train {input.train:q}"
        " --val {input.val:q} --output {output.model:q} {params.layout:q} {params.resume:q}"
        " > {log:q} 2>&1"

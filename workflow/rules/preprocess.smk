# Stages 3-4: detector files to classifier inputs. Per shard: the jet features and passSR
# (Parquet), the eta-phi images and the event graphs (HDF5); then one merge per kind shuffles
# all samples into the train/val/test splits, the same events in each for every model.
# The simulation's output (simulate.smk is included before this file).
DETECTOR_FILE = rules.simulate.output[0]

# Every (sample, shard) pair, samples by name and shards in order: the merges' input order.
SHARD_SAMPLES, SHARD_INDICES = zip(*LAYOUT.shard_keys())


rule features:
    input:
        detector=DETECTOR_FILE,
        xsec=rules.xsec.output[0],
    output:
        LAYOUT.features_shard("{sample}", "{shard}"),
    log:
        log_file("features/{sample}/{shard}"),
    benchmark:
        benchmark_file("features/{sample}/{shard}")
    conda:
        "../../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=pinned_config,
        selection=config["selection"],
        luminosity=config["luminosity_ifb"],
    shell:
        "hepdl features --config {params.config:q} --sample {wildcards.sample:q}"
        " --shard {wildcards.shard:q} --input {input.detector:q} --xsec {input.xsec:q}"
        " --output {output:q} 2> {log:q}"


rule images:
    input:
        detector=DETECTOR_FILE,
        # Its passBaseline decides which events are built (the skim, config "preselection").
        features=rules.features.output[0],
    output:
        LAYOUT.images_shard("{sample}", "{shard}"),
    log:
        log_file("images/{sample}/{shard}"),
    benchmark:
        benchmark_file("images/{sample}/{shard}")
    conda:
        "../../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        config=pinned_config,
        images=result_settings(config, "images"),
        preselection=config["preselection"],
    shell:
        "hepdl images --config {params.config:q} --sample {wildcards.sample:q}"
        " --shard {wildcards.shard:q} --input {input.detector:q} --features {input.features:q}"
        " --output {output:q} 2> {log:q}"


rule graphs:
    input:
        detector=DETECTOR_FILE,
        # Its passBaseline decides which events are built (the skim, config "preselection").
        features=rules.features.output[0],
    output:
        LAYOUT.graphs_shard("{sample}", "{shard}"),
    log:
        log_file("graphs/{sample}/{shard}"),
    benchmark:
        benchmark_file("graphs/{sample}/{shard}")
    conda:
        "../../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        config=pinned_config,
        graphs=result_settings(config, "graphs"),
        preselection=config["preselection"],
    shell:
        "hepdl graphs --config {params.config:q} --sample {wildcards.sample:q}"
        " --shard {wildcards.shard:q} --input {input.detector:q} --features {input.features:q}"
        " --output {output:q} 2> {log:q}"


rule merge_features:
    input:
        expand(rules.features.output[0], zip, sample=SHARD_SAMPLES, shard=SHARD_INDICES),
    output:
        splits=list(LAYOUT.splits("features").values()),
        skim=LAYOUT.skim(),
    log:
        log_file("merge/features"),
    conda:
        "../../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=pinned_config,
        splits=result_settings(config, "splits"),
        seed=config["seed"],
        preselection=config["preselection"],
    shell:
        "hepdl merge --config {params.config:q} --kind features --features {input:q}"
        " --outputs {output.splits:q} --skim {output.skim:q} 2> {log:q}"


rule merge_images:
    input:
        features=expand(rules.features.output[0], zip, sample=SHARD_SAMPLES, shard=SHARD_INDICES),
        images=expand(rules.images.output[0], zip, sample=SHARD_SAMPLES, shard=SHARD_INDICES),
    output:
        list(LAYOUT.splits("images").values()),
    log:
        log_file("merge/images"),
    benchmark:
        benchmark_file("merge/images")
    conda:
        "../../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=config["splits"]["merge_buffer_mb"] + 2000,
        runtime=60,
    params:
        config=pinned_config,
        splits=result_settings(config, "splits"),
        seed=config["seed"],
        preselection=config["preselection"],
    shell:
        "hepdl merge --config {params.config:q} --kind images --features {input.features:q}"
        " --inputs {input.images:q} --outputs {output:q} 2> {log:q}"


rule merge_graphs:
    input:
        features=expand(rules.features.output[0], zip, sample=SHARD_SAMPLES, shard=SHARD_INDICES),
        graphs=expand(rules.graphs.output[0], zip, sample=SHARD_SAMPLES, shard=SHARD_INDICES),
    output:
        list(LAYOUT.splits("graphs").values()),
    log:
        log_file("merge/graphs"),
    benchmark:
        benchmark_file("merge/graphs")
    conda:
        "../../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=config["splits"]["merge_buffer_mb"] + 2000,
        runtime=60,
    params:
        config=pinned_config,
        splits=result_settings(config, "splits"),
        seed=config["seed"],
        preselection=config["preselection"],
    shell:
        "hepdl merge --config {params.config:q} --kind graphs --features {input.features:q}"
        " --inputs {input.graphs:q} --outputs {output:q} 2> {log:q}"


rule plot_inputs:
    input:
        images=LAYOUT.images_split("train"),
        features=rules.merge_features.output.splits,
    output:
        report_pngs(
            expand(
                LAYOUT.input_plots() / "{name}.{fmt}",
                name=["mean_images", "single_events", "jet_variables"],
                fmt=["png", "pdf"],
            ),
            "inputs.rst",
            "Inputs",
        ),
    log:
        log_file("plot_inputs"),
    conda:
        "../../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=pinned_config,
        out=lambda wildcards, output: Path(output[0]).parent,
    shell:
        "hepdl plot-inputs --config {params.config:q} --images {input.images:q}"
        " --features {input.features:q} --output-dir {params.out:q} 2> {log:q}"

# Stage 1: event generation with Pythia 8, one job per shard of each sample.


rule generate:
    output:
        LAYOUT.events("{sample}", "{shard}"),
    log:
        log_file("generate/{sample}/{shard}"),
    benchmark:
        benchmark_file("generate/{sample}/{shard}")
    conda:
        "../../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        config=pinned_config,
        sample=sample_spec,
        generator=result_settings(config, "generator"),
        seed=config["seed"],
    shell:
        "hepdl generate --config {params.config:q} --sample {wildcards.sample:q}"
        " --shard {wildcards.shard:q} --output {output:q} 2> {log:q}"


rule xsec:
    input:
        shard_files("events"),
    output:
        LAYOUT.xsec("{sample}"),
    log:
        log_file("xsec/{sample}"),
    conda:
        "../../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        config=pinned_config,
    shell:
        "hepdl xsec --config {params.config:q} --sample {wildcards.sample:q}"
        " --inputs {input:q} --output {output:q} 2> {log:q}"

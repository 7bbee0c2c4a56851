# Stage 2: detector simulation, one job per shard (the fast simulation of the detector card,
# or real Delphes with `detector.backend: delphes`), and validation plots per sample.
from hepdl.detector.card import card_path
from hepdl.detector.validate import PLOTS


rule simulate:
    input:
        events=rules.generate.output[0],
        card=str(card_path(config["detector"]["card"])),
        # The Delphes card is an input only where the delphes backend runs it.
        delphes_card=lambda wildcards: (
            [config["detector"]["delphes_card"]]
            if config["detector"]["backend"] == "delphes" and config["detector"]["delphes_card"]
            else []
        ),
    output:
        LAYOUT.detector("{sample}", "{shard}"),
    log:
        log_file("simulate/{sample}/{shard}"),
    benchmark:
        benchmark_file("simulate/{sample}/{shard}")
    conda:
        "../../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=pinned_config,
        detector=result_settings(config, "detector"),
        seed=config["seed"],
        # Delphes is seeded per chunk of batch_size events: there it changes the result.
        delphes_chunk_events=(
            config["detector"]["batch_size"]
            if config["detector"]["backend"] == "delphes"
            else None
        ),
    shell:
        "hepdl simulate --config {params.config:q} --sample {wildcards.sample:q}"
        " --shard {wildcards.shard:q} --input {input.events:q} --output {output:q} 2> {log:q}"


rule validate_detector:
    input:
        detector=shard_files("detector"),
        events=shard_files("events"),
    output:
        plots=report_pngs(
            [LAYOUT.detector_validation("{sample}") / plot for plot in PLOTS],
            "detector_validation.rst",
            "Detector validation",
            subcategory="{sample}",
        ),
        metrics=LAYOUT.detector_validation_metrics("{sample}"),
    log:
        log_file("validate_detector/{sample}"),
    conda:
        "../../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        config=pinned_config,
        validation_events=config["detector"]["validation_events"],
        folder=lambda wildcards, output: Path(output.metrics).parent,
    shell:
        "hepdl validate-detector --config {params.config:q} --sample {wildcards.sample:q}"
        " --inputs {input.detector:q} --events {input.events:q} --output-dir {params.folder:q}"
        " 2> {log:q}"


rule compare_detectors:
    input:
        events=[
            rules.generate.output[0].format(sample=name, shard=shard)
            for name in SAMPLES
            for shard in range(config["samples"][name]["shards"])
        ],
        card=str(card_path(config["detector"]["card"])),
        delphes_card=(
            [config["detector"]["delphes_card"]] if config["detector"]["delphes_card"] else []
        ),
    output:
        comparison=LAYOUT.detector_comparison() / "comparison.json",
        plots=report_pngs(
            [LAYOUT.detector_comparison() / f"{name}.png" for name in SAMPLES],
            "compare_detectors.rst",
            "Detector validation",
            subcategory="fast simulation vs Delphes",
        ),
    log:
        log_file("compare_detectors/compare_detectors"),
    benchmark:
        benchmark_file("compare_detectors/compare_detectors")
    conda:
        "../../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=pinned_config,
        detector=result_settings(config, "detector"),
        compare=result_settings(config, "compare_detectors"),
        selection=config["selection"],  # the signal region it compares
        seed=config["seed"],
        folder=lambda wildcards, output: Path(output.comparison).parent,
    shell:
        "hepdl compare-detectors --config {params.config:q} --output-dir {params.folder:q}"
        " 2> {log:q}"

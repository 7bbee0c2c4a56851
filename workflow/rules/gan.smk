# Stage 7: GANs on the signal images (one per entry of gan.models: gan, cgan). Each writes
# {results}/gan/{gan}/: the model (best epoch by the KS metric), checkpoints, training log;
# then the generated images, and their validation against the real test split (validation.json,
# plots in the report); and the generator's speed against Pythia + detector simulation
# (speed.json, the report's table).
from hepdl.gan.settings import SPEED_KEYS, gan_models, gan_training_settings

# Checked here, before any job starts: 64 x 64 images, known channels, signal samples.
GAN_MODELS = gan_models(config)


rule train_gan:
    input:
        train=SPLIT_FILES["images"]["train"],
        val=SPLIT_FILES["images"]["val"],
    output:
        LAYOUT.gan_model("{gan}"),
    log:
        log_file("train_gan/{gan}"),
    benchmark:
        benchmark_file("train_gan/{gan}")
    wildcard_constraints:
        gan="|".join(GAN_MODELS) or "no_gan",
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        config=pinned_config,
        # What the GAN learns (hepdl.gan.settings.gan_training_settings): a change retrains it.
        settings=lambda wildcards: gan_training_settings(config, wildcards.gan),
        resume=resume_flag,
    shell:
        "hepdl train gan --config {params.config:q} --model {wildcards.gan:q}"
        " --train {input.train:q} --val {input.val:q} --output {output:q} --no-progress"
        " {params.resume:q} > {log:q} 2>&1"


rule generate_gan:
    input:
        rules.train_gan.output,
    output:
        LAYOUT.gan_generated("{gan}"),
    log:
        log_file("generate_gan/{gan}"),
    benchmark:
        benchmark_file("generate_gan/{gan}")
    wildcard_constraints:
        gan="|".join(GAN_MODELS) or "no_gan",
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        config=pinned_config,
        events=config["gan"]["generate_events"],
        interpolate=config["gan"]["interpolate"],
    shell:
        "hepdl generate-gan --config {params.config:q} --model {wildcards.gan:q}"
        " --checkpoint {input:q} --output {output:q} > {log:q} 2>&1"


rule validate_gan:
    input:
        generated=rules.generate_gan.output,
        real=SPLIT_FILES["images"]["test"],
    output:
        metrics=LAYOUT.gan_validation("{gan}"),
        # Every plot (PNG in the report; PDF beside it), e.g. mj_gev, n_jet, mean_image, and
        # for the cgan mj_per_mass and mj_shift.
        plots=report(
            directory(LAYOUT.gan_plots("{gan}")),
            patterns=["{name}.png"],
            caption="../report/gan_validation.rst",
            category="GAN",
            subcategory="{gan}",
        ),
    log:
        log_file("validate_gan/{gan}"),
    benchmark:
        benchmark_file("validate_gan/{gan}")
    wildcard_constraints:
        gan="|".join(GAN_MODELS) or "no_gan",
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=pinned_config,
        validation={
            key: config["gan"][key]
            for key in ("validation_events", "floor_splits", "flag_ratio", "pixel_threshold_gev")
        },
        output_dir=lambda wildcards, output: Path(output.plots).parent,
    shell:
        "hepdl validate-gan --config {params.config:q} --model {wildcards.gan:q}"
        " --generated {input.generated:q} --real {input.real:q}"
        " --output-dir {params.output_dir:q} > {log:q} 2>&1"


rule gan_speed:
    input:
        rules.train_gan.output,
    output:
        speed=LAYOUT.gan_speed("{gan}"),
        # The generator against Pythia + detector simulation, beside the validation plots.
        table=report(
            str(LAYOUT.gan_speed_table("{gan}")),
            caption="../report/gan_speed.rst",
            category="GAN",
            subcategory="{gan}",
        ),
    log:
        log_file("gan_speed/{gan}"),
    benchmark:
        benchmark_file("gan_speed/{gan}")
    wildcard_constraints:
        gan="|".join(GAN_MODELS) or "no_gan",
    conda:
        "../../envs/gan_speed.yaml"
    # One thread for all three rates: Pythia and the detector simulation use one.
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        config=pinned_config,
        # What the table measures (counts and repeats), not what any GAN learns.
        timing={key: config["gan"][key] for key in SPEED_KEYS},
        output_dir=lambda wildcards, output: Path(output.speed).parent,
    shell:
        "hepdl gan-speed --config {params.config:q} --model {wildcards.gan:q}"
        " --checkpoint {input:q} --output-dir {params.output_dir:q} --threads {threads:q}"
        " > {log:q} 2>&1"

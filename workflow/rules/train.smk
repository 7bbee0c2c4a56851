# Stage 5: the classifiers. CNNs on the images (one per entry of train.cnn.channels), GBDT and
# MLP on the 23 jet variables, and the CNN score combined with the jet variables. Each writes
# {results}/models/{model}/: the model file (the rule's output), checkpoints, logs, config.
from hepdl.train.settings import models as trained_models

# Name -> kind of every model the config trains (checked here, before any job starts).
MODELS = trained_models(config)
CNN_MODELS = [name for name, kind in MODELS.items() if kind == "cnn"]
SPLIT_FILES = {
    kind: {split: f"{RESULTS}/{kind}/{split}.{suffix}" for split in ("train", "val", "test")}
    for kind, suffix in (("images", "h5"), ("features", "parquet"))
}
RESUME = "--resume" if config["train"]["resume"] else ""
# Trainer settings shared by the networks: a change reruns them.
HARDWARE = {key: value for key, value in config["train"].items() if not isinstance(value, dict)}



rule train_cnn:
    input:
        train=SPLIT_FILES["images"]["train"],
        val=SPLIT_FILES["images"]["val"],
    output:
        f"{RESULTS}/models/{{cnn}}/model.ckpt",
    log:
        "logs/train/{cnn}.log",
    benchmark:
        "benchmarks/train/{cnn}.tsv"
    wildcard_constraints:
        cnn="|".join(CNN_MODELS) or "no_cnn",
    params:
        config=EFFECTIVE_CONFIG,
        settings=config["train"]["cnn"],
        hardware=HARDWARE,
        seed=config["seed"],
        resume=RESUME,
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=720,
    shell:
        "hepdl train cnn --config {params.config} --model {wildcards.cnn} --train {input.train}"
        " --val {input.val} --output {output} {params.resume} > {log} 2>&1"


rule train_mlp:
    input:
        train=SPLIT_FILES["features"]["train"],
        val=SPLIT_FILES["features"]["val"],
    output:
        f"{RESULTS}/models/mlp/model.ckpt",
    log:
        "logs/train/mlp.log",
    benchmark:
        "benchmarks/train/mlp.tsv"
    params:
        config=EFFECTIVE_CONFIG,
        settings=config["train"]["mlp"],
        hardware=HARDWARE,
        seed=config["seed"],
        resume=RESUME,
    threads: config["train"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "hepdl train mlp --config {params.config} --train {input.train} --val {input.val}"
        " --output {output} --no-progress {params.resume} > {log} 2>&1"


rule train_gbdt:
    input:
        train=SPLIT_FILES["features"]["train"],
        val=SPLIT_FILES["features"]["val"],
    output:
        f"{RESULTS}/models/gbdt/model.json",
    log:
        "logs/train/gbdt.log",
    benchmark:
        "benchmarks/train/gbdt.tsv"
    params:
        config=EFFECTIVE_CONFIG,
        settings=config["train"]["gbdt"],
        samples=config["train"]["samples"],
        weights=config["train"]["background_weights"],
        seed=config["seed"],
    threads: config["train"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "hepdl train gbdt --config {params.config} --train {input.train} --val {input.val}"
        " --output {output} --threads {threads} > {log} 2>&1"


rule train_cnn_jets:
    input:
        cnn=f"{RESULTS}/models/{config['train']['cnn_jets']['cnn']}/model.ckpt",
        images=[SPLIT_FILES["images"]["train"], SPLIT_FILES["images"]["val"]],
        features=[SPLIT_FILES["features"]["train"], SPLIT_FILES["features"]["val"]],
    output:
        f"{RESULTS}/models/cnn_jets/model.ckpt",
    log:
        "logs/train/cnn_jets.log",
    benchmark:
        "benchmarks/train/cnn_jets.tsv"
    params:
        config=EFFECTIVE_CONFIG,
        settings=config["train"]["cnn_jets"],
        hardware=HARDWARE,
        seed=config["seed"],
        resume=RESUME,
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "hepdl train cnn_jets --config {params.config} --cnn-model {input.cnn}"
        " --images {input.images} --features {input.features} --output {output}"
        " --no-progress {params.resume} > {log} 2>&1"

# Stage 5: the classifiers. CNNs on the images (one per entry of train.cnn.channels), GBDT and
# MLP on the 23 jet variables, the CNN score combined with the jet variables, and the graph
# network on the event graphs. Each writes {results}/models/{model}/: the model file (the rule's
# output), checkpoints, logs, config; the networks also their training cost (costs.json).
from hepdl.train.settings import HPO_MODEL, base_model, cnn_of_cnn_jets, models_pattern
from hepdl.train.settings import models as trained_models

# Name -> kind of every model the config trains, seed replicas included (train.seeds; checked
# here, before any job starts).
MODELS = trained_models(config)
# The hand-set ones: cnn_hpo, a CNN with the search's best settings, has its own rule (hpo.smk).
HAND_SET = {name: kind for name, kind in MODELS.items() if base_model(name) != HPO_MODEL}

SPLIT_FILES = {kind: LAYOUT.splits(kind) for kind in ("images", "features", "graphs")}


rule train_cnn:
    input:
        train=SPLIT_FILES["images"]["train"],
        val=SPLIT_FILES["images"]["val"],
    output:
        model=LAYOUT.model_file("{cnn}", "cnn"),
        costs=LAYOUT.costs("{cnn}"),
    log:
        log_file("train/{cnn}"),
    benchmark:
        benchmark_file("train/{cnn}")
    wildcard_constraints:
        cnn=models_pattern(HAND_SET, "cnn"),
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        config=pinned_config,
        settings=settings_of("cnn"),
        resume=resume_flag,
        launch=launcher,
        layout=layout,
    shell:
        "{params.launch:q} hepdl train cnn --config {params.config:q}"
        " --model {wildcards.cnn:q} --train {input.train:q} --val {input.val:q}"
        " --output {output.model:q} {params.layout:q} {params.resume:q} > {log:q} 2>&1"


rule train_mlp:
    input:
        train=SPLIT_FILES["features"]["train"],
        val=SPLIT_FILES["features"]["val"],
    output:
        model=LAYOUT.model_file("{mlp}", "mlp"),
        costs=LAYOUT.costs("{mlp}"),
    log:
        log_file("train/{mlp}"),
    benchmark:
        benchmark_file("train/{mlp}")
    wildcard_constraints:
        mlp=models_pattern(MODELS, "mlp"),
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=pinned_config,
        settings=settings_of("mlp"),
        resume=resume_flag,
        launch=launcher,
        layout=layout,
    shell:
        "{params.launch:q} hepdl train mlp --config {params.config:q} --model {wildcards.mlp:q}"
        " --train {input.train:q}"
        " --val {input.val:q} --output {output.model:q} --no-progress {params.layout:q}"
        " {params.resume:q} > {log:q} 2>&1"


rule train_gbdt:
    input:
        train=SPLIT_FILES["features"]["train"],
        val=SPLIT_FILES["features"]["val"],
    output:
        LAYOUT.model_file("{gbdt}", "gbdt"),
    log:
        log_file("train/{gbdt}"),
    benchmark:
        benchmark_file("train/{gbdt}")
    wildcard_constraints:
        gbdt=models_pattern(MODELS, "gbdt"),
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=pinned_config,
        settings=settings_of("gbdt"),
    shell:
        "hepdl train gbdt --config {params.config:q} --model {wildcards.gbdt:q}"
        " --train {input.train:q} --val {input.val:q}"
        " --output {output:q} --threads {threads:q} > {log:q} 2>&1"


rule train_cnn_jets:
    input:
        cnn=lambda wildcards: LAYOUT.model_file(cnn_of_cnn_jets(config, wildcards.cnn_jets), "cnn"),
        images=[SPLIT_FILES["images"]["train"], SPLIT_FILES["images"]["val"]],
        features=[SPLIT_FILES["features"]["train"], SPLIT_FILES["features"]["val"]],
    output:
        model=LAYOUT.model_file("{cnn_jets}", "cnn_jets"),
        costs=LAYOUT.costs("{cnn_jets}"),
    log:
        log_file("train/{cnn_jets}"),
    benchmark:
        benchmark_file("train/{cnn_jets}")
    wildcard_constraints:
        cnn_jets=models_pattern(MODELS, "cnn_jets"),
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        config=pinned_config,
        settings=settings_of("cnn_jets"),
        resume=resume_flag,
        launch=launcher,
        layout=layout,
    shell:
        "{params.launch:q} hepdl train cnn_jets --config {params.config:q}"
        " --model {wildcards.cnn_jets:q} --cnn-model-file {input.cnn:q}"
        " --images {input.images:q} --features {input.features:q} --output {output.model:q}"
        " --no-progress {params.layout:q} {params.resume:q} > {log:q} 2>&1"


rule train_gnn:
    input:
        train=SPLIT_FILES["graphs"]["train"],
        val=SPLIT_FILES["graphs"]["val"],
    output:
        model=LAYOUT.model_file("{gnn}", "gnn"),
        costs=LAYOUT.costs("{gnn}"),
    log:
        log_file("train/{gnn}"),
    benchmark:
        benchmark_file("train/{gnn}")
    wildcard_constraints:
        gnn=models_pattern(MODELS, "gnn"),
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        config=pinned_config,
        settings=settings_of("gnn"),
        resume=resume_flag,
        launch=launcher,
        layout=layout,
    shell:
        "{params.launch:q} hepdl train gnn --config {params.config:q} --model {wildcards.gnn:q}"
        " --train {input.train:q}"
        " --val {input.val:q} --output {output.model:q} --no-progress {params.layout:q}"
        " {params.resume:q} > {log:q} 2>&1"

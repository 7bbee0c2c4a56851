#!/usr/bin/env bash
# The GPU checks the open issues ask for, as one run on a GPU node (16 cores, one GPU):
#   1. the CNN training step: fp32, bf16-mixed and bf16-mixed + channels_last (#5),
#   2. the GAN generator as a fast simulation against Pythia + the fast simulation (#6),
#   3. the GAN study (config/gan.yaml): three signal mass points, gan and cgan at published
#      width, validated against the real-vs-real noise floor (#6),
#   4. the unconditional GAN again with gan.energy_summary, on the same images (#6).
# Each step's output goes to OUT_DIR (default gpu-checks/); a failing step does not stop the
# later ones, and the exit status says whether all passed.
#
# Usage: bash bench/gpu_checks.sh [OUT_DIR] [--quick]
#   --quick: tiny sizes (about 4 min on 2 CPU cores), to check the script before a GPU run.
# Needs hepdl and Snakemake installed. On a machine without internet whose Python has torch but
# not the rest, carry cp312 wheels of the missing packages (Snakemake's ILP solver, pulp, is not
# needed: the greedy scheduler is used) and install them and hepdl first:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site WHEELS/*.whl &&
#   export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH &&
#   python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site . &&
#   bash bench/gpu_checks.sh OUT_DIR
set -uo pipefail

out=${1:-gpu-checks}
quick=${2:-}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
failed=0

step() {  # step NAME COMMAND...: run, log to OUT_DIR/NAME.log, remember a failure
  local name=$1
  shift
  echo "== $name: $*"
  local start=$SECONDS
  if "$@" >"$out/$name.log" 2>&1; then
    echo "   ok in $((SECONDS - start)) s"
    grep -Ev '^#|^ +[|*]|^ *$' "$out/$name.log" | tail -n 6  # the numbers, not Pythia's banners
  else
    echo "   FAILED ($?) in $((SECONDS - start)) s; tail of $out/$name.log:"
    tail -n 20 "$out/$name.log"
    failed=1
  fi
}

if [[ $quick == --quick ]]; then
  device=cpu
  cnn=(--steps 2 --warmup 1 --batch 32 --workers 0)
  gan=(--events 20 --images 64 --batch-size 32 --filters 8 --repeat 1)
  # config/gan.yaml shrunk: every sample 150 events in one shard, GANs of a few tiny steps
  config=$out/gan-quick.yaml
  python3 - "$config" <<'PY'
import sys, yaml
config = yaml.safe_load(open("config/gan.yaml"))
config["results"] = "results-gan-quick"
for spec in config["samples"].values():
    spec.update(events=150, shards=1)
config["train"].update(threads=1, num_workers=0)
config["gan"].update(max_epochs=1, limit_train_batches=2, generator_filters=4,
                     discriminator_filters=4, batch_size=16, select_events=10,
                     generate_events=40, validation_events=20)
yaml.safe_dump(config, open(sys.argv[1], "w"))
PY
  cores=2
else
  device=cuda
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
  cnn=(--published --steps 20 --warmup 5 --workers 8)
  gan=(--images 65536 --batch-size 4096)
  config=config/gan.yaml
  cores=16
fi

step cnn_fp32 python3 bench/train.py --device "$device" "${cnn[@]}"
step cnn_bf16 python3 bench/train.py --device "$device" "${cnn[@]}" --precision bf16-mixed
step cnn_bf16_nhwc python3 bench/train.py --device "$device" "${cnn[@]}" --precision bf16-mixed \
  --channels-last
step gan_speed python3 bench/gan.py --device "$device" "${gan[@]}"
step gan_study python3 -m snakemake --configfile "$config" --cores "$cores" --scheduler greedy \
  --until validate_gan
results=$(python3 -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['results'])" "$config")

energy_config=$out/gan-energy-summary.yaml
python3 - "$config" "$energy_config" <<'PY'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
config["gan"]["energy_summary"] = True
yaml.safe_dump(config, open(sys.argv[2], "w"))
PY
energy=$results/gan/gan-energy-summary
step gan_energy_summary bash -c "set -e
  hepdl train gan --config $energy_config --model gan --output $energy/model.ckpt --no-progress
  hepdl generate-gan --config $energy_config --model gan --checkpoint $energy/model.ckpt \
    --output $energy/generated.h5
  hepdl validate-gan --config $energy_config --model gan --generated $energy/generated.h5 \
    --output-dir $energy"
for model in gan cgan gan-energy-summary; do
  if [[ -f $results/gan/$model/validation.json ]]; then
    cp "$results/gan/$model/validation.json" "$out/validation-$model.json"
  fi
done
exit $failed

#!/usr/bin/env bash
# The GPU checks the open issues ask for, as one run on a GPU node (16 cores, one GPU):
#   1. the CNN training step: fp32, bf16-mixed and bf16-mixed + channels_last (#5),
#   2. the GAN generator as a fast simulation against Pythia + the fast simulation (#6),
#   3. the GAN study (config/gan-gpu.yaml): three signal mass points, gan and cgan at published
#      width, validated against the real-vs-real noise floor (#6),
#   4. the unconditional GAN again with gan.energy_summary, on the same images (#6).
# OUT_DIR receives four logs (cnn.log, gan_speed.log, gan_study.log, gan_energy_summary.log) and
# validation.json (every model's metrics); each step also prints its numbers. A failing or
# timed-out step does not stop the later ones; the exit status says whether all passed.
#
# Usage: bash bench/gpu_checks.sh [--quick] [OUT_DIR]     (OUT_DIR default: gpu-checks)
#   --quick: tiny sizes (about 4 min on 2 CPU cores), to check the script before a GPU run.
# Needs hepdl and Snakemake installed. On a machine without internet whose Python has torch but
# not the rest, carry cp312 wheels of the missing packages (Snakemake's ILP solver, pulp, is not
# needed: the greedy scheduler is used) and install them and hepdl first:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site WHEELS/*.whl &&
#   export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH &&
#   python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site . &&
#   bash bench/gpu_checks.sh OUT_DIR
set -uo pipefail

quick=false
out=gpu-checks
for arg in "$@"; do
  case $arg in
    --quick) quick=true ;;
    -*) echo "unknown option $arg; usage: bash bench/gpu_checks.sh [--quick] [OUT_DIR]" >&2; exit 2 ;;
    *) out=$arg ;;
  esac
done
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "$0")/.." || exit 2  # the repository root: configs, bench/ and the Snakefile
scratch=$(mktemp -d) || exit 2
export PYTHONUNBUFFERED=1
failed=0

step() {  # step NAME SECONDS COMMAND...: run under a time limit, log to OUT_DIR/NAME.log
  local name=$1 limit=$2
  shift 2
  echo "== $name: $*"
  local start=$SECONDS status
  timeout "$limit" "$@" >>"$out/$name.log" 2>&1
  status=$?
  if ((status == 0)); then
    echo "   ok in $((SECONDS - start)) s"
    grep -Ev '^#|^ +[|*]|^ *$' "$out/$name.log" | tail -n 6  # the numbers, not Pythia's banners
  else
    echo "   FAILED (status $status$( ((status == 124)) && echo ", over ${limit} s")) in $((SECONDS - start)) s:"
    tail -n 20 "$out/$name.log"
    failed=1
  fi
  return "$status"
}

rm -f "$out"/{cnn,gan_speed,gan_study,gan_energy_summary}.log "$out/validation.json"
if $quick; then
  device=cpu
  cnn=(--steps 2 --warmup 1 --batch 32 --workers 0)
  gan=(--events 20 --images 64 --batch-size 32 --filters 8 --repeat 1)
  cores=2
else
  device=cuda
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/cnn.log" ||
    failed=1
  cnn=(--published --steps 20 --warmup 5 --workers 8)
  gan=(--images 65536 --batch-size 4096)
  cores=16
fi

# The study's config, and the same with the energy summary. --quick shrinks config/gan-gpu.yaml:
# every sample 150 events in one shard, GANs of a few tiny steps.
config=$scratch/gan.yaml
energy_config=$scratch/gan-energy-summary.yaml
python3 - "$quick" "$config" "$energy_config" <<'PY' || exit 2
import sys, yaml
quick, study, energy = sys.argv[1] == "true", sys.argv[2], sys.argv[3]
config = yaml.safe_load(open("config/gan-gpu.yaml"))
if quick:
    config["results"] = "results-gan-quick"
    for spec in config["samples"].values():
        spec.update(events=150, shards=1)
    config["train"].update(threads=1, num_workers=0)
    config["gan"].update(max_epochs=1, limit_train_batches=2, generator_filters=4,
                         discriminator_filters=4, batch_size=16, select_events=10,
                         generate_events=40, validation_events=20)
yaml.safe_dump(config, open(study, "w"))
config["gan"]["energy_summary"] = True
yaml.safe_dump(config, open(energy, "w"))
PY
results=$(python3 -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['results'])" \
  "$config") || exit 2
energy=$results/gan/gan-energy-summary

energy_summary_gan() {
  hepdl train gan --config "$energy_config" --model gan --output "$energy/model.ckpt" \
    --no-progress &&
    hepdl generate-gan --config "$energy_config" --model gan --checkpoint "$energy/model.ckpt" \
      --output "$energy/generated.h5" &&
    hepdl validate-gan --config "$energy_config" --model gan --generated "$energy/generated.h5" \
      --output-dir "$energy"
}

step cnn 240 python3 bench/train.py --device "$device" "${cnn[@]}"
step cnn 240 python3 bench/train.py --device "$device" "${cnn[@]}" --precision bf16-mixed
step cnn 240 python3 bench/train.py --device "$device" "${cnn[@]}" --precision bf16-mixed \
  --channels-last
step gan_speed 240 python3 bench/gan.py --device "$device" "${gan[@]}"
rm -f "$results"/gan/*/validation.json
step gan_study 900 python3 -m snakemake --configfile "$config" --cores "$cores" \
  --scheduler greedy --show-failed-logs --until validate_gan
export energy_config energy
export -f energy_summary_gan  # timeout runs programs, not functions: run it in a child bash
step gan_energy_summary 600 bash -c energy_summary_gan

# One file of every model's metrics: what came back is what this run produced.
python3 - "$out/validation.json" "$results"/gan/*/validation.json <<'PY' || failed=1
import json, pathlib, sys
files = [pathlib.Path(name) for name in sys.argv[2:] if pathlib.Path(name).is_file()]
merged = {path.parent.name: json.loads(path.read_text()) for path in files}
pathlib.Path(sys.argv[1]).write_text(json.dumps(merged, indent=1))
print(f"validation.json: {sorted(merged)}")
PY
rm -rf "$scratch"
exit $failed

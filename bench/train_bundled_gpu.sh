#!/usr/bin/env bash
# One GPU lease of the bundled model's training (checkpoints/README.md), in ONE command of under 10 minutes:
#
#   bash bench/train_bundled_gpu.sh        # on the lent machine, from the repository root, with $OUT set
#
# 1. synthesises LEASE_COUNT heads at 256x256 on every visible GPU (batches in turn, the same images as on
#    one), with the seed = 1000 + kimg trained so far (every lease sees fresh heads of the same
#    distribution: no dataset for the discriminator to memorise);
# 2. resumes from the newest compact snapshot in LEASE_SNAPSHOTS (checkpoints/training/), or starts fresh;
# 3. trains the medium preset on every visible GPU (--gpus N) with --max-minutes set so that the whole
#    command ends LEASE_RESERVE seconds before LEASE_SECONDS;
# 4. writes to $OUT: the compact snapshot's parts (each < 16 MiB), the run's log.jsonl, the last progress
#    grid (grid-N.png: seeds x yaw 0/90/180/270) and lease.txt (commands, timings, tick table, and the
#    head/background diversity of G and G_ema beside the data's: bench/diversity.py).
# The caller copies $OUT/compact-*.safetensors into LEASE_SNAPSHOTS (replacing the previous parts) for the next lease.
#
# Settings (environment): LEASE_SECONDS (560), LEASE_RESERVE (90: trainer start, last snapshot, compaction),
# LEASE_COUNT (12000 images), LEASE_PRESET (medium), LEASE_RESOLUTION (256), LEASE_DEVICE (cuda),
# LEASE_GPUS (all visible), LEASE_KIMG (the preset's length), LEASE_WORK (/tmp/lease: data and run folder),
# LEASE_SNAPSHOTS (checkpoints/training), LEASE_TRAIN_ARGS (more `panohead train` options).
set -euo pipefail
start=$SECONDS
out=${OUT:?set OUT to the folder whose files come back}
budget=${LEASE_SECONDS:-560}
reserve=${LEASE_RESERVE:-90}
count=${LEASE_COUNT:-12000}
preset=${LEASE_PRESET:-medium}
resolution=${LEASE_RESOLUTION:-256}
device=${LEASE_DEVICE:-cuda}
work=${LEASE_WORK:-/tmp/lease}
snapshots=${LEASE_SNAPSHOTS:-checkpoints/training}
cli="python3 -m panohead.cli"  # works from a checkout with no console scripts installed
export PYTHONUNBUFFERED=1
mkdir -p "$out" "$work"
summary=$out/lease.txt
say() { echo "$*" | tee -a "$summary"; }

if [ "$device" = cuda ]; then
  gpus=${LEASE_GPUS:-$(python3 -c 'import torch; print(torch.cuda.device_count())')}
  say "GPUs: $(nvidia-smi --query-gpu=name --format=csv,noheader | paste -sd, -) (training on $gpus)"
else
  gpus=${LEASE_GPUS:-1}  # CPU processes (gloo): how the script's multi-GPU path is tested without a GPU
fi
head=$(ls "$snapshots"/compact-*-part1of*.safetensors 2>/dev/null | sort | tail -n 1 || true)
if [ -n "$head" ]; then
  nimg=$(basename "$head" | sed -E 's/compact-0*([0-9]+)-part.*/\1/')
  resume=(--resume "$head")
  say "resuming from $head ($nimg images seen)"
else
  nimg=0
  resume=()
  say "no compact snapshot in $snapshots: fresh start"
fi
seed=$((1000 + nimg / 1000))  # never 1, bench/inversion_study.py's held-out heads

data=$work/data-$seed
synth=($cli dataset synth --out "$data" --count "$count" --resolution "$resolution" --yaw uniform --seed "$seed"
       --device "$device" --overwrite)
[ "$device" != cuda ] || synth+=(--gpus "$gpus")
say "\$ ${synth[*]}"
synth_start=$SECONDS
"${synth[@]}" 2>&1 | tr '\r' '\n' | tail -n 1 | tee -a "$summary"
say "dataset: $count images in $((SECONDS - synth_start)) s"

run=$work/run
minutes=$(python3 -c "print(round(max($budget - ($SECONDS - $start) - $reserve, 30) / 60, 2))")
train=($cli train --data "$data" --outdir "$run" --preset "$preset" --device "$device" --gpus "$gpus"
       --max-minutes "$minutes" --keep-snapshots 2 ${LEASE_KIMG:+--kimg "$LEASE_KIMG"} "${resume[@]}")
# shellcheck disable=SC2206  # extra options are words
train+=(${LEASE_TRAIN_ARGS:-})
say "\$ ${train[*]}"
# Hard stop 20 s before the budget (the time limit above normally ends it long before): whatever periodic
# snapshot exists is then compacted.
hard=$((budget - (SECONDS - start) - 20))
status=0
timeout --signal=KILL "$hard" "${train[@]}" > "$work/train.out" 2>&1 || status=$?
tr '\r' '\n' < "$work/train.out" | grep -v '^train: ' | tail -n 5 | tee -a "$summary"
say "training exit status $status after $((SECONDS - start)) s of the lease"

last=$(ls "$run"/snapshot-*.safetensors 2>/dev/null | sort | tail -n 1 || true)
if [ -z "$last" ]; then
  say "no snapshot was written: nothing to bring back"
  exit 1
fi
$cli train compact "$last" "$out" | tee -a "$summary"
grid=$(ls "$run"/grid-*.png 2>/dev/null | grep -v -- -mask | sort | tail -n 1 || true)
[ -z "$grid" ] || cp "$grid" "$out/"
cp "$run/log.jsonl" "$out/log.jsonl"
# Has the run collapsed to one head (issue 19)? Head against background spread of G and G_ema beside the data's.
head_part=$(ls "$out"/compact-*-part1of*.safetensors | head -n 1)
say "\$ python3 bench/diversity.py --device $device $head_part"
timeout 90 python3 bench/diversity.py --device "$device" "$head_part" 2>&1 | tee -a "$summary" ||
  say "diversity check failed (see above); the snapshot is unaffected"
python3 - "$run/log.jsonl" <<'EOF' | tee -a "$summary"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
columns = ("kimg", "images_per_s", "loss_G", "loss_D", "r1_image", "camera_offset", "blur_sigma")
print(" ".join(f"{name:>13}" for name in columns))
for r in records:
    if r["event"] == "tick":  # a value is absent (phase did not run) or null (not finite): "-"
        print(" ".join(f"{r[name]:13.4g}" if r.get(name) is not None else f"{'-':>13}" for name in columns))
    elif r["event"] in ("start", "startup", "stop", "error"):
        print(r["event"], {k: v for k, v in r.items() if k not in ("event", "time")})
EOF
say "lease done in $((SECONDS - start)) s; files in $out: $(ls "$out" | paste -sd' ' -)"
exit "$status"

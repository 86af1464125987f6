#!/usr/bin/env bash
# One GPU lease of the bundled model's inversion encoder, in ONE command of under 9 minutes:
#
#   bash bench/train_encoder_gpu.sh        # on the lent machine, from the repository root, with $OUT set
#
# 1. resumes from the newest compact snapshot in ENCODER_SNAPSHOTS (checkpoints/encoder_training/), or starts fresh;
# 2. trains `panohead train-encoder` for the bundled model (or ENCODER_MODEL) on every visible GPU with
#    --max-minutes set so that training ends ENCODER_RESERVE seconds before ENCODER_SECONDS;
# 3. measures the encoder on 8 held-out heads (python3 -m bench.encoder_study --methods encoder, a few seconds);
# 4. writes to $OUT: encoder_small.safetensors (the encoder, float16, ~9.4 MiB: copy it to checkpoints/, where
#    `panohead invert` and the app pick it up for the bundled model), the compact snapshot's parts (each
#    < 16 MiB, ~28 MiB in all: copy them into ENCODER_SNAPSHOTS for the next lease), log.jsonl and lease.txt.
#
# Settings (environment): ENCODER_SECONDS (530), ENCODER_RESERVE (60: start-up, last snapshot, study),
# ENCODER_BATCH (32), ENCODER_STEPS (the run's length, 200000), ENCODER_LR (2e-4), ENCODER_MODEL (bundled),
# ENCODER_DEVICE (cuda), ENCODER_GPUS (1), ENCODER_WORK (/tmp/encoder), ENCODER_SNAPSHOTS (checkpoints/encoder_training).
set -euo pipefail
start=$SECONDS
out=${OUT:?set OUT to the folder whose files come back}
budget=${ENCODER_SECONDS:-530}
reserve=${ENCODER_RESERVE:-60}
device=${ENCODER_DEVICE:-cuda}
work=${ENCODER_WORK:-/tmp/encoder}
snapshots=${ENCODER_SNAPSHOTS:-checkpoints/encoder_training}
model=(${ENCODER_MODEL:+--checkpoint "$ENCODER_MODEL"})
cli="python3 -m panohead.cli"  # works from a checkout with no console scripts installed
export PYTHONUNBUFFERED=1
mkdir -p "$out" "$work/run"
summary=$out/lease.txt
say() { echo "$*" | tee -a "$summary"; }
[ "$device" != cuda ] || say "GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader | paste -sd, -)"

head=$(ls "$snapshots"/compact-*-part1of*.safetensors 2>/dev/null | sort | tail -n 1 || true)
if [ -n "$head" ]; then
  cp "$snapshots"/compact-*.safetensors "$work/run/"
  resume=(--resume "$work/run/$(basename "$head")")
  say "resuming from $head"
else
  resume=()
  say "no compact snapshot in $snapshots: fresh start"
fi

minutes=$(python3 -c "print(round(max($budget - ($SECONDS - $start) - $reserve, 30) / 60, 2))")
train=($cli train-encoder "${model[@]}" --outdir "$work/run" --device "$device" --gpus "${ENCODER_GPUS:-1}"
       --batch "${ENCODER_BATCH:-32}" --steps "${ENCODER_STEPS:-200000}" --lr "${ENCODER_LR:-2e-4}"
       --max-minutes "$minutes" --snapshot-every 1000 --log-every 100 "${resume[@]}")
say "\$ ${train[*]}"
status=0
timeout --signal=KILL $((budget - (SECONDS - start) - 15)) "${train[@]}" > "$work/train.out" 2>&1 || status=$?
tail -n 3 "$work/train.out" | tee -a "$summary"
say "training exit status $status after $((SECONDS - start)) s"

if [ ! -f "$work/run/encoder.safetensors" ]; then
  say "no encoder was written (see $work/train.out): nothing to bring back"
  exit 1
fi
cp "$work/run/encoder.safetensors" "$out/encoder_small.safetensors"
newest=$(ls "$work/run"/compact-*-part1of*.safetensors | sort | tail -n 1)
cp "${newest%part1of*}"part*.safetensors "$out/"
cp "$work/run/log.jsonl" "$out/log.jsonl"
python3 - "$work/run/log.jsonl" <<'EOF' | tee -a "$summary"
import json, sys
for r in map(json.loads, open(sys.argv[1])):
    if r["event"] == "tick":
        print(f"step {r['step']:6d}  loss {r['loss']:.4f}  l2 {r['l2']:.4f}  latent {r['latent']:.4f}  {r['seconds_per_step']:.3f} s/step")
    elif r["event"] in ("start", "stop"):
        print(r["event"], {k: v for k, v in r.items() if k not in ("event", "time")})
EOF
study=(python3 -m bench.encoder_study "${model[@]}" --encoder "$out/encoder_small.safetensors" --methods encoder
       --heads 8 --device "$device")
say "\$ ${study[*]}"
timeout $((budget - (SECONDS - start) > 20 ? budget - (SECONDS - start) : 20)) "${study[@]}" 2>/dev/null | tee -a "$summary" || say "study stopped by the time limit"
say "lease done in $((SECONDS - start)) s; files in $out: $(ls "$out" | paste -sd' ' -)"

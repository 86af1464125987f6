#!/usr/bin/env bash
# The ablation of docs/ablation.md on one GPU, in phases that each fit a short remote command:
#
#   bash bench/ablation_gpu.sh start MINUTES   # synthesise the jittered dataset, start the four runs detached
#   bash bench/ablation_gpu.sh status          # last log line of every run
#   bash bench/ablation_gpu.sh report          # wait for the runs to stop, then measure them -> docs/ablation.md
#
# The four small-preset runs train side by side on one GPU (the small model is launch-bound, so
# sharing costs each run far less than 4x) and stop themselves after MINUTES with a snapshot.
# ABLATION_DIR (default runs/ablation) holds the data and the runs.
set -euo pipefail
root=${ABLATION_DIR:-runs/ablation}
data=$root/data
cli="python -m panohead.cli"  # works from a checkout with no console scripts installed
data_command="$cli dataset synth --out $data --count 10000 --resolution 128 --yaw ffhq --jitter 0.25 --seed 1 --device cuda"
declare -A variants=(
  [trigrid]=""
  [triplane]="--grid-depth 1"
  [no-mask]="--no-mask-channel"
  [no-adaptation]="--no-self-adaptation"
)

case "${1:-}" in
  start)
    minutes=${2:?usage: ablation_gpu.sh start MINUTES}
    mkdir -p "$root"
    [ -d "$data" ] || $data_command
    for name in "${!variants[@]}"; do
      # shellcheck disable=SC2086  # the variant's flags are words
      setsid nohup $cli train --data "$data" --preset small --outdir "$root/$name" --kimg 200 \
        --max-minutes "$minutes" --workers 3 --snap-kimg 10 --resume auto ${variants[$name]} \
        > "$root/$name.out" 2>&1 < /dev/null &
    done
    sleep 60
    "$0" status
    ;;
  status)
    for name in "${!variants[@]}"; do
      echo "$name: $(tail -c 300 "$root/$name.out" | tr '\r' '\n' | grep -v '^$' | tail -1)"
    done
    ;;
  report)
    while pgrep -f "panohead.cli train --data $data" > /dev/null; do sleep 10; done
    runs=()
    for name in trigrid triplane no-mask no-adaptation; do runs+=("$root/$name"); done
    python bench/ablation.py --data "$data" --data-command "$data_command" --runs "${runs[@]}" \
      --out docs/ablation.md --device cuda
    ;;
  *)
    sed -n '2,10p' "$0"
    exit 2
    ;;
esac

#!/usr/bin/env bash
# The measurements issue 18 still owes, in ONE device command of under 10 minutes (docs/performance.md,
# "Second lease"), from the repository root with $OUT set:
#
#   bash bench/issue18_gpu.sh                       # tests and medium (about 7 minutes)
#   ISSUE18_PARTS="r1 step" bash bench/issue18_gpu.sh   # the paper preset's R1 rows and training step
#
# Parts: tests (the GPU tests), medium (the medium preset's training rate at 32 and 64 images per pass, then
# a profile at 16), r1 (the paper discriminator's R1 rows, without cuDNN autotuning, then the reference row
# with it), step (a paper training step). Each bench_train run
# first spends 20-40 s (medium) or longer (paper) autotuning cuDNN, hence the limits. The lent machine has
# no trimesh, PyMCubes, xatlas or fast_simplification, which the viewer tests import: wheels found in .whl/
# (device README, "Notes") are installed first. Everything printed also goes to $OUT/issue18.log.
set -uo pipefail
out=${OUT:?set OUT to the folder whose files come back}
parts=${ISSUE18_PARTS:-tests medium}
budget=${ISSUE18_SECONDS:-570}  # nothing starts later than this, and each part is cut there
export PYTHONUNBUFFERED=1
log=$out/issue18.log
start=$SECONDS
say() { echo "=== [$((SECONDS - start)) s] $*" | tee -a "$log"; }
part() {  # part LIMIT COMMAND...: run it for at most LIMIT seconds (less when the budget runs out)
  local limit=$1 left=$((budget - (SECONDS - start)))
  shift
  if [ "$left" -lt 20 ]; then say "skipped, no time left: $*"; return; fi
  [ "$limit" -gt "$left" ] && limit=$left
  say "\$ $*"
  timeout "$limit" "$@" 2>&1 | tr '\r' '\n' | grep -v -E '(timed|profiled) step [0-9]+/|it/s\]$' | tee -a "$log"
  say "exit status ${PIPESTATUS[0]}"
}
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,clocks.sm,memory.used --format=csv | tee -a "$log"
train="python3 bench/bench_train.py --device cuda"
for name in $parts; do
  case $name in
    tests)
      part 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/engine/test_inversion_gpu.py tests/engine/test_speed_paths.py \
        tests/viewer/test_viewer_graphs.py ;;
    medium)
      part 40 python3 -m panohead.cli dataset synth --out /tmp/m256 --count 512 --resolution 256 --yaw uniform \
        --seed 1000 --device cuda --overwrite
      medium="$train --preset medium --no-passes --data /tmp/m256 --steps 10 --warmup 3 --plain"
      part 80 $medium --batch 32 --batch-gpu 32
      part 90 $medium --batch 64 --batch-gpu 64
      part 100 $medium --batch 32 --batch-gpu 16 --profile ;;
    r1)
      part 120 $train --preset paper --no-compile --pass-repeats 5 --variants "no autotune"
      part 200 $train --preset paper --no-compile --pass-repeats 5 --variants "R1 (double backward): fp32 + CL (ref" ;;
    step)
      part 30 python3 -m panohead.cli dataset synth --out /tmp/s512 --count 64 --resolution 512 --device cuda --overwrite
      part 250 $train --preset paper --no-passes --data /tmp/s512 --batch 32 --batch-gpu 8 --steps 6 --warmup 1 ;;
    *) say "unknown part $name (tests, medium, r1, step)" ;;
  esac
done
say "done"

# Entry points for a fresh Linux machine (see README):
#   make run        install everything and open the visualizer on the bundled checkpoint
#   make test       install everything (plus Xvfb/Mesa for the GUI tests) and run the whole test suite
#   make test-fast  the engine's tests only (no window, no slow tests): a quick check while working
#   make lint       ruff (lint and format) and pyright, configured in pyproject.toml
PYTHON ?= python3
PIP := $(PYTHON) -m pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
GUI_PACKAGES := xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libgl1
TORCH ?= torch==2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: install torch system-deps run test test-fast lint bench retrain-bundled

# An importable PyTorch (a CUDA build, say) is kept as it is, so re-running is quick.
install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(MAKE) --no-print-directory torch PYTHON="$(PYTHON)"
	$(PIP) install -q --no-build-isolation -e ".[test,lint]" 2>/dev/null || $(PIP) install -q -e ".[test,lint]"

# Without an NVIDIA GPU, PyTorch's CPU-only build (183 MB for 2.13.0; the default Linux wheel pulls several GB
# of CUDA libraries) from PyTorch's CPU index; where that index can't be reached, or with a GPU, the plain wheel.
torch:
	@if ! command -v nvidia-smi >/dev/null 2>&1 && \
	    $(PIP) install -q --retries 1 --timeout 20 --index-url $(TORCH_CPU_INDEX) "$(TORCH)" 2>/dev/null; then :; \
	else $(PIP) install -q "$(TORCH)"; fi

# Xvfb and Mesa's software OpenGL, so the GUI tests open real windows without a display or GPU.
system-deps:
	@command -v Xvfb >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so -o -e /usr/lib/x86_64-linux-gnu/dri/llvmpipe_dri.so -o -e /usr/lib/x86_64-linux-gnu/dri/kms_swrast_dri.so ] || \
	  ( $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(GUI_PACKAGES) >/dev/null )

run: install
	$(PYTHON) visualizer.py

test: install system-deps
	$(PYTHON) -m pytest -q

test-fast: install
	$(PYTHON) -m pytest -q -m "not slow" tests/engine

# pyright checks against $(PYTHON)'s packages (torch, numpy, ...), so it runs after the install. It prints
# errors only; `python -m pyright` alone also lists the warnings still to fix (see pyproject.toml).
lint: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pyright --level error --pythonpath "$$($(PYTHON) -c 'import sys; print(sys.executable)')"

bench: install
	$(PYTHON) bench/bench_render.py

# Retrain the bundled model on one GPU: synthetic 360-degree heads, the `small` preset, then its G_ema in
# float16 -> checkpoints/panohead_small.safetensors. Re-running continues an interrupted run (--resume auto);
# pass e.g. BUNDLED_TRAIN_ARGS="--max-minutes 22" to stop (with a snapshot) before a time limit.
BUNDLED_DATA ?= runs/bundled-data
BUNDLED_RUN ?= runs/bundled-small
BUNDLED_TRAIN_ARGS ?= --kimg 1000 --max-minutes 21
retrain-bundled: install
	@test -f $(BUNDLED_DATA)/dataset.json || $(PYTHON) -m panohead.cli dataset synth --out $(BUNDLED_DATA) --count 20000 --resolution 128 --yaw uniform --seed 0
	$(PYTHON) -m panohead.cli train --data $(BUNDLED_DATA) --preset small --outdir $(BUNDLED_RUN) --resume auto $(BUNDLED_TRAIN_ARGS)
	mkdir -p checkpoints
	$(PYTHON) -m panohead.cli train export "$$(ls -1 $(BUNDLED_RUN)/snapshot-*.safetensors | tail -n 1)" checkpoints/panohead_small.safetensors

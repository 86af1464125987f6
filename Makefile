# Two entry points for a fresh Linux machine (see README):
#   make run    install everything and open the visualizer on the bundled checkpoint
#   make test   install everything (plus Xvfb/Mesa for the GUI tests) and run the whole test suite
PYTHON ?= python3
PIP := $(PYTHON) -m pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
GUI_PACKAGES := xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libgl1

.PHONY: install system-deps run test bench retrain-bundled

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-build-isolation -e ".[test]" 2>/dev/null || $(PIP) install -q -e ".[test]"

# Xvfb and Mesa's software OpenGL, so the GUI tests open real windows without a display or GPU.
system-deps:
	@command -v Xvfb >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so -o -e /usr/lib/x86_64-linux-gnu/dri/llvmpipe_dri.so -o -e /usr/lib/x86_64-linux-gnu/dri/kms_swrast_dri.so ] || \
	  ( $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(GUI_PACKAGES) >/dev/null )

run: install
	$(PYTHON) visualizer.py

test: install system-deps
	$(PYTHON) -m pytest -q

bench: install
	$(PYTHON) bench/bench_render.py

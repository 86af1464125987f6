"""The files this checkout ships beside the code: the bundled checkpoint, what the model source
"bundled" opens (:class:`panohead.model_source.ModelSource`)."""

from __future__ import annotations

from pathlib import Path

BUNDLED_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "panohead_small.safetensors"
# The inversion encoder trained for the bundled model (panohead train-encoder; bench/train_encoder_gpu.sh).
BUNDLED_ENCODER = BUNDLED_CHECKPOINT.with_name("encoder_small.safetensors")

"""Official PanoHead and EG3D snapshots (``network-snapshot-*.pkl``), opened safely as our networks.

Reading: :mod:`panohead.official.unpickler` reconstructs only plain containers, tensors, numpy
scalars and inert records of the official persistent objects; their embedded source code is kept
as text and never executed, imported or compiled. Anything else is refused before it runs.
:mod:`panohead.official.architecture` derives our :class:`~panohead.config.GeneratorConfig` from the
records (:mod:`panohead.official.discriminator` does the same for the discriminator), and
:mod:`panohead.official.names` renames every official tensor onto ours (exhaustively) and checks
the layer attributes that shape the arithmetic (learning-rate gains, activations, clamps).

Official behaviours our engine reproduces on purpose (measured against the official code; see
docs/official_checkpoints.md for the numbers):

* Mapping: z and the embedded label are each normalised to unit second moment and concatenated;
  equalised-learning-rate layers (weight gain lr/sqrt(fan_in), bias gain lr, lrelu x sqrt(2));
  truncation lerps from ``w_avg``; the label is multiplied by ``c_scale`` (zeroed when
  ``c_gen_conditioning_zero``; a missing ``c_scale`` means 0, as in the official code).
* Camera self-adaptation (``t_mapping``): the same network with 3 outputs, a linear last layer and
  learning-rate multiplier 1, truncated with the same psi; its output is added to label entries
  3, 7, 11 (official ``G(z, c)`` equals our ``forward(..., adapt_camera=True)``).
* Synthesis: weight demodulation with eps 1e-8; noise (``noise_const * noise_strength`` or random)
  added after demodulation and before the bias; lrelu(0.2) x sqrt(2), then clamped to +-conv_clamp
  (the clamp applies after the gain); 2x upsampling with the [1, 3, 3, 1] filter at gain 4 for both
  the transposed 3x3 convolution and the skip image; to-RGB layers unmodulated-by-demodulation with
  weight gain 1/sqrt(fan_in); the background network reads the first ws, padding with the last.
* Tri-grid: the backbone image is viewed as (3, 32, D, H, W); PanoHead samples grids (x, y | z),
  (x, z | y), (y, z | x) with 5-D trilinear ``grid_sample`` (zero padding, align_corners False) even
  for D = 1 (our layout "panohead-3d", set by the loader for such files; our own D = 1 models are exact
  tri-planes); EG3D samples (x, y), (x, z), (z, x) in 2-D. Points are scaled by 2 / box_warp; the
  three features are averaged before the decoder (hidden softplus; sigma raw; colours raw, sigmoid
  x 1.002 - 0.001 for EG3D, or lrelu).
* Rendering: pixel-centre rays through normalised intrinsics (with skew); stratified depths from
  ray_start to ray_end; PanoHead's crop sets sigma = -1000 outside |x|, |z| <= box_warp/2 - 0.1
  (EG3D has no crop); mid-point compositing with softplus(sigma - 1), transmittance with +1e-10,
  depth clamped to the sample range; importance sampling from the coarse weights after max-pool(2)
  then avg-pool(2) smoothing + 0.01 and pdf eps 1e-5; samples merged by sorting.
* Composition (Eq. 3): features + (1 - accumulated weight) x background, the background resized
  to the neural resolution (bilinear, antialiased like the super-resolution); the raw RGB image is
  ``torgb`` of the composed features with the last w (EG3D: the first three feature channels,
  mapped from [0, 1] to [-1, 1]); mask = weight x 1.002 - 0.001.
* Super-resolution: features and raw RGB resized (bilinear, antialiased per ``sr_antialias``) to
  the module's input resolution, then StyleGAN2 skip blocks modulated by the last w repeated,
  clamped at 256 when the module was built with fp16 layers, noise per
  ``superresolution_noise_mode``; EG3D's 2X/4X start with a non-upsampling block.
* Discriminator (``MaskDualDiscriminatorV2``; EG3D's ``DualDiscriminator`` without the mask): the
  raw image and mask resized to the output size with antialiased bilinear filtering, the mask put in
  [-1, 1]; ResNet blocks (skip and second conv scaled by sqrt(0.5)), [1, 3, 3, 1] downsampling,
  minibatch stddev, projection onto the mapped camera embedding divided by sqrt(cmap_dim).

Deliberate differences: our renderer draws its stratified and importance samples
deterministically (linspace) unless ``jitter=True``, where the official one always jitters with
``torch.rand`` (so official renders are themselves not repeatable); we compute in fp32 where the
official code switches the highest-resolution blocks to fp16 on CUDA (``num_fp16_res``,
``sr_num_fp16_res``); the official fused grouped convolution is computed unfused; and the official
2X/4X super-resolution adds its first to-RGB output in place into the returned raw image (when no
resize happens first), which our ``image_raw`` does not reproduce.
"""

from panohead.official.loader import (
    OfficialCheckpointError,
    OfficialSnapshot,
    convert_official,
    load_official_generator,
    load_official_snapshot,
    summary,
)

__all__ = [
    "OfficialCheckpointError",
    "OfficialSnapshot",
    "convert_official",
    "load_official_generator",
    "load_official_snapshot",
    "summary",
]

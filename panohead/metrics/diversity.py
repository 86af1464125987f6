"""How much a batch of heads seen from one camera differs in the head and in the background.

Issue 19's medium model collapsed to one head in many backgrounds: a GAN's usual diversity checks
(the discriminator's minibatch standard deviation, eyeballing a grid) look at whole images, where
a varied background hides a head that no longer varies. This measure keeps the two apart.

For images (N, 3, H, W) in [-1, 1] and masks (N, 1, H, W) in [0, 1] of N heads from one camera:

* ``head``: the standard deviation over the N samples of each pixel's colour, averaged over the
  pixels that are head (mask > 0.5) in at least ``share`` of the samples and over RGB;
* ``background``: the same over the pixels that are background (mask < 0.5) in at least ``share``;
* ``mask``: the per-pixel standard deviation of the mask (shape and hair-line differences);
* ``ratio``: head / background.

A dataset of varied heads gives a ratio near 1 (heads differ about as much as backgrounds); a
collapsed generator gives a small ratio and a small mask spread while its backgrounds still vary.
"""

from __future__ import annotations

import torch


def spread(images: torch.Tensor, masks: torch.Tensor, share: float = 0.9) -> dict[str, float]:
    """The head, background and mask spreads of one camera's batch (see the module docstring)."""
    if images.shape[0] < 2:
        raise ValueError(f"spread needs at least 2 samples, got {images.shape[0]}")
    images, masks = images.float(), masks.float().clamp(0, 1)
    pixel_std = images.std(dim=0).mean(dim=0)  # (H, W): colour spread over the samples
    head = (masks > 0.5).float().mean(dim=0)[0] >= share
    background = (masks < 0.5).float().mean(dim=0)[0] >= share
    head_spread = pixel_std[head].mean().item() if head.any() else float("nan")
    background_spread = pixel_std[background].mean().item() if background.any() else float("nan")
    return {
        "head": head_spread,
        "background": background_spread,
        "mask": masks.std(dim=0).mean().item(),
        "ratio": head_spread / background_spread if background_spread > 0 else float("nan"),
    }

"""PanoHead's adversarial objective, its regularisers and their schedules (Sec. 3.3-3.4, EG3D Sec. 4).

Four phases, each returning a chunk-mean loss and detached statistics (backward is the loop's job):

* ``generator_main``: non-saturating logistic loss softplus(-D(G(z, c))) plus the camera
  self-adaptation penalty  w_cam * || mean_batch(Delta c) ||^2  (the official ``trans_reg``: the
  offsets may differ per head, but their batch mean is held at zero so the label frame stays put);
* ``generator_reg`` (lazy, optional): density regularisation, L1 between the raw densities of
  random points and of the same points nudged by ``density_reg_p_dist`` (EG3D's TV prior);
* ``discriminator_main``: softplus(D(fake)) + softplus(-D(real));
* ``discriminator_reg`` (lazy): R1 on real inputs, gamma/2 * |dD/d(I+, I)|^2 for the image channels
  and gamma_mask/2 * |dD/dI_m|^2 for the mask channel, computed in float32.

Generated images are rendered from the sampled dataset camera ``c`` (shifted by the self-adaptation
offset), while the mapping network is conditioned on a *different* dataset camera with probability
``pose_swap_prob`` (generator pose conditioning, 0.7 in the paper, faded in from 1), and the
background network reads the latent of another sample in the batch with ``background_swap_prob``
so the background cannot encode the head (the official ``bcg_reg_prob``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from panohead.generator import PanoHeadGenerator
from panohead.nn.resample import gaussian_blur
from panohead.training.discriminator import TriDiscriminator

Stats = dict[str, torch.Tensor]


@dataclass(frozen=True)
class LossOptions:
    """Weights and schedules of the objective; defaults are the official full-head training run."""

    r1_gamma: float = 1.0
    r1_gamma_mask: float = 1.0
    pose_swap_prob: float = 0.7
    pose_swap_fade_kimg: float = 1000.0  # the swap probability falls linearly from 1 to pose_swap_prob
    self_adaptation: bool = True
    camera_offset_weight: float = 10.0
    background_swap_prob: float = 0.2
    density_reg: float = 0.0
    density_reg_p_dist: float = 0.004
    density_noise_fade_kimg: float = 200.0  # density noise std falls linearly from 1 to 0
    blur_init_sigma: float = 10.0  # pixels at the output resolution
    blur_fade_kimg: float = 200.0
    neural_resolution_initial: int = 64
    neural_resolution_final: int | None = None  # e.g. 128 for the optional second stage
    neural_resolution_fade_kimg: float = 1000.0


@dataclass(frozen=True)
class Schedule:
    """The values of the faded quantities after ``nimg`` training images."""

    blur_sigma: float
    density_noise: float
    pose_swap_prob: float
    neural_resolution: int


def _fade(nimg: int, kimg: float) -> float:
    """Progress 0 -> 1 over the first ``kimg`` thousand images (1 at once when kimg is 0)."""
    return min(nimg / (kimg * 1000), 1.0) if kimg > 0 else 1.0


def schedule_at(options: LossOptions, nimg: int) -> Schedule:
    resolution = options.neural_resolution_initial
    if options.neural_resolution_final is not None:
        alpha = _fade(nimg, options.neural_resolution_fade_kimg)
        resolution = int(np.rint(resolution * (1 - alpha) + options.neural_resolution_final * alpha))
    return Schedule(
        blur_sigma=(1 - _fade(nimg, options.blur_fade_kimg)) * options.blur_init_sigma,
        density_noise=1 - _fade(nimg, options.density_noise_fade_kimg) if options.density_noise_fade_kimg > 0 else 0.0,
        pose_swap_prob=1 + (options.pose_swap_prob - 1) * _fade(nimg, options.pose_swap_fade_kimg),
        neural_resolution=resolution,
    )


def resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """Antialiased bilinear resize of (B, C, H, W) to (B, C, size, size)."""
    if image.shape[-1] == size:
        return image
    return F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


@dataclass
class RealBatch:
    """Real images as the discriminator sees them: I+ (B,3,R,R), I (B,3,n,n), I_m (B,1,n,n), camera (B,25)."""

    image: torch.Tensor
    image_raw: torch.Tensor
    mask_raw: torch.Tensor
    label: torch.Tensor

    @classmethod
    def from_dataset(
        cls, image: torch.Tensor, mask: torch.Tensor, label: torch.Tensor, schedule: Schedule
    ) -> RealBatch:
        """Downsample the dataset image and mask to the neural resolution (the raw-image target is blurred too)."""
        image_raw = resize(image, schedule.neural_resolution)
        if schedule.blur_sigma > 0:
            image_raw = gaussian_blur(image_raw, schedule.blur_sigma)
        return cls(image, image_raw, resize(mask, schedule.neural_resolution), label)


class PanoHeadLoss:
    """The four training phases for generator ``G`` and discriminator ``D``.

    ``autocast`` is a context factory for the mixed-precision forward passes (a no-op on CPU).
    """

    def __init__(
        self,
        G: PanoHeadGenerator,
        D: TriDiscriminator,
        options: LossOptions,
        autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    ) -> None:
        self.G, self.D, self.options, self.autocast = G, D, options, autocast
        self.self_adaptation = options.self_adaptation and G.camera_adapter is not None

    def _conditioning(self, c: torch.Tensor, swap_prob: float) -> torch.Tensor:
        """Generator pose conditioning: replace each camera by another sample's with probability ``swap_prob``."""
        swap = torch.rand(c.shape[0], 1, device=c.device) < swap_prob
        return torch.where(swap, c.roll(1, 0), c)

    def generate(
        self, z: torch.Tensor, c: torch.Tensor, schedule: Schedule, update_w_avg: bool = False
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """Render training images of latents z (B, z_dim) from dataset cameras c (B, 25).

        Returns the render dict and the self-adaptation offsets (B, 3) (None when disabled).
        """
        G = self.G
        ws = G.mapping(z, self._conditioning(c, schedule.pose_swap_prob), update_w_avg=update_w_avg)
        ws_background = ws
        if self.options.background_swap_prob > 0:
            swap = torch.rand(ws.shape[0], 1, 1, device=ws.device) < self.options.background_swap_prob
            ws_background = torch.where(swap, ws.roll(1, 0), ws)
        offset = G.camera_offset(z, c) if self.self_adaptation else None
        camera = G.apply_camera_offset(c, offset) if offset is not None else c
        planes = G.synthesize_planes(ws, noise_mode="random")
        background = G.synthesize_background(ws_background, noise_mode="random")
        out = G.render(
            planes,
            ws,
            camera,
            background=background,
            neural_resolution=schedule.neural_resolution,
            jitter=True,
            density_noise=schedule.density_noise,
            bounds_camera=c,
        )
        return out, offset

    def discriminate(
        self, image: torch.Tensor, image_raw: torch.Tensor, mask_raw: torch.Tensor, c: torch.Tensor, schedule: Schedule
    ) -> torch.Tensor:
        return self.D(image, image_raw, mask_raw, c, blur_sigma=schedule.blur_sigma)

    # --- Generator --------------------------------------------------------------------------
    def generator_main(self, z: torch.Tensor, c: torch.Tensor, schedule: Schedule) -> tuple[torch.Tensor, Stats]:
        with self.autocast():
            out, offset = self.generate(z, c, schedule)
            logits = self.discriminate(out["image"], out["image_raw"], out["mask_raw"], c, schedule)
        loss = F.softplus(-logits).mean()
        stats = {"loss_G": loss.detach(), "scores_fake": logits.detach().mean()}
        if offset is not None:
            offset = offset.float()
            penalty = offset.mean(dim=0).square().sum() * self.options.camera_offset_weight
            loss = loss + penalty
            stats["camera_offset"] = offset.detach().norm(dim=1).mean()
            stats["camera_offset_penalty"] = penalty.detach()
        return loss, stats

    def generator_reg(self, z: torch.Tensor, c: torch.Tensor, schedule: Schedule) -> tuple[torch.Tensor, Stats]:
        """Density regularisation on 1000 random points per sample in [-box_warp, box_warp]^3."""
        G, options = self.G, self.options
        with self.autocast():
            ws = G.mapping(z, self._conditioning(c, schedule.pose_swap_prob))
            planes = G.synthesize_planes(ws, noise_mode="random")
            points = (torch.rand(z.shape[0], 1000, 3, device=z.device) * 2 - 1) * G.config.box_warp
            nudged = points + torch.randn_like(points) * options.density_reg_p_dist
            sigma = G.sample(planes, torch.cat([points, nudged], dim=1))["sigma"].float()
        loss = F.l1_loss(sigma[:, :1000], sigma[:, 1000:]) * options.density_reg
        return loss, {"density_reg": loss.detach()}

    # --- Discriminator ----------------------------------------------------------------------
    def discriminator_main(
        self, real: RealBatch, z: torch.Tensor, c: torch.Tensor, schedule: Schedule
    ) -> tuple[torch.Tensor, Stats]:
        with self.autocast():
            with torch.no_grad():
                fake, _ = self.generate(z, c, schedule, update_w_avg=True)
            fake_logits = self.discriminate(fake["image"], fake["image_raw"], fake["mask_raw"], c, schedule)
            real_logits = self.discriminate(real.image, real.image_raw, real.mask_raw, real.label, schedule)
        loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        return loss, {"loss_D": loss.detach(), "scores_real": real_logits.detach().mean()}

    def discriminator_reg(self, real: RealBatch, schedule: Schedule) -> tuple[torch.Tensor, Stats]:
        """Lazy R1 with separate weights for the image channels (I+ and I) and the mask channel."""
        use_mask = self.D.config.mask_channel
        image = real.image.detach().requires_grad_(True)
        image_raw = real.image_raw.detach().requires_grad_(True)
        mask_raw = real.mask_raw.detach().requires_grad_(use_mask)
        logits = self.discriminate(image, image_raw, mask_raw, real.label, schedule)
        inputs = [image, image_raw] + ([mask_raw] if use_mask else [])
        grads = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
        penalty_image = grads[0].square().sum(dim=(1, 2, 3)) + grads[1].square().sum(dim=(1, 2, 3))
        loss = (penalty_image * (self.options.r1_gamma / 2)).mean()
        stats = {"r1_image": penalty_image.detach().mean()}
        if use_mask:
            penalty_mask = grads[2].square().sum(dim=(1, 2, 3))
            loss = loss + (penalty_mask * (self.options.r1_gamma_mask / 2)).mean()
            stats["r1_mask"] = penalty_mask.detach().mean()
        return loss, stats

"""An encoder that maps an aligned photo and its camera to w+ in one forward pass (pSp-style, Richardson
et al. 2021): the instant start of an inversion, which optimisation and PTI then refine.

Architecture: the trunk of a ResNet-18 (He et al. 2016: 7x7 stride-2 stem, max-pool, three stages of two
basic blocks with 64, 128 and 256 channels; the 512-channel fourth stage is left out to keep the file
small) with GroupNorm instead of BatchNorm, so that batches of a few images on a CPU train like large
ones. Its feature map is pooled to a 4x4 grid (the layout of the face survives, unlike a global pool),
joined with an embedding of the 25-number camera label, and a two-layer head predicts the offset of
every w from the generator's mean w. The last layer starts at zero, so an untrained encoder predicts
the mean head. Built from scratch with random weights: nothing is downloaded (torchvision's models
would be the same layers, but its CPU wheels are tied to exact torch builds).

Files: ``save_encoder`` writes our safetensors format (kind ``encoder``, float16, with the config and
the fingerprint of the generator it was trained for); ``load_encoder`` reads it and
``check_generator`` refuses a generator it was not trained for.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from panohead.checkpoint import CheckpointError, load_tensors, model_fingerprint, save_tensors
from panohead.errors import one_line
from panohead.generator import PanoHeadGenerator
from panohead.inversion.latent import latent_prior
from panohead.untrusted import parse_json
from panohead.views.camera import frontal_camera

ENCODER_KIND = "encoder"
MEAN_SAMPLES = 4096  # random ws averaged into the mean w the prediction starts from


@dataclass(frozen=True)
class EncoderConfig:
    """Shapes of an encoder: its generator's latent (num_ws x w_dim) and the trunk's input and widths."""

    num_ws: int
    w_dim: int
    resolution: int = 128  # photos are resized to this before the trunk
    widths: tuple[int, ...] = (64, 128, 256)  # channels of the ResNet stages (two basic blocks each)
    grid: int = 4  # the trunk's features are pooled to grid x grid
    hidden: int = 512

    @classmethod
    def for_generator(cls, generator: PanoHeadGenerator, **changes) -> EncoderConfig:
        """The config whose output fits ``generator``; input at its output resolution, capped at 256."""
        return cls(
            num_ws=generator.num_ws,
            w_dim=generator.config.w_dim,
            resolution=min(generator.config.image_resolution, 256),
            **changes,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EncoderConfig:
        values = parse_json(text)
        if not isinstance(values, dict):
            raise ValueError("encoder config is not a JSON object")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels // 4), channels)


class BasicBlock(nn.Module):
    """ResNet basic block: 3x3 (stride) -> norm -> ReLU -> 3x3 -> norm, plus a (projected) shortcut, ReLU."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.norm1 = _norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.norm2 = _norm(channels)
        self.shortcut = (
            nn.Identity()
            if stride == 1 and in_channels == channels
            else nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False), _norm(channels))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm2(self.conv2(F.relu(self.norm1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class LatentEncoder(nn.Module):
    """(photos (B, 3, H, W) in [-1, 1], cameras (B, 25)) -> ws (B, num_ws, w_dim) = mean w + predicted offset."""

    w_avg: torch.Tensor  # (1, w_dim) the generator's mean w, a buffer

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = cfg = config
        first = cfg.widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(3, first, 7, 2, 3, bias=False), _norm(first), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        )
        stages, channels = [], first
        for index, width in enumerate(cfg.widths):
            stride = 1 if index == 0 else 2
            stages += [BasicBlock(channels, width, stride), BasicBlock(width, width, 1)]
            channels = width
        self.stages = nn.Sequential(*stages)
        self.squeeze = nn.Conv2d(channels, 64, 1)
        self.camera = nn.Sequential(nn.Linear(25, 64), nn.LeakyReLU(0.2))
        self.hidden = nn.Sequential(nn.Linear(64 * cfg.grid**2 + 64, cfg.hidden), nn.LeakyReLU(0.2))
        self.offsets = nn.Linear(cfg.hidden, cfg.num_ws * cfg.w_dim)
        nn.init.zeros_(self.offsets.weight)
        nn.init.zeros_(self.offsets.bias)
        # The generator's mean w (1, w_dim) under the frontal camera, set by encoder_for: the prediction's origin.
        self.register_buffer("w_avg", torch.zeros(1, cfg.w_dim))

    def forward(self, photos: torch.Tensor, cameras: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if photos.shape[-1] != cfg.resolution or photos.shape[-2] != cfg.resolution:
            photos = F.interpolate(photos, size=(cfg.resolution, cfg.resolution), mode="bilinear", antialias=True)
        features = self.stages(self.stem(photos))  # (B, C, R/32, R/32)
        grid = F.adaptive_avg_pool2d(self.squeeze(features), cfg.grid).flatten(1)  # (B, 64 * grid^2)
        hidden = self.hidden(torch.cat([grid, self.camera(cameras)], dim=1))
        offsets = self.offsets(hidden).reshape(-1, cfg.num_ws, cfg.w_dim)
        return self.w_avg[:, None] + offsets


def encoder_for(generator: PanoHeadGenerator, config: EncoderConfig | None = None) -> LatentEncoder:
    """A fresh (untrained) encoder for ``generator``, on its device, predicting its mean w."""
    encoder = LatentEncoder(config or EncoderConfig.for_generator(generator)).to(generator.device)
    with torch.no_grad():
        encoder.w_avg.copy_(latent_prior(generator, frontal_camera(generator), MEAN_SAMPLES, seed=0).w_avg)
    encoder.generator_fingerprint = model_fingerprint(generator)
    return encoder


def save_encoder(path: str | os.PathLike, encoder: LatentEncoder, extra: dict[str, str] | None = None) -> None:
    """Write ``encoder`` (float16 weights, the mean w in float32) atomically in our safetensors format."""
    state = {
        name: tensor.half() if tensor.is_floating_point() and name != "w_avg" else tensor
        for name, tensor in encoder.state_dict().items()
    }
    metadata = {
        "encoder_config": encoder.config.to_json(),
        "generator_fingerprint": getattr(encoder, "generator_fingerprint", ""),
        **(extra or {}),
    }
    save_tensors(path, state, ENCODER_KIND, metadata)


def load_encoder(path: str | os.PathLike, device: torch.device | str = "cpu") -> LatentEncoder:
    """An encoder written by :func:`save_encoder` (float32, eval mode); one-line errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: encoder file not found")
    tensors, metadata = load_tensors(path, ENCODER_KIND)
    try:
        config = EncoderConfig.from_json(metadata["encoder_config"])
        encoder = LatentEncoder(config)
        encoder.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: not a valid encoder file ({one_line(error)[:160]})") from None
    encoder.generator_fingerprint = metadata.get("generator_fingerprint", "")
    return encoder.eval().requires_grad_(False).to(device)


def check_generator(encoder: LatentEncoder, generator: PanoHeadGenerator, source: str) -> None:
    """Refuse an encoder trained for another generator (a different latent shape or other weights)."""
    cfg = encoder.config
    if (cfg.num_ws, cfg.w_dim) != (generator.num_ws, generator.config.w_dim):
        raise ValueError(
            f"{source}: encoder predicts {cfg.num_ws}x{cfg.w_dim} latents but the model has "
            f"{generator.num_ws}x{generator.config.w_dim}; train one with 'panohead train-encoder' for this model"
        )
    if encoder.generator_fingerprint and encoder.generator_fingerprint != model_fingerprint(generator):
        raise ValueError(
            f"{source}: encoder was trained for another model with the same shapes; "
            "train one with 'panohead train-encoder --checkpoint MODEL' for this model"
        )


def encode(encoder: LatentEncoder, photos: torch.Tensor, cameras: torch.Tensor) -> torch.Tensor:
    """ws (B, num_ws, w_dim) of photos (B, 3, H, W) in [-1, 1] seen from cameras (B, 25), without gradients."""
    device = encoder.w_avg.device
    with torch.no_grad():
        return encoder(photos.to(device), cameras.to(device))


def bundled_encoder(generator: PanoHeadGenerator, device: torch.device | str = "cpu") -> LatentEncoder | None:
    """The encoder shipped beside the bundled model when ``generator`` is that model, else None."""
    from panohead.bundled import BUNDLED_ENCODER

    if not BUNDLED_ENCODER.is_file():
        return None
    encoder = load_encoder(BUNDLED_ENCODER, device)
    if encoder.generator_fingerprint != model_fingerprint(generator):
        return None
    return encoder


def open_encoder(
    generator: PanoHeadGenerator,
    path: str | os.PathLike | None,
    bundled_model: bool,
    device: torch.device | str = "cpu",
) -> tuple[LatentEncoder | None, str]:
    """The encoder to start an inversion of ``generator`` from, and where it came from: the file at
    ``path`` (refused, one line, when trained for another model), else the bundled one when
    ``generator`` is the bundled model and it ships one; (None, "") when there is none."""
    if path is not None:
        encoder = load_encoder(path, device)
        check_generator(encoder, generator, str(path))
        return encoder, str(path)
    if bundled_model:
        encoder = bundled_encoder(generator, device)
        if encoder is not None:
            return encoder, "bundled with the model"
    return None, ""

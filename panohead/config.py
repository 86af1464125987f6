"""Generator configuration: one frozen dataclass, with the paper's values as defaults, and presets."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Literal, get_args

from panohead.nn.layers import NoiseMode
from panohead.numbers import field_problems
from panohead.rendering.decoder import DecoderActivation
from panohead.rendering.trigrid import PlaneLayout

# Inclusive bounds of the numeric fields (tuple fields: of each entry). Far beyond any trained model,
# tight enough that a config read from a file cannot describe a render that exhausts memory; the
# network's size is then checked against the tensors the file actually holds before it is built.
LIMITS = {
    "z_dim": (1, 4096),
    "c_dim": (1, 1024),
    "w_dim": (1, 4096),
    "mapping_layers": (1, 32),
    "mapping_lr_multiplier": (1e-6, 1e3),
    "conditioning_scale": (-1e3, 1e3),
    "plane_resolution": (4, 2048),
    "grid_depth": (1, 64),
    "plane_channels": (1, 512),
    "channel_base": (1, 2**20),
    "channel_max": (1, 4096),
    "conv_clamp": (1e-6, 1e6),
    "decoder_hidden": (1, 4096),
    "decoder_lr_multiplier": (1e-6, 1e3),
    "neural_resolution": (4, 1024),
    "ray_start": (1e-6, 1e3),
    "ray_end": (1e-6, 1e3),
    "box_warp": (1e-6, 1e3),
    "samples_coarse": (2, 1024),
    "samples_fine": (0, 1024),
    "crop_margin": (0, 1e3),
    "background_resolution": (4, 2048),
    "background_channel_base": (1, 2**20),
    "image_resolution": (4, 4096),
    "sr_input_resolution": (4, 2048),
    "sr_channels": (1, 4096),
    "sr_conv_clamp": (1e-6, 1e6),
    "camera_radius": (1e-6, 1e3),
    "look_at": (-1e3, 1e3),
    "focal": (1e-6, 1e3),
}


@dataclass(frozen=True)
class GeneratorConfig:
    """Every architectural and rendering choice of a PanoHead generator.

    Defaults reproduce the released 512x512 PanoHead model (CVPR 2023, Sec. 3 and supplementary).
    """

    # Latents (Sec. 3.1): z and the 25-number conditioning camera are mapped to w.
    z_dim: int = 512
    c_dim: int = 25
    w_dim: int = 512
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    conditioning_scale: float = 1.0  # official c_scale: the label is multiplied by it before mapping
    # Tri-grid backbone (Sec. 3.2): 3 grids x D planes x plane_channels features.
    plane_resolution: int = 256
    grid_depth: int = 3
    plane_channels: int = 32
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = None
    # "panohead" samples grids (x,y|z), (x,z|y), (y,z|x); "eg3d" reproduces EG3D's tri-plane axes
    # (x,y), (x,z), (z,x), where the third plane repeats the second transposed; "panohead-3d" is
    # "panohead" with a D = 1 grid sampled in 3-D like the official code (see rendering/trigrid.py).
    plane_layout: PlaneLayout = "panohead"
    # Decoder MLP: mean feature -> hidden (softplus) -> 1 density + plane_channels features.
    decoder_hidden: int = 64
    decoder_lr_multiplier: float = 1.0
    decoder_activation: DecoderActivation = "none"  # "none" (PanoHead), "sigmoid" (EG3D) or "lrelu" (official)
    raw_to_rgb: bool = True  # PanoHead turns the 32-channel raw image into RGB with a modulated 1x1 conv
    # Volume rendering (Eq. 1-2).
    neural_resolution: int = 64
    ray_start: float = 2.25
    ray_end: float = 3.3
    box_warp: float = 1.0
    samples_coarse: int = 48
    samples_fine: int = 48
    crop_margin: float = 0.1  # density is removed outside |x|,|z| <= box_warp/2 - crop_margin
    # Background (Eq. 3): a lighter synthesis network; None disables it (EG3D).
    background: bool = True
    background_resolution: int = 128
    background_channel_base: int = 16384
    # Super-resolution: resize the composed feature image to sr_input_resolution, then one
    # upsampling StyleGAN2 block per entry of sr_channels (the first one keeps the resolution when
    # sr_upsample_first is False, as in EG3D's 2X/4X modules).
    image_resolution: int = 512
    sr_input_resolution: int = 128
    sr_channels: tuple[int, ...] = (256, 128)
    sr_conv_clamp: float | None = 256.0
    sr_antialias: bool = True
    sr_upsample_first: bool = True
    sr_noise_mode: NoiseMode = "none"  # official superresolution_noise_mode
    # Camera (official averages) used for defaults in the viewer and exports.
    camera_radius: float = 2.7
    look_at: tuple[float, float, float] = (0.0, 0.0, 0.2)
    focal: float = 4.2647
    # Camera self-adaptation (Sec. 3.4): a 3-vector translation offset from (z, c).
    camera_adapter: bool = True

    def __post_init__(self) -> None:
        problems = field_problems(self, LIMITS)
        if problems:  # types and ranges first: the checks below compare values
            raise ValueError("invalid generator config: " + "; ".join(problems))
        sr_upsampling = 2 ** (len(self.sr_channels) - (0 if self.sr_upsample_first else 1))
        checks = {
            "grid_depth must be >= 1": self.grid_depth >= 1,
            "plane_layout 'eg3d' needs grid_depth 1": self.plane_layout != "eg3d" or self.grid_depth == 1,
            "image_resolution must equal sr_input_resolution * 2**(number of upsampling sr blocks)": (
                self.image_resolution == self.sr_input_resolution * sr_upsampling
            ),
            "resolutions must be powers of two >= 4": all(
                r >= 4 and r & (r - 1) == 0
                for r in (self.plane_resolution, self.background_resolution, self.sr_input_resolution)
            ),
            "ray_end must exceed ray_start": self.ray_end > self.ray_start,
            "samples_coarse must be >= 2": self.samples_coarse >= 2,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError("invalid generator config: " + "; ".join(failed))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> GeneratorConfig:
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown generator config keys: {', '.join(unknown)}")
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**converted)

    def replace(self, **changes) -> GeneratorConfig:
        return dataclasses.replace(self, **changes)


PresetName = Literal["tiny", "small", "medium", "paper"]  # model sizes, smallest first (training presets too)
PRESET_NAMES: tuple[PresetName, ...] = get_args(PresetName)
PRESETS: dict[PresetName, GeneratorConfig] = {
    # The paper: 512 output, 64 neural rendering, 256 planes, D = 3.
    "paper": GeneratorConfig(),
    # Our bundled model: small enough that 2 CPU cores preview it interactively.
    "small": GeneratorConfig(
        z_dim=256,
        w_dim=256,
        plane_resolution=128,
        channel_base=8192,
        channel_max=256,
        neural_resolution=64,
        samples_coarse=32,
        samples_fine=32,
        background_resolution=64,
        background_channel_base=2048,
        image_resolution=128,
        sr_input_resolution=64,
        sr_channels=(64,),
    ),
    # The bundled model from issue 19: 256 output from the small model's 64x64 neural rendering (so the
    # CPU preview costs the same), channels capped at 160 so that its compact training snapshot (G,
    # G_ema, D and Adam moments, 38 MiB in 3 parts) travels to and from a lent GPU with the repository.
    "medium": GeneratorConfig(
        z_dim=256,
        w_dim=256,
        plane_resolution=128,
        channel_base=8192,
        channel_max=160,
        neural_resolution=64,
        samples_coarse=32,
        samples_fine=32,
        background_resolution=64,
        background_channel_base=1024,
        image_resolution=256,
        sr_input_resolution=64,
        sr_channels=(128, 64),
    ),
    # Unit tests: seconds on a CPU.
    "tiny": GeneratorConfig(
        z_dim=32,
        w_dim=32,
        plane_resolution=16,
        plane_channels=8,
        channel_base=256,
        channel_max=32,
        decoder_hidden=16,
        neural_resolution=16,
        samples_coarse=8,
        samples_fine=8,
        background_resolution=16,
        background_channel_base=128,
        image_resolution=32,
        sr_input_resolution=16,
        sr_channels=(16,),
    ),
}


def preset(name: str, **overrides) -> GeneratorConfig:
    """A preset by name, optionally with fields replaced (e.g. ``grid_depth=1``)."""
    if name not in PRESET_NAMES:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}")
    return PRESETS[name].replace(**overrides)

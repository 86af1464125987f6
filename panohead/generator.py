"""The PanoHead generator (Sec. 3): mapping -> tri-grid -> volume rendering -> background -> super-resolution.

The API is split so an interactive viewer can cache each stage by its inputs:

    ws     = G.mapping(z, c_cond, psi)           # once per seed / truncation / conditioning camera
    planes = G.synthesize_planes(ws)             # once per ws
    bg     = G.synthesize_background(ws_bg)      # once per background latent
    out    = G.render(planes, ws, c_render, bg)  # every frame of an orbit
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from panohead.camera import pixel_rays
from panohead.config import GeneratorConfig
from panohead.nn.layers import ModulatedToRGB, NoiseMode
from panohead.nn.mapping import MappingNetwork
from panohead.nn.superres import SuperResolution
from panohead.nn.synthesis import SynthesisNetwork
from panohead.rendering.decoder import FeatureDecoder
from panohead.rendering.trigrid import sample_trigrid, sampling_layout, split_planes
from panohead.rendering.volume import RaySettings, render_rays

# The translation entries 3, 7, 11 of a flattened 4x4 cam2world inside a 25-number label, as a slice: a
# list index would be copied to the GPU from pageable memory at every use, which waits for the GPU to
# finish its queue (training) and is refused inside CUDA graph capture (viewer, inversion).
TRANSLATION = slice(3, 12, 4)


class PanoHeadGenerator(nn.Module):
    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = cfg = config
        grid_channels = 3 * cfg.plane_channels * cfg.grid_depth
        self.synthesis = SynthesisNetwork(
            cfg.w_dim, cfg.plane_resolution, grid_channels, cfg.channel_base, cfg.channel_max, cfg.conv_clamp
        )
        self.mapping_network = MappingNetwork(
            cfg.z_dim, cfg.c_dim, cfg.w_dim, self.synthesis.num_ws, cfg.mapping_layers, cfg.mapping_lr_multiplier
        )
        self.decoder = FeatureDecoder(
            cfg.plane_channels, cfg.decoder_hidden, cfg.decoder_lr_multiplier, cfg.decoder_activation
        )
        self.raw_to_rgb = ModulatedToRGB(cfg.plane_channels, 3, cfg.w_dim) if cfg.raw_to_rgb else None
        self.background = (
            SynthesisNetwork(
                cfg.w_dim,
                cfg.background_resolution,
                cfg.plane_channels,
                cfg.background_channel_base,
                cfg.channel_max,
                cfg.conv_clamp,
            )
            if cfg.background
            else None
        )
        self.superres = SuperResolution(
            cfg.plane_channels,
            cfg.w_dim,
            cfg.sr_input_resolution,
            cfg.sr_channels,
            cfg.sr_conv_clamp,
            cfg.sr_antialias,
            cfg.sr_upsample_first,
            cfg.sr_noise_mode,
        )
        self.camera_adapter = (
            MappingNetwork(cfg.z_dim, cfg.c_dim, 3, 1, cfg.mapping_layers, lr_multiplier=1.0, last_linear=True)
            if cfg.camera_adapter
            else None
        )

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    @property
    def device(self) -> torch.device:
        """Where the weights are (all on one device)."""
        return next(self.parameters()).device

    # --- Latents -----------------------------------------------------------------------------
    def mapping(
        self,
        z: torch.Tensor,
        c_cond: torch.Tensor,
        psi: float = 1.0,
        cutoff: int | None = None,
        update_w_avg: bool = False,
    ) -> torch.Tensor:
        """(B, z_dim), (B, 25) -> ws (B, num_ws, w_dim), conditioned on the camera (Sec. 3.1)."""
        return self.mapping_network(z, c_cond * self.config.conditioning_scale, psi, cutoff, update_w_avg)

    def camera_offset(
        self, z: torch.Tensor, c: torch.Tensor, psi: float = 1.0, cutoff: int | None = None
    ) -> torch.Tensor:
        """Self-adaptation residual Delta-c (B, 3) predicted from (z, c) (Sec. 3.4).

        Truncation ``psi`` pulls it towards the adapter's tracked mean, as the official generator does.
        """
        if self.camera_adapter is None:
            return torch.zeros(z.shape[0], 3, device=z.device)
        return self.camera_adapter(z, c * self.config.conditioning_scale, psi, cutoff)[:, 0]

    @staticmethod
    def apply_camera_offset(c: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        """Add a (B, 3) translation to the cam2world translation entries of labels (B, 25)."""
        adapted = c.clone()
        adapted[:, TRANSLATION] += offset
        return adapted

    # --- Tri-grid and background ---------------------------------------------------------------
    def synthesize_planes(self, ws: torch.Tensor, noise_mode: NoiseMode = "const") -> torch.Tensor:
        """ws -> tri-grid (B, 3, C, D, H, W)."""
        image = self.synthesis(ws, noise_mode)
        return split_planes(image, self.config.plane_channels, self.config.grid_depth)

    def synthesize_background(self, ws: torch.Tensor, noise_mode: NoiseMode = "const") -> torch.Tensor | None:
        """Background feature image (B, C, Rb, Rb) from its own ws, or None if the model has no background."""
        if self.background is None:
            return None
        return self.background(ws[:, : self.background.num_ws], noise_mode)

    # --- Fields and rendering ------------------------------------------------------------------
    def field(self, planes: torch.Tensor, density_noise: float = 0.0):
        """Closure points (B, M, 3) -> (density logits (B, M, 1), colour features (B, M, C)).

        The tri-grid is laid out for its device's sampler once here, not at every evaluation."""
        planes = sampling_layout(planes)

        def evaluate(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            features = sample_trigrid(planes, points, self.config.box_warp, self.config.plane_layout)
            density, colour = self.decoder(features)
            if density_noise > 0:
                density = density + torch.randn_like(density) * density_noise
            return density, colour

        return evaluate

    def sample(self, planes: torch.Tensor, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """Density and colour at arbitrary points (B, M, 3), for meshes and volume slices.

        ``sigma`` is the raw decoder output, ``density`` = softplus(sigma - 1) the value the renderer
        integrates, ``features`` the colour features (first three are not RGB; see :meth:`feature_rgb`).
        """
        sigma, colour = self.field(planes)(points)
        return {"sigma": sigma, "density": F.softplus(sigma - 1.0), "features": colour}

    def depth_shift(self, c: torch.Tensor) -> torch.Tensor:
        """(B,) how much farther each camera of labels ``c`` (B, 25) is from the tri-grid box centre than
        ``camera_radius``: the renderer adds it to both ray bounds.

        The official bounds [ray_start, ray_end] (2.25, 3.3) are fixed depths that bracket the head,
        [-0.45, +0.6] around the box centre, only for a camera 2.7 from it; zooming in or out with them
        cuts the face off or shows background only. Shifting them with the camera keeps that same
        bracket, and the same sample spacing, at any distance. Cameras within 1e-3 of ``camera_radius``
        (float rounding of orbit labels, well under one sample step) get exactly 0, so the official
        images are reproduced bit for bit.
        """
        distance = c[:, TRANSLATION].to(torch.float32).norm(dim=1)
        shift = distance - self.config.camera_radius
        return torch.where(shift.abs() < 1e-3, torch.zeros_like(shift), shift)

    def ray_settings(self, jitter: bool = False) -> RaySettings:
        cfg = self.config
        return RaySettings(
            cfg.ray_start, cfg.ray_end, cfg.samples_coarse, cfg.samples_fine, cfg.box_warp, cfg.crop_margin, jitter
        )

    def image_space(self, features: torch.Tensor) -> torch.Tensor:
        """Decoder colour features -> the [-1, 1] space the to-RGB and super-resolution layers expect."""
        if self.config.decoder_activation == "sigmoid":
            return features * 2 - 1  # EG3D decodes colours in [0, 1]
        return features

    def feature_rgb(self, features: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        """Colour features of points (B, M, C) -> RGB (B, M, 3), [-1, 1] nominal.

        The raw to-RGB path that makes ``image_raw``, applied to single points (arranged as a
        (B, C, M, 1) image): a point's colour is what an opaque pixel showing it would get before
        super-resolution. Meshes use it to colour vertices.
        """
        image = self.image_space(features).transpose(1, 2)[..., None]
        return self.to_rgb(image, ws)[..., 0].transpose(1, 2)

    def to_rgb(self, features: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        """Raw 32-channel feature image -> RGB (PanoHead's modulated 1x1 conv, or EG3D's first 3 channels)."""
        if self.raw_to_rgb is None:
            return features[:, :3]
        return self.raw_to_rgb(features, ws[:, -1]).to(torch.float32)

    def render(
        self,
        planes: torch.Tensor,
        ws: torch.Tensor,
        c_render: torch.Tensor,
        background: torch.Tensor | None = None,
        background_ws: torch.Tensor | None = None,
        neural_resolution: int | None = None,
        jitter: bool = False,
        density_noise: float = 0.0,
        ray_chunk: int | None = None,
        superresolve: bool = True,
        generator: torch.Generator | None = None,
        field=None,
        bounds_camera: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Render cached ``planes`` from cameras ``c_render`` (B, 25).

        The ray bounds follow each camera's distance (:meth:`depth_shift`) of ``bounds_camera`` (B, 25),
        by default ``c_render``; :meth:`forward` passes the cameras before self-adaptation, whose small
        learned offsets the official renderer's bounds do not follow either.

        ``field`` replaces :meth:`field` (points -> density logits, colour features), e.g. the
        empty-space-skipping field of :mod:`panohead.rendering.occupancy`.

        ``background`` is a cached feature image from :meth:`synthesize_background` (pass zeros for
        none); otherwise it is synthesised from ``background_ws`` or, by default, from ``ws``.
        Returns ``image`` (B,3,R,R) in [-1,1] nominal, ``image_raw`` (B,3,n,n), ``mask`` (B,1,R,R),
        ``mask_raw``, ``depth`` (B,1,n,n), ``features`` (composited), ``foreground`` (I_r),
        ``background`` (B,C,n,n) and ``background_raw`` (B,3,n,n).
        """
        cfg = self.config
        res = neural_resolution or cfg.neural_resolution
        batch = c_render.shape[0]
        with torch.autocast(c_render.device.type, enabled=False):  # rays in float32 even under mixed precision
            origins, directions = pixel_rays(c_render.to(torch.float32), res)
            shift = self.depth_shift(c_render if bounds_camera is None else bounds_camera)
        settings = self.ray_settings(jitter)
        field = field or self.field(planes, density_noise)
        chunk = ray_chunk or origins.shape[1]
        pieces = [
            render_rays(field, origins[:, i : i + chunk], directions[:, i : i + chunk], settings, generator, shift)
            for i in range(0, origins.shape[1], chunk)
        ]
        features = torch.cat([p.features for p in pieces], dim=1)
        as_image = lambda t: t.transpose(1, 2).reshape(batch, t.shape[-1], res, res)  # noqa: E731
        foreground = self.image_space(as_image(features))
        weight_sum = as_image(torch.cat([p.mask for p in pieces], dim=1))
        depth = as_image(torch.cat([p.depth for p in pieces], dim=1))

        if background is None and self.background is not None:
            background = self.synthesize_background(ws if background_ws is None else background_ws)
        composed, background = self.compose(foreground, weight_sum, background)
        image_raw = self.to_rgb(composed, ws)
        out = {
            "image_raw": image_raw,
            "mask_raw": weight_sum * (1 + 2 * 0.001) - 0.001,
            "depth": depth,
            "features": composed,
            "foreground": foreground,
            "weight_sum": weight_sum,
        }
        if background is not None:
            out["background"] = background
            out["background_raw"] = self.to_rgb(background, ws)
        if superresolve:
            out["image"] = self.superres(image_raw, composed, ws)
            size = out["image"].shape[-1]
            out["mask"] = F.interpolate(out["mask_raw"], size=(size, size), mode="bilinear", align_corners=False)
        return out

    def compose(
        self, foreground: torch.Tensor, weight_sum: torch.Tensor, background: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Eq. 3: put the background behind the rendered head, at the neural resolution.

        ``foreground`` (B, C, n, n) is I_r, ``weight_sum`` (B, 1, n, n) is I_m, ``background`` a feature
        image (B, C, Rb, Rb) or None. Returns the composed features (B, C, n, n) and the background
        resized to (B, C, n, n) (None without one). Public so a viewer can swap backgrounds behind a
        cached head without marching rays again.
        """
        if background is None:
            return foreground, None
        res = foreground.shape[-1]
        background = F.interpolate(
            background, size=(res, res), mode="bilinear", align_corners=False, antialias=self.config.sr_antialias
        ).to(foreground.dtype)
        # Eq. 3: I_gen = (1 - I_m) * I_bg + I_r (colour features are already weighted by w_i).
        return foreground + (1.0 - weight_sum) * background, background

    def forward(
        self,
        z: torch.Tensor,
        c_cond: torch.Tensor,
        c_render: torch.Tensor | None = None,
        psi: float = 1.0,
        cutoff: int | None = None,
        adapt_camera: bool = False,
        noise_mode: NoiseMode = "const",
        update_w_avg: bool = False,
        **render_kwargs,
    ) -> dict[str, torch.Tensor]:
        """One-call generation: map, synthesise the tri-grid and render (``c_render`` defaults to ``c_cond``).

        With ``adapt_camera`` the rendering camera is shifted by the self-adaptation offset (training).
        """
        ws = self.mapping(z, c_cond, psi, cutoff, update_w_avg)
        camera = c_cond if c_render is None else c_render
        offset = (
            self.camera_offset(z, camera, psi, cutoff) if adapt_camera else torch.zeros(z.shape[0], 3, device=z.device)
        )
        if adapt_camera:
            camera = self.apply_camera_offset(camera, offset)
        planes = self.synthesize_planes(ws, noise_mode)
        background = None
        if self.background is not None:
            background = self.synthesize_background(ws, noise_mode)
        out = self.render(
            planes,
            ws,
            camera,
            background=background,
            bounds_camera=c_cond if c_render is None else c_render,
            **render_kwargs,
        )
        out.update(ws=ws, planes=planes, camera=camera, camera_offset=offset)
        return out


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def seed_latent(seed: int, z_dim: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(1, z_dim) standard-normal z determined by ``seed`` alone (independent of device)."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(1, z_dim, generator=generator).to(device)

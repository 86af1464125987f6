"""OpenGL textures filled from numpy arrays or torch tensors, for display with ``imgui.image``.

Images arrive as (H, W, C) uint8 (or float in [0, 1]) with C in 1..4 and are stored as RGBA8.
CUDA tensors are copied to host memory first: the visualizer's renderer thread already converts
frames to uint8 on the GPU, so one 512x512 frame is 1 MiB, well under a millisecond over PCIe.
CUDA-OpenGL interop would skip that copy but needs an extra CUDA binding (cuda-python or CuPy)
and a GL context shared with the renderer thread; see README "Texture upload".
"""

from __future__ import annotations

import numpy as np
import OpenGL.GL as gl
import torch
from imgui_bundle import imgui


def as_rgba8(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """(H, W), (H, W, 1|2|3|4) uint8 or float [0, 1] -> contiguous (H, W, 4) uint8."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or not 1 <= image.shape[2] <= 4:
        raise ValueError(f"texture image must be (H, W) or (H, W, 1..4), got shape {image.shape}")
    if image.dtype != np.uint8:
        image = (np.clip(image.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    channels = image.shape[2]
    if channels == 4:
        return np.ascontiguousarray(image)
    rgba = np.empty(image.shape[:2] + (4,), dtype=np.uint8)
    rgba[:, :, 3] = 255
    if channels in (1, 2):
        rgba[:, :, :3] = image[:, :, :1]
        if channels == 2:
            rgba[:, :, 3] = image[:, :, 1]
    else:
        rgba[:, :, :3] = image
    return rgba


class Texture:
    """One GL texture whose storage is reallocated only when the image size changes."""

    def __init__(self, smooth: bool = True) -> None:
        self.id = int(gl.glGenTextures(1))
        self.shape: tuple[int, int] | None = None
        self.smooth = smooth
        self._filter_applied: bool | None = None

    @property
    def ref(self) -> imgui.ImTextureRef:
        return imgui.ImTextureRef(self.id)

    def upload(self, image: np.ndarray | torch.Tensor) -> None:
        rgba = as_rgba8(image)
        height, width = rgba.shape[:2]
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.id)
        gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 1)
        if self.shape != (height, width):
            gl.glTexImage2D(gl.GL_TEXTURE_2D, 0, gl.GL_RGBA8, width, height, 0, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE, rgba)
            gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_WRAP_S, gl.GL_CLAMP_TO_EDGE)
            gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_WRAP_T, gl.GL_CLAMP_TO_EDGE)
            self.shape = (height, width)
        else:
            gl.glTexSubImage2D(gl.GL_TEXTURE_2D, 0, 0, 0, width, height, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE, rgba)
        self.set_smooth(self.smooth)

    def set_smooth(self, smooth: bool) -> None:
        """Bilinear magnification for photos, nearest for inspecting individual texels."""
        self.smooth = smooth
        if self._filter_applied == smooth or self.shape is None:
            return
        mode = gl.GL_LINEAR if smooth else gl.GL_NEAREST
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.id)
        gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MIN_FILTER, gl.GL_LINEAR)
        gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MAG_FILTER, mode)
        self._filter_applied = smooth

    def delete(self) -> None:
        if self.id:
            gl.glDeleteTextures([self.id])
            self.id = 0

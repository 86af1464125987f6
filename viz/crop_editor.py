"""The Invert panel's view of a photo before inverting: the photo with its crop box, which the mouse
moves (drag inside) and resizes (drag a corner, about the centre); the crop with its person mask
(overlaid or side by side); and a small orbit glyph of the camera (top view for yaw, side view for
pitch). The panel owns the box and the camera; this module only draws them and reports the box the
mouse asks for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from imgui_bundle import imgui
from PIL import Image

from gui_utils.texture import Texture
from panohead.data.contact_sheet import mask_overlay
from panohead.inversion.photo_crop import CropBox

PHOTO_TEXTURE_SIDE = 1024  # the photo is shown from a copy at most this many pixels on its long side
HANDLE = 8.0  # logical pixels: a press this close to a corner resizes the box
BOX = imgui.IM_COL32(255, 210, 60, 255)
GLYPH = imgui.IM_COL32(150, 155, 165, 255)
CAMERA = imgui.IM_COL32(255, 210, 60, 255)


@dataclass
class _Drag:
    kind: str  # "move" or "resize"
    start_mouse: tuple[float, float]  # photo pixels
    start_box: CropBox


class CropEditor:
    def __init__(self) -> None:
        self.photo_texture = Texture()
        self.crop_texture = Texture()
        self.mask_texture = Texture()
        self.mask_view = "overlay"  # or "side": the mask in its own picture beside the crop
        self.photo_shape: tuple[int, int] | None = None  # (H, W) of the photo in pixels
        self.photo_rect = (0.0, 0.0, 1.0)  # screen x, y of the photo's top-left and screen pixels per photo pixel
        self._drag: _Drag | None = None

    @property
    def dragging(self) -> bool:
        return self._drag is not None

    def set_photo(self, photo: np.ndarray) -> None:
        """Upload (H, W, 3) uint8 ``photo`` (downscaled for display when large)."""
        height, width = photo.shape[:2]
        factor = PHOTO_TEXTURE_SIDE / max(height, width)
        shown = photo
        if factor < 1.0:
            size = (max(1, round(width * factor)), max(1, round(height * factor)))
            shown = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS))
        self.photo_texture.upload(shown)
        self.photo_shape, self._drag = (height, width), None

    def set_crop(self, crop: np.ndarray, mask: np.ndarray | None) -> None:
        """Upload the (R, R, 3) uint8 crop (with the mask overlaid in "overlay" view) and the (R, R) mask."""
        if mask is None:
            self.crop_texture.upload(crop)
            return
        grey = np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8)
        shown = mask_overlay(Image.fromarray(crop), Image.fromarray(grey)) if self.mask_view == "overlay" else crop
        self.crop_texture.upload(np.asarray(shown))
        self.mask_texture.upload(grey)

    def to_screen(self, point: np.ndarray) -> np.ndarray:
        """Photo pixel coordinates (..., 2) -> screen coordinates."""
        x0, y0, fit = self.photo_rect
        return (np.asarray(point) + 0.5) * fit + (x0, y0)

    def to_photo(self, x: float, y: float) -> tuple[float, float]:
        x0, y0, fit = self.photo_rect
        return (x - x0) / fit - 0.5, (y - y0) / fit - 0.5

    def photo(self, box: CropBox, scale: float, height: float, enabled: bool = True) -> CropBox | None:
        """Draw the photo (fitting the panel's width and ``height``) with ``box``; returns the box the
        mouse drags it to this frame, or None."""
        assert self.photo_shape is not None
        rows, columns = self.photo_shape
        fit = min(imgui.get_content_region_avail().x / columns, height / rows)
        origin = imgui.get_cursor_screen_pos()
        size = imgui.ImVec2(columns * fit, rows * fit)
        self.photo_rect = (origin.x, origin.y, fit)
        imgui.invisible_button("##crop-photo", size)
        hovered, active = imgui.is_item_hovered(), imgui.is_item_active()
        draw = imgui.get_window_draw_list()
        draw.add_image(self.photo_texture.ref, origin, imgui.ImVec2(origin.x + size.x, origin.y + size.y))
        draw.push_clip_rect(origin, imgui.ImVec2(origin.x + size.x, origin.y + size.y), True)
        corners = [imgui.ImVec2(*point) for point in self.to_screen(box.corners())]
        draw.add_polyline(corners, BOX, 2.0 * scale, imgui.ImDrawFlags_.closed)
        for corner in corners:
            half = 0.5 * HANDLE * scale
            draw.add_rect_filled(
                imgui.ImVec2(corner.x - half, corner.y - half), imgui.ImVec2(corner.x + half, corner.y + half), BOX
            )
        draw.pop_clip_rect()
        if not enabled:
            self._drag = None
            return None
        mouse = imgui.get_mouse_pos()
        at = self.to_photo(mouse.x, mouse.y)
        near_corner = min(math.hypot(mouse.x - c.x, mouse.y - c.y) for c in corners) <= HANDLE * scale
        if hovered and (near_corner or box.contains(at)):
            imgui.set_mouse_cursor(imgui.MouseCursor_.resize_nwse if near_corner else imgui.MouseCursor_.resize_all)
        if imgui.is_item_activated():
            kind = "resize" if near_corner else "move" if box.contains(at) else None
            self._drag = _Drag(kind, at, box) if kind else None
        if not active:
            self._drag = None
            return None
        if self._drag is None:
            return None
        start, start_box = self._drag.start_mouse, self._drag.start_box
        if self._drag.kind == "move":
            return start_box.moved(at[0] - start[0], at[1] - start[1])
        centre = np.asarray(start_box.centre)
        reach = max(float(np.hypot(*(np.asarray(start) - centre))), 1e-6)
        return start_box.resized(start_box.side * float(np.hypot(*(np.asarray(at) - centre))) / reach)

    def crop(self, side: float) -> None:
        """The crop (and the mask beside it in "side" view), ``side`` screen pixels each."""
        imgui.image(self.crop_texture.ref, imgui.ImVec2(side, side))
        imgui.set_item_tooltip("The crop the inversion fits (overlay: the person mask tinted green, the rest darkened)")
        if self.mask_view == "side" and self.mask_texture.shape is not None:
            imgui.same_line()
            imgui.image(self.mask_texture.ref, imgui.ImVec2(side, side))
            imgui.set_item_tooltip("The person mask of the crop (white: head, hair, shoulders)")

    def delete(self) -> None:
        for texture in (self.photo_texture, self.crop_texture, self.mask_texture):
            texture.delete()


def orbit_glyph(yaw: float, pitch: float, size: float) -> None:
    """Two small circles: the head from above with the camera at ``yaw`` (0: in front of the face, at the
    bottom), and from the side with the camera at ``pitch`` (positive: above the head)."""
    origin = imgui.get_cursor_screen_pos()
    imgui.dummy(imgui.ImVec2(2 * size + 8, size))
    draw = imgui.get_window_draw_list()
    radius = 0.4 * size
    for index, angle in enumerate((yaw, pitch)):
        cx, cy = origin.x + index * (size + 8) + size / 2, origin.y + size / 2
        draw.add_circle(imgui.ImVec2(cx, cy), radius, GLYPH, 32, 1.0)
        draw.add_circle_filled(imgui.ImVec2(cx, cy), 0.22 * size, GLYPH)
        if index == 0:  # the nose points at the viewer's side of the top view
            draw.add_line(imgui.ImVec2(cx, cy), imgui.ImVec2(cx, cy + 0.3 * size), GLYPH, 2.0)
            x, y = math.sin(math.radians(angle)), math.cos(math.radians(angle))
        else:  # side view, face to the right
            draw.add_line(imgui.ImVec2(cx, cy), imgui.ImVec2(cx + 0.3 * size, cy), GLYPH, 2.0)
            x, y = math.cos(math.radians(angle)), -math.sin(math.radians(angle))
        camera = imgui.ImVec2(cx + radius * x, cy + radius * y)
        draw.add_line(camera, imgui.ImVec2(cx, cy), CAMERA, 1.0)
        draw.add_circle_filled(camera, 0.09 * size, CAMERA)

"""Export panel: the head on screen as a coloured or textured mesh, Gaussian splats or a turntable video,
on a worker thread.

Textured meshes and splats are made in two steps: the bake or fit runs on the worker thread and ends
in memory as a :class:`Pending` asset, which "Preview" renders from the live camera next to the live
render; only "Save" writes it (atomically, no second fit), so the user sees what the file will hold
before there is a file. Exports use exactly what the view shows:
the model the renderer has open and the ws of the picture on screen (seed, blend or latent file,
truncation, conditioning, edits) and of its background. Files go to the capture folder, never
overwrite, and are written atomically; a cancelled or failed export leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from imgui_bundle import imgui

from gui_utils.texture import Texture
from gui_utils.window import GlfwWindow
from panohead.config import GeneratorConfig
from panohead.devices import pick_device
from panohead.errors import one_line
from panohead.export.assets import SplatAsset, TexturedMeshAsset
from panohead.export.field import HeadField
from panohead.export.gaussians import Gaussians
from panohead.export.heads import Head, synthesize_head
from panohead.export.mesh import MESH_FORMATS, extract_mesh, save_mesh
from panohead.export.splat import (
    BACKGROUND_SUFFIX,
    SplatSettings,
    background_path,
    save_splat,
    splat_background,
    splat_head,
)
from panohead.export.tasks import FractionReport, stage
from panohead.export.texture import (
    TEXTURE_SIZES,
    TEXTURED_FORMATS,
    TextureSettings,
    save_textured_mesh,
    texture_head_mesh,
)
from panohead.export.video import BACKGROUNDS, VIDEO_FORMATS, VIEWS, Turntable, export_turntable
from panohead.generator import PanoHeadGenerator
from panohead.userdirs import resolve_output
from viz.jobs import Job, file_outcome
from viz.models import open_model
from viz.output_paths import output_folder, unique_path
from viz.renderer import Renderer
from viz.request import RenderRequest, head_name
from viz.state import MESH_RESOLUTIONS
from viz.ui import ERROR, MUTED, hint, job_progress, label, radio_row
from viz.widget import Widget

VIEW_NAMES = {
    "image": "Final",
    "raw": "Raw",
    "mask": "Mask",
    "depth": "Depth",
    "foreground": "Foreground",
    "background": "Background",
    "normals": "Normals",
    "density": "Density",
    "colour": "Colour",
    "mirror": "Mirror",
}
BACKGROUND_NAMES = {"generated": "Model's", "white": "White", "black": "Black"}
FRAME_RANGE = (8, 720)
FPS_RANGE = (1, 60)
FACE_RANGE = (1_000, 200_000)
GAUSSIAN_RANGE = (1_000, 200_000)
STEP_RANGE = (100, 10_000)
# Share of a textured or splat export's progress taken by the marching cubes.
SURFACE_SHARE = 0.3
SPLAT_SURFACE_RESOLUTION = 128  # the splats only start on this surface; a coarse one suffices
PREVIEW_SIZE = 256  # pixels; the asset is rendered on the CPU, twice as large and averaged down
ExportJob = Job[Path | None]  # its value: the file written, or None for an asset kept in memory for Save


def launch(command: list[str]) -> None:
    """Start a desktop helper (xdg-open) detached from the app; OSError if it is not installed."""
    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


@dataclass
class Pending:
    """A textured mesh or splats made but not written: ``asset`` renders it (the preview), ``save(path)``
    writes exactly it into ``folder`` (the capture folder when it was made) as ``stem`` + ``suffix``
    and, for splats with a background, ``stem`` + each of ``companions`` (never over a file);
    ``config`` places the preview's camera; ``saved`` is the file once written."""

    asset: TexturedMeshAsset | SplatAsset
    save: Callable[[Path], object]
    folder: Path
    stem: str
    suffix: str
    config: GeneratorConfig
    companions: tuple[str, ...] = ()  # endings of the files ``save`` writes beside STEM + suffix
    saved: Path | None = None

    @property
    def name(self) -> str:
        return self.saved.name if self.saved is not None else self.stem + self.suffix


class ExportWidget(Widget):
    title = "Export"
    tab = "Output"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.task: ExportJob | None = None
        self._own_model: tuple[tuple[str, str], PanoHeadGenerator] | None = None
        self.preview = False  # show the pending asset beside the live render
        self.pending: Pending | None = None  # the last textured mesh or splats made, set by the export thread
        self.preview_image: np.ndarray | None = None  # (S, S, 3) float, the last preview rendered
        self._preview_texture = Texture()
        self._preview_key: tuple | None = None
        self._preview_job: tuple[tuple, Future] | None = None
        self._preview_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asset-preview")

    # --- actions (also the test API) ---------------------------------------------------------------
    def export_mesh(self) -> ExportJob | None:
        """Start exporting the on-screen head as a mesh with the panel's settings: a coloured one is
        written; a textured one is baked into :attr:`pending` for the preview, and :meth:`save` writes it."""
        settings = dataclasses.replace(self.app.state.export)
        resolution, suffix, textured = settings.mesh_resolution, settings.mesh_format, settings.mesh_texture
        if textured and suffix not in TEXTURED_FORMATS:
            self.app.notify(f".{suffix} cannot hold a texture: choose .glb or .obj", error=True)
            return None
        texture = TextureSettings(settings.mesh_faces, settings.texture_size)

        def work(
            request: RenderRequest,
            generator: PanoHeadGenerator,
            head: Head,
            folder: Path,
            progress: FractionReport,
            cancel: threading.Event,
        ) -> Path | None:
            field = HeadField(generator, head)
            mesh = extract_mesh(
                field,
                resolution,
                settings.threshold,
                not settings.all_components,
                settings.smooth,
                progress=stage(progress, 0.0, SURFACE_SHARE if textured else 1.0),
                cancel=cancel,
            )
            name = f"mesh_{head_name(request)}_{resolution}" + ("_textured" if textured else "")
            if not textured:
                path = unique_path(folder, name, f".{suffix}")
                save_mesh(mesh, path)
                return path
            textured_mesh = texture_head_mesh(
                generator, head, mesh, texture, field, stage(progress, SURFACE_SHARE, 1.0), cancel
            )
            save = lambda path: save_textured_mesh(textured_mesh, path)  # noqa: E731
            self._made(TexturedMeshAsset(textured_mesh), save, folder, name, f".{suffix}", generator)
            return None

        kind = f"textured mesh, {texture.faces} faces" if textured else f"mesh {resolution}^3"
        return self._start(f"{kind} (.{suffix})", work)

    def export_splat(self) -> ExportJob | None:
        """Start fitting Gaussian splats to the on-screen head with the panel's settings, into
        :attr:`pending` for the preview; :meth:`save` writes the 3DGS .ply (and, with the background
        on, the backdrop set as NAME_background.ply; the preview shows both)."""
        settings = dataclasses.replace(self.app.state.export)
        splat = SplatSettings(
            count=settings.splat_gaussians,
            steps=settings.splat_steps,
            background=settings.splat_background_gaussians if settings.splat_background else 0,
        )
        head_end = (1.0 + SURFACE_SHARE) / 2 if splat.background else 1.0  # the backdrop's fit takes the rest

        def work(
            request: RenderRequest,
            generator: PanoHeadGenerator,
            head: Head,
            folder: Path,
            progress: FractionReport,
            cancel: threading.Event,
        ) -> None:
            field = HeadField(generator, head)
            surface = extract_mesh(
                field,
                SPLAT_SURFACE_RESOLUTION,
                settings.threshold,
                progress=stage(progress, 0.0, SURFACE_SHARE),
                cancel=cancel,
            )
            gaussians = splat_head(
                generator, head, surface, field, splat, stage(progress, SURFACE_SHARE, head_end), cancel
            )
            stem = f"splat_{head_name(request)}_{len(gaussians)}"
            if not splat.background:
                save = lambda path: save_splat(gaussians, path)  # noqa: E731
                self._made(SplatAsset(gaussians), save, folder, stem, ".ply", generator)
                return
            backdrop = splat_background(generator, head, gaussians, splat, stage(progress, head_end, 1.0), cancel)

            def save_both(path: Path) -> None:
                save_splat(gaussians, path)
                save_splat(backdrop, background_path(path))

            asset = SplatAsset(Gaussians.cat([gaussians, backdrop]))
            self._made(asset, save_both, folder, stem, ".ply", generator, (f"{BACKGROUND_SUFFIX}.ply",))

        background = f" + {splat.background} background" if splat.background else ""
        return self._start(f"splats, {splat.count}{background} Gaussians (.ply)", work)

    def save(self) -> ExportJob | None:
        """Write the pending textured mesh or splats (what the preview shows) into the capture folder,
        on the export thread; no second bake or fit."""
        pending = self.pending
        if pending is None:
            self.app.notify("nothing to save yet: bake a textured mesh or fit splats first", error=True)
            return None
        if self.task is not None and self.task.running:
            self.app.notify("an export is already running: wait for it or cancel it", error=True)
            return None

        def run(job: ExportJob) -> Path:
            path = unique_path(pending.folder, pending.stem, pending.suffix, pending.companions)
            pending.save(path)
            pending.saved = path
            return path

        self.task = Job.start(f"saving {pending.name}", run, GlfwWindow.wake, self._finished)
        return self.task

    def export_video(self) -> ExportJob | None:
        """Start exporting a 360-degree turntable of the on-screen head at the view's pitch and distance."""
        settings, camera = dataclasses.replace(self.app.state.export), self.app.state.edit.camera
        turntable = Turntable(
            frames=settings.frames,
            pitch=min(max(camera.pitch, -89.0), 89.0),
            radius=camera.radius,
            background=settings.video_background,
            view=settings.video_view,
            fps=settings.fps,
        )

        def work(
            request: RenderRequest,
            generator: PanoHeadGenerator,
            head: Head,
            folder: Path,
            progress: FractionReport,
            cancel: threading.Event,
        ) -> Path:
            path = unique_path(
                folder, f"turntable_{head_name(request)}_{settings.video_view}", f".{settings.video_format}"
            )
            export_turntable(generator, [head], path, turntable, progress, cancel)
            return path

        return self._start(f"turntable, {settings.frames} frames (.{settings.video_format})", work)

    def cancel(self) -> None:
        if self.task is not None and self.task.running:
            self.task.cancel()

    def open_folder(self) -> None:
        """Show the last exported file's folder in the desktop's file manager."""
        if self.task is None or self.task.value is None:
            return
        folder = self.task.value.parent
        try:
            launch(["xdg-open", str(folder)])
        except OSError as error:
            self.app.notify(f"cannot open {folder}: xdg-open is not available ({error.strerror or error})", error=True)

    def close(self) -> None:
        """Cancel a running export and wait for it, so the app never exits mid-write."""
        if self.task is not None and self.task.running:
            self.task.cancel()
            self.task.join(timeout=60.0)
        self._preview_worker.shutdown(wait=True, cancel_futures=True)
        self._preview_texture.delete()

    def _made(
        self,
        asset: TexturedMeshAsset | SplatAsset,
        save: Callable[[Path], object],
        folder: Path,
        stem: str,
        suffix: str,
        generator: PanoHeadGenerator,
        companions: tuple[str, ...] = (),
    ) -> None:
        """Keep a baked or fitted asset for the preview and Save (on the export thread); the preview
        turns on so the user sees it at once."""
        self.pending = Pending(asset, save, folder, stem, suffix, generator.config, companions)
        self.preview = True

    def _update_preview(self, pending: Pending) -> None:
        """Render the pending asset from the live camera on the preview thread whenever the camera moves."""
        asset, config, name = pending.asset, pending.config, pending.name
        camera = self.app.editor.request().edit.camera
        key = (id(asset), camera)
        if self._preview_job is not None and self._preview_job[1].done():
            done_key, job = self._preview_job
            self._preview_job = None
            try:
                image, _ = job.result()
            except (RuntimeError, ValueError, MemoryError) as error:
                self.preview = False
                self.app.notify(f"cannot preview {name}: {one_line(error)}", error=True)
                return
            self.preview_image = image.numpy()
            self._preview_texture.upload(self.preview_image)
            self._preview_key = done_key
        if self._preview_job is None and key != self._preview_key:
            label = camera.config_label(config, torch.device("cpu"))
            self._preview_job = (key, self._preview_worker.submit(asset.render, label, PREVIEW_SIZE, 2))
            GlfwWindow.wake()

    # --- plumbing ------------------------------------------------------------------------------------
    def _start(self, description: str, work) -> ExportJob | None:
        app = self.app
        if self.task is not None and self.task.running:
            app.notify("an export is already running: wait for it or cancel it", error=True)
            return None
        result = app.result
        if result is None or result.ws is None:
            app.notify("nothing to export yet: wait for the first picture", error=True)
            return None
        request, folder_name = result.request, app.state.capture.folder
        ws, background_ws = result.ws, result.background_ws

        def run(job: ExportJob) -> Path | None:
            device = pick_device(request.device)
            generator = self._generator(request.source, device)
            as_batch = lambda array: torch.from_numpy(np.ascontiguousarray(array))[None].to(device)  # noqa: E731
            head = synthesize_head(
                generator, as_batch(ws), background_ws=None if background_ws is None else as_batch(background_ws)
            )
            return work(request, generator, head, output_folder(folder_name), job.report, job.cancel_event)

        self.task = Job.start(description, run, GlfwWindow.wake, self._finished)
        return self.task

    def _generator(self, source: str, device: torch.device) -> PanoHeadGenerator:
        """The generator the renderer has open (shared read-only), else a copy opened for exports."""
        key = (source, str(device))
        renderer = self.app.renderer.render_fn
        cached = renderer.models.peek(key) if isinstance(renderer, Renderer) else None
        if cached is not None:
            return cached[0]
        if self._own_model is None or self._own_model[0] != key:
            self._own_model = (key, open_model(source, device)[0])
        return self._own_model[1]

    def _finished(self, task: ExportJob) -> None:  # runs on the export thread
        if task.status == "done" and task.value is None and self.pending is not None:
            self.app.notify(f"{self.pending.name} is ready: see the preview, then Save writes it")
        else:
            self.app.notify(*file_outcome(task, "export", "exported"))

    # --- drawing -------------------------------------------------------------------------------------
    def __call__(self, show: bool) -> None:
        if not show:
            return
        export, scale = self.app.state.export, self.app.scale
        busy = self.task is not None and self.task.running
        ready = not busy and self.app.result is not None

        self._task_status()  # first, with the preview: the export's progress is in sight without scrolling
        pending = self.pending  # one read: the export thread may replace it meanwhile
        if pending is not None:
            self._preview_panel(pending, scale, busy)
        imgui.separator_text("Mesh")
        label("Format", scale)
        formats = TEXTURED_FORMATS if export.mesh_texture else MESH_FORMATS
        export.mesh_format = radio_row(export.mesh_format, [(f, f".{f}") for f in formats], "mesh-format")
        label("Resolution", scale)
        export.mesh_resolution = radio_row(export.mesh_resolution, [(r, str(r)) for r in MESH_RESOLUTIONS], "mesh-res")
        label("Threshold", scale)
        _, export.threshold = imgui.drag_float("##threshold", export.threshold, 0.1, 0.01, 1000.0, "%.2f")
        imgui.set_item_tooltip("Iso-level of the density softplus(sigma - 1); lower it if the export finds no surface")
        label("Smoothing", scale)
        _, export.smooth = imgui.slider_int("##smooth", export.smooth, 0, 20, "%d iterations")
        _, export.all_components = imgui.checkbox("Keep floaters (every connected part)", export.all_components)
        changed, export.mesh_texture = imgui.checkbox("UV texture from the final images", export.mesh_texture)
        imgui.set_item_tooltip("Decimate, unwrap (xatlas) and bake 24 super-resolved views into a texture")
        if changed and export.mesh_texture and export.mesh_format not in TEXTURED_FORMATS:
            export.mesh_format = TEXTURED_FORMATS[0]
        if export.mesh_texture:
            label("Faces", scale)
            _, export.mesh_faces = imgui.slider_int(
                "##faces", export.mesh_faces, *FACE_RANGE, "%d", imgui.SliderFlags_.logarithmic
            )
            label("Texture", scale)
            sizes = [(t, f"{t // 1024}K" if t >= 1024 else str(t)) for t in TEXTURE_SIZES]
            export.texture_size = radio_row(export.texture_size, sizes, "texture-size")
        imgui.begin_disabled(not ready)
        if imgui.button("Bake and preview" if export.mesh_texture else "Export mesh"):
            self.export_mesh()
        imgui.end_disabled()

        imgui.separator_text("Gaussian splats")
        label("Gaussians", scale)
        _, export.splat_gaussians = imgui.slider_int(
            "##gaussians", export.splat_gaussians, *GAUSSIAN_RANGE, "%d", imgui.SliderFlags_.logarithmic
        )
        label("Steps", scale)
        _, export.splat_steps = imgui.slider_int(
            "##steps", export.splat_steps, *STEP_RANGE, "%d", imgui.SliderFlags_.logarithmic
        )
        imgui.set_item_tooltip("Optimisation steps against the final images of 24 views (minutes on a CPU)")
        _, export.splat_background = imgui.checkbox("Background as a second set", export.splat_background)
        imgui.set_item_tooltip(
            "Also fit the model's background: a backdrop of Gaussians on a sphere around the cameras, "
            "written beside the head as NAME_background.ply (open both files together)"
        )
        if export.splat_background:
            label("Background", scale)
            _, export.splat_background_gaussians = imgui.slider_int(
                "##background-gaussians",
                export.splat_background_gaussians,
                *GAUSSIAN_RANGE,
                "%d",
                imgui.SliderFlags_.logarithmic,
            )
        imgui.begin_disabled(not ready)
        if imgui.button("Fit and preview"):
            self.export_splat()
        imgui.end_disabled()

        imgui.separator_text("Turntable video")
        label("Format", scale)
        export.video_format = radio_row(export.video_format, [(f, f".{f}") for f in VIDEO_FORMATS], "video-format")
        label("View", scale)
        export.video_view = radio_row(export.video_view, [(v, VIEW_NAMES[v]) for v in VIEWS], "video-view")
        label("Background", scale)
        export.video_background = radio_row(
            export.video_background, [(b, BACKGROUND_NAMES[b]) for b in BACKGROUNDS], "video-bg"
        )
        label("Frames", scale)
        _, export.frames = imgui.slider_int("##frames", export.frames, *FRAME_RANGE)
        label("FPS", scale)
        _, export.fps = imgui.slider_int("##fps", export.fps, *FPS_RANGE)
        imgui.begin_disabled(not ready)
        if imgui.button("Export turntable"):
            self.export_video()
        imgui.end_disabled()

        imgui.spacing()
        hint(
            "Exports the head on screen into the capture folder "
            f"({resolve_output(self.app.state.capture.folder)}); textured meshes and splats are previewed first "
            "and written by Save. Meshes and splats: y up, face towards +z, units of the tri-grid box. Plain "
            "meshes carry vertex colours before "
            "super-resolution; textured meshes and splats are fitted to the final images. The turntable orbits "
            "at the view's pitch and distance."
        )

    def _preview_panel(self, pending: Pending, scale: float, busy: bool) -> None:
        asset, name = pending.asset, pending.name
        imgui.separator_text("Preview")
        imgui.begin_disabled(busy or pending.saved is not None)
        if imgui.button(f"Save {name}"):
            self.save()
        imgui.end_disabled()
        imgui.set_item_tooltip("Write what the preview shows into the capture folder")
        _, self.preview = imgui.checkbox("Show beside the live render", self.preview)
        imgui.set_item_tooltip("Rendered from the live camera (on the CPU): what the file holds")
        if not self.preview:
            return
        self._update_preview(pending)
        if self._preview_texture.shape is None:
            imgui.text_colored(MUTED, "rendering the preview...")
            return
        side = min((imgui.get_content_region_avail().x - imgui.get_style().item_spacing.x) / 2, 240 * scale)
        imgui.image(self.app.texture.ref, imgui.ImVec2(side, side))
        imgui.set_item_tooltip("Live render")
        imgui.same_line()
        imgui.image(self._preview_texture.ref, imgui.ImVec2(side, side))
        imgui.set_item_tooltip(f"{name}: {asset.description}")
        imgui.text_colored(MUTED, f"live render | {name} ({asset.description})")

    def _task_status(self) -> None:
        task = self.task
        if task is None:
            return
        if task.running:
            job_progress(task)
        elif task.status == "done":
            if task.value is None:
                imgui.text_colored(MUTED, "made: the preview below shows it; Save writes it")
            else:
                imgui.text_colored(MUTED, f"exported {task.value}")
                if imgui.button("Open folder"):
                    self.open_folder()
        elif task.status == "failed":
            hint(f"export failed: {task.error}", ERROR)
        else:
            imgui.text_colored(MUTED, "export cancelled; nothing was written")

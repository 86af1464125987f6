"""Keyframes panel: keep heads with their cameras, play the path through them, export it as video.

A keyframe is the exact engine state on screen (latent, mixing, directions, background, camera).
Between keyframes w is interpolated (spherically about the mean w, or linearly) and the camera turns
the short way round or with whole extra turns. Playing shows the path in the view (at whatever rate
the renderer keeps up with) and returns to the current head afterwards; exporting renders every frame
to .mp4 or .gif in the capture folder with the turntable exporter's views and backgrounds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from imgui_bundle import imgui

from gui_utils.window import GlfwWindow
from panohead.editing import frame_count
from panohead.editing.keyframes import INTERPOLATIONS, YAW_MODES
from panohead.editing.path_video import export_path
from panohead.export.video import BACKGROUNDS, VIDEO_FORMATS, VIEWS, Turntable, VideoBackground, VideoFormat, VideoView
from viz.jobs import Job, file_outcome
from viz.output_paths import output_folder, unique_path
from viz.ui import MUTED, hint, job_progress, label
from viz.widget import Widget


class KeyframesWidget(Widget):
    title = "Keyframes"
    tab = "Edit"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.loop_playback = False
        self.view: VideoView = "image"
        self.background: VideoBackground = "generated"
        self.format: VideoFormat = "mp4"
        self.task: Job[Path] | None = None

    def export(self) -> None:
        """Write the keyframe path as a video into the capture folder (a new file each time), on an
        export thread sharing the renderer's model."""
        app, editor = self.app, self.app.editor
        if self.task is not None and self.task.running:
            app.notify("a keyframe video is already being written: wait for it or cancel it", error=True)
            return
        keyframes, settings, folder_name = list(editor.keyframes), editor.path, app.state.capture.folder
        options = Turntable(view=self.view, background=self.background, fps=settings.fps)
        source, device, suffix = app.state.model.source, str(app.device), f".{self.format}"

        def start(generator) -> None:
            def work(job: Job[Path]) -> Path:
                path = unique_path(output_folder(folder_name), "keyframes", suffix)
                export_path(generator, keyframes, path, settings, options, job.report, job.cancel_event)
                return path

            description = f"{frame_count(keyframes, settings)} frames ({suffix})"
            self.task = Job.start(description, work, GlfwWindow.wake, self._finished)

        editor.run_task("export", lambda renderer: renderer.model(source, device)[0], start)

    def _finished(self, task: Job[Path]) -> None:  # runs on the export thread
        self.app.notify(*file_outcome(task, "keyframe video", "saved keyframe video"))

    def close(self) -> None:
        """Cancel a video being written and wait for it, so the app never exits mid-write."""
        if self.task is not None and self.task.running:
            self.task.cancel()
            self.task.join(timeout=60.0)

    def __call__(self, show: bool) -> None:
        if not show:
            return
        app, scale = self.app, self.app.scale
        editor = app.editor
        playing, exporting = editor.playback is not None, self.task is not None and self.task.running
        imgui.begin_disabled(playing)
        if imgui.button("Add keyframe"):
            editor.add_keyframe()
        imgui.end_disabled()
        imgui.set_item_tooltip("Keeps the head and camera on screen, with every edit")
        for index, keyframe in enumerate(list(editor.keyframes)):
            imgui.push_id(f"keyframe-{index}")
            camera = keyframe.state.camera
            imgui.text(f"{index + 1}. {keyframe.name}")
            imgui.same_line()
            imgui.text_colored(MUTED, f"{keyframe.state.latent.label}, yaw {camera.yaw:.0f}")
            imgui.same_line()
            imgui.begin_disabled(playing)
            if imgui.small_button("go to"):
                editor.go_to_keyframe(index)
            imgui.same_line()
            if imgui.small_button("remove"):
                del editor.keyframes[index]
            imgui.end_disabled()
            imgui.pop_id()
        if not editor.keyframes:
            imgui.text_colored(MUTED, "no keyframes yet")
        self._path_settings(scale)
        count = len(editor.keyframes)
        ready = count >= (1 if editor.path.loop else 2)
        frames = frame_count(editor.keyframes, editor.path) if ready else 0
        if playing:
            if imgui.button("Stop"):
                editor.stop()
        else:
            imgui.begin_disabled(not ready or "play" in editor.busy)
            if imgui.button("Play"):
                editor.play(self.loop_playback)
            imgui.end_disabled()
        imgui.same_line()
        _, self.loop_playback = imgui.checkbox("Repeat", self.loop_playback)
        if ready:
            imgui.same_line()
            imgui.text_colored(MUTED, f"{frames} frames, {frames / editor.path.fps:.1f} s")
        self._export(ready, exporting, scale)
        hint("Add at least two keyframes (or one with 'Back to the first' and whole turns for a turntable).")

    def _path_settings(self, scale: float) -> None:
        editor = self.app.editor
        path = editor.path
        imgui.separator_text("Path")
        label("Frames", scale)
        _, frames = imgui.slider_int("##frames", path.frames_per_segment, 2, 240, "%d per segment")
        label("Latent", scale)
        _, interpolation = imgui.combo(
            "##interp", INTERPOLATIONS.index(path.interpolation), ["spherical (slerp)", "linear (lerp)"]
        )
        label("Yaw", scale)
        _, yaw_mode = imgui.combo("##yaw-mode", YAW_MODES.index(path.yaw_mode), ["shortest arc", "whole turns"])
        turns = path.turns
        if YAW_MODES[yaw_mode] == "turns":
            label("Turns", scale)
            _, turns = imgui.slider_int("##turns", path.turns, -3, 3, "%d per segment")
        label("FPS", scale)
        _, fps = imgui.slider_int("##fps", path.fps, 1, 60)
        _, loop = imgui.checkbox("Back to the first keyframe", path.loop)
        editor.path = dataclasses.replace(
            path,
            frames_per_segment=max(frames, 1),
            interpolation=INTERPOLATIONS[interpolation],
            yaw_mode=YAW_MODES[yaw_mode],
            turns=turns,
            fps=min(max(fps, 1), 120),
            loop=loop,
        )

    def _export(self, ready: bool, exporting: bool, scale: float) -> None:
        editor = self.app.editor
        imgui.separator_text("Video")
        label("View", scale)
        _, view = imgui.combo("##video-view", VIEWS.index(self.view), list(VIEWS))
        self.view = VIEWS[view]
        label("Background", scale)
        _, background = imgui.combo("##video-bg", BACKGROUNDS.index(self.background), list(BACKGROUNDS))
        self.background = BACKGROUNDS[background]
        label("Format", scale)
        _, fmt = imgui.combo("##video-format", VIDEO_FORMATS.index(self.format), list(VIDEO_FORMATS))
        self.format = VIDEO_FORMATS[fmt]
        if exporting and self.task is not None:
            job_progress(self.task)
        else:
            imgui.begin_disabled(not ready or "export" in editor.busy)
            if imgui.button("Export video"):
                self.export()
            imgui.end_disabled()
            imgui.set_item_tooltip("Renders every frame at full quality into the capture folder")
            if self.task is not None and self.task.status == "done":
                imgui.text_colored(MUTED, f"saved {self.task.value}")

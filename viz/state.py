"""Everything the user can set: the head as one engine :class:`panohead.editing.EditState` (what undo,
sessions and keyframes hold), and view-only settings as plain mutable dataclasses that widgets read
and write each frame.

Widgets change the head by replacing ``state.edit`` (``state.edit = state.edit.replace(psi=0.5)``).
The renderer never sees this object: :func:`viz.request.build_request` freezes the parts it needs
into a hashable :class:`viz.request.RenderRequest`. Angles are in degrees, as shown in the UI.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from panohead.camera import DEFAULT_FOCAL, DEFAULT_LOOK_AT, DEFAULT_RADIUS, fov_from_focal
from panohead.config import PresetName
from panohead.editing import Camera, EditState, Latent
from panohead.editing.session import state_from_json, state_to_json
from panohead.editing.state import FOLLOW_CAMERA
from panohead.export.mesh import MeshFormat
from panohead.export.splat import SplatSettings
from panohead.export.texture import TEXTURE_SIZES, TextureSettings
from panohead.export.video import VideoBackground, VideoFormat, VideoView
from panohead.numbers import literal_choices, number_problem
from panohead.precision import RenderingPrecision
from panohead.views.images import Axis, Colormap
from panohead.views.modes import ViewMode
from panohead.views.trigrid import TrigridDisplay

DEFAULT_FOV = round(fov_from_focal(DEFAULT_FOCAL), 3)  # 18.837 in the official convention
# The viewer's cameras always name radius, fov and look_at (the zoom and the sliders change them).
DEFAULT_CAMERA = Camera(0.0, 0.0, DEFAULT_RADIUS, DEFAULT_FOV, DEFAULT_LOOK_AT)

# What the viewport shows: the head, the tri-grid inspector or the mirrored-face inspector.
ViewTarget = Literal["head", "trigrid", "mirror"]
VIEW_TARGETS: tuple[ViewTarget, ...] = get_args(ViewTarget)
# What is behind the head: the background network ("model", its latent is EditState.background) or a
# replacement laid behind the final picture with the foreground mask.
BackgroundMode = Literal["model", "image", "colour", "transparent"]
Backdrop = Literal["checkerboard", "transparent"]  # drawn behind transparent pixels
# How a training run starts: from scratch, the newest snapshot in its folder, a snapshot, or a checkpoint.
StartFrom = Literal["scratch", "continue", "snapshot", "finetune"]
MESH_RESOLUTIONS = (64, 128, 256, 512)


@dataclass
class ModelState:
    source: str = "bundled"  # "bundled", "random:<preset>" or a checkpoint path (.safetensors / .pkl)
    recent: list[str] = field(default_factory=list)  # most recent first
    # A panohead.precision name out of RENDERING. "tf32": TensorFloat-32 matmul/conv; "fp16": fp16
    # super-resolution and background (CUDA only; a CPU renders fp32 whatever is chosen). fp16 by
    # default: docs/performance.md measures its largest difference from fp32 at 2.2e-2 (paper model)
    # and 1.8e-3 (bundled) of the [-1, 1] range, under three 8-bit levels; TF32 moved the bundled
    # model's images by up to 0.15, so it stays opt-in.
    precision: RenderingPrecision = "fp16"
    cuda_graphs: bool = True  # replay the render and super-resolution stages from CUDA graphs (CUDA only)


@dataclass
class ViewState:
    target: ViewTarget = "head"
    mode: ViewMode = "final"
    backdrop: Backdrop = "checkerboard"
    slice_axis: Axis = "z"  # density/colour slice: the axis the plane is perpendicular to
    slice_offset: float = 0.0  # position of that plane in box units (-0.5..0.5)
    turntable: bool = False  # spin the camera (not an edit: its yaw is not recorded for undo)
    turntable_speed: float = 30.0  # degrees per second


def default_edit() -> EditState:
    """The head the viewer starts with: seed 0, psi 0.7 (Sec. 4), frontal conditioning, front view."""
    return EditState(latent=Latent.from_seed(0), psi=0.7, camera=DEFAULT_CAMERA)


@dataclass
class BackgroundState:
    mode: BackgroundMode = "model"
    seed: int = 1  # the Background panel's "Another seed" (EditState.background while that choice is on)
    image: str = ""
    colour: tuple[float, float, float] = (0.92, 0.92, 0.92)


@dataclass
class TrigridState:
    display: TrigridDisplay = "pca"  # "pca" (32 channels -> RGB) or "channel"
    channel: int = 0
    colormap: Colormap = "coolwarm"
    all_planes: bool = True  # all D planes per grid, or only `depth_index`
    depth_index: int = 0
    offsets: tuple[float, float, float] = (0.0, 0.0, 0.0)  # continuous slice position along x, y, z (box units)


@dataclass
class CaptureState:
    folder: str = "captures"
    alpha: bool = False  # PNG alpha channel from the foreground mask


@dataclass
class ExportState:
    """Mesh, splat and turntable exports of the head on screen (files go to the capture folder)."""

    mesh_format: MeshFormat = "ply"
    mesh_resolution: int = 256  # grid samples per axis
    threshold: float = 10.0  # iso-level of the density softplus(sigma - 1)
    smooth: int = 0  # Taubin iterations
    all_components: bool = False  # keep floaters
    video_format: VideoFormat = "mp4"
    frames: int = 120
    fps: int = 30
    video_view: VideoView = "image"
    video_background: VideoBackground = "generated"
    mesh_texture: bool = False  # decimate, UV-unwrap and bake a texture (glb or obj)
    mesh_faces: int = TextureSettings.faces  # face budget of a textured mesh
    texture_size: int = TextureSettings.size
    splat_gaussians: int = SplatSettings.count
    splat_steps: int = SplatSettings.steps
    splat_background: bool = False  # also fit the model's background as a second set (a backdrop)
    splat_background_gaussians: int = 10_000


@dataclass
class TrainingState:
    """The Training panel's "Start a run" form and the run folder it watches (remembered between sessions)."""

    data: str = ""  # dataset folder or zip
    masks: str = ""  # mask folder or zip; empty: <data>_masks (or <stem>_masks.zip) beside the dataset
    outdir: str = ""
    preset: PresetName = "small"
    kimg: float = 200.0  # the small preset's length; switching presets fills in theirs
    start_from: StartFrom = "scratch"
    checkpoint: str = ""
    gpus: int = 1  # 0 = CPU; limited to the GPUs torch sees
    folder: str = ""  # the run folder last watched


@dataclass
class InvertState:
    use_encoder: bool = True  # start from the model's encoder when it has one (off: from the mean head)


@dataclass
class UiState:
    show_help: bool = False
    show_sidebar: bool = True
    tab: str = "Model"  # the side panel's open tab
    sidebar_width: float = 380.0  # logical pixels at scale 1
    window_size: tuple[int, int] = (1600, 1000)


@dataclass
class AppState:
    model: ModelState = field(default_factory=ModelState)
    edit: EditState = field(default_factory=default_edit)  # the head: what undo, sessions and keyframes hold
    view: ViewState = field(default_factory=ViewState)
    background: BackgroundState = field(default_factory=BackgroundState)
    trigrid: TrigridState = field(default_factory=TrigridState)
    capture: CaptureState = field(default_factory=CaptureState)
    export: ExportState = field(default_factory=ExportState)
    training: TrainingState = field(default_factory=TrainingState)
    invert: InvertState = field(default_factory=InvertState)
    ui: UiState = field(default_factory=UiState)

    def to_dict(self) -> dict[str, Any]:
        values = {
            f.name: dataclasses.asdict(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "edit"
        }
        return {**values, "edit": state_to_json(self.edit)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], problems: list[str] | None = None) -> AppState:
        """Rebuild from :meth:`to_dict` output field by field: a missing entry keeps its default; an unknown
        or invalid one (another version's settings, a hand edit) keeps it too and is noted in ``problems``.
        Settings written before the head was one EditState (sections latent, camera, conditioning) are
        read too (:func:`upgrade_settings`)."""
        state, problems = cls(), problems if problems is not None else []
        upgraded: list[str] = []
        values = upgrade_settings(values, upgraded)
        sections = [section.name for section in dataclasses.fields(cls)]
        problems.extend(f"{name} (unknown section)" for name in values if name not in sections)
        problems.extend(upgraded)
        for name in [section for section in sections if section in values]:
            stored = values[name]
            if name == "edit":
                try:
                    state.edit = state_from_json(stored, "edit")
                except ValueError as error:
                    problems.append(f"edit ({error})")
            elif isinstance(stored, dict):
                problems.extend(update_section(getattr(state, name), stored, strict=False, where=name))
            else:
                problems.append(f"{name} (expected a group of settings, got {stored!r:.40})")
        return state

    def update(self, **sections: dict[str, Any]) -> None:
        """``state.update(view={"mode": "depth"}, edit={"psi": 0.5})``: set fields, raising on unknown names
        or bad values (``edit`` takes :class:`EditState` fields as engine values)."""
        for name, values in sections.items():
            if name not in {f.name for f in dataclasses.fields(self)}:
                raise ValueError(f"unknown state section {name!r}")
            if name == "edit":
                try:
                    self.edit = self.edit.replace(**values)
                except TypeError as error:
                    raise ValueError(f"edit: {error}") from None
            else:
                update_section(getattr(self, name), values, strict=True)


# (lowest, highest) the controls of settings files before EditState could set (see upgrade_settings).
LEGACY_RANGES = {
    ("camera", "pitch"): (-89.0, 89.0),
    ("camera", "radius"): (1.0, 6.0),
    ("camera", "fov"): (5.0, 45.0),
    ("latent", "psi"): (0.0, 1.5),
    ("latent", "blend"): (0.0, 1.0),
    ("conditioning", "pitch"): (-89.0, 89.0),
}


def upgrade_settings(values: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """Settings as :meth:`AppState.to_dict` writes them, from a file written before the head was one
    EditState: its sections ``latent``, ``camera`` and ``conditioning`` and the background seed become the
    ``edit`` section; the turntable goes to ``view``. An entry that does not convert keeps its default and
    is noted in ``problems``. Newer settings are returned as they are."""
    if not any(name in values for name in ("latent", "camera", "conditioning")):
        return values
    values = dict(values)
    old = {name: values.pop(name, {}) for name in ("latent", "camera", "conditioning")}
    old["background"] = values.get("background", {})
    if not all(isinstance(section, dict) for section in old.values()):
        problems.append("latent, camera, conditioning or background (expected groups of settings)")
        return values

    def take(section: str, key: str, convert: Callable[[Any], Any], default: Any) -> Any:
        """One old entry converted and checked against the range its control had, or ``default``."""
        if key not in old[section]:
            return default
        try:
            value = convert(old[section][key])
            numbers = value if isinstance(value, list) else [] if value is None else [value]
            problem = next(filter(None, (number_problem(n, LEGACY_RANGES.get((section, key))) for n in numbers)), None)
            if problem:
                raise ValueError(problem)
            return value
        except (TypeError, ValueError) as error:
            problems.append(f"{section}.{key} ({error})")
            return default

    edit = state_to_json(default_edit())
    seed, blend = take("latent", "seed", int, 0), take("latent", "blend", float, 0.0)
    edit["latent"] = {"seed": seed, "name": ""}
    if blend > 0.0:
        edit["latent"].update(seed_b=take("latent", "seed_b", int, 1), blend=blend)
    edit["psi"] = take("latent", "psi", float, edit["psi"])
    edit["cutoff"] = take("latent", "cutoff", lambda n: None if n is None else int(n), None)
    if old["latent"].get("file"):
        problems.append(f"latent.file (open {old['latent']['file']} again in the Latent panel)")
    for key in ("yaw", "pitch", "radius", "fov"):
        edit["camera"][key] = take("camera", key, float, edit["camera"][key])
    edit["camera"]["look_at"] = take("camera", "look_at", lambda v: [float(n) for n in v], edit["camera"]["look_at"])
    view = dict(values.get("view", {}))
    view.update({key: old["camera"][key] for key in ("turntable", "turntable_speed") if key in old["camera"]})
    mode = old["conditioning"].get("mode", "frontal")
    if mode == "follow":
        edit["conditioning"] = FOLLOW_CAMERA
    elif mode == "custom":
        edit["conditioning"] = [take("conditioning", key, float, 0.0) for key in ("yaw", "pitch")]
    background = dict(old["background"])
    if background.get("mode") == "seed":
        edit["background"] = {"seed": take("background", "seed", int, 1), "name": ""}
    if background.get("mode") in ("same", "seed"):
        background["mode"] = "model"
    return {**values, "edit": edit, "view": view, "background": background}


def update_section(section: Any, values: dict[str, Any], strict: bool, where: str = "") -> list[str]:
    """Assign ``values`` to fields of one section, coerced to the field's default type; choices and ranges
    are checked. ``strict`` raises ValueError on the first bad entry; otherwise bad entries are skipped
    (the field keeps its value) and returned as "where.field (why)" lines (``where``: the section's name in
    a file, default its class name)."""
    fields = {f.name: f for f in dataclasses.fields(section)}
    where = where or type(section).__name__
    skipped = []
    for name, value in values.items():
        if name not in fields:
            if strict:
                raise ValueError(f"unknown setting {where}.{name}")
            skipped.append(f"{where}.{name} (unknown setting)")
            continue
        spec = fields[name]
        template = spec.default if spec.default_factory is dataclasses.MISSING else spec.default_factory()
        try:
            value = _coerce(template, value)
            _validate(section, name, value)
        except (TypeError, ValueError) as error:
            if strict:
                raise ValueError(f"{where}.{name}: {error}") from None
            skipped.append(f"{where}.{name} ({error})")
            continue
        setattr(section, name, value)
    return skipped


# The choices of number settings; a text setting's choices are its Literal type (panohead.numbers.literal_choices).
CHOICES = {
    ("ExportState", "mesh_resolution"): MESH_RESOLUTIONS,
    ("ExportState", "texture_size"): TEXTURE_SIZES,
}


# (lowest, highest) of numbers the controls can set: a value outside came from a hand edit or another version.
RANGES = {
    ("ViewState", "turntable_speed"): (-180.0, 180.0),
    ("ViewState", "slice_offset"): (-0.5, 0.5),
    ("ExportState", "threshold"): (0.01, 1000.0),
    ("ExportState", "smooth"): (0, 20),
    ("ExportState", "mesh_faces"): (100, 1_000_000),
    ("ExportState", "splat_gaussians"): (100, 2_000_000),
    ("ExportState", "splat_steps"): (0, 100_000),
    ("ExportState", "splat_background_gaussians"): (100, 2_000_000),
    ("TrainingState", "kimg"): (0.0, 1e6),
    ("TrainingState", "gpus"): (0, 64),
    ("UiState", "window_size"): (320, 16384),
}


def _validate(section: Any, name: str, value: Any) -> None:
    """Raise ValueError for a value no control could have set: not a choice, out of range, not finite."""
    key = (type(section).__name__, name)
    choices = CHOICES.get(key) or literal_choices(type(section)).get(name)
    if choices is not None and value not in choices:
        raise ValueError(f"{value!r} is not one of {', '.join(map(str, choices))}")
    numbers = value if isinstance(value, tuple) else (value,)
    if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
        raise ValueError(f"{value!r} is not a finite number")
    low, high = RANGES.get(key, (None, None))
    if low is not None and not all(low <= v <= high for v in numbers):
        raise ValueError(f"{value!r} is outside {low:g}..{high:g}")


def _coerce(template: Any, value: Any) -> Any:
    """``value`` converted to the type of ``template`` (a field default; None means "optional int")."""
    if template is None:
        return None if value is None else int(value)
    if isinstance(template, bool):
        if not isinstance(value, bool):
            raise TypeError(f"expected true/false, got {value!r}")
        return value
    if isinstance(template, tuple):
        if len(value) != len(template):
            raise ValueError(f"expected {len(template)} numbers, got {value!r}")
        return tuple(_coerce(t, v) for t, v in zip(template, value, strict=True))
    if isinstance(template, list):
        return [str(v) for v in value]
    if isinstance(template, (int, float, str)):
        return type(template)(value)
    raise TypeError(f"unsupported setting type {type(template).__name__}")

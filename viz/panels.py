"""The sidebar's panels, in order; each panel's ``tab`` groups it (new tab names add tabs).

Adding a panel is one import and one line here (see :mod:`viz.widget`).
"""

from __future__ import annotations

from viz.background_widget import BackgroundWidget
from viz.browser_widget import BrowserWidget
from viz.camera_widget import CameraWidget
from viz.capture_widget import CaptureWidget
from viz.checkpoint_widget import CheckpointWidget
from viz.compare_widget import CompareWidget
from viz.conditioning_widget import ConditioningWidget
from viz.directions_widget import DirectionsWidget
from viz.export_widget import ExportWidget
from viz.inversion_widget import InversionWidget
from viz.keyframes_widget import KeyframesWidget
from viz.latent_widget import LatentWidget
from viz.mirror_widget import MirrorWidget
from viz.mixing_widget import MixingWidget
from viz.performance_widget import PerformanceWidget
from viz.render_view_widget import RenderViewWidget
from viz.scores_widget import ScoresWidget
from viz.session_widget import SessionWidget
from viz.training_widget import TrainingWidget
from viz.trigrid_widget import TrigridWidget
from viz.truncation_widget import TruncationWidget
from viz.widget import Widget

PANELS: list[type[Widget]] = [
    CheckpointWidget,
    LatentWidget,
    TruncationWidget,
    SessionWidget,
    MixingWidget,
    DirectionsWidget,
    KeyframesWidget,
    CameraWidget,
    ConditioningWidget,
    RenderViewWidget,
    BackgroundWidget,
    TrigridWidget,
    ScoresWidget,
    MirrorWidget,
    BrowserWidget,
    CompareWidget,
    CaptureWidget,
    ExportWidget,
    PerformanceWidget,
    InversionWidget,
    TrainingWidget,
]

"""Mirrored-face inspector panel: does the back of the head repeat the face? (Sec. 3.2, Fig. 3)

A tri-plane's xy plane gives a point on the face and the point behind it on the back of the head
the same feature, so tri-plane models tend to paint a mirrored face on the back. The view shows
the front (yaw 0) next to the back (yaw 180) flipped left-right, and the project's mirrored-face
score (panohead.metrics.mirror): near 1 means the artifact is there. Compare a D = 1 checkpoint with D = 3.
"""

from __future__ import annotations

import math

from imgui_bundle import imgui

from viz.ui import ERROR, GOOD, MUTED, WARN, hint
from viz.widget import Widget


def verdict(similarity: float) -> tuple[imgui.ImVec4, str]:
    if math.isnan(similarity):
        return MUTED, "too little overlap between front and back"
    if similarity > 0.6:
        return ERROR, "strong mirrored face"
    if similarity > 0.3:
        return WARN, "some mirroring"
    return GOOD, "no mirrored face"


class MirrorWidget(Widget):
    title = "Mirrored-face inspector"
    tab = "Inspect"

    def __call__(self, show: bool) -> None:
        if not show:
            return
        app = self.app
        view = app.state.view
        if view.target != "mirror" and imgui.button("Show in the view"):
            view.target = "mirror"
        result = app.result
        if view.target == "mirror" and result is not None and "similarity" in result.stats:
            similarity = result.stats["similarity"]
            colour, text = verdict(similarity)
            imgui.text("Similarity")
            imgui.same_line()
            imgui.text_colored(colour, "n/a" if math.isnan(similarity) else f"{similarity:+.3f}")
            imgui.same_line()
            imgui.text_colored(colour, f"({text})")
            imgui.text_colored(MUTED, f"over {result.stats['overlap'] * 100:.0f}% of the picture")
        hint(
            "Front and back rendered at the current pitch and distance; the back is flipped so a "
            "mirrored face would line up. Score: the mirrored-face metric (panohead.metrics.mirror), the "
            "correlation of the head's own colours where both views see different surface points."
        )

"""CUDA graphs of the two fixed-shape stages of :mod:`panohead.views.stages` for the viewer.

Orbiting changes only the camera label, so on CUDA both stages keep their shapes frame after frame:
:class:`StageGraphs` captures each once (per shape and settings) with
:class:`panohead.fast.GraphedCall` and replays it, which removes the launch cost of the few hundred
small kernels of a paper-config frame. The functions read nothing but their arguments and the
generator's weights (whose addresses stay fixed while a model is open; the renderer releases the
graphs when the model changes), and they never synchronise with the host, so they are capturable.
Any capture failure leaves that stage eager for good (``error`` says why); results are fresh tensors
either way, so the viewer's caches may keep them.
"""

from __future__ import annotations

import functools

from panohead.fast import GraphedCall
from panohead.generator import PanoHeadGenerator
from panohead.views.stages import compose_image, march_volume


class StageGraphs:
    """CUDA graphs of :func:`march_volume` and :func:`compose_image` for one generator ``G``.

    One march graph (orbiting keeps its one shape; a precision change captures again) and two
    compose graphs (e.g. the final image and the foreground view) are kept.
    """

    def __init__(self, G: PanoHeadGenerator) -> None:
        self.G = G
        self.march = GraphedCall(functools.partial(march_volume, G), capacity=1)
        self.compose = GraphedCall(functools.partial(compose_image, G), capacity=2)

    @property
    def error(self) -> str | None:
        """Why a stage fell back to eager rendering (None while both replay or have not run)."""
        errors = [
            f"{name}: {graphed.error}"
            for name, graphed in (("render", self.march), ("super-resolution", self.compose))
            if graphed.error
        ]
        return "; ".join(errors) or None

    @property
    def replaying(self) -> bool:
        """Whether any stage currently holds a captured graph."""
        return self.march.captured > 0 or self.compose.captured > 0

    def release(self) -> None:
        """Free both stages' graphs and memory pools (call ``torch.cuda.empty_cache()`` to return them)."""
        self.march.release()
        self.compose.release()

"""Keep Dear ImGui's push/pop stacks balanced when Python code raises between a begin and its end.

A widget that raises after ``begin_disabled``, ``push_style_color``, ``begin_child`` or ``begin_plot``
would leave that scope open, and the next ``end_frame`` would fail on the unbalanced stack: one bug in
one panel would take the whole app down. :func:`recovering_scopes` records the stack depths before a
block and, if the block raises, closes whatever it left open before the exception goes on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from imgui_bundle import imgui, implot


@contextlib.contextmanager
def recovering_scopes() -> Iterator[None]:
    """Run a block of ImGui calls; if it raises, end its open plot, windows, children, ids, styles,
    fonts, disabled and tree scopes (back to the depths at entry), then re-raise. Between frames (no
    ImGui frame begun) there is nothing to recover and the block just runs."""
    if not imgui.get_current_context().within_frame_scope:
        yield
        return
    state = imgui.internal.ErrorRecoveryState()
    imgui.internal.error_recovery_store_state(state)
    plot_open = implot.internal.get_current_plot() is not None
    try:
        yield
    except BaseException:
        if not plot_open and implot.internal.get_current_plot() is not None:
            implot.end_plot()  # ImPlot keeps its own "current plot", outside ImGui's stacks
        io = imgui.get_io()
        saved = (
            io.config_error_recovery_enable_assert,
            io.config_error_recovery_enable_tooltip,
            io.config_error_recovery_enable_debug_log,
        )
        # Closing these scopes is expected here: no assertion, tooltip or console line (the caller reports the error).
        (
            io.config_error_recovery_enable_assert,
            io.config_error_recovery_enable_tooltip,
            io.config_error_recovery_enable_debug_log,
        ) = False, False, False
        try:
            imgui.internal.error_recovery_try_to_recover_state(state)
        finally:
            (
                io.config_error_recovery_enable_assert,
                io.config_error_recovery_enable_tooltip,
                io.config_error_recovery_enable_debug_log,
            ) = saved
        raise

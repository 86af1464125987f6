"""Background panel: swap what is behind the head without touching the head.

Neural backgrounds (the head's own latent or another seed) are composed behind the cached
ray-marched head with Eq. 3 and super-resolved; an image, a colour or transparency are laid
behind the final picture with the foreground mask, so pixels inside the head stay identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from imgui_bundle import imgui

from panohead.editing import Latent
from viz.file_dialog import FileDialog, path_field
from viz.ui import WARN, hint, label
from viz.widget import Widget

# The panel's choices: the background network on the head's latent or another seed's, or a replacement picture.
BackgroundChoice = Literal["same", "seed", "image", "colour", "transparent"]
MODES: tuple[tuple[BackgroundChoice, str], ...] = (
    ("same", "Same latent as the head"),
    ("seed", "Another seed"),
    ("image", "Image file"),
    ("colour", "Solid colour"),
    ("transparent", "Transparent"),
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
FILTERS = ["Images", " ".join(f"*{s}" for s in IMAGE_SUFFIXES), "All files", "*"]


class BackgroundWidget(Widget):
    title = "Background"
    tab = "View"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.dialog = FileDialog()
        self.path_text = app.state.background.image

    def choice(self) -> BackgroundChoice | Literal["explicit"]:
        """Which of :data:`MODES` is on: a replacement, or the background network's latent."""
        mode, latent = self.app.state.background.mode, self.app.state.edit.background
        if mode != "model":
            return mode
        return "same" if latent is None else "seed" if latent.seed is not None else "explicit"

    def choose(self, choice: BackgroundChoice) -> None:
        """Pick one of :data:`MODES`: "same" and "seed" set the background latent, the others replace the
        picture behind the head (and leave the background network on the head's own latent)."""
        bg = self.app.state.background
        bg.mode = "model" if choice in ("same", "seed") else choice
        self.app.editor.change(background=Latent.from_seed(bg.seed) if choice == "seed" else None)

    def __call__(self, show: bool) -> None:
        if not show:
            return
        bg, scale, model = self.app.state.background, self.app.scale, self.app.model
        latent = self.app.state.edit.background
        if latent is not None and latent.seed is not None:
            bg.seed = latent.seed  # a session, keyframe or undo step may have picked it
        choice = self.choice()
        for value, text in MODES:
            if imgui.radio_button(f"{text}##bg", choice == value):
                self.choose(value)
        choice = self.choice()
        if choice == "explicit":
            imgui.text_disabled(f"Background: {self.app.state.edit.background.label}")
        elif choice == "seed":
            label("Seed", scale)
            changed, seed = imgui.input_int("##bg-seed", bg.seed)
            if changed:
                bg.seed = max(0, seed)
                self.choose("seed")
        elif choice == "image":
            submitted, self.path_text = path_field("bg-image", self.path_text, self.dialog, "Background image", FILTERS)
            if submitted:
                bg.image = self.path_text
            if bg.image:
                imgui.text_disabled(Path(bg.image).name)
            else:
                hint("Choose a picture with Browse... or type its path: until then the model's own background shows.")
        elif choice == "colour":
            label("Colour", scale)
            changed, colour = imgui.color_edit3("##bg-colour", list(bg.colour))
            if changed:
                bg.colour = tuple(colour)
        if model is not None and not model.has_background and bg.mode == "model":
            imgui.text_colored(WARN, "This model has no background network (EG3D-style).")
        hint("The head does not change: only pixels outside its mask do.")

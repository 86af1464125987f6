"""Make the contact sheet of docs/alignment.md: the failure and edge cases of both alignment stages.

    python bench/alignment_contact_sheet.py docs/images/alignment_contact_sheet.png

Photos (written to a temporary folder, then aligned by ``panohead dataset align --contact-sheet``):
scikit-image's public-domain astronaut (stage 1); a drawn sun and a 36 px face on a plain photo
(refused by stage 2); synthetic heads at 160 px with exact yaws, held out from the head-yaw net
(seed 21: the +60 and -90 views of head 0 that were 52 and 26 degrees off with a confident
answer before the confidence was matched to the 15-degree bound, a +90 profile, a back; seed 31
head 1 at +150, one of the two seed-31 crops still over 15 degrees without the unsure flag).
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image, ImageDraw

from panohead.data.align import align_folder
from panohead.data.contact_sheet import ContactSheet
from panohead.data.synth import SynthSettings, synthesize
from panohead.images import to_uint8

SYNTHETIC = {  # file name: (seed, head, yaw in degrees)
    "synth_s21_h0_yaw+60.png": (21, 0, 60),
    "synth_s21_h0_yaw-90.png": (21, 0, -90),
    "synth_s21_h1_yaw+90.png": (21, 1, 90),
    "synth_s21_h2_yaw180.png": (21, 2, 180),
    "synth_s31_h1_yaw+150.png": (31, 1, 150),
}


def photos(folder: Path) -> None:
    Image.fromarray(skimage.data.astronaut()).resize((256, 256)).save(folder / "astronaut.jpg")
    sun = Image.new("RGB", (256, 256), (90, 150, 230))
    draw = ImageDraw.Draw(sun)
    draw.ellipse((83, 65, 173, 155), fill=(255, 220, 40))
    for k in range(12):
        t = k * math.pi / 6
        draw.line(
            (128 + 55 * math.cos(t), 110 + 55 * math.sin(t), 128 + 85 * math.cos(t), 110 + 85 * math.sin(t)),
            (255, 220, 40),
            5,
        )
    sun.save(folder / "drawn_sun.png")
    tiny = np.full((480, 480, 3), 200, np.uint8)
    face = Image.fromarray(skimage.data.astronaut()[20:260, 130:370]).resize((36, 36), Image.Resampling.BOX)
    tiny[200:236, 220:256] = np.asarray(face)
    Image.fromarray(tiny).save(folder / "tiny_face.png")
    for name, (seed, head, yaw) in SYNTHETIC.items():
        batch = synthesize(seed, [head], SynthSettings(resolution=160), yaw=yaw, pitch=0.0)
        Image.fromarray(to_uint8(batch.images[0])).save(folder / name)


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "alignment_contact_sheet.png")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp) / "photos"
        folder.mkdir()
        photos(folder)
        sheet = ContactSheet()
        report = align_folder(folder, Path(temp) / "aligned", resolution=128, sheet=sheet)
    sheet.save(path)
    print("\n".join(report.lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

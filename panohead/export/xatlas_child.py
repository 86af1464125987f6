"""The UV unwrap (xatlas) as a child process: run by :func:`panohead.export.texture.start_unwrap`.

xatlas holds the GIL for its whole run (seconds for a 25k-face head), so on a thread it would
stall the generator rendering the baking views; in its own process the two overlap. This file is
run by path (``python xatlas_child.py``, with the parent's module path) and imports only numpy and
xatlas, so the child starts in a fraction of a second. Protocol: stdin holds four ``.npy`` arrays
(vertices (V, 3) float32, faces (F, 3) uint32, [resolution, padding] int64, nothing else), stdout
gets three (vertex mapping (V',) uint32, faces (F, 3) uint32, UVs (V', 2) float32 in [0, 1]).
"""

from __future__ import annotations

import io
import sys

import numpy as np
import xatlas


def main() -> None:
    stream = io.BytesIO(sys.stdin.buffer.read())
    vertices, faces, (resolution, padding) = (np.load(stream) for _ in range(3))
    atlas = xatlas.Atlas()
    atlas.add_mesh(vertices, faces)
    pack = xatlas.PackOptions()
    pack.resolution = int(resolution)
    pack.padding = int(padding)
    pack.bilinear = True
    atlas.generate(pack_options=pack)
    out = io.BytesIO()
    for array in atlas[0]:
        np.save(out, array)
    sys.stdout.buffer.write(out.getvalue())


if __name__ == "__main__":
    main()

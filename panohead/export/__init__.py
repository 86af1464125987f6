"""Files that leave the app: coloured meshes and turntable videos (grids live in ``panohead generate``)."""

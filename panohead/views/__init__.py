"""Pictures of a head, owned by the engine and shared by the viewer and the CLI.

``images`` (colour maps, depth and normal images, compositing), ``stages`` (the ray-marched head and
its composite), ``modes`` (what each view mode shows), ``trigrid`` (the tri-grid inspector's mosaic).
"""

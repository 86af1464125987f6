"""Window, OpenGL and Dear ImGui plumbing for the visualizer; knows nothing about PanoHead."""

"""The PanoHead Studio visualizer: plain state, widgets (one per file) and the asynchronous renderer."""

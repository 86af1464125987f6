"""Datasets: the on-disk format and its reader, synthetic 360-degree heads, and alignment of real photos."""

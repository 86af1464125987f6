"""Neural volume rendering: tri-grid sampling, the decoder MLP and the importance-sampled ray marcher."""

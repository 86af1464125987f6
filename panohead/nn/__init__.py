"""StyleGAN2 building blocks (Karras et al. 2020) in plain PyTorch, no compiled ops."""

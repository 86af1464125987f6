"""Training: the tri-discriminator, the losses and their schedules, the loop, snapshots and progress reports."""

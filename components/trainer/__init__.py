"""The Trainer: the GRU, its GradientTape loop, the teacher and the in-graph sampler export."""

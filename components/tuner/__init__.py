"""NameTuner: hyperparameter search as a pipeline component."""

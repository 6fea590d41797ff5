"""The gate: held-out loss and sample fidelity decide whether a model is blessed."""

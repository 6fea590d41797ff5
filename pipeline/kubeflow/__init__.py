"""Kubeflow Pipelines v2: compile, run here, submit/schedule, the task entrypoint, parameters."""

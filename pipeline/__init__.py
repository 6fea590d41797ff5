"""The pipeline: configuration, the DAG, and the runners (local Beam and Kubeflow)."""

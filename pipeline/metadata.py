"""Read what a pipeline run produced from ML Metadata (used by the CLI, report and benches)."""

from __future__ import annotations

import os

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline import configs


def open_store(pipeline_root: str) -> metadata_store.MetadataStore:
    path = configs.metadata_path(pipeline_root)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no ML Metadata at {path}: run `namegen run` first")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def latest_artifact(store, type_name: str, producer: str | None = None):
    """The newest LIVE artifact of a type, optionally produced by a given component id."""
    artifacts = [a for a in store.get_artifacts_by_type(type_name)
                 if a.state == metadata_store_pb2.Artifact.LIVE]
    if producer:
        artifacts = [a for a in artifacts if producer_of(store, a) == producer]
    return max(artifacts, key=lambda a: a.id) if artifacts else None


def producer_of(store, artifact) -> str | None:
    events = [e for e in store.get_events_by_artifact_ids([artifact.id])
              if e.type == metadata_store_pb2.Event.OUTPUT]
    if not events:
        return None
    execution = store.get_executions_by_id([events[0].execution_id])[0]
    return execution.type.split(".")[-1] if execution.type else None


def custom(artifact, key: str, default=None):
    """A custom property's value, whatever its type."""
    if artifact is None or key not in artifact.custom_properties:
        return default
    value = artifact.custom_properties[key]
    return getattr(value, value.WhichOneof("value"))


def executions(store) -> list[dict]:
    """Every execution with its component, state and wall time, oldest first."""
    rows = []
    for execution in sorted(store.get_executions(), key=lambda e: e.id):
        node = custom(execution, "__node_id__") or execution.type.split(".")[-1]
        rows.append({
            "id": execution.id,
            "component": node,
            "state": metadata_store_pb2.Execution.State.Name(execution.last_known_state),
            "seconds": (execution.last_update_time_since_epoch
                        - execution.create_time_since_epoch) / 1000.0,
        })
    return rows

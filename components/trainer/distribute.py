"""Which tf.distribute strategy the Trainer runs under, read from TF_CONFIG, and who is chief."""

from __future__ import annotations

import json
import os

import tensorflow as tf


def cluster_workers(tf_config: str | None = None) -> int:
    """How many training tasks (chief + workers) TF_CONFIG names; 1 without it."""
    raw = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    if not raw.strip():
        return 1
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError) as error:
        raise ValueError(f"TF_CONFIG is not a JSON object: {raw[:200]!r}") from error
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def strategy_from_environment() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy when TF_CONFIG names several workers, else the default."""
    if cluster_workers() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def worker_index(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """(this worker's index, number of workers); the chief is index 0."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return 0, 1
    spec = resolver.cluster_spec().as_dict()
    chiefs = len(spec.get("chief", []))
    workers = chiefs + len(spec.get("worker", []))
    if resolver.task_type == "chief":
        return 0, workers
    return chiefs + int(resolver.task_id), workers


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The one worker that writes checkpoints, history and the exported model."""
    return worker_index(strategy)[0] == 0


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Wait until every worker gets here (a collective sum; nothing to wait for alone)."""
    if worker_index(strategy)[1] > 1:
        strategy.reduce(tf.distribute.ReduceOp.SUM,
                        strategy.run(lambda: tf.constant(1.0)), axis=None)

"""Multi-worker training on Kubeflow: the Trainer task launches a TFJob (Training Operator).

With `namegen kubeflow compile --trainer-workers N`, the Trainer task's executor becomes
`Executor` below. On the KFP pod it submits a `kubeflow.org/v1` TFJob whose Chief and Workers
run the same executor through `tfx.scripts.run_executor` with the same artifacts; the Training
Operator gives each the TF_CONFIG under which the Trainer trains with
MultiWorkerMirroredStrategy. The task waits for the TFJob and fails when it fails.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import os
import re
import sys
import time

from tfx.components.trainer import executor as trainer_executor
from tfx.types import artifact_utils

TFJOB_GROUP, TFJOB_VERSION, TFJOB_PLURAL = "kubeflow.org", "v1", "tfjobs"
CONTAINER_NAME = "tensorflow"  # the container the Training Operator sets TF_CONFIG in
CONFIG_KEY = "trainer_job"  # the Trainer's custom_config entry holding the job's resources
QUANTITY = re.compile(r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE])?$")
POLL_SECONDS = 15


@dataclasses.dataclass(frozen=True)
class TrainerResources:
    """Compile options: how many Trainer workers, and what each one's pod requests."""

    workers: int
    cpu: str | None = None  # a Kubernetes quantity, e.g. "4" or "500m"
    memory: str | None = None  # e.g. "8Gi"
    gpus: int = 0  # nvidia.com/gpu per worker

    def __post_init__(self):
        if self.workers < 2:
            raise ValueError(f"--trainer-workers must be at least 2, got {self.workers}")
        if self.gpus < 0:
            raise ValueError(f"--trainer-gpus must be 0 or more, got {self.gpus}")
        for flag, value in (("--trainer-cpu", self.cpu), ("--trainer-memory", self.memory)):
            if value is not None and not QUANTITY.match(str(value)):
                raise ValueError(f"{flag} {value!r} is not a Kubernetes quantity (e.g. 4, "
                                 "500m, 8Gi)")


def tfjob_manifest(name: str, namespace: str, image: str, command: list[str],
                   resources: TrainerResources) -> dict:
    """The TFJob: one Chief (it checkpoints and exports) and workers - 1 Workers."""
    requests = {k: v for k, v in (("cpu", resources.cpu), ("memory", resources.memory)) if v}
    limits = {"nvidia.com/gpu": resources.gpus} if resources.gpus else {}
    container = {"name": CONTAINER_NAME, "image": image, "command": list(command),
                 "resources": {k: v for k, v in (("requests", requests), ("limits", limits))
                               if v}}

    def replica(count: int) -> dict:
        return {"replicas": count, "restartPolicy": "OnFailure",
                "template": {"spec": {"containers": [copy.deepcopy(container)]}}}

    return {
        "apiVersion": f"{TFJOB_GROUP}/{TFJOB_VERSION}",
        "kind": "TFJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"runPolicy": {"cleanPodPolicy": "Running"},
                 "tfReplicaSpecs": {"Chief": replica(1),
                                    "Worker": replica(resources.workers - 1)}},
    }


def executor_command(input_dict: dict, output_dict: dict, exec_properties: dict) -> list[str]:
    """The command each TFJob replica runs: this executor, on the task's own artifacts."""
    def encoded(text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    return ["python", "-m", "tfx.scripts.run_executor",
            "--executor_class_path", f"{__name__}.Executor",
            "--inputs-base64", encoded(artifact_utils.jsonify_artifact_dict(input_dict)),
            "--outputs-base64", encoded(artifact_utils.jsonify_artifact_dict(output_dict)),
            "--exec-properties-base64", encoded(json.dumps(exec_properties))]


def use_tfjob(pipeline, resources: TrainerResources, image: str) -> None:
    """Make the pipeline's Trainer launch a TFJob of this image and resources (compile hook)."""
    from tfx.dsl.components.base import executor_spec

    trainer = next(c for c in pipeline.components if c.id == "Trainer")
    trainer.executor_spec = executor_spec.ExecutorClassSpec(Executor)
    config = json.loads(trainer.exec_properties.get("custom_config") or "{}")
    config[CONFIG_KEY] = {**dataclasses.asdict(resources), "image": image}
    trainer.exec_properties["custom_config"] = json.dumps(config, sort_keys=True)


class Executor(trainer_executor.GenericExecutor):
    """Inside a TFJob replica (TF_CONFIG set): train. On the KFP pod: launch the TFJob, wait."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: N802 (TFX API)
        if os.environ.get("TF_CONFIG"):
            return super().Do(input_dict, output_dict, exec_properties)
        job = dict(json.loads(exec_properties.get("custom_config") or "{}")[CONFIG_KEY])
        image = job.pop("image")
        name = f"namegen-trainer-{int(time.time())}"
        manifest = tfjob_manifest(name, _pod_namespace(), image,
                                  executor_command(input_dict, output_dict, exec_properties),
                                  TrainerResources(**job))
        run_tfjob(manifest)


def run_tfjob(manifest: dict) -> None:
    """Create the TFJob with the in-cluster credentials and wait for Succeeded or Failed."""
    from kubernetes import client, config

    config.load_incluster_config()
    api = client.CustomObjectsApi()
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    api.create_namespaced_custom_object(TFJOB_GROUP, TFJOB_VERSION, namespace, TFJOB_PLURAL,
                                        manifest)
    print(f"[trainer] TFJob {namespace}/{name} created", file=sys.stderr, flush=True)
    while True:
        job = api.get_namespaced_custom_object(TFJOB_GROUP, TFJOB_VERSION, namespace,
                                               TFJOB_PLURAL, name)
        states = {c["type"]: c for c in job.get("status", {}).get("conditions", [])
                  if c.get("status") == "True"}
        if "Succeeded" in states:
            return
        if "Failed" in states:
            raise RuntimeError(f"TFJob {namespace}/{name} failed: "
                               f"{states['Failed'].get('message', '')}")
        time.sleep(POLL_SECONDS)


def _pod_namespace() -> str:
    path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    with open(path) as f:
        return f.read().strip()


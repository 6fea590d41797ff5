"""Where the compiled package reads the names and writes the models: a bucket or a volume.

The data (ExampleGen, DriftCheck) and the push destination (NameEvaluator reads the served
version, Pusher writes the new one) are read and written by Beam and TensorFlow inside the task's
container, not by the KFP launcher. So they must be on storage TensorFlow can open there:

- `gs://` (TensorFlow's own file system);
- a Kubernetes PersistentVolumeClaim mounted into those four tasks (`--data-volume`,
  `--models-volume`), written as kfp-kubernetes writes it (`platforms.kubernetes...pvcMount`);
- `s3://` only with an image that has tensorflow-io (and apache-beam[aws]); docs/KUBEFLOW.md.

`plan()` checks this before anything is compiled (no TFX import here), so that `compile` never
writes a package that fails on its first night.
"""

from __future__ import annotations

import dataclasses
import re

DATA_MOUNT = "/mnt/names"  # the names claim, inside ExampleGen and DriftCheck
MODELS_MOUNT = "/mnt/serving"  # the models claim: <claim>/names/<version>, as TF Serving reads it
DATA_TASKS = ("FileBasedExampleGen", "DriftCheck")
MODELS_TASKS = ("NameEvaluator", "Pusher")
EXECUTOR_SUFFIX = "_executor"  # KubeflowV2DagRunner's executor label: <component id>_executor
DATA_PATTERN = "*.txt"
# A claim name is a DNS subdomain (Kubernetes object names).
CLAIM_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
WAYS = ("ways that work: (1) gs:// URIs: --push-uri gs://BUCKET/serving and --data "
        "gs://BUCKET/names/*.txt; (2) volumes: --models-volume CLAIM and --data-volume CLAIM; "
        "(3) s3:// URIs with --image-writes-s3, for an image that can write them "
        "(tensorflow-io, TF 2.16 only; docs/KUBEFLOW.md)")


class StorageError(ValueError):
    """The data or the push destination cannot be reached from the tasks' containers."""


@dataclasses.dataclass(frozen=True)
class Volume:
    """A PersistentVolumeClaim mounted at `mount_path` into `tasks`."""

    claim: str
    mount_path: str
    tasks: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Storage:
    data: str  # the data_root/data_pattern defaults, as one path (a {SPAN} folder allowed)
    push_uri: str  # the Pusher writes push_uri/names/<version>
    volumes: tuple[Volume, ...] = ()

    def platform_spec(self, executors: set[str] | None = None) -> dict:
        """The package's second YAML document: each task's pvcMount list, as kfp-kubernetes
        writes it (`kubernetes.mount_pvc`); {} without volumes. `executors`, when given, are
        the compiled spec's executor labels, all of which must exist."""
        mounts: dict[str, dict[str, list[dict]]] = {}
        for volume in self.volumes:
            for task in volume.tasks:
                executor = mounts.setdefault(task + EXECUTOR_SUFFIX, {"pvcMount": []})
                executor["pvcMount"].append({"constant": volume.claim,
                                             "mountPath": volume.mount_path})
        missing = sorted(set(mounts) - executors) if executors is not None else []
        if missing:
            raise StorageError(f"the compiled spec has no executor {missing} to mount into")
        if not mounts:
            return {}
        return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": mounts}}}}


def _claim(flag: str, claim: str) -> str:
    if len(claim) > 253 or not CLAIM_NAME.match(claim):
        raise StorageError(f"{flag} {claim!r} is not a PersistentVolumeClaim name "
                           "(lower-case letters, digits, '-' and '.')")
    return claim


def inside(path: str, mount: str) -> bool:
    return path == mount or path.startswith(mount.rstrip("/") + "/")


def _problem(what: str, flag: str, uri: str, image_writes_s3: bool) -> str | None:
    """Why TensorFlow in the task's container cannot use `uri`, or None when it can."""
    if uri.startswith("gs://") or (uri.startswith("s3://") and image_writes_s3):
        return None
    if uri.startswith("s3://"):
        why = "s3:// needs tensorflow-io in the image; pass --image-writes-s3 if yours has it"
    elif uri.startswith("minio://"):
        why = "minio:// is the KFP launcher's scheme; TensorFlow has no file system for it"
    elif uri.startswith("/"):
        why = "a path in the task's container is gone with its pod"
    else:
        why = "TensorFlow in the image opens gs:// (and s3:// with tensorflow-io)"
    return f"{what} {uri} ({flag}): {why}"


def plan(pipeline_root: str, push_uri: str | None = None, data: str | None = None,
         data_volume: str | None = None, models_volume: str | None = None,
         image_writes_s3: bool = False) -> Storage:
    """The data and push locations the package will use, or StorageError naming what would
    fail on the first night and the three ways that work."""
    root = pipeline_root.rstrip("/")
    volumes = []
    problems = []
    if models_volume:
        push_uri = push_uri or MODELS_MOUNT
        if not inside(push_uri, MODELS_MOUNT):
            raise StorageError(f"with --models-volume the push destination is a path inside "
                               f"{MODELS_MOUNT}, got --push-uri {push_uri!r}")
        volumes.append(Volume(_claim("--models-volume", models_volume), MODELS_MOUNT,
                              MODELS_TASKS))
    else:
        push_uri = push_uri or f"{root}/serving"
        problems.append(_problem("the Pusher cannot write", "--push-uri", push_uri,
                                 image_writes_s3))
    if data_volume:
        data = data or f"{DATA_MOUNT}/{DATA_PATTERN}"
        if not inside(data, DATA_MOUNT):
            raise StorageError(f"with --data-volume the data is a path inside {DATA_MOUNT}, "
                               f"got --data {data!r}")
        volumes.append(Volume(_claim("--data-volume", data_volume), DATA_MOUNT, DATA_TASKS))
    else:
        data = data or f"{root}/data/{DATA_PATTERN}"
        problems.append(_problem("ExampleGen cannot read", "--data", data, image_writes_s3))
    problems = [p for p in problems if p]
    if problems:
        raise StorageError("; ".join(problems) + "; " + WAYS)
    return Storage(data=data, push_uri=push_uri.rstrip("/") or "/", volumes=tuple(volumes))

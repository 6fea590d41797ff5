"""serving/kserve/inferenceservice.yaml against KServe's InferenceService schema (issue 24).

The fields are re-expressed from KServe's sources, kserve/kserve:
- pkg/apis/serving/v1beta1/predictor.go @ 6382cb355200af7094ce4c256f68cdbf0a455a22:
  PredictorSpec (model, PodSpec inline: volumes), PredictorExtensionSpec (storageUri,
  runtimeVersion, protocolVersion, storage, and corev1.Container inline: args, volumeMounts...);
- pkg/apis/serving/v1beta1/predictor_model.go @ 5cbfeb7161c0fb6d285e2c11410124da9d12a781:
  ModelSpec (modelFormat, required; runtime), ModelFormat (name, required; version);
- pkg/constants/constants.go @ a89179c6b80b536cd24e692e1b714e7106e5cca9: the annotation keys
  SetPrometheusAnnotation, KserveContainerPrometheusPortKey/PathKey and
  PrometheusPortAnnotationKey/PathAnnotationKey.
The corev1 Container, VolumeMount and Volume fields are Kubernetes' (k8s.io/api/core/v1), which
KServe's CRD inlines. Only the fields this manifest can use are listed; an unknown or misspelled
key fails. tests/kserve_crd.py (branch kubeflow) checks against the full CRD once merged.
"""

from __future__ import annotations

from pathlib import Path

import yaml

SERVING = Path(__file__).resolve().parents[2] / "serving"

CONTAINER = {"name", "image", "command", "args", "workingDir", "ports", "env", "envFrom",
             "resources", "volumeMounts", "livenessProbe", "readinessProbe", "startupProbe",
             "lifecycle", "imagePullPolicy", "securityContext"}
PREDICTOR_EXTENSION = {"storageUri", "runtimeVersion", "protocolVersion", "storage"} | CONTAINER
SCHEMA: dict[str, set[str]] = {
    "": {"apiVersion", "kind", "metadata", "spec"},
    "metadata": {"name", "namespace", "labels", "annotations"},
    "spec": {"predictor", "transformer", "explainer"},
    "spec.predictor": {"model", "tensorflow", "workerSpec", "volumes", "containers",
                       "serviceAccountName", "nodeSelector", "tolerations", "affinity",
                       "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric",
                       "containerConcurrency", "timeout", "canaryTrafficPercent", "logger",
                       "batcher", "labels", "annotations"},
    "spec.predictor.model": {"modelFormat", "runtime"} | PREDICTOR_EXTENSION,
    "spec.predictor.model.modelFormat": {"name", "version"},
    "spec.predictor.model.resources": {"requests", "limits", "claims"},
    "spec.predictor.model.volumeMounts[]": {"name", "mountPath", "readOnly", "subPath",
                                            "subPathExpr", "mountPropagation"},
    "spec.predictor.volumes[]": {"name", "configMap", "secret", "emptyDir",
                                 "persistentVolumeClaim"},
    "spec.predictor.volumes[].configMap": {"name", "items", "defaultMode", "optional"},
}
REQUIRED = {"spec.predictor.model": {"modelFormat"}, "spec.predictor.model.modelFormat": {"name"},
            "spec.predictor.volumes[]": {"name"},
            "spec.predictor.model.volumeMounts[]": {"name", "mountPath"}}
SCRAPE_ANNOTATIONS = ("serving.kserve.io/enable-prometheus-scraping", "prometheus.kserve.io/port",
                      "prometheus.kserve.io/path", "prometheus.io/scrape", "prometheus.io/port",
                      "prometheus.io/path")


def schema_problems(node, path: str = "") -> list[str]:
    """Keys not in the schema, missing required keys, at every path the schema knows."""
    problems = []
    if isinstance(node, list):
        for item in node:
            problems += schema_problems(item, f"{path}[]")
        return problems
    if not isinstance(node, dict) or path not in SCHEMA:
        return problems
    problems += [f"{path}.{key}: not a field" for key in set(node) - SCHEMA[path]]
    problems += [f"{path}.{key}: required" for key in REQUIRED.get(path, set()) - set(node)]
    for key, value in node.items():
        problems += schema_problems(value, f"{path}.{key}".lstrip("."))
    return problems


def manifest() -> dict:
    return yaml.safe_load((SERVING / "kserve" / "inferenceservice.yaml").read_text())


def test_the_schema_check_catches_a_misspelled_field():
    broken = manifest()
    broken["spec"]["predictor"]["model"]["arg"] = broken["spec"]["predictor"]["model"].pop("args")
    assert schema_problems(broken) == ["spec.predictor.model.arg: not a field"]


def test_manifest_fits_kserves_schema():
    assert schema_problems(manifest()) == []
    model = manifest()["spec"]["predictor"]["model"]
    assert all(isinstance(arg, str) for arg in model["args"])


def test_manifest_turns_on_monitoring_warmup_and_scraping():
    service = manifest()
    model = service["spec"]["predictor"]["model"]
    flags = dict(arg.split("=", 1) for arg in model["args"])
    assert flags["--enable_model_warmup"] == "true"
    config_path = Path(flags["--monitoring_config_file"])
    mounts = {m["name"]: m["mountPath"] for m in model["volumeMounts"]}
    volumes = {v["name"]: v for v in service["spec"]["predictor"]["volumes"]}
    mount_name = next(name for name, path in mounts.items() if path == str(config_path.parent))
    configmap = yaml.safe_load((SERVING / "kserve" / "monitoring-configmap.yaml").read_text())
    assert volumes[mount_name]["configMap"]["name"] == configmap["metadata"]["name"]
    assert configmap["data"][config_path.name] == (SERVING / "monitoring.config").read_text() \
        .split("\n", 2)[2]  # the file without its two comment lines
    annotations = service["metadata"]["annotations"]
    assert all(isinstance(annotations[key], str) for key in SCRAPE_ANNOTATIONS)
    assert annotations["serving.kserve.io/enable-prometheus-scraping"] == "true"
    assert annotations["prometheus.io/port"] == annotations["prometheus.kserve.io/port"] == "8080"
    path = annotations["prometheus.io/path"]
    assert path == annotations["prometheus.kserve.io/path"] and f'path: "{path}"' in \
        configmap["data"][config_path.name]

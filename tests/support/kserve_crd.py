"""KServe's InferenceService CRD schema, the part namegen's manifests use, as data; and a check
of a manifest against it. Shared by the tests of every manifest under serving/kserve/.

Source: kserve/kserve config/crd/full/serving.kserve.io_inferenceservices.yaml at commit
67bcf1a466459db33e7aa66b5547cdfb1aebd602 (versions[name=v1beta1].schema.openAPIV3Schema):
`apiVersion`, `kind` and `metadata` at the top; `spec.predictor.model` is the ModelSpec, whose
`modelFormat` has `name` (required) and `version`, `runtime`, `storageUri`, `protocolVersion`
and `runtimeVersion` are strings, and `resources` holds `limits` and `requests` of Kubernetes
quantities (integer or string matching QUANTITY_PATTERN). Only these fields are re-expressed;
the check refuses any other field, so a manifest that needs one adds it here from that file.
The ModelSpec and the PredictorSpec inline Kubernetes' corev1.Container and corev1.PodSpec
(kserve/kserve pkg/apis/serving/v1beta1/predictor.go at 6382cb355200af7094ce4c256f68cdbf0a455a22,
PredictorSpec and PredictorExtensionSpec), so the CRD also has the container's `args` (strings)
and `volumeMounts` (`name` and `mountPath` required, `readOnly`), and the pod's `volumes` (`name`
required, a `configMap` with its `name`), as in k8s.io/api/core/v1.
`pvc://` storage URIs: kserve/kserve pkg/webhook/admission/pod/storage_initializer_injector_test.go
at commit c8d1ec072cce292586ff279958376828660ce248, case StorageInitializerInjectedAndMountsPvc:
`pvc://mypvcname/some/path/on/pvc` mounts claim `mypvcname` (read-only, at /mnt/pvc) and the
storage initializer copies `/mnt/pvc/some/path/on/pvc` to the model folder.
"""

from __future__ import annotations

import re

API_VERSION = "serving.kserve.io/v1beta1"  # spec.group / versions[].name
KIND = "InferenceService"  # spec.names.kind
PVC_PREFIX = "pvc://"
QUANTITY_PATTERN = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
                    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")
STRING = {"type": "string"}
QUANTITY = {"anyOf": [{"type": "integer"}, {"type": "string"}], "pattern": QUANTITY_PATTERN}
RESOURCES = {"type": "object", "properties": {
    "limits": {"type": "object", "additionalProperties": QUANTITY},
    "requests": {"type": "object", "additionalProperties": QUANTITY},
}}
MODEL_SPEC = {"type": "object", "properties": {
    "modelFormat": {"type": "object", "required": ["name"],
                    "properties": {"name": STRING, "version": STRING}},
    "runtime": STRING,
    "runtimeVersion": STRING,
    "protocolVersion": STRING,
    "storageUri": STRING,
    "resources": RESOURCES,
    "args": {"type": "array", "items": STRING},
    "volumeMounts": {"type": "array", "items": {
        "type": "object", "required": ["name", "mountPath"],
        "properties": {"name": STRING, "mountPath": STRING, "readOnly": {"type": "boolean"},
                       "subPath": STRING}}},
}}
VOLUME = {"type": "object", "required": ["name"], "properties": {
    "name": STRING,
    "configMap": {"type": "object", "properties": {"name": STRING}},
    "persistentVolumeClaim": {"type": "object", "required": ["claimName"],
                              "properties": {"claimName": STRING,
                                             "readOnly": {"type": "boolean"}}},
}}
INFERENCE_SERVICE = {"type": "object", "properties": {
    "apiVersion": STRING,
    "kind": STRING,
    "metadata": {"type": "object"},  # ObjectMeta: the API server checks it, not the CRD
    "spec": {"type": "object", "properties": {
        "predictor": {"type": "object", "properties": {
            "model": MODEL_SPEC, "volumes": {"type": "array", "items": VOLUME}}},
    }},
}}
TYPES = {"object": dict, "string": str, "integer": int, "array": list, "boolean": bool}


def problems(value, schema: dict = INFERENCE_SERVICE, path: str = "") -> list[str]:
    """Every way `value` breaks `schema` (types, required fields, patterns, fields the
    re-expressed schema does not have), each with its path."""
    if "anyOf" in schema:
        rest = {key: item for key, item in schema.items() if key != "anyOf"}
        if not any(not problems(value, {**rest, **option}, path) for option in schema["anyOf"]):
            return [f"{path or '/'}: {value!r} matches none of {schema['anyOf']}"]
        return []
    kind = schema.get("type")
    if kind and (not isinstance(value, TYPES[kind]) or
                 (kind == "integer" and isinstance(value, bool))):
        return [f"{path or '/'}: expected {kind}, got {type(value).__name__}"]
    if "pattern" in schema and isinstance(value, str) and not re.match(schema["pattern"], value):
        return [f"{path}: {value!r} does not match {schema['pattern']}"]
    found = []
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += problems(item, schema["items"], f"{path}/{index}")
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        found += [f"{path}/{key}: required" for key in schema.get("required", [])
                  if key not in value]
        for key, item in value.items():
            if properties is not None and key in properties:
                found += problems(item, properties[key], f"{path}/{key}")
            elif extra is not None:
                found += problems(item, extra, f"{path}/{key}")
            elif properties is not None:
                found.append(f"{path}/{key}: not in the CRD schema re-expressed in "
                             "tests/support/kserve_crd.py")
    return found


def check_manifest(manifest: dict) -> list[str]:
    """The schema's problems plus the resource's group, version and kind."""
    found = problems(manifest)
    if manifest.get("apiVersion") != API_VERSION:
        found.append(f"/apiVersion: expected {API_VERSION}")
    if manifest.get("kind") != KIND:
        found.append(f"/kind: expected {KIND}")
    return found


def pvc_claim_and_path(storage_uri: str) -> tuple[str, str]:
    """`pvc://<claim>/<path on the claim>` split as KServe's storage initializer reads it."""
    if not storage_uri.startswith(PVC_PREFIX):
        raise ValueError(f"not a pvc:// URI: {storage_uri!r}")
    claim, _, path = storage_uri[len(PVC_PREFIX):].partition("/")
    return claim, path

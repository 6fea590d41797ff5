"""Every KServe manifest under serving/kserve/ against KServe's CRD (tests/support/kserve_crd.py),
and the PersistentVolumeClaim variant against the folder layout the nightly package writes."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from data import encoding
from pipeline.kubeflow import storage as kubeflow_storage
from tests.support import kserve_crd

KSERVE = Path(__file__).resolve().parents[2] / "serving" / "kserve"
SERVICES = [KSERVE / "inferenceservice.yaml", KSERVE / "inferenceservice-pvc.yaml"]
SCRAPE_ANNOTATIONS = ("serving.kserve.io/enable-prometheus-scraping", "prometheus.kserve.io/port",
                      "prometheus.kserve.io/path", "prometheus.io/scrape", "prometheus.io/port",
                      "prometheus.io/path")  # kserve/kserve pkg/constants/constants.go


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_every_manifest_is_an_inference_service_or_its_monitoring_configmap():
    kinds = {path.name: load(path)["kind"] for path in KSERVE.glob("*.yaml")}
    assert kinds == {**{path.name: kserve_crd.KIND for path in SERVICES},
                     "monitoring-configmap.yaml": "ConfigMap"}


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_manifest_fits_the_inference_service_crd(path):
    assert kserve_crd.check_manifest(load(path)) == []


def test_the_crd_check_finds_what_kserve_would_refuse():
    good = load(KSERVE / "inferenceservice.yaml")
    model = ("spec", "predictor", "model")

    def broken(change) -> list[str]:
        manifest = copy.deepcopy(good)
        target = manifest
        for key in model:
            target = target[key]
        change(manifest, target)
        return kserve_crd.check_manifest(manifest)

    assert broken(lambda m, t: t.update(storageUri=3)) == \
        ["/spec/predictor/model/storageUri: expected string, got int"]
    assert broken(lambda m, t: t["modelFormat"].pop("name")) == \
        ["/spec/predictor/model/modelFormat/name: required"]
    assert broken(lambda m, t: t["resources"]["limits"].update(cpu="2 cores"))[0].startswith(
        "/spec/predictor/model/resources/limits/cpu: '2 cores' matches none")
    assert broken(lambda m, t: t.update(storageURI="gs://b/names"))[0].startswith(
        "/spec/predictor/model/storageURI: not in the CRD schema")
    assert broken(lambda m, t: m.update(apiVersion="serving.kubeflow.org/v1alpha2")) == \
        ["/apiVersion: expected serving.kserve.io/v1beta1"]
    assert broken(lambda m, t: t["resources"]["requests"].update(memory=2)) == []  # int is ok
    assert broken(lambda m, t: t["volumeMounts"][0].pop("mountPath")) == \
        ["/spec/predictor/model/volumeMounts/0/mountPath: required"]
    assert broken(lambda m, t: t.update(arg=t.pop("args")))[0].startswith(
        "/spec/predictor/model/arg: not in the CRD schema")


def test_pvc_manifest_serves_the_model_folder_the_models_volume_gets():
    """`--models-volume CLAIM` makes the Pusher write MODELS_MOUNT/names/<version>, i.e.
    names/<version> on the claim: KServe's pvc://CLAIM/names is that model folder. Apart from
    storageUri, the variant is the bucket manifest."""
    pvc = load(KSERVE / "inferenceservice-pvc.yaml")
    claim, path = kserve_crd.pvc_claim_and_path(pvc["spec"]["predictor"]["model"]["storageUri"])
    assert kubeflow_storage.CLAIM_NAME.match(claim)
    model_base = f"{kubeflow_storage.MODELS_MOUNT}/{encoding.MODEL_NAME}"  # create_pipeline's
    assert path == str(Path(model_base).relative_to(kubeflow_storage.MODELS_MOUNT))
    bucket = load(KSERVE / "inferenceservice.yaml")
    for manifest in (pvc, bucket):
        manifest["spec"]["predictor"]["model"].pop("storageUri")
    assert pvc == bucket
    assert kserve_crd.pvc_claim_and_path("pvc://mypvcname/some/path/on/pvc") == \
        ("mypvcname", "some/path/on/pvc")  # KServe's own test case


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_manifest_turns_on_monitoring_warmup_and_scraping(path):
    service = load(path)
    model = service["spec"]["predictor"]["model"]
    flags = dict(arg.split("=", 1) for arg in model["args"])
    assert flags["--enable_model_warmup"] == "true"
    config_path = Path(flags["--monitoring_config_file"])
    mounts = {m["name"]: m["mountPath"] for m in model["volumeMounts"]}
    volumes = {v["name"]: v for v in service["spec"]["predictor"]["volumes"]}
    mount_name = next(name for name, where in mounts.items() if where == str(config_path.parent))
    configmap = load(KSERVE / "monitoring-configmap.yaml")
    assert volumes[mount_name]["configMap"]["name"] == configmap["metadata"]["name"]
    monitoring = (KSERVE.parent / "monitoring.config").read_text()
    assert configmap["data"][config_path.name] == monitoring.split("\n", 2)[2]  # no comments
    annotations = service["metadata"]["annotations"]
    assert all(isinstance(annotations[key], str) for key in SCRAPE_ANNOTATIONS)
    assert annotations["serving.kserve.io/enable-prometheus-scraping"] == "true"
    assert annotations["prometheus.io/port"] == annotations["prometheus.kserve.io/port"] == "8080"
    metrics_path = annotations["prometheus.io/path"]
    assert metrics_path == annotations["prometheus.kserve.io/path"]
    assert f'path: "{metrics_path}"' in configmap["data"][config_path.name]

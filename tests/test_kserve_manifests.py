"""Every KServe manifest under serving/kserve/ against KServe's CRD schema (tests/kserve_crd.py),
and the PersistentVolumeClaim variant against the folder layout the nightly package writes."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from pipeline import configs
from pipeline.kubeflow import storage as kubeflow_storage
from tests import kserve_crd

KSERVE = Path(__file__).resolve().parent.parent / "serving" / "kserve"
MANIFESTS = sorted(KSERVE.glob("*.yaml"))


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
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


def test_pvc_manifest_serves_the_model_folder_the_models_volume_gets():
    """`--models-volume CLAIM` makes the Pusher write MODELS_MOUNT/names/<version>, i.e.
    names/<version> on the claim: KServe's pvc://CLAIM/names is that model folder. Apart from
    storageUri, the variant is the bucket manifest."""
    pvc = load(KSERVE / "inferenceservice-pvc.yaml")
    claim, path = kserve_crd.pvc_claim_and_path(pvc["spec"]["predictor"]["model"]["storageUri"])
    assert kubeflow_storage.CLAIM_NAME.match(claim)
    model_base = f"{kubeflow_storage.MODELS_MOUNT}/{configs.MODEL_NAME}"  # create_pipeline's
    assert path == str(Path(model_base).relative_to(kubeflow_storage.MODELS_MOUNT))
    bucket = load(KSERVE / "inferenceservice.yaml")
    for manifest in (pvc, bucket):
        manifest["spec"]["predictor"]["model"].pop("storageUri")
    assert pvc == bucket
    assert kserve_crd.pvc_claim_and_path("pvc://mypvcname/some/path/on/pvc") == \
        ("mypvcname", "some/path/on/pvc")  # KServe's own test case

"""`kubeflow compile --trainer-workers N`: the Trainer task launches a Training Operator TFJob.

The expected TFJob structure comes from the Training Operator itself: its CRD
(kubeflow/training-operator manifests/base/crds/kubeflow.org_tfjobs.yaml: group kubeflow.org,
version v1, kind TFJob, spec.tfReplicaSpecs of ReplicaSpec {replicas, restartPolicy (Always,
OnFailure, Never, ExitCode), template: PodTemplateSpec}, spec.runPolicy.cleanPodPolicy) and its
validation (a container named "tensorflow" in every replica, TFJobDefaultContainerName; replica
types Chief, Worker, PS, Evaluator).
"""

from __future__ import annotations

import base64
import json

import pytest
from google.protobuf import json_format

from pipeline.kubeflow import compile as kubeflow_runner
from pipeline.kubeflow import local as kubeflow_local
from pipeline.kubeflow import trainer_job
from pipeline.kubeflow.trainer_job import TrainerResources

IMAGE = "registry.example.com/namegen:test"
RESOURCES = TrainerResources(workers=3, cpu="4", memory="8Gi", gpus=1)
REPLICA_TYPES = {"Chief", "Worker", "PS", "Evaluator"}  # the operator's TFJob replica types
RESTART_POLICIES = {"Always", "OnFailure", "Never", "ExitCode"}


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    job = kubeflow_runner.compile_spec(image=IMAGE, pipeline_root="gs://bucket/root",
                                       preset="tiny", trainer=RESOURCES)
    path = tmp_path_factory.mktemp("kubeflow") / "pipeline.yaml"
    kubeflow_runner.write_package(job, str(path))
    return kubeflow_local.load_spec(str(path))  # strict: unknown fields fail


def trainer_config(spec) -> dict:
    parameter = spec.root.dag.tasks["Trainer"].inputs.parameters["custom_config"]
    return json.loads(parameter.runtime_value.constant.string_value)


def test_the_trainer_task_runs_the_tfjob_launcher_with_the_compile_options(spec):
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    args = executors["Trainer_executor"]["container"]["args"]
    assert args[1] == "pipeline.kubeflow.trainer_job.Executor"
    assert executors["Transform_executor"]["container"]["args"][1] != args[1]
    assert trainer_config(spec)[trainer_job.CONFIG_KEY] == {
        "workers": 3, "cpu": "4", "memory": "8Gi", "gpus": 1, "image": IMAGE}


def test_the_tfjob_follows_the_training_operators_crd(spec):
    job = dict(trainer_config(spec)[trainer_job.CONFIG_KEY])
    image = job.pop("image")
    command = ["python", "-m", "tfx.scripts.run_executor", "..."]
    manifest = trainer_job.tfjob_manifest("namegen-trainer-1", "kubeflow", image, command,
                                          TrainerResources(**job))
    assert (manifest["apiVersion"], manifest["kind"]) == ("kubeflow.org/v1", "TFJob")
    replicas = manifest["spec"]["tfReplicaSpecs"]
    assert set(replicas) <= REPLICA_TYPES
    assert replicas["Chief"]["replicas"] + replicas["Worker"]["replicas"] == 3
    for replica in replicas.values():
        assert isinstance(replica["replicas"], int)
        assert replica["restartPolicy"] in RESTART_POLICIES
        containers = replica["template"]["spec"]["containers"]
        tensorflow = [c for c in containers if c["name"] == "tensorflow"]
        assert len(tensorflow) == 1 and tensorflow[0]["image"] == IMAGE
        assert tensorflow[0]["resources"] == {"requests": {"cpu": "4", "memory": "8Gi"},
                                              "limits": {"nvidia.com/gpu": 1}}
    assert set(manifest["spec"]) <= {"runPolicy", "tfReplicaSpecs", "successPolicy",
                                     "enableDynamicWorker"}


def test_each_replica_runs_the_executor_on_the_tasks_own_artifacts():
    from tfx.types import artifact_utils, standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = "gs://bucket/root/Transform/transformed_examples/7"
    model = standard_artifacts.Model()
    model.uri = "gs://bucket/root/Trainer/model/8"
    command = trainer_job.executor_command({"examples": [examples]}, {"model": [model]},
                                           {"custom_config": "{}"})
    value = {flag: command[command.index(flag) + 1] for flag in
             ("--executor_class_path", "--inputs-base64", "--outputs-base64",
              "--exec-properties-base64")}
    assert value["--executor_class_path"] == "pipeline.kubeflow.trainer_job.Executor"
    inputs = artifact_utils.parse_artifact_dict(base64.b64decode(value["--inputs-base64"]))
    outputs = artifact_utils.parse_artifact_dict(base64.b64decode(value["--outputs-base64"]))
    assert inputs["examples"][0].uri == examples.uri and outputs["model"][0].uri == model.uri
    assert json.loads(base64.b64decode(value["--exec-properties-base64"])) == {
        "custom_config": "{}"}


@pytest.mark.parametrize("options, problem", [
    (dict(workers=1), "--trainer-workers must be at least 2"),
    (dict(workers=2, memory="8 gigs"), "--trainer-memory '8 gigs' is not a Kubernetes quantity"),
    (dict(workers=2, gpus=-1), "--trainer-gpus must be 0 or more"),
])
def test_bad_trainer_options_are_named(options, problem):
    with pytest.raises(ValueError, match=problem):
        TrainerResources(**options)

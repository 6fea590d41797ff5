"""The Kubeflow package: compiled by KubeflowV2DagRunner, parsed strictly as KFP's PipelineSpec
proto (an unknown field fails), and checked for the DAG, wiring and parameters it must have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2 as pb

from data import encoding
from pipeline import configs
from pipeline.kubeflow import compile as kubeflow_compile
from pipeline.kubeflow import local as kubeflow_local
from pipeline.kubeflow import storage as kubeflow_storage
from pipeline.kubeflow.entrypoint import COMMAND
from tests.conftest import KUBEFLOW_IMAGE as IMAGE
from tests.conftest import KUBEFLOW_PUSH as PUSH
from tests.conftest import KUBEFLOW_ROOT as ROOT

EDGES = {  # task -> the tasks it waits for
    "FileBasedExampleGen": [],
    "ImportSchemaGen": [],
    "RunParameters": [],
    "StatisticsGen": ["FileBasedExampleGen"],
    "ExampleValidator": ["ImportSchemaGen", "StatisticsGen"],
    "NameValidator": ["FileBasedExampleGen"],
    "DriftCheck": ["FileBasedExampleGen"],
    "DataGate": ["DriftCheck", "ExampleValidator", "NameValidator"],
    "Transform": ["DataGate", "FileBasedExampleGen", "ImportSchemaGen"],
    "Trainer": ["ImportSchemaGen", "RunParameters", "Transform"],
    "NameEvaluator": ["FileBasedExampleGen", "RunParameters", "Trainer"],
    "Pusher": ["NameEvaluator", "Trainer"],
}
FIDELITY_THRESHOLDS = ("max_length_tv_over_noise", "max_reverse_score_over_floor",
                       "copy_rate_sigmas")


@pytest.fixture(scope="module")
def package(compiled_package) -> Path:
    return compiled_package


@pytest.fixture(scope="module")
def spec(package) -> pb.PipelineSpec:
    return kubeflow_local.load_spec(str(package))  # strict: unknown fields fail


def executors(spec: pb.PipelineSpec) -> dict:
    return json_format.MessageToDict(spec.deployment_spec)["executors"]


def test_package_is_a_kfp_v2_pipeline_spec(package, spec):
    import kfp.components

    assert spec.schema_version == "2.1.0"
    assert spec.pipeline_info.name == "namegen"
    assert spec.default_pipeline_root == ROOT
    assert package.read_text().startswith("# PIPELINE DEFINITION")
    component = kfp.components.load_component_from_file(str(package))  # the KFP SDK's loader
    assert set(component.pipeline_spec.root.dag.tasks) == set(EDGES)


def test_dag_components_and_edges(spec):
    tasks = spec.root.dag.tasks
    assert {name: sorted(task.dependent_tasks) for name, task in tasks.items()} == EDGES
    assert {name: task.component_ref.name for name, task in tasks.items()} == {
        name: name for name in EDGES}
    assert set(spec.components) == set(EDGES)
    trainer_inputs = tasks["Trainer"].inputs.artifacts
    assert trainer_inputs["examples"].task_output_artifact.producer_task == "Transform"
    assert trainer_inputs["examples"].task_output_artifact.output_artifact_key == \
        "transformed_examples"
    assert trainer_inputs["hyperparameters"].task_output_artifact.producer_task == "RunParameters"
    pusher_inputs = tasks["Pusher"].inputs.artifacts
    assert pusher_inputs["model_blessing"].task_output_artifact.producer_task == "NameEvaluator"
    assert set(tasks["NameEvaluator"].inputs.artifacts) == {"model", "examples"}  # no resolver
    model_base = tasks["NameEvaluator"].inputs.parameters["model_base"].runtime_value.constant
    assert model_base.string_value == f"{PUSH}/names"  # the baseline is the served model


def test_every_task_but_example_gen_caches_and_runs_the_image_entrypoint(spec):
    caching = {name: task.caching_options.enable_cache
               for name, task in spec.root.dag.tasks.items()}
    assert caching == {name: name != "FileBasedExampleGen" for name in EDGES}  # new span nightly
    found = executors(spec)
    assert set(found) == {f"{name}_executor" for name in EDGES}  # no resolver: KFP can't run one
    for name, executor in found.items():
        container = executor["container"]
        assert container["image"] == IMAGE, name
        assert container["command"] == list(COMMAND), name
        args = container["args"]
        assert args[args.index("--json_serialized_invocation_args") + 1] == "{{$}}"
        assert "--json_serialized_inputs_spec_args" in args  # what the #7768 fix reads
    assert found["Trainer_executor"]["container"]["args"][1] == \
        "tfx.components.trainer.executor.GenericExecutor"
    assert found["NameEvaluator_executor"]["container"]["args"][1] == \
        "components.evaluator.component.NameEvaluator_Executor"


def test_runtime_parameters_are_wired_to_component_inputs(spec):
    root = spec.root.input_definitions.parameters
    type_name = pb.ParameterType.ParameterTypeEnum.Name
    types = {name: type_name(p.parameter_type) for name, p in root.items()}
    assert types == {"data_root": "STRING", "data_pattern": "STRING", "preset": "STRING",
                     "epochs": "NUMBER_INTEGER", "max_nats_per_char": "NUMBER_DOUBLE",
                     "max_regression": "NUMBER_DOUBLE", "min_validity": "NUMBER_DOUBLE",
                     "max_length_tv_over_noise": "NUMBER_DOUBLE",
                     "max_reverse_score_over_floor": "NUMBER_DOUBLE",
                     "copy_rate_sigmas": "NUMBER_DOUBLE",
                     **{name: "NUMBER_DOUBLE" for name in configs.DRIFT}}
    defaults = {name: json_format.MessageToDict(p.default_value) for name, p in root.items()}
    assert defaults == {"data_root": f"{ROOT}/data", "data_pattern": "*.txt", "preset": "tiny",
                        "epochs": 0, "max_nats_per_char": 2.2, "max_regression": 0.02,
                        "min_validity": 0.99,
                        **{name: configs.GATE[name] for name in FIDELITY_THRESHOLDS},
                        **configs.DRIFT}
    tasks = spec.root.dag.tasks

    def wired(task: str, parameter: str) -> str:
        return tasks[task].inputs.parameters[parameter].component_input_parameter

    assert wired("FileBasedExampleGen", "input_base") == "data_root"
    assert wired("FileBasedExampleGen", "input_config") == "data_pattern"
    for name in ("data_root", "data_pattern", *configs.DRIFT):
        assert wired("DriftCheck", name) == name
    for name in ("preset", "epochs", "max_nats_per_char", "max_regression", "min_validity",
                 *FIDELITY_THRESHOLDS):
        assert wired("RunParameters", name) == name
    gate = tasks["NameEvaluator"].inputs.parameters["gate"].task_output_parameter
    assert (gate.producer_task, gate.output_parameter_key) == ("RunParameters", "gate")
    assert "gate" in spec.components["RunParameters"].output_definitions.parameters
    wired_anywhere = {p.component_input_parameter for t in tasks.values()
                      for p in t.inputs.parameters.values()}
    assert set(root) <= wired_anywhere


def test_pusher_writes_to_the_storage_uri(spec):
    constant = spec.root.dag.tasks["Pusher"].inputs.parameters["push_destination"]
    destination = json.loads(constant.runtime_value.constant.string_value)
    assert destination["filesystem"]["base_directory"] == f"{PUSH}/names"


def test_compile_rejects_a_local_pipeline_root_and_json_packages(tmp_path):
    with pytest.raises(ValueError, match="gs://"):
        kubeflow_compile.compile_spec(pipeline_root="/tmp/root", push_uri="gs://b/serving",
                                      data="gs://b/names/*.txt")
    with pytest.raises(ValueError, match="yaml"):
        kubeflow_compile.write_package({"pipelineSpec": {}}, str(tmp_path / "pipeline.json"))


# --- storage: volumes, and the refusal of locations the tasks cannot use ----------------------
@pytest.fixture(scope="module")
def volume_documents(compiled_volume_package) -> list[dict]:
    import yaml

    with open(compiled_volume_package) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def test_volume_package_passes_kfp_and_kfp_kubernetes_proto_checks(compiled_volume_package,
                                                                    volume_documents):
    """Both documents parse strictly: the PipelineSpec and PlatformSpec as KFP's protos, each
    executor's config as kfp-kubernetes' KubernetesExecutorConfig; the KFP SDK loads it."""
    import kfp.components
    from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s

    assert len(volume_documents) == 2
    spec = json_format.ParseDict(volume_documents[0], pb.PipelineSpec())
    platform = json_format.ParseDict(volume_documents[1], pb.PlatformSpec())
    executors = platform.platforms["kubernetes"].deployment_spec.executors
    assert set(executors) == {f"{name}_executor" for name in
                              (*kubeflow_storage.DATA_TASKS, *kubeflow_storage.MODELS_TASKS)}
    assert set(executors) <= set(json_format.MessageToDict(spec.deployment_spec)["executors"])
    for config in executors.values():
        json_format.ParseDict(json_format.MessageToDict(config), k8s.KubernetesExecutorConfig())
    component = kfp.components.load_component_from_file(str(compiled_volume_package))
    assert set(component.pipeline_spec.root.dag.tasks) == set(EDGES)
    assert set(component.platform_spec.platforms["kubernetes"].deployment_spec.executors) == \
        set(executors)


def _kfp_kubernetes_mounts(mounts: list[tuple[str, str]], tmp_path: Path) -> dict:
    """What kfp-kubernetes' own mount_pvc, compiled by KFP's compiler, writes for one task."""
    import yaml
    from kfp import compiler, dsl, kubernetes

    @dsl.container_component
    def task():
        return dsl.ContainerSpec(image="unused", command=["true"])

    @dsl.pipeline(name="oracle")
    def oracle():
        step = task()
        for claim, mount_path in mounts:
            kubernetes.mount_pvc(step, pvc_name=claim, mount_path=mount_path)

    out = tmp_path / "oracle.yaml"
    compiler.Compiler().compile(oracle, str(out))
    platform = list(yaml.safe_load_all(out.read_text()))[1]
    written = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-task"]
    # kfp-kubernetes 2.x (current stack) writes the claim twice: the `constant` that every
    # version writes and reads, and the same name as `pvcNameParameter`, a field the 1.x proto
    # (classic stack, older KFP backends) does not have. The package writes the form both read.
    for mount in written["pvcMount"]:
        twin = mount.pop("pvcNameParameter", None)
        assert twin in (None, {"runtimeValue": {"constant": mount["constant"]}}), twin
    return written


def test_volumes_mount_where_kfp_kubernetes_would_and_paths_point_inside(volume_documents,
                                                                         tmp_path):
    from tests.conftest import KUBEFLOW_DATA_CLAIM, KUBEFLOW_MODELS_CLAIM

    executors = volume_documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    expected = {**{task: [(KUBEFLOW_DATA_CLAIM, kubeflow_storage.DATA_MOUNT)]
                   for task in kubeflow_storage.DATA_TASKS},
                **{task: [(KUBEFLOW_MODELS_CLAIM, kubeflow_storage.MODELS_MOUNT)]
                   for task in kubeflow_storage.MODELS_TASKS}}
    for task, mounts in expected.items():
        assert executors[f"{task}_executor"] == _kfp_kubernetes_mounts(mounts, tmp_path), task

    spec = json_format.ParseDict(volume_documents[0], pb.PipelineSpec())
    tasks = spec.root.dag.tasks
    root = spec.root.input_definitions.parameters
    assert root["data_root"].default_value.string_value == kubeflow_storage.DATA_MOUNT
    model_base = f"{kubeflow_storage.MODELS_MOUNT}/{encoding.MODEL_NAME}"
    push = json.loads(tasks["Pusher"].inputs.parameters["push_destination"]
                      .runtime_value.constant.string_value)
    assert push["filesystem"]["base_directory"] == model_base
    evaluator = tasks["NameEvaluator"].inputs.parameters["model_base"]
    assert evaluator.runtime_value.constant.string_value == model_base


@pytest.mark.parametrize("arguments, refused", [
    ({}, ["minio://mlpipeline/v2/artifacts/namegen/serving", "minio://mlpipeline/v2/artifacts/"
          "namegen/data/*.txt"]),
    ({"push_uri": "s3://b/serving", "data": "gs://b/names/*.txt"}, ["s3://b/serving"]),
    ({"push_uri": "/tmp/serving", "data_volume": "names"}, ["/tmp/serving"]),
    ({"models_volume": "models"}, ["minio://mlpipeline/v2/artifacts/namegen/data/*.txt"]),
])
def test_storage_plan_refuses_what_the_tasks_cannot_use_and_names_the_ways(arguments, refused):
    with pytest.raises(kubeflow_storage.StorageError) as error:
        kubeflow_storage.plan(kubeflow_compile.DEFAULT_PIPELINE_ROOT, **arguments)
    message = str(error.value)
    assert all(uri in message for uri in refused)
    assert "\n" not in message
    for way in ("--push-uri gs://", "--models-volume CLAIM", "--data-volume CLAIM",
                "s3:// URIs with --image-writes-s3"):
        assert way in message


def test_storage_plan_accepts_buckets_volumes_and_s3_with_a_capable_image():
    plan = kubeflow_storage.plan
    assert plan("gs://b/root").push_uri == "gs://b/root/serving"
    assert plan("gs://b/root").data == "gs://b/root/data/*.txt"
    s3 = plan("minio://x", "s3://b/serving", "s3://b/names/*.txt", image_writes_s3=True)
    assert (s3.push_uri, s3.volumes) == ("s3://b/serving", ())
    mixed = plan("minio://x", data="gs://b/names/{SPAN}/*.txt", models_volume="models")
    assert mixed.push_uri == kubeflow_storage.MODELS_MOUNT
    assert [v.claim for v in mixed.volumes] == ["models"]
    same_claim = plan("minio://x", data_volume="shared", models_volume="shared")
    assert {v.mount_path for v in same_claim.volumes} == {kubeflow_storage.DATA_MOUNT,
                                                         kubeflow_storage.MODELS_MOUNT}
    with pytest.raises(kubeflow_storage.StorageError, match="inside /mnt/serving"):
        plan("minio://x", push_uri="/mnt/serving-other", models_volume="m", data_volume="n")
    with pytest.raises(kubeflow_storage.StorageError, match="not a PersistentVolumeClaim"):
        plan("minio://x", data_volume="Names_1", models_volume="m")


def test_compile_refuses_the_unwritable_default_in_one_line_and_writes_nothing(tmp_path,
                                                                               capsys):
    from namegen.cli import main

    out = tmp_path / "pipeline.yaml"
    assert main(["kubeflow", "compile", "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("namegen: error: the Pusher cannot write ")
    assert not list(tmp_path.iterdir())


def test_storage_plan_loads_no_tfx_or_tensorflow():
    from tests.test_imports import HEAVY, _loaded_after

    loaded = _loaded_after("from pipeline.kubeflow import compile, storage\n"
                           "storage.plan('gs://b/root')\n")
    assert not [m for m in loaded["modules"] if m.split(".")[0] in (*HEAVY, "tensorflow")]

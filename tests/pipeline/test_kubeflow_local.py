"""run-local's pieces, and the image entrypoint's fixes (tensorflow/tfx#7768 artifact types,
launcher mounts). A whole package run, to a pushed model, is in tests/e2e/test_nightly_loop.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2 as pb

from pipeline.kubeflow import entrypoint as kubeflow_entrypoint
from pipeline.kubeflow import local as kubeflow_local

EXAMPLES_TYPE = "title: tfx.Examples\ntype: object\n"


def _executor_input(input_uri: str, output_uri: str, output_file: str) -> pb.ExecutorInput:
    executor_input = pb.ExecutorInput()
    executor_input.inputs.artifacts["examples"].artifacts.add(name="a/1", uri=input_uri)
    executor_input.outputs.artifacts["statistics"].artifacts.add(
        name="a/2", uri=output_uri,
        type=pb.ArtifactTypeSchema(instance_schema="title: tfx.ExampleStatistics\n"))
    executor_input.outputs.output_file = output_file
    return executor_input


def test_entrypoint_restores_input_types_and_maps_launcher_mounts(tmp_path):
    (tmp_path / "minio").mkdir()
    output_file = str(tmp_path / "out" / "executor_output.json")
    executor_input = _executor_input("minio://bucket/run/examples", "minio://bucket/run/stats",
                                     output_file)
    executor_input.inputs.artifacts["examples"].artifacts[0].type.schema_title = "system.Artifact"
    inputs_spec = pb.ComponentInputsSpec()
    inputs_spec.artifacts["examples"].artifact_type.instance_schema = EXAMPLES_TYPE
    argv = ["--executor_class_path", "x.Executor",
            "--json_serialized_invocation_args", json_format.MessageToJson(executor_input),
            "--json_serialized_inputs_spec_args", json_format.MessageToJson(inputs_spec),
            "--direct_num_workers=1"]

    args, remote_of, out = kubeflow_entrypoint.prepare(argv, mount_root=str(tmp_path))

    fixed = json_format.Parse(args[3], pb.ExecutorInput())
    examples = fixed.inputs.artifacts["examples"].artifacts[0]
    assert examples.type.instance_schema == EXAMPLES_TYPE  # was an unimportable title
    assert examples.uri == str(tmp_path / "minio" / "bucket" / "run" / "examples")
    stats_dir = tmp_path / "minio" / "bucket" / "run" / "stats"
    assert fixed.outputs.artifacts["statistics"].artifacts[0].uri == str(stats_dir)
    assert stats_dir.is_dir()  # made as TFX's launcher makes output folders
    assert args[-1] == "--direct_num_workers=1" and out == output_file

    os.makedirs(os.path.dirname(output_file))
    Path(output_file).write_text(json.dumps({"artifacts": {"statistics": {"artifacts": [
        {"uri": str(stats_dir), "metadata": {"span": 0}}]}}}))
    kubeflow_entrypoint.restore_output_uris(output_file, remote_of)
    written = json.loads(Path(output_file).read_text())
    assert written["artifacts"]["statistics"]["artifacts"][0]["uri"] == \
        "minio://bucket/run/stats"


def test_entrypoint_leaves_uris_without_a_mount_alone(tmp_path):
    executor_input = _executor_input("gs://bucket/examples", "gs://bucket/stats",
                                     str(tmp_path / "executor_output.json"))
    assert kubeflow_entrypoint.localize_uris(executor_input, mount_root=str(tmp_path)) == {}
    assert executor_input.inputs.artifacts["examples"].artifacts[0].uri == "gs://bucket/examples"


def test_parameters_are_typed_by_the_spec_and_unknown_ones_refused(compiled_package):
    spec = kubeflow_local.load_spec(str(compiled_package))
    values = kubeflow_local.pipeline_parameters(spec, {"epochs": "3", "min_validity": "0.5"})
    assert values["epochs"] == 3 and values["min_validity"] == 0.5
    assert values["preset"] == "tiny"  # the compiled default
    with pytest.raises(kubeflow_local.LocalRunError, match="unknown parameter"):
        kubeflow_local.pipeline_parameters(spec, {"learning_rate": "1"})
    with pytest.raises(kubeflow_local.LocalRunError, match="NUMBER_INTEGER"):
        kubeflow_local.pipeline_parameters(spec, {"epochs": "two"})
    order = kubeflow_local.topological_order(spec)
    for name in order:
        assert all(order.index(d) < order.index(name)
                   for d in spec.root.dag.tasks[name].dependent_tasks)


def test_volumes_map_each_claim_to_a_folder_only_in_the_tasks_that_mount_it(
        compiled_volume_package, tmp_path):
    from pipeline.kubeflow import storage as kubeflow_storage
    from tests.conftest import KUBEFLOW_DATA_CLAIM, KUBEFLOW_MODELS_CLAIM

    package = str(compiled_volume_package)
    mounts = kubeflow_local.load_mounts(package)
    assert mounts["Pusher_executor"] == [(KUBEFLOW_MODELS_CLAIM, kubeflow_storage.MODELS_MOUNT)]
    assert "Trainer_executor" not in mounts
    names, models = tmp_path / "names", tmp_path / "models"
    names.mkdir()
    models.mkdir()
    volumes = kubeflow_local.parse_volumes([f"{KUBEFLOW_DATA_CLAIM}={names}",
                                            f"{KUBEFLOW_MODELS_CLAIM} = {models}"])
    kubeflow_local.check_volumes(mounts, volumes)
    with pytest.raises(kubeflow_local.LocalRunError, match=KUBEFLOW_MODELS_CLAIM):
        kubeflow_local.check_volumes(mounts, {KUBEFLOW_DATA_CLAIM: str(names)})
    with pytest.raises(kubeflow_local.LocalRunError, match="mounts no such claim"):
        kubeflow_local.check_volumes(mounts, {**volumes, "other": str(names)})
    with pytest.raises(kubeflow_local.LocalRunError, match="no such folder"):
        kubeflow_local.check_volumes(mounts, {**volumes, KUBEFLOW_DATA_CLAIM: str(tmp_path / "x")})
    for bad in (["names"], ["=dir"], [f"a={names}", f"a={models}"]):
        with pytest.raises(kubeflow_local.LocalRunError, match="--volume"):
            kubeflow_local.parse_volumes(bad)

    spec = kubeflow_local.load_spec(package)
    values = kubeflow_local.pipeline_parameters(spec, {})
    upstream = {  # every task's outputs, as if it had run
        name: kubeflow_local.TaskResult(
            name, 0.0, {key: [pb.RuntimeArtifact(uri=str(tmp_path / name / key))]
                        for key in spec.components[name].output_definitions.artifacts},
            {}, "") for name in spec.root.dag.tasks}
    folders = {kubeflow_storage.MODELS_MOUNT: str(models)}
    pusher = kubeflow_local.build_executor_input(spec, "Pusher", str(tmp_path / "t"), "r", values,
                                                 upstream, folders)
    destination = json.loads(pusher.inputs.parameter_values["push_destination"].string_value)
    assert destination["filesystem"]["base_directory"] == str(models / "names")
    example_gen = kubeflow_local.build_executor_input(
        spec, "FileBasedExampleGen", str(tmp_path / "t"), "r", values, {},
        {kubeflow_storage.DATA_MOUNT: str(names)})
    assert example_gen.inputs.parameter_values["input_base"].string_value == str(names)
    unmounted = kubeflow_local.build_executor_input(spec, "FileBasedExampleGen",
                                                    str(tmp_path / "t"), "r", values, {}, {})
    assert unmounted.inputs.parameter_values["input_base"].string_value == \
        kubeflow_storage.DATA_MOUNT  # not mounted: the path stays, as on a cluster


def test_mount_paths_are_replaced_only_as_whole_path_components():
    folders = {"/mnt/serving": "/home/me/claim"}
    mapped = kubeflow_local.map_mount_paths
    assert mapped("/mnt/serving", folders) == "/home/me/claim"
    assert mapped('{"base_directory": "/mnt/serving/names"}', folders) == \
        '{"base_directory": "/home/me/claim/names"}'
    for untouched in ("/mnt/serving2/names", "/x/mnt/serving", "/mnt/serving.old", "gs://b/mnt/serving"):
        assert mapped(untouched, folders) == untouched

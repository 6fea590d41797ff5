"""Container entrypoint for every task of the compiled pipeline on Kubeflow Pipelines v2.

Runs TFX's `kubeflow_v2_run_executor` with the same arguments after two fixes to the
executor input that open-source KFP v2 needs:

1. tensorflow/tfx#7768: the KFP launcher passes input artifacts without the `instanceSchema`
   the compiler wrote (no type, or a title TFX cannot import), and TFX then cannot pick the
   artifact class. Each input artifact whose type is missing or unknown gets the type from
   the component's input definitions (`--json_serialized_inputs_spec_args`, compiled in with
   pipeline spec 2.1).
2. The launcher downloads input artifacts to, and uploads outputs from, local mounts
   (`gs://b/k` <-> `/gcs/b/k`, `s3://` <-> `/s3/`, `minio://` <-> `/minio/`); TFX executors
   use the URI itself. Where the mount exists, artifact URIs are pointed at it for the
   executor, and the remote URIs are put back into the executor output for the launcher.
   Local output folders are created as TFX's own launcher does (the KFP launcher makes only
   their parents).
"""

from __future__ import annotations

import json
import os
import runpy
import sys

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2 import compiler_utils
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils
from tfx.orchestration.portable import outputs_utils
from tfx.utils import import_utils

TFX_EXECUTOR_MODULE = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
COMMAND = ("python", "-m", "pipeline.kubeflow.entrypoint")
INVOCATION_FLAG = "--json_serialized_invocation_args"
INPUTS_SPEC_FLAG = "--json_serialized_inputs_spec_args"
MOUNTS = {"gs://": "/gcs/", "s3://": "/s3/", "minio://": "/minio/"}


def _flag_value(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def resolvable(artifact_type: pipeline_spec_pb2.ArtifactTypeSchema) -> bool:
    """Whether TFX can import the artifact class this type names."""
    kind = artifact_type.WhichOneof("kind")
    if kind is None:
        return False
    if kind == "instance_schema":
        return True
    title = artifact_type.schema_title
    try:
        import_utils.import_class_by_path(compiler_utils.TITLE_TO_CLASS_PATH.get(title, title))
    except (ImportError, AttributeError, ValueError):
        return False
    return True


def restore_input_types(executor_input: pipeline_spec_pb2.ExecutorInput,
                        inputs_spec: pipeline_spec_pb2.ComponentInputsSpec) -> list[str]:
    """Give input artifacts lacking a usable type the one compiled into the spec (#7768)."""
    fixed = []
    for key, artifact_list in executor_input.inputs.artifacts.items():
        if key not in inputs_spec.artifacts:
            continue
        for artifact in artifact_list.artifacts:
            if not resolvable(artifact.type):
                artifact.type.CopyFrom(inputs_spec.artifacts[key].artifact_type)
                fixed.append(key)
    return fixed


def local_path(uri: str, mount_root: str = "/") -> str | None:
    """The launcher's local mount for a remote URI, when that mount exists here."""
    for scheme, prefix in MOUNTS.items():
        mount = os.path.join(mount_root, prefix.strip("/"))
        if uri.startswith(scheme) and os.path.isdir(mount):
            return os.path.join(mount, uri[len(scheme):])
    return None


def localize_uris(executor_input: pipeline_spec_pb2.ExecutorInput,
                  mount_root: str = "/") -> dict[str, str]:
    """Point artifact URIs at the launcher's mounts; returns local -> remote for outputs."""
    remote_of = {}
    for artifacts, is_output in ((executor_input.inputs.artifacts, False),
                                 (executor_input.outputs.artifacts, True)):
        for artifact_list in artifacts.values():
            for artifact in artifact_list.artifacts:
                local = local_path(artifact.uri, mount_root)
                if local is None:
                    continue
                if is_output:
                    remote_of[local] = artifact.uri
                artifact.uri = local
    return remote_of


def make_local_output_dirs(executor_input: pipeline_spec_pb2.ExecutorInput) -> None:
    """Folders for directory artifacts, parents for value artifacts, on local paths only."""
    outputs = kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(
        executor_input.outputs.artifacts)
    outputs_utils.make_output_dirs({
        key: [a for a in artifacts if "://" not in a.uri] for key, artifacts in outputs.items()
    })


def restore_output_uris(output_file: str, remote_of: dict[str, str]) -> None:
    """Put the remote URIs back into the executor output the launcher reads."""
    if not remote_of or not os.path.exists(output_file):
        return
    with open(output_file) as f:
        output = json.load(f)
    for artifact_list in output.get("artifacts", {}).values():
        for artifact in artifact_list.get("artifacts", []):
            artifact["uri"] = remote_of.get(artifact.get("uri"), artifact.get("uri"))
    with open(output_file, "w") as f:
        json.dump(output, f)


def prepare(argv: list[str], mount_root: str = "/") -> tuple[list[str], dict[str, str], str]:
    """The executor arguments with a fixed executor input, the URI map and the output file."""
    invocation = _flag_value(argv, INVOCATION_FLAG)
    if invocation is None:
        raise SystemExit(f"kubeflow entrypoint: {INVOCATION_FLAG} is required")
    executor_input = pipeline_spec_pb2.ExecutorInput()
    json_format.Parse(invocation, executor_input, ignore_unknown_fields=True)
    inputs_spec_json = _flag_value(argv, INPUTS_SPEC_FLAG)
    if inputs_spec_json:
        inputs_spec = pipeline_spec_pb2.ComponentInputsSpec()
        json_format.Parse(inputs_spec_json, inputs_spec, ignore_unknown_fields=True)
        fixed = restore_input_types(executor_input, inputs_spec)
        if fixed:
            print(f"kubeflow entrypoint: restored artifact types of inputs {sorted(set(fixed))} "
                  "(tensorflow/tfx#7768)", file=sys.stderr)
    remote_of = localize_uris(executor_input, mount_root)
    make_local_output_dirs(executor_input)
    args = list(argv)
    args[args.index(INVOCATION_FLAG) + 1] = json_format.MessageToJson(executor_input)
    return args, remote_of, executor_input.outputs.output_file


def main(argv: list[str]) -> int:
    args, remote_of, output_file = prepare(argv)
    sys.argv = [TFX_EXECUTOR_MODULE, *args]
    try:
        runpy.run_module(TFX_EXECUTOR_MODULE, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as done:  # absl's app.run always exits
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    if code == 0:
        restore_output_uris(output_file, remote_of)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run a compiled KFP v2 package on this machine, task by task, the way a cluster would.

For each task, in topological order of the DAG, it builds the `ExecutorInput` from the spec
(constants, pipeline parameters, upstream output parameters and artifacts), gives every output
artifact a local folder under the work dir as its URI, and runs the task's container command
and arguments from the spec (`python -m pipeline.kubeflow.entrypoint ...`, which then runs
TFX's `kubeflow_v2_run_executor`) in a process of its own from the project root, the image's
WORKDIR: a new Python per task (`fresh_processes`), or by default a child forked from a server
that has imported the heavy modules once (pipeline/kubeflow/launcher.py).

Volumes: each PersistentVolumeClaim the package mounts (its platform spec, the second YAML
document, as kfp-kubernetes writes it) is a local folder (`--volume CLAIM=DIR`). A task that
mounts a claim sees its mount path as that folder: the mount path in its string parameters is
replaced by the folder. Tasks that do not mount it get the path unchanged, as on a cluster.

Limits (docs/KUBEFLOW.md): no container, image or object store (URIs are local folders); no
KFP driver caching; no `preCacheCheck` lifecycle hook (open-source KFP does not run it either);
no conditions, loops or resolver/importer tasks (the namegen DAG has none). Input artifacts
are passed without their type, as open-source KFP does (tensorflow/tfx#7768), so the
entrypoint's workaround is exercised.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import tempfile
import time
import uuid

import yaml
from google.protobuf import json_format, struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2 as pb

from pipeline import configs
from pipeline.kubeflow import launcher

EXECUTOR_INPUT_PLACEHOLDER = "{{$}}"
ParameterType = pb.ParameterType


class LocalRunError(RuntimeError):
    """The package cannot run here, or a task failed."""


@dataclasses.dataclass
class TaskResult:
    name: str
    seconds: float
    artifacts: dict[str, list[pb.RuntimeArtifact]]
    parameters: dict[str, struct_pb2.Value]
    log: str


@dataclasses.dataclass
class LocalRun:
    run_dir: str
    parameters: dict
    tasks: dict[str, TaskResult]


def _documents(package: str) -> list[dict]:
    with open(package) as f:
        documents = [d for d in yaml.safe_load_all(f) if d]
    if not documents:
        raise LocalRunError(f"{package} is empty")
    return documents


def load_spec(package: str) -> pb.PipelineSpec:
    """The package as KFP's PipelineSpec proto (unknown fields are an error)."""
    return json_format.ParseDict(_documents(package)[0], pb.PipelineSpec())


def load_mounts(package: str) -> dict[str, list[tuple[str, str]]]:
    """Executor label -> its (claim, mount path) list, from the platform spec (KFP's
    PlatformSpec proto, strict); {} for a package without one."""
    documents = _documents(package)
    if len(documents) < 2:
        return {}
    platform = json_format.ParseDict(documents[1], pb.PlatformSpec())
    mounts: dict[str, list[tuple[str, str]]] = {}
    for name, single in platform.platforms.items():
        if name != "kubernetes":
            raise LocalRunError(f"platform {name!r} is not supported here")
        for label, config in single.deployment_spec.executors.items():
            config = json_format.MessageToDict(config)
            if set(config) - {"pvcMount"}:
                raise LocalRunError(f"executor {label}: only pvcMount runs here, got "
                                    f"{sorted(config)}")
            for mount in config["pvcMount"]:
                if set(mount) != {"constant", "mountPath"}:
                    raise LocalRunError(f"executor {label}: only a constant claim name and a "
                                        f"mount path run here, got {mount}")
                mounts.setdefault(label, []).append((mount["constant"], mount["mountPath"]))
    return mounts


def parse_volumes(pairs: list[str] | None) -> dict[str, str]:
    """CLAIM=DIR strings as claim -> absolute folder."""
    volumes: dict[str, str] = {}
    for pair in pairs or []:
        claim, sep, folder = (part.strip() for part in pair.partition("="))
        if not sep or not claim or not folder:
            raise LocalRunError(f"--volume expects CLAIM=DIR, got {pair!r}")
        if claim in volumes:
            raise LocalRunError(f"--volume {claim} is given twice")
        volumes[claim] = os.path.abspath(os.path.expanduser(folder))
    return volumes


def check_volumes(mounts: dict[str, list[tuple[str, str]]], volumes: dict[str, str]) -> None:
    """Every mounted claim has a folder, every folder a claim, before any task runs."""
    claims = {claim for pairs in mounts.values() for claim, _ in pairs}
    missing = sorted(claims - set(volumes))
    if missing:
        raise LocalRunError(f"the package mounts claim(s) {missing}: pass --volume CLAIM=DIR "
                            "for each")
    unknown = sorted(set(volumes) - claims)
    if unknown:
        raise LocalRunError(f"--volume {unknown}: the package mounts no such claim "
                            f"(it mounts {sorted(claims)})")
    for claim, folder in volumes.items():
        if not os.path.isdir(folder):
            raise LocalRunError(f"--volume {claim}={folder}: no such folder")


def map_mount_paths(text: str, folders: dict[str, str]) -> str:
    """`text` with each mount path (a whole path component) replaced by its local folder."""
    for mount_path, folder in folders.items():
        pattern = r"(?<![\w.\-/])" + re.escape(mount_path.rstrip("/")) + r"(?![\w.\-])"
        text = re.sub(pattern, folder.replace("\\", "\\\\"), text)
    return text


def topological_order(spec: pb.PipelineSpec) -> list[str]:
    """Task names so that every task follows the tasks it depends on (ties by name)."""
    tasks = spec.root.dag.tasks
    for name, task in tasks.items():
        for dependency in task.dependent_tasks:
            if dependency not in tasks:
                raise LocalRunError(f"task {name} depends on unknown task {dependency}")
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(tasks):
        ready = sorted(n for n, t in tasks.items()
                       if n not in done and set(t.dependent_tasks) <= done)
        if not ready:
            raise LocalRunError(f"cycle among tasks {sorted(set(tasks) - done)}")
        order.extend(ready)
        done.update(ready)
    return order


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """NAME=VALUE strings as a dict."""
    values = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise LocalRunError(f"--param expects NAME=VALUE, got {pair!r}")
        values[name.strip()] = value.strip()
    return values


def _typed(name: str, value, parameter_type: int):
    try:
        if parameter_type == ParameterType.NUMBER_INTEGER:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if parameter_type == ParameterType.NUMBER_DOUBLE:
            return float(value)
        if parameter_type == ParameterType.BOOLEAN:
            return value if isinstance(value, bool) else str(value).lower() in ("true", "1")
        return str(value)
    except ValueError:
        raise LocalRunError(f"parameter {name}={value!r}: expected "
                            f"{ParameterType.ParameterTypeEnum.Name(parameter_type)}") from None


def typed_parameters(spec: pb.PipelineSpec, given: dict) -> dict:
    """Given parameter values typed as the spec declares them; unknown names are an error."""
    definitions = spec.root.input_definitions.parameters
    unknown = sorted(set(given) - set(definitions))
    if unknown:
        raise LocalRunError(f"unknown parameter(s) {unknown}; the pipeline has "
                            f"{sorted(definitions)}")
    return {name: _typed(name, value, definitions[name].parameter_type)
            for name, value in given.items()}


def pipeline_parameters(spec: pb.PipelineSpec, given: dict) -> dict:
    """The run's parameter values: the given ones, else the spec's defaults."""
    values = typed_parameters(spec, given)
    for name, definition in spec.root.input_definitions.parameters.items():
        if name in values:
            continue
        if definition.HasField("default_value"):
            raw = json_format.MessageToDict(definition.default_value)
        else:
            raise LocalRunError(f"parameter {name} has no default: pass --param {name}=...")
        values[name] = _typed(name, raw, definition.parameter_type)
    return values


def _value(python_value) -> struct_pb2.Value:
    value = struct_pb2.Value()
    json_format.ParseDict(python_value, value)
    return value


def build_executor_input(spec: pb.PipelineSpec, task_name: str, task_dir: str, run_id: str,
                         values: dict, results: dict[str, TaskResult],
                         folders: dict[str, str] | None = None) -> pb.ExecutorInput:
    """What the KFP driver hands the task: inputs resolved, outputs given local URIs.
    `folders`: the task's mount paths -> local folders (see the module docstring)."""
    task = spec.root.dag.tasks[task_name]
    component = spec.components[task.component_ref.name]
    executor_input = pb.ExecutorInput()
    for name, source in task.inputs.parameters.items():
        kind = source.WhichOneof("kind")
        if kind == "runtime_value":
            value = source.runtime_value.constant
        elif kind == "component_input_parameter":
            value = _value(values[source.component_input_parameter])
        elif kind == "task_output_parameter":
            producer = source.task_output_parameter
            value = results[producer.producer_task].parameters[producer.output_parameter_key]
        else:
            raise LocalRunError(f"task {task_name}: parameter {name} of kind {kind} "
                                "is not supported here")
        passed = executor_input.inputs.parameter_values[name]
        passed.CopyFrom(value)
        if folders and passed.WhichOneof("kind") == "string_value":
            passed.string_value = map_mount_paths(passed.string_value, folders)
    for name, source in task.inputs.artifacts.items():
        if source.WhichOneof("kind") != "task_output_artifact":
            raise LocalRunError(f"task {task_name}: artifact {name} is not a task output")
        producer = source.task_output_artifact
        upstream = results[producer.producer_task].artifacts[producer.output_artifact_key]
        artifacts = executor_input.inputs.artifacts[name].artifacts
        for artifact in upstream:
            passed = artifacts.add()
            passed.CopyFrom(artifact)
            passed.ClearField("type")  # as open-source KFP hands them over (tfx#7768)
    for name, definition in component.output_definitions.artifacts.items():
        uri = os.path.join(task_dir, name)  # the launcher makes only the parent folder
        executor_input.outputs.artifacts[name].artifacts.add(
            name=f"{run_id}/{task_name}/{name}", uri=uri, type=definition.artifact_type)
    for name in component.output_definitions.parameters:
        executor_input.outputs.parameters[name].output_file = os.path.join(
            task_dir, "parameters", name)
    executor_input.outputs.output_file = os.path.join(task_dir, "executor_output.json")
    return executor_input


def container_command(spec: pb.PipelineSpec, task_name: str,
                      executor_input: pb.ExecutorInput) -> list[str]:
    """The container's command and args from the spec, placeholders filled in."""
    component = spec.components[spec.root.dag.tasks[task_name].component_ref.name]
    executor = json_format.MessageToDict(spec.deployment_spec)["executors"][
        component.executor_label]
    if "container" not in executor:
        raise LocalRunError(f"task {task_name}: only container executors run here "
                            f"(got {sorted(executor.keys())})")
    container = executor["container"]
    serialized = json_format.MessageToJson(executor_input)
    command = []
    for part in list(container.get("command", [])) + list(container.get("args", [])):
        part = part.replace(EXECUTOR_INPUT_PLACEHOLDER, serialized)
        if "{{$" in part:
            raise LocalRunError(f"task {task_name}: placeholder in {part[:80]!r} "
                                "is not supported here")
        command.append(part)
    if command and command[0] in ("python", "python3"):
        command[0] = sys.executable  # the image's python is this project's environment
    return command


def read_outputs(executor_input: pb.ExecutorInput
                 ) -> tuple[dict[str, list[pb.RuntimeArtifact]], dict[str, struct_pb2.Value]]:
    """Output artifacts (URI from the input, metadata from the executor) and parameters."""
    output = pb.ExecutorOutput()
    if os.path.exists(executor_input.outputs.output_file):
        with open(executor_input.outputs.output_file) as f:
            json_format.Parse(f.read(), output, ignore_unknown_fields=True)
    artifacts = {}
    for name, artifact_list in executor_input.outputs.artifacts.items():
        merged = []
        for index, artifact in enumerate(artifact_list.artifacts):
            result = pb.RuntimeArtifact()
            result.CopyFrom(artifact)
            reported = output.artifacts[name].artifacts if name in output.artifacts else []
            if index < len(reported):
                result.metadata.update(json_format.MessageToDict(reported[index].metadata))
            merged.append(result)
        artifacts[name] = merged
    return artifacts, dict(output.parameter_values)


def run(package: str, work_dir: str, given: dict | None = None,
        log=lambda line: print(line, file=sys.stderr, flush=True),
        volumes: dict[str, str] | None = None, fresh_processes: bool = False,
        parallelism: int = 1) -> LocalRun:
    """Run every task of the package; raise LocalRunError naming the task that failed.
    `volumes`: claim -> local folder, one for each claim the package mounts. `fresh_processes`:
    every task a new Python (else forked from a server, pipeline/kubeflow/launcher.py).
    `parallelism`: ready tasks at once, as KFP; after a failure none starts, running ones end."""
    if parallelism < 1:
        raise LocalRunError(f"parallelism must be at least 1, got {parallelism}")
    spec = load_spec(package)
    mounts, volumes = load_mounts(package), volumes or {}
    check_volumes(mounts, volumes)
    if any(t.HasField("trigger_policy") for t in spec.root.dag.tasks.values()):
        raise LocalRunError("conditional tasks are not supported here")
    values = pipeline_parameters(spec, given or {})
    run_id = f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    run_dir = os.path.join(os.path.abspath(work_dir), spec.pipeline_info.name, run_id)
    os.makedirs(run_dir, exist_ok=True)
    root = str(configs.PROJECT_ROOT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    results: dict[str, TaskResult] = {}
    log(f"run-local {package} -> {run_dir}")
    pending = topological_order(spec)
    running: dict[str, tuple[pb.ExecutorInput, float, tempfile.TemporaryDirectory, str]] = {}
    failed: tuple[str, int, str] | None = None
    try:
        tasks = launcher.FreshProcesses() if fresh_processes else launcher.ForkServer(
            launcher.spec_preloads(spec), root, env, os.path.join(run_dir, "launcher.log"))
        with tasks:
            while pending or running:
                while failed is None and len(running) < parallelism:
                    ready = [n for n in pending
                             if set(spec.root.dag.tasks[n].dependent_tasks) <= set(results)]
                    if not ready:
                        break
                    task_name = ready[0]
                    pending.remove(task_name)
                    task_dir = os.path.join(run_dir, task_name)
                    os.makedirs(task_dir, exist_ok=True)
                    folders = {path: volumes[claim] for claim, path in mounts.get(spec.components[
                        spec.root.dag.tasks[task_name].component_ref.name].executor_label, [])}
                    executor_input = build_executor_input(spec, task_name, task_dir, run_id,
                                                          values, results, folders)
                    command = container_command(spec, task_name, executor_input)
                    log(f"▶ {task_name} ...")
                    log_path = os.path.join(task_dir, "log.txt")
                    pod_tmp = tempfile.TemporaryDirectory()  # its own /tmp, as a pod's
                    running[task_name] = (executor_input, time.perf_counter(), pod_tmp, log_path)
                    tasks.start(task_name, command, root, dict(env, TMPDIR=pod_tmp.name),
                                log_path)
                if not running:
                    break
                task_name, returncode = tasks.wait()
                executor_input, started, pod_tmp, log_path = running.pop(task_name)
                pod_tmp.cleanup()
                seconds = time.perf_counter() - started
                if returncode != 0:
                    failed = failed or (task_name, returncode, log_path)
                    continue
                artifacts, parameters = read_outputs(executor_input)
                results[task_name] = TaskResult(task_name, seconds, artifacts, parameters,
                                                log_path)
                log(f"✓ {task_name} ({seconds:.1f}s)")
    except launcher.LauncherError as error:
        raise LocalRunError(str(error)) from None
    finally:
        for _, _, pod_tmp, _ in running.values():  # tasks cut short: their /tmp goes too
            pod_tmp.cleanup()
    if failed:
        task_name, returncode, log_path = failed
        with open(log_path) as f:
            tail = "".join(f.readlines()[-25:])
        raise LocalRunError(f"task {task_name} failed (exit {returncode}); log {log_path}:\n{tail}")
    return LocalRun(run_dir, values, results)


def pushed_destination(result: LocalRun) -> str | None:
    """Where the Pusher put the model, or None when it did not push."""
    for task in result.tasks.values():
        for artifact in task.artifacts.get("pushed_model", []):
            metadata = json_format.MessageToDict(artifact.metadata)
            if metadata.get("pushed"):
                return metadata.get("pushed_destination")
    return None


def summary(result: LocalRun) -> str:
    lines = [f"run-local finished: {len(result.tasks)} tasks in "
             f"{sum(t.seconds for t in result.tasks.values()):.0f}s, artifacts in "
             f"{result.run_dir}",
             "parameters: " + json.dumps(result.parameters, sort_keys=True)]
    destination = pushed_destination(result)
    lines.append(f"pushed: {destination}" if destination else "not pushed (see NameEvaluator)")
    return "\n".join(lines)

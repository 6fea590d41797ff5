"""Compile the pipeline for Kubeflow Pipelines v2 (KubeflowV2DagRunner) and the CLI commands.

The package is the PipelineSpec YAML that open-source `kfp.Client` accepts, with the pipeline
root as `defaultPipelineRoot` and a default for every runtime parameter.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING

from pipeline import configs
from pipeline.kubeflow import storage as kubeflow_storage

if TYPE_CHECKING:  # trainer_job imports TFX: the CLI's fast commands must not
    from pipeline.kubeflow.trainer_job import TrainerResources

DEFAULT_IMAGE = os.environ.get("NAMEGEN_IMAGE", "namegen:latest")
DEFAULT_PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts/namegen"
PIPELINE_ROOT_SCHEMES = ("gs://", "s3://", "minio://")
EXAMPLE_GEN_TASK = "FileBasedExampleGen"
# Relative to the container's working directory, the project root (Dockerfile WORKDIR).
SCHEMA_DIR = "pipeline/schema"


def compile_spec(
    image: str = DEFAULT_IMAGE,
    pipeline_root: str = DEFAULT_PIPELINE_ROOT,
    push_uri: str | None = None,
    data: str | None = None,
    preset: str = configs.DEFAULT_PRESET,
    epochs: int | None = None,
    beam_pipeline_args: list[str] | None = None,
    trainer: TrainerResources | None = None,
    storage: kubeflow_storage.Storage | None = None,
) -> dict:
    """The PipelineJob dict from KubeflowV2DagRunner, its pipelineSpec ready for kfp.Client.

    With `trainer`, the Trainer task launches a multi-worker TFJob (trainer_job.py).
    `storage` (storage.plan) sets the data and push locations and the volumes; without it,
    `push_uri` and `data` are planned here: a location the tasks cannot use is a StorageError.
    """
    from tfx.orchestration import data_types
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2

    from pipeline.kubeflow import trainer_job
    from pipeline.kubeflow.entrypoint import COMMAND
    from pipeline.pipeline import create_pipeline

    check_pipeline_root(pipeline_root)
    if storage is None:
        storage = kubeflow_storage.plan(pipeline_root, push_uri, data)
    elif push_uri or data:
        raise ValueError("pass the push destination and the data in `storage` only")
    hp = configs.hyperparameters(preset, {"epochs": epochs} if epochs else None)
    pipeline = create_pipeline(
        pipeline_root=pipeline_root,
        data_path=storage.data,
        serving_dir=storage.push_uri,
        hyperparameters=hp,
        beam_pipeline_args=configs.BEAM_ARGS_CLI if beam_pipeline_args is None
        else beam_pipeline_args,
        schema_path=SCHEMA_DIR,
        kubeflow=True,
    )
    if trainer:
        trainer_job.use_tfjob(pipeline, trainer, image)
    runner = v2.KubeflowV2DagRunner(
        v2.KubeflowV2DagRunnerConfig(default_image=image, default_commands=list(COMMAND),
                                     use_pipeline_spec_2_1=True),
    )
    job = runner.run(pipeline, write_out=False)
    spec = job["pipelineSpec"]
    spec["defaultPipelineRoot"] = pipeline_root
    fix_output_parameter_producers(spec["root"]["dag"]["tasks"])
    # ExampleGen resolves the latest {SPAN} at run time, with the same parameters every night:
    # KFP's cache (keyed on them) would hand back yesterday's examples.
    spec["root"]["dag"]["tasks"][EXAMPLE_GEN_TASK]["cachingOptions"] = {}
    root_parameters = spec["root"]["inputDefinitions"]["parameters"]
    for component in pipeline.components:
        for value in component.exec_properties.values():
            if isinstance(value, data_types.RuntimeParameter):
                root_parameters[value.name]["defaultValue"] = value.default
    return job


def check_pipeline_root(pipeline_root: str) -> None:
    if not pipeline_root.startswith(PIPELINE_ROOT_SCHEMES):
        raise kubeflow_storage.StorageError(
            f"--pipeline-root must be a {', '.join(PIPELINE_ROOT_SCHEMES)} URI, "
            f"got {pipeline_root!r}")


def fix_output_parameter_producers(tasks: dict) -> None:
    """Name the real producer task of each task output parameter (a dynamic exec property).

    TFX 1.16's step builder names it `<component id>_task`, a task no DAG has; KFP would
    reject the run and run-local fails on it.
    """
    for name, task in tasks.items():
        for parameter in task.get("inputs", {}).get("parameters", {}).values():
            source = parameter.get("taskOutputParameter")
            if not source or source["producerTask"] in tasks:
                continue
            producer = source["producerTask"].removesuffix("_task")
            if producer not in tasks:
                raise ValueError(f"task {name}: no producer task {source['producerTask']}")
            source["producerTask"] = producer
            if producer not in task.setdefault("dependentTasks", []):
                task["dependentTasks"] = sorted([*task["dependentTasks"], producer])


def write_package(job: dict, out: str, storage: kubeflow_storage.Storage | None = None) -> None:
    """Write the pipelineSpec as YAML (open-source kfp.Client rejects the .json PipelineJob),
    and with volumes the platform spec as the second document, as KFP's compiler does."""
    import yaml
    from tfx import version
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2

    if not out.endswith((".yaml", ".yml")):
        raise ValueError(f"--out must end in .yaml: kfp.Client accepts YAML packages, got {out!r}")
    platform = storage.platform_spec(
        set(job["pipelineSpec"]["deploymentSpec"]["executors"])) if storage else {}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    partial = f"{out}.partial.yaml"  # the runner's writer picks YAML by the name's ending
    v2._write_pipeline_spec_to_file(  # the runner's own writer: same header and layout
        job, f"namegen, compiled by tfx-{version.__version__} KubeflowV2DagRunner", partial)
    if platform:
        with open(partial, "a") as f:
            f.write("---\n")
            yaml.safe_dump(platform, f, sort_keys=True)
    os.replace(partial, out)


# --- CLI ------------------------------------------------------------------------------------
def cmd_compile(args: argparse.Namespace) -> int:
    # The CLI's validate hook refused unusable storage before TFX started; this re-plans it.
    check_pipeline_root(args.pipeline_root)
    storage = kubeflow_storage.plan(args.pipeline_root, args.push_uri, args.data,
                                    args.data_volume, args.models_volume, args.image_writes_s3)
    started = time.perf_counter()
    from pipeline.kubeflow.trainer_job import TrainerResources

    trainer = (TrainerResources(args.trainer_workers, args.trainer_cpu, args.trainer_memory,
                                args.trainer_gpus) if args.trainer_workers > 1 else None)
    job = compile_spec(args.image, args.pipeline_root, preset=args.preset, epochs=args.epochs,
                       beam_pipeline_args=args.beam_arg, trainer=trainer, storage=storage)
    write_package(job, args.out, storage)
    parameters = job["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    print(f"wrote {args.out} ({len(job['pipelineSpec']['root']['dag']['tasks'])} tasks, "
          f"image {args.image}) in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    print("runtime parameters: " + ", ".join(
        f"{name}={spec['defaultValue']}" for name, spec in sorted(parameters.items())),
        file=sys.stderr)
    for volume in storage.volumes:
        print(f"volume: claim {volume.claim} at {volume.mount_path} in "
              f"{', '.join(volume.tasks)}", file=sys.stderr)
    return 0


def cmd_run_local(args: argparse.Namespace) -> int:
    from pipeline.kubeflow import local as kubeflow_local

    values = kubeflow_local.parse_params(args.param)
    volumes = kubeflow_local.parse_volumes(args.volume)
    result = kubeflow_local.run(args.package, args.work_dir, values, volumes=volumes,
                                fresh_processes=args.fresh_processes,
                                parallelism=args.parallelism)
    print(kubeflow_local.summary(result))
    return 0

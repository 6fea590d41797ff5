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
    try:  # before anything is compiled: never a package that fails on its first night
        check_pipeline_root(args.pipeline_root)
        storage = kubeflow_storage.plan(args.pipeline_root, args.push_uri, args.data,
                                        args.data_volume, args.models_volume,
                                        args.image_writes_s3)
    except kubeflow_storage.StorageError as error:
        from namegen.errors import UserError  # the CLI prints it as one line

        raise UserError(str(error)) from None
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
    result = kubeflow_local.run(args.package, args.work_dir, values, volumes=volumes)
    print(kubeflow_local.summary(result))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add `namegen kubeflow compile|submit|schedule|run-local`."""
    from pipeline.kubeflow import client as kubeflow_client

    kubeflow = commands.add_parser("kubeflow", help="compile, submit and schedule on Kubeflow")
    kubeflow.set_defaults(loads_tfx=True)
    sub = kubeflow.add_subparsers(dest="kubeflow_command", required=True)

    compile_ = sub.add_parser("compile", help="write the KFP v2 pipeline package (YAML)")
    compile_.add_argument("--image", default=DEFAULT_IMAGE,
                          help="pipeline image for every task (default: $NAMEGEN_IMAGE or "
                          f"{DEFAULT_IMAGE})")
    compile_.add_argument("--pipeline-root", default=DEFAULT_PIPELINE_ROOT,
                          help="artifact root URI: gs://, s3:// or minio:// (the KFP launcher "
                          "moves artifacts; the data and models need --data/--push-uri or volumes)")
    compile_.add_argument("--push-uri", help="where the Pusher writes versions; the KServe "
                          "storageUri is this plus /names (default: PIPELINE_ROOT/serving, or "
                          f"{kubeflow_storage.MODELS_MOUNT} with --models-volume)")
    compile_.add_argument("--data", help="defaults of the data_root and data_pattern parameters "
                          "as one path; a {SPAN} folder picks the latest span, e.g. "
                          "gs://bucket/names/{SPAN}/*.txt (default: PIPELINE_ROOT/data/"
                          f"{kubeflow_storage.DATA_PATTERN}, or {kubeflow_storage.DATA_MOUNT}/"
                          f"{kubeflow_storage.DATA_PATTERN} with --data-volume)")
    compile_.add_argument("--data-volume", metavar="CLAIM", help="mount this "
                          f"PersistentVolumeClaim at {kubeflow_storage.DATA_MOUNT} in "
                          f"{' and '.join(kubeflow_storage.DATA_TASKS)}: the names are read there")
    compile_.add_argument("--models-volume", metavar="CLAIM", help="mount this "
                          f"PersistentVolumeClaim at {kubeflow_storage.MODELS_MOUNT} in "
                          f"{' and '.join(kubeflow_storage.MODELS_TASKS)}: versions go to "
                          "CLAIM/names/<version> (KServe: pvc://CLAIM/names)")
    compile_.add_argument("--image-writes-s3", action="store_true", help="the --image can "
                          "read and write s3:// (tensorflow-io; docs/KUBEFLOW.md): allow s3:// "
                          "for --data and --push-uri")
    compile_.add_argument("--preset", default=configs.DEFAULT_PRESET,
                          choices=sorted(configs.PRESETS), help="default of `preset`")
    compile_.add_argument("--epochs", type=int, help="default of `epochs` (0: the preset's)")
    compile_.add_argument("--beam-arg", action="append", help="Beam argument (repeatable)")
    compile_.add_argument("--trainer-workers", type=int, default=1, help="train on N workers: "
                          "the Trainer task launches a TFJob (Kubeflow Training Operator)")
    compile_.add_argument("--trainer-cpu", help="CPU request per Trainer worker, e.g. 4")
    compile_.add_argument("--trainer-memory", help="memory request per Trainer worker, e.g. 8Gi")
    compile_.add_argument("--trainer-gpus", type=int, default=0,
                          help="nvidia.com/gpu per Trainer worker")
    compile_.add_argument("--out", default="pipeline.yaml")
    compile_.set_defaults(func=cmd_compile)

    kubeflow_client.register(sub)

    run_local = sub.add_parser("run-local", help="run a compiled package here, task by task, "
                               "as a KFP v2 cluster would (no cluster needed)")
    run_local.add_argument("package", help="the compiled pipeline.yaml")
    run_local.add_argument("--work-dir", default=str(configs.DEFAULT_ROOT / "kubeflow-local"),
                           help="local folder standing in for the pipeline root")
    run_local.add_argument("--param", action="append", metavar="NAME=VALUE",
                           help="a runtime parameter (repeatable)")
    run_local.add_argument("--volume", action="append", metavar="CLAIM=DIR",
                           help="the local folder standing in for a PersistentVolumeClaim the "
                           "package mounts (repeatable; one per claim)")
    run_local.set_defaults(func=cmd_run_local)

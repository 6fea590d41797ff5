"""The flags of `namegen kubeflow compile|submit|schedule|run-local` (handlers in pipeline/)."""

from __future__ import annotations

import argparse

from namegen import arguments
from namegen.errors import UserError
from pipeline import configs
from pipeline.kubeflow import storage
from pipeline.kubeflow.client import DEFAULT_EXPERIMENT, TOKEN_ENV
from pipeline.kubeflow.compile import DEFAULT_IMAGE, DEFAULT_PIPELINE_ROOT, check_pipeline_root


def check_storage(args: argparse.Namespace) -> None:
    """`compile`'s `validate` hook: refuse, before TFX starts, data or a push destination that
    the tasks cannot use (never a package that fails on its first night)."""
    try:
        check_pipeline_root(args.pipeline_root)
        storage.plan(args.pipeline_root, args.push_uri, args.data, args.data_volume,
                     args.models_volume, args.image_writes_s3)
    except storage.StorageError as error:
        raise UserError(str(error)) from None


def add_compile_arguments(compile_: argparse.ArgumentParser) -> None:
    compile_.add_argument("--image", default=DEFAULT_IMAGE,
                          help="pipeline image for every task (default: $NAMEGEN_IMAGE or "
                          f"{DEFAULT_IMAGE})")
    compile_.add_argument("--pipeline-root", default=DEFAULT_PIPELINE_ROOT,
                          help="artifact root URI: gs://, s3:// or minio:// (the KFP launcher "
                          "moves artifacts; the data and models need --data/--push-uri or volumes)")
    compile_.add_argument("--push-uri", help="where the Pusher writes versions; the KServe "
                          "storageUri is this plus /names (default: PIPELINE_ROOT/serving, or "
                          f"{storage.MODELS_MOUNT} with --models-volume)")
    compile_.add_argument("--data", help="defaults of the data_root and data_pattern parameters "
                          "as one path; a {SPAN} folder picks the latest span, e.g. "
                          "gs://bucket/names/{SPAN}/*.txt (default: PIPELINE_ROOT/data/"
                          f"{storage.DATA_PATTERN}, or {storage.DATA_MOUNT}/"
                          f"{storage.DATA_PATTERN} with --data-volume)")
    compile_.add_argument("--data-volume", metavar="CLAIM", help="mount this "
                          f"PersistentVolumeClaim at {storage.DATA_MOUNT} in "
                          f"{' and '.join(storage.DATA_TASKS)}: the names are read there")
    compile_.add_argument("--models-volume", metavar="CLAIM", help="mount this "
                          f"PersistentVolumeClaim at {storage.MODELS_MOUNT} in "
                          f"{' and '.join(storage.MODELS_TASKS)}: versions go to "
                          "CLAIM/names/<version> (KServe: pvc://CLAIM/names)")
    compile_.add_argument("--image-writes-s3", action="store_true", help="the --image can "
                          "read and write s3:// (tensorflow-io; docs/KUBEFLOW.md): allow s3:// "
                          "for --data and --push-uri")
    compile_.add_argument("--preset", default=configs.DEFAULT_PRESET,
                          choices=sorted(configs.PRESETS), help="default of `preset`")
    compile_.add_argument("--epochs", type=arguments.at_least(0),
                          help="default of `epochs` (0: the preset's)")
    compile_.add_argument("--beam-arg", action="append", help="Beam argument (repeatable)")
    compile_.add_argument("--trainer-workers", type=arguments.at_least(1), default=1,
                          help="train on N workers: "
                          "the Trainer task launches a TFJob (Kubeflow Training Operator)")
    compile_.add_argument("--trainer-cpu", help="CPU request per Trainer worker, e.g. 4")
    compile_.add_argument("--trainer-memory", help="memory request per Trainer worker, e.g. 8Gi")
    compile_.add_argument("--trainer-gpus", type=arguments.at_least(0), default=0,
                          help="nvidia.com/gpu per Trainer worker")
    compile_.add_argument("--out", default="pipeline.yaml", help="where to write the package")
    compile_.set_defaults(validate=check_storage)


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(validate=arguments.paths_must_exist(
        "--package", fix="; write it with `namegen kubeflow compile --out`"))
    """The flags `submit` and `schedule` share: package, endpoint, experiment, parameters."""
    parser.add_argument("--package", default="pipeline.yaml",
                        help="the compiled package (namegen kubeflow compile)")
    parser.add_argument("--host", required=True, help="KFP API endpoint, e.g. "
                        "http://localhost:8080 after a port-forward of ml-pipeline-ui")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                        help="KFP experiment the runs belong to")
    parser.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="a runtime parameter, e.g. epochs=10 (repeatable)")
    parser.add_argument("--token", help=f"bearer token (default: ${TOKEN_ENV})")
    parser.add_argument("--namespace", help="profile namespace on multi-user Kubeflow")


def add_submit_arguments(submit_: argparse.ArgumentParser) -> None:
    add_connection_arguments(submit_)
    submit_.add_argument("--run-name", help="name of the run (default: KFP's)")


def add_schedule_arguments(schedule_: argparse.ArgumentParser) -> None:
    add_connection_arguments(schedule_)
    schedule_.add_argument("--cron", default="0 0 3 * * *",
                           help="6-field cron, seconds first (default: 03:00 daily)")
    schedule_.add_argument("--max-concurrency", type=arguments.at_least(1), default=1,
                           help="runs of the schedule at once")
    schedule_.add_argument("--name", default="namegen-nightly",
                           help="pipeline and recurring run name")


def add_run_local_arguments(run_local: argparse.ArgumentParser) -> None:
    run_local.add_argument("package", type=arguments.existing_file,
                           help="the compiled pipeline.yaml (namegen kubeflow compile)")
    run_local.add_argument("--work-dir", default=str(configs.DEFAULT_ROOT / "kubeflow-local"),
                           help="local folder standing in for the pipeline root")
    run_local.add_argument("--param", action="append", metavar="NAME=VALUE",
                           help="a runtime parameter (repeatable)")
    run_local.add_argument("--volume", action="append", metavar="CLAIM=DIR",
                           help="the local folder standing in for a PersistentVolumeClaim the "
                           "package mounts (repeatable; one per claim)")
    run_local.add_argument("--fresh-processes", action="store_true",
                           help="start every task as a new Python, as a pod (slower: each task "
                           "imports TensorFlow and TFX again); default: fork each task from a "
                           "server that has imported them once")
    run_local.add_argument("--parallelism", type=arguments.at_least(1), default=1,
                           help="tasks at once whose inputs are ready, as KFP runs them "
                           "(default 1)")

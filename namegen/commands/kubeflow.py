"""The flags of `namegen kubeflow compile|submit|schedule|run-local` (handlers in pipeline/)."""

from __future__ import annotations

import argparse

from namegen import arguments
from pipeline import configs
from pipeline.kubeflow.client import DEFAULT_EXPERIMENT, TOKEN_ENV
from pipeline.kubeflow.compile import DATA_PATTERN, DEFAULT_IMAGE, DEFAULT_PIPELINE_ROOT


def add_compile_arguments(compile_: argparse.ArgumentParser) -> None:
    compile_.add_argument("--image", default=DEFAULT_IMAGE,
                          help="pipeline image for every task (default: $NAMEGEN_IMAGE or "
                          f"{DEFAULT_IMAGE})")
    compile_.add_argument("--pipeline-root", default=DEFAULT_PIPELINE_ROOT,
                          help="artifact root URI: gs://, s3:// or minio://")
    compile_.add_argument("--push-uri", help="where the Pusher writes versions; the KServe "
                          "storageUri is this plus /names (default: PIPELINE_ROOT/serving)")
    compile_.add_argument("--data", help="defaults of the data_root and data_pattern parameters "
                          "as one path; a {SPAN} folder picks the latest span, e.g. "
                          "gs://bucket/names/{SPAN}/*.txt (default: "
                          f"PIPELINE_ROOT/data/{DATA_PATTERN})")
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

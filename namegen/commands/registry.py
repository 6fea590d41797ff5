"""Every `namegen` command, in the order of `namegen --help`: the one place commands register.

Each entry names the command, its help, the function that adds its flags and its handler (named
cmd_<command>). `loads_tfx` marks commands that import TFX, so that only they pay for it.
`namegen bench` is the speed bench and also the group of the other benches.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

from namegen import arguments
from namegen.bench import perf, quality, scale, soak
from namegen.commands import kubeflow, names, rollback, run, serve
from pipeline.kubeflow import client as kubeflow_client
from pipeline.kubeflow import compile as kubeflow_compile


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None] | None
    handler: Callable[[argparse.Namespace], int] | None  # None: a group of subcommands only
    loads_tfx: bool | None = None  # None: as the parent command
    description: str | None = None
    subcommands: tuple[Command, ...] = ()
    subcommands_dest: str = ""
    subcommands_required: bool = False


BENCHES = (
    Command("serve", "load-test a local `namegen serve`", serve.add_bench_serve_arguments,
            serve.cmd_bench_serve, loads_tfx=False),
    Command("quality", "held-out quality: presets vs n-gram baselines", quality.add_arguments,
            quality.cmd_quality),
    Command("soak", "clients for minutes while versions are pushed; errors, latency over time, "
            "server memory", soak.add_soak_arguments, soak.cmd_soak, loads_tfx=False),
    Command("scale", "the whole pipeline on 10k-1M generated names: wall time and peak RSS per "
            "component", scale.add_scale_arguments, scale.cmd_scale, loads_tfx=False),
)

KUBEFLOW = (
    Command("compile", "write the KFP v2 pipeline package (YAML)",
            kubeflow.add_compile_arguments, kubeflow_compile.cmd_compile),
    Command("submit", "start one run of the compiled package", kubeflow.add_submit_arguments,
            kubeflow_client.cmd_submit),
    Command("schedule", "upload the package and run it on a cron",
            kubeflow.add_schedule_arguments, kubeflow_client.cmd_schedule,
            description="Upload the package and run it on a cron. Each run ingests the latest "
            "span: pass --param data_root=gs://bucket/names --param data_pattern={SPAN}/*.txt "
            "(new names go to data_root/<span number>/; docs/NIGHTLY.md)."),
    Command("run-local", "run a compiled package here, task by task, as a KFP v2 cluster would "
            "(no cluster needed)", kubeflow.add_run_local_arguments,
            kubeflow_compile.cmd_run_local),
)

COMMANDS = (
    Command("run", "run the pipeline end-to-end, then print ten names", run.add_run_arguments,
            run.cmd_run, loads_tfx=True),
    Command("report", "write the HTML report of a pipeline run", run.add_report_arguments,
            run.cmd_report, loads_tfx=True),
    Command("generate", "generate names from a pushed model", names.add_generate_arguments,
            names.cmd_generate),
    Command("score", "mean nats per character of names under a model",
            names.add_score_arguments, names.cmd_score),
    Command("serve", "serve the pushed model over TF Serving's REST and gRPC APIs",
            serve.add_serve_arguments, serve.cmd_serve,
            description="Serves TF Serving's REST API (/v1/models/...) and gRPC API. The REST "
            "port also serves the playground page at / (generate, score and compare versions in "
            "a browser; read-only, same-origin calls only) unless --no-ui is given."),
    Command("bench", "benchmarks: training and generation speed (default), and the benches "
            + ", ".join(bench.name for bench in BENCHES),
            perf.add_arguments, perf.cmd_bench, loads_tfx=True, subcommands=BENCHES,
            subcommands_dest="bench"),
    Command("kubeflow", "compile, submit and schedule on Kubeflow", None, None, loads_tfx=True,
            subcommands=KUBEFLOW, subcommands_dest="kubeflow_command",
            subcommands_required=True),
    Command("rollback", "serve an earlier pushed version again", rollback.add_rollback_arguments,
            rollback.cmd_rollback),
)


def add_commands(subparsers: argparse._SubParsersAction,
                 commands: tuple[Command, ...] = COMMANDS) -> None:
    """Adds each command's parser, flags and defaults (func, loads_tfx), then its subcommands."""
    for command in commands:
        parser = subparsers.add_parser(command.name, help=command.help,
                                       description=command.description or command.help)
        arguments.add_verbose(parser)
        if command.add_arguments:
            command.add_arguments(parser)
        if command.handler:
            parser.set_defaults(func=command.handler)
        if command.loads_tfx is not None:
            parser.set_defaults(loads_tfx=command.loads_tfx)
        if command.subcommands:
            names = ", ".join(sub.name for sub in command.subcommands)
            add_commands(parser.add_subparsers(dest=command.subcommands_dest,
                                               required=command.subcommands_required,
                                               title="subcommands", metavar=f"{{{names}}}"),
                         command.subcommands)


def command_list(commands: tuple[Command, ...] = COMMANDS, prefix: str = "") -> str:
    """Every command and subcommand with its help, one per line (the end of `namegen --help`)."""
    lines = [] if prefix else ["every command (namegen COMMAND --help for its flags):"]
    for command in commands:
        lines.append(f"  {prefix}{command.name:<{28 - len(prefix)}} {command.help}")
        lines.extend(command_list(command.subcommands, f"{prefix}{command.name} ").splitlines())
    return "\n".join(lines)

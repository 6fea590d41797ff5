"""`namegen`: run the pipeline, generate and score names, and the other tools."""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings

from namegen.bench import perf, quality, scale, soak
from namegen.commands import names, rollback, run
from namegen.errors import UserError
from pipeline.kubeflow import compile as kubeflow_compile
from serving import commands as serving_commands

# Every command, in the order of `namegen --help`. Each module's register(subparsers) adds its
# parsers and sets `func` (the handler, named cmd_<command>); `loads_tfx` marks commands that
# import TFX, so that only they pay for it.
COMMANDS = (run.register, names.register, serving_commands.register, perf.register,
            kubeflow_compile.register, rollback.register)
# The `namegen bench <name>` group; plain `namegen bench` is the speed bench (perf).
BENCHES = (serving_commands.register_bench, quality.register, soak.register, scale.register)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="namegen", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    for register in COMMANDS:
        register(commands)
    benches = commands.choices["bench"].add_subparsers(dest="bench")
    for register in BENCHES:
        register(benches)
    return parser


def configure_process(loads_tfx: bool) -> None:
    """Process-wide settings, made by main() only: importing namegen never changes them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    # google-api-core warns on every import that Python 3.10 is past its end of life
    # (the classic stack; docs/SETUP.md has the two stacks); only that warning is silenced here.
    warnings.filterwarnings("ignore", category=FutureWarning,
                            module=r"google\.api_core\._python_version_support")
    if loads_tfx:
        # TFX, Beam and TFMA print pages of deprecation warnings, in Beam's workers too.
        os.environ.setdefault("PYTHONWARNINGS", "ignore")
        warnings.filterwarnings("ignore")
        quiet_tfx_import()


def quiet_tfx_import() -> None:
    """Import TFX once with TFMA's harmless 'Error importing: addons' stderr line muted."""
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()):
        import tensorflow_model_analysis  # noqa: F401
        import tfx.v1  # noqa: F401


def graph_error_message(error: Exception) -> str | None:
    """The message of an error raised inside a TensorFlow graph, without TF's node trail."""
    if not type(error).__module__.startswith("tensorflow"):
        return None
    text = getattr(error, "message", None) or str(error)
    lines = [line for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith(
                 ("[[", "Detected at node", "File ", "<stack traces unavailable>"))
             and not line.startswith("Graph execution error")]
    text = " ".join(line.strip() for line in lines)
    text = re.sub(r"^.*?assertion failed: ", "", text)
    # Assert's data arrive as "[message] [values]"
    text = re.sub(r"\[([^\[\]]*)\]", r"\1", text).strip()
    return text or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        configure_process(loads_tfx=getattr(args, "loads_tfx", False))
        return args.func(args)
    except KeyboardInterrupt:
        print("namegen: interrupted; re-run to resume", file=sys.stderr)
        return 130
    except (UserError, FileNotFoundError) as error:
        print(f"namegen: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the one-line explanation first, the traceback on request
        from_graph = graph_error_message(error)
        if from_graph and not args.verbose:
            print(f"namegen: error: {from_graph}", file=sys.stderr)
            return 2
        print(f"namegen: error: {type(error).__name__}: {error}", file=sys.stderr)
        if args.verbose:
            raise
        print("(run with -v for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

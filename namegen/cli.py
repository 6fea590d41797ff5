"""`namegen`: run the pipeline, generate and score names, and the other tools."""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from namegen import arguments
from namegen.commands import registry
from namegen.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; the commands and their order: namegen/commands/registry.py."""
    parser = arguments.ArgumentParser(prog="namegen", description=__doc__,
                                      epilog=registry.command_list())
    arguments.add_verbose(parser, top_level=True)
    registry.add_commands(parser.add_subparsers(dest="command", required=True,
                                                title="commands", metavar="COMMAND"))
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
    from serving import graph_errors

    text = getattr(error, "message", None) or str(error)
    return graph_errors.one_line(text, bracket_data=False) or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # a bad flag: one line, exit 2 (namegen/arguments.py)
    try:
        if getattr(args, "validate", None):  # checks between flags, before any heavy import
            args.validate(args)
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

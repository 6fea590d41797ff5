"""Argument parsing shared by every command: one-line errors, checked types, `-v` anywhere.

Nothing here imports TensorFlow, TFX or Beam: every argument is checked, and every error
printed, before a command pays for those imports (tests/namegen/test_cli_errors.py).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import NoReturn

VERBOSE_HELP = "show tracebacks (accepted anywhere on the line)"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default (not `None` or `False`) after its help text."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        """Text with its own line breaks (the command list) is kept as written."""
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, argparse.SUPPRESS) or \
                not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with TF Serving's habits left out: no prefix matching, one-line errors."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """One `namegen: error:` line with the way to the fix, exit status 2 (no usage block)."""
        hint = f"see `{self.prog} --help`"
        print(f"namegen: error: {message.rstrip('.')} ({hint})", file=sys.stderr)
        sys.exit(2)


def add_verbose(parser: argparse.ArgumentParser, top_level: bool = False) -> None:
    """`-v` on this parser; below the top level it never resets a `-v` given earlier."""
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP,
                        default=False if top_level else argparse.SUPPRESS)


def flag_bool(text: str) -> bool:
    """A TF Serving bool flag's value: --flag, --flag=true, --flag=false (also 1 and 0)."""
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in ("true", "1")


def port(text: str) -> int:
    """A TCP port, 0 to 65535 (0: any free port)."""
    value = _number(text, int, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port; use 0 to 65535 "
                                         "(0: any free port)")
    return value


def at_least(minimum: float, kind: Callable = int) -> Callable[[str], float]:
    """A type function: a number of `kind`, finite and >= minimum."""
    def parse(text: str) -> float:
        value = _number(text, kind, "an integer" if kind is int else "a number")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, got {text}")
        return value
    parse.__name__ = f"{kind.__name__} >= {minimum:g}"
    return parse


def finite_float(text: str) -> float:
    return _number(text, float, "a finite number")


def existing_file(text: str) -> str:
    """A path that is an existing, readable file."""
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return text


def existing_path(text: str) -> str:
    """A path (file or folder) that exists."""
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"no such file or folder: {text}")
    return text


def _number(text: str, kind: Callable, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def int_list(text: str) -> str:
    """A comma list of positive integers such as 1,32,256 (kept as text for the command)."""
    for item in text.split(","):
        try:
            ok = int(item) >= 1
        except ValueError:
            ok = False
        if not ok:
            raise argparse.ArgumentTypeError(f"expected a comma list of positive integers such "
                                             f"as 1,32,256, got {text!r}")
    return text


def choice_list(*choices: str) -> Callable[[str], str]:
    """A comma list whose items are all among `choices` (kept as text for the command)."""
    def parse(text: str) -> str:
        unknown = [item for item in text.split(",") if item not in choices]
        if unknown or not text:
            raise argparse.ArgumentTypeError(f"{text!r}: use a comma list of {', '.join(choices)}")
        return text
    return parse


def paths_must_exist(*flags: str, fix: str = "") -> Callable[[argparse.Namespace], None]:
    """A `validate` hook: each flag's path (given or default) exists, else one error naming it.

    A hook rather than a `type`, so that parsing a command line never depends on the disk."""
    from namegen.errors import UserError

    def validate(args: argparse.Namespace) -> None:
        for flag in flags:
            path = getattr(args, flag.lstrip("-").replace("-", "_"))
            if path and not os.path.exists(path):
                raise UserError(f"{flag} {path}: no such file or folder{fix}")
    return validate

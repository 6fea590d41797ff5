"""`--help` tells the truth: every flag has help, every command and bench is listed (issue 24)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from namegen import cli
from namegen.commands import registry

PROJECT = Path(__file__).resolve().parents[2]


def every_parser(parser: argparse.ArgumentParser, name: str = "namegen"):
    """(name, parser) for the top level and every command and subcommand below it."""
    yield name, parser
    for action in parser._actions:  # noqa: SLF001  argparse keeps its tree here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub_name, sub in action.choices.items():
                yield from every_parser(sub, f"{name} {sub_name}")


PARSERS = dict(every_parser(cli.build_parser()))


def every_command(commands=registry.COMMANDS, prefix="namegen"):
    for command in commands:
        yield f"{prefix} {command.name}"
        yield from every_command(command.subcommands, f"{prefix} {command.name}")


def test_the_walk_reaches_every_registered_command():
    assert set(every_command()) <= set(PARSERS)
    assert {"namegen bench soak", "namegen bench scale", "namegen kubeflow run-local"} <= \
        set(PARSERS)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_flag_has_a_one_line_help(name):
    missing = [action.option_strings or [action.dest] for action in PARSERS[name]._actions
               if not isinstance(action, argparse._SubParsersAction)  # noqa: SLF001
               and not (action.help or "").strip()]
    assert not missing, f"{name}: no help for {missing}"


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_help_shows_the_defaults(name, monkeypatch):
    monkeypatch.setenv("COLUMNS", "10000")  # no wrapping inside a default such as a path
    text = " ".join(PARSERS[name].format_help().split())
    for action in PARSERS[name]._actions:
        if (action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
                and action.dest != "help"):
            assert f"{action.default}" in text or "%(default)" in (action.help or ""), \
                (name, action.option_strings)


def test_top_level_help_lists_every_command_and_bench():
    text = cli.build_parser().format_help()
    for command in every_command():
        assert command.removeprefix("namegen ") in text, command


def test_cli_points_only_at_docs_that_exist():
    source = (PROJECT / "namegen" / "cli.py").read_text()
    for doc in ("docs/SUPPORT.md",):
        assert doc not in source or (PROJECT / doc).is_file()


@pytest.mark.parametrize("argv", [
    ["-v", "serve"], ["serve", "-v"], ["serve", "--port=0", "--verbose"],
    ["bench", "serve", "-v"], ["kubeflow", "-v", "compile"], ["generate", "-n", "3", "-v"],
])
def test_verbose_works_anywhere_on_the_line(argv):
    assert cli.build_parser().parse_args(argv).verbose is True


def test_verbose_is_off_unless_given():
    assert cli.build_parser().parse_args(["serve"]).verbose is False

"""`namegen serve` takes tensorflow_model_server's command line (issue 24).

The flag list is TF Serving's own (serving/model_servers/main_flags.py, from main.cc and
server.h): every flag there is either accepted in TF Serving's spellings or refused by name.
"""

from __future__ import annotations

import argparse

import pytest

from namegen import cli
from namegen.commands import serve
from serving.model_servers import main_flags

IMPLEMENTED = {flag.name: flag for flag in serve.SERVE_FLAGS}
TF_FLAGS = main_flags.TF_SERVING_FLAGS
SAMPLE_VALUES = {"int32": "7", "int64": "7", "float": "0.5", "string": "x"}


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["serve", *argv])


def refusal(capsys, *argv: str) -> str:
    """The one stderr line of a refused command line (exit status 2)."""
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("namegen: error: ")
    return lines[0]


def test_the_flag_list_is_tensorflow_servings():
    """Spot checks against main.cc / server.h, so that a wrong edit of the data shows."""
    assert len(TF_FLAGS) == len(main_flags.BY_NAME) == 43
    assert main_flags.BY_NAME["port"].default == 8500
    assert main_flags.BY_NAME["rest_api_timeout_in_ms"].default == 30000
    assert main_flags.BY_NAME["enable_model_warmup"] == main_flags.TfServingFlag(
        "enable_model_warmup", "bool", True)
    assert main_flags.BY_NAME["load_retry_interval_micros"].type == "int64"


def sample_value(flag: main_flags.TfServingFlag, tmp_path) -> str:
    """A value the stand-in accepts for an implemented flag."""
    if flag.name.endswith("_file"):
        path = tmp_path / f"{flag.name}.txt"
        path.write_text("")
        return str(path)
    if flag.name == "rest_api_port":
        return "8601"
    return SAMPLE_VALUES[flag.type]


@pytest.mark.parametrize("flag", TF_FLAGS, ids=lambda flag: flag.name)
def test_every_tf_serving_flag_is_accepted_or_refused_by_name(flag, tmp_path, capsys):
    if flag.name not in IMPLEMENTED:
        value = "true" if flag.type == "bool" else SAMPLE_VALUES[flag.type]
        for argv in ([f"--{flag.name}={value}"], [f"--{flag.name}", value]):
            line = refusal(capsys, *argv)
            assert f"--{flag.name}" in line and "stand-in does not support" in line
        return
    extra = ["--enable_batching"] if flag.name == "batching_parameters_file" else []
    if flag.type == "bool":
        for argv, expected in (([f"--{flag.name}"], True), ([f"--{flag.name}=true"], True),
                               ([f"--{flag.name}=false"], False)):
            assert getattr(parse(*argv), flag.name) is expected
        return
    value = sample_value(flag, tmp_path)
    equals = getattr(parse(f"--{flag.name}={value}", *extra), flag.name)
    spaced = getattr(parse(f"--{flag.name}", value, *extra), flag.name)
    dashed = getattr(parse(f"--{flag.name.replace('_', '-')}", value, *extra), flag.name)
    assert equals == spaced == dashed == IMPLEMENTED[flag.name].type(value)


@pytest.mark.parametrize("argv, named", [
    (["--port=70000"], "--port"),
    (["--rest_api_port", "-1"], "--rest_api_port"),
    (["--max_rows=0"], "--max_rows"),
    (["--max-temperature", "-1"], "--max_temperature"),
    (["--max_request_bytes=lots"], "--max_request_bytes"),
    (["--file_system_poll_wait_seconds=-1"], "--file_system_poll_wait_seconds"),
    (["--enable_batching=maybe"], "--enable_batching"),
    (["--model_config_file=/nonexistent/models.config"], "--model_config_file"),
    (["--model_base_path"], "--model_base_path"),
])
def test_bad_serve_flags_are_one_line_naming_the_flag(argv, named, capsys):
    assert named in refusal(capsys, *argv)


def test_every_implemented_flag_keeps_its_dashed_alias():
    parser = cli.build_parser()
    serve_parser = parser._subparsers._group_actions[0].choices["serve"]  # noqa: SLF001
    spellings = {option for action in serve_parser._actions for option in action.option_strings}
    for flag in serve.SERVE_FLAGS:
        assert {f"--{flag.name}", f"--{flag.name.replace('_', '-')}"} <= spellings
    assert "--poll-seconds" in spellings  # the old name of --file_system_poll_wait_seconds

"""Defaults are relative to the working directory (or $NAMEGEN_HOME), never the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

PROBE = """
import argparse
import json
from namegen import cli
from pipeline import configs
parser = cli.build_parser()
run = parser.parse_args(["run", "--pipeline-root", "elsewhere"])
print(json.dumps({"root": str(configs.DEFAULT_ROOT), "serving_dir": run.serving_dir,
                  "generate_model": parser.parse_args(["generate"]).model,
                  "configs_file": configs.__file__, "paths": list(path_defaults(parser, ""))}))
"""
# every path-like default of every command and bench, as (command, flag, default)
PROBE = PROBE.replace("print(json.dumps", """
def path_defaults(parser, command):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from path_defaults(sub, f"{command} {name}".strip())
        elif isinstance(action.default, str) and "/" in action.default:
            yield command, action.dest, action.default
print(json.dumps""", 1)
# defaults inside the code that are read, never written
READ_ONLY_INPUTS = {"batching_parameters_file"}


def defaults_from(cwd: Path, **env: str) -> dict:
    """The defaults seen by a process started in cwd, with the project on PYTHONPATH."""
    environ = {k: v for k, v in os.environ.items() if k != "NAMEGEN_HOME"}
    environ.update(env, PYTHONPATH=str(PROJECT))
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=environ, text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_defaults_follow_the_working_directory(tmp_path):
    seen = defaults_from(tmp_path)
    assert Path(seen["configs_file"]).resolve().is_relative_to(PROJECT)  # the code: elsewhere
    assert seen["root"] == str(tmp_path / "runs")
    assert seen["serving_dir"] == str(tmp_path / "runs" / "serving")
    assert seen["generate_model"] == str(tmp_path / "runs" / "serving")
    assert not Path(seen["serving_dir"]).is_relative_to(PROJECT)


def test_namegen_home_overrides_the_working_directory(tmp_path):
    home = tmp_path / "home"
    seen = defaults_from(tmp_path, NAMEGEN_HOME=str(home))
    assert seen["root"] == str(home)
    assert seen["serving_dir"] == str(home / "serving")


def test_no_command_writes_into_the_source_tree_by_default(tmp_path):
    seen = defaults_from(tmp_path)
    assert any(command == "bench scale" for command, _, _ in seen["paths"])  # the walk works
    for command, flag, default in seen["paths"]:
        if flag in READ_ONLY_INPUTS or "://" in default:
            continue
        assert Path(default).is_absolute(), (command, flag, default)
        assert Path(default).is_relative_to(tmp_path), (command, flag, default)

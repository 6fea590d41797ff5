"""Defaults are relative to the working directory (or $NAMEGEN_HOME), never the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent

PROBE = """
import json
from namegen import cli
from pipeline import configs
parser = cli.build_parser()
run = parser.parse_args(["run", "--pipeline-root", "elsewhere"])
print(json.dumps({"root": str(configs.DEFAULT_ROOT), "serving_dir": run.serving_dir,
                  "generate_model": parser.parse_args(["generate"]).model,
                  "configs_file": configs.__file__}))
"""


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

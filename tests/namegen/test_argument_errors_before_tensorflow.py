"""Every argument error: exit 2, one `namegen: error:` line naming the argument, and no
TensorFlow, TFX or Beam imported before it (issue 24). Checked with `python -X importtime`,
which logs every module the process imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = {"tensorflow", "tfx", "apache_beam"}
PROBE = "import sys; from namegen import cli; sys.exit(cli.main(sys.argv[1:]))"

# (argv, text the error line must contain: the argument it names); {missing}: a path that
# does not exist
BAD_INVOCATIONS = [
    (["run", "--data", "{missing}"], "--data"),
    (["run", "--data", "{missing}/{SPAN}/*.txt"], "--data"),
    (["run", "--set", "no_such_key=1"], "--set"),
    (["run", "--set", "epochs=many"], "--set"),
    (["run", "--set", "epochs"], "--set"),
    (["run", "--gate", "no_such_gate=1"], "--gate"),
    (["run", "--gate", "min_validity=high"], "--gate"),
    (["run", "--preset", "huge"], "--preset"),
    (["run", "--epochs", "0"], "--epochs"),
    (["kubeflow", "run-local", "{missing}.yaml"], "package"),
    (["kubeflow", "submit", "--host", "http://localhost:1", "--package", "{missing}.yaml"],
     "--package"),
    (["kubeflow", "compile", "--trainer-workers", "0"], "--trainer-workers"),
    (["kubeflow", "compile", "--preset", "huge"], "--preset"),
    (["serve", "--rest_api_port=70000"], "--rest_api_port"),
    (["serve", "--port", "-1"], "--port"),
    (["serve", "--port=8600", "--rest_api_port=8600"], "--rest_api_port"),
    (["serve", "--max-temperature", "-1"], "--max_temperature"),
    (["serve", "--min_temperature=3", "--max_temperature=2"], "--min_temperature"),
    (["serve", "--max_rows=0"], "--max_rows"),
    (["serve", "--max-concurrent-requests", "zero"], "--max_concurrent_requests"),
    (["serve", "--model_config_file=/nonexistent/models.config"], "--model_config_file"),
    (["serve", "--grpc_socket_path=/tmp/socket"], "--grpc_socket_path"),
    (["serve", "--enable_model_warmup=yes"], "--enable_model_warmup"),
    (["serve", "--no_such_flag"], "--no_such_flag"),
    (["bench", "serve", "--model", "{missing}"], "--model"),
    (["bench", "serve", "--model", ".", "--clients", "0"], "--clients"),
    (["bench", "serve", "--model", ".", "--protocols", "http"], "--protocols"),
    (["bench", "soak", "--model", "{missing}"], "--model"),
    (["bench", "scale", "--sizes", "ten"], "--sizes"),
    (["bench", "quality", "--seeds", "9"], "--seeds"),
    (["bench", "--preset", "huge"], "--preset"),
    (["rollback", "--serving-dir", "{missing}"], "--serving-dir"),
    (["rollback", "--keep", "0"], "--keep"),
    (["generate", "--temperature", "-1"], "--temperature"),
    (["generate", "-n", "0"], "-n"),
    (["score", "{missing}.txt"], "file"),
    (["report", "--pipeline-root", "{missing}"], "--pipeline-root"),
]


def imported_modules(stderr: str) -> set[str]:
    """Top-level package names from `-X importtime` lines: `import time: self | cum | name`."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name.split(".")[0])
    return names


@pytest.mark.parametrize("argv, named", BAD_INVOCATIONS, ids=lambda value: " ".join(value)
                         if isinstance(value, list) else None)
def test_argument_error_is_one_line_before_any_heavy_import(argv, named, tmp_path):
    argv = [arg.replace("{missing}", str(tmp_path / "missing")) for arg in argv]
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", PROBE, *argv],
                          cwd=tmp_path, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    imported = imported_modules(done.stderr)
    assert "namegen" in imported  # the importtime log was read
    assert not HEAVY & imported, f"imported {HEAVY & imported} before the error"
    lines = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert done.returncode == 2, (done.returncode, lines)
    assert len(lines) == 1 and lines[0].startswith("namegen: error: "), lines
    assert named in lines[0], lines[0]


def test_the_check_sees_a_heavy_import():
    """The importtime reading itself: a probe that imports TensorFlow is caught."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import tensorflow"],
                          capture_output=True, text=True)
    assert "tensorflow" in imported_modules(done.stderr)

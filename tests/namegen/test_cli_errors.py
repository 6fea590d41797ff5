"""The CLI's errors: bad flags fail before TensorFlow starts; graph errors lose TF's node trail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from namegen import cli
from serving import contract

PROJECT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
from namegen import cli
code = cli.main(sys.argv[1:])
print(json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules}))
"""


def run_cli(*argv: str) -> tuple[dict, list[str]]:
    """cli.main in a fresh interpreter: its result, whether TensorFlow got imported, stderr."""
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=PROJECT, text=True,
                          capture_output=True, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr.splitlines()


@pytest.fixture
def fake_model(tmp_path) -> Path:
    """A version folder with the export's metadata and no graph: enough for the flag checks."""
    version = tmp_path / "names" / "1"
    (version / "assets.extra").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"")
    vocabulary = ["<pad>", "<eon>", *"ARaeinorsu"]
    (version / "assets.extra" / "namegen.json").write_text(json.dumps({"vocabulary": vocabulary}))
    return tmp_path


@pytest.mark.parametrize("flags, message", [
    (["--temperature", "-1"], "--temperature must be finite and >= 0 (0 = greedy), got -1"),
    (["--temperature", "nan"], "--temperature must be finite and >= 0 (0 = greedy), got nan"),
    (["--top-p", "0"], "--top-p must be in (0, 1] (1 = off), got 0"),
    (["--top-k", "-2"], "--top-k must be >= 0, got -2"),
    (["--eta", "1"], "--eta must be in [0, 1) (0 = off), got 1"),
    (["-n", "0"], "-n must be at least 1, got 0"),
    (["--prefix", "Rasa", "--max-length", "3"], "--prefix has 4 characters; the limit is 3"),
    (["--prefix", "Raß€"], "--prefix has characters the model has never seen: 'ß', '€' "
                           "(it knows 10: ARaeinorsu)"),
])
def test_bad_generate_flags_fail_in_one_line_before_tensorflow(fake_model, flags, message):
    result, stderr = run_cli("generate", "--model", str(fake_model), *flags)
    assert result == {"code": 2, "tensorflow": False}
    assert len(stderr) == 1 and stderr[0].startswith(f"namegen: error: {message}")


def test_generate_defaults_are_the_one_default_sampler():
    """`namegen generate` with no flags asks for contract.SAMPLER (the playground's too)."""
    parser = cli.build_parser()
    args = parser.parse_args(["generate"])
    assert {key: getattr(args, key) for key in contract.SAMPLER} == contract.SAMPLER
    assert parser.parse_args(["generate", "--allow-copies", "--no-unique",
                              "--no-length-calibration"]).no_copy is False


def test_a_folder_without_a_model_fails_before_tensorflow(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("Rex\n")
    for command in (["generate"], ["score", str(names)]):
        result, stderr = run_cli(*command, "--model", str(tmp_path))
        assert result == {"code": 2, "tensorflow": False}
        assert stderr == [f"namegen: error: no SavedModel version under {tmp_path}: "
                          "run `namegen run` first"]


def test_an_error_raised_in_the_graph_is_reduced_to_its_message():
    import tensorflow as tf

    @tf.function
    def checked(x):
        with tf.control_dependencies([tf.debugging.Assert(x > 0, ["x must be > 0, got", x])]):
            return tf.identity(x)

    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        checked(tf.constant(-3))
    assert "Detected at node" in str(raised.value)  # what TF itself prints
    assert cli.graph_error_message(raised.value) == "x must be > 0, got -3"
    assert cli.graph_error_message(ValueError("plain")) is None


def test_main_silences_only_google_api_cores_python_version_warning():
    probe = ("import sys, warnings\n{setup}\nimport google.api_core\n"
             "warnings.warn('another FutureWarning', FutureWarning)\n")

    def stderr_of(setup: str) -> str:
        done = subprocess.run([sys.executable, "-c", probe.format(setup=setup)], cwd=PROJECT,
                              text=True, capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr

    bare = stderr_of("")
    if "Python version" not in bare:
        pytest.skip("this google-api-core does not warn about this Python today")
    after_main = stderr_of("from namegen import cli\ncli.main(['generate', '-n', '0'])")
    assert "Python version" not in after_main
    assert "another FutureWarning" in after_main and "another FutureWarning" in bare

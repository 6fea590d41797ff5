"""`namegen serve` started with the command lines that start real TF Serving (issue 24):
serving/docker-compose.yml's, and the KServe manifest's args on top of the runtime's.

Both serve a base path that does not exist here, so each also checks what TF Serving does then:
keep polling, log the path, and say so in the model status.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
SERVING = PROJECT / "serving"
READY = re.compile(r"REST on (http://\S+)")
STARTUP_CAP = 600.0  # seconds: a generous cap for TensorFlow's import on a loaded machine

pytestmark = pytest.mark.slow  # each test starts a server process (TensorFlow import)


def compose_command() -> tuple[list[str], dict[str, Path]]:
    """The tf-serving service's command, and each mounted file's container path -> host path."""
    service = yaml.safe_load((SERVING / "docker-compose.yml").read_text())["services"][
        "tf-serving"]
    mounts = {}
    for volume in service["volumes"]:
        host, container = volume.split(":")[:2]
        if host.startswith("./"):
            mounts[container] = SERVING / host
    return list(service["command"]), mounts


def start(argv: list[str], log: Path) -> tuple[subprocess.Popen, str]:
    """`namegen serve ARGV` in a subprocess; (process, REST URL) once it listens."""
    process = subprocess.Popen([sys.executable, "-m", "namegen.cli", "serve", *argv],
                               stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
                               cwd=PROJECT, stdin=subprocess.DEVNULL)
    try:
        for line in process.stdout:
            match = READY.search(line)
            if match:
                return process, match.group(1)
    except BaseException:
        process.kill()
        raise
    process.wait(STARTUP_CAP)
    raise AssertionError(f"serve exited {process.returncode}: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(STARTUP_CAP)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=STARTUP_CAP) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def free_ports(argv: list[str]) -> list[str]:
    """The same flags, with --port and --rest_api_port on any free port (0) for a shared host."""
    return [re.sub(r"^(--port|--rest_api_port)=\d+$", r"\1=0", arg) for arg in argv]


def test_docker_compose_command_line_starts_the_stand_in(tmp_path):
    command, mounts = compose_command()
    argv = []
    for arg in free_ports(command):
        flag, _, value = arg.partition("=")
        argv.append(f"{flag}={mounts[value]}" if value in mounts else arg)
    assert [a.split("=")[0] for a in argv] == [a.split("=")[0] for a in command]
    process, rest = start(argv, tmp_path / "serve.log")
    try:
        code, body = get(f"{rest}/v1/models/names")
        metrics_code, metrics = get(f"{rest}/monitoring/prometheus/metrics")
    finally:
        assert stop(process) == 0
    # models.config names /models/names: the container's path, absent here
    assert code == 404 and "Could not find base path /models/names" in json.loads(body)["error"]
    assert metrics_code == 200 and "# TYPE " in metrics  # --monitoring_config_file took effect
    assert "Could not find base path /models/names for servable names" in \
        (tmp_path / "serve.log").read_text()


def test_kserve_manifest_args_start_the_stand_in(tmp_path):
    service = yaml.safe_load((SERVING / "kserve" / "inferenceservice.yaml").read_text())
    configmap = yaml.safe_load((SERVING / "kserve" / "monitoring-configmap.yaml").read_text())
    model = service["spec"]["predictor"]["model"]
    mount = {m["name"]: m["mountPath"] for m in model["volumeMounts"]}["monitoring"]
    for name, text in configmap["data"].items():  # the ConfigMap as the pod would see it
        (tmp_path / name).write_text(text)
    args = [arg.replace(mount, str(tmp_path)) for arg in model["args"]]
    missing = tmp_path / "mnt" / "models"
    # the kserve-tensorflow-serving runtime's own args, then the manifest's
    runtime = ["--model_name=names", "--port=9000", "--rest_api_port=8080",
               f"--model_base_path={missing}"]
    process, rest = start(free_ports(runtime) + args, tmp_path / "serve.log")
    try:
        code, body = get(f"{rest}/v1/models/names")
        metrics_code, _ = get(f"{rest}{service['metadata']['annotations']['prometheus.io/path']}")
    finally:
        assert stop(process) == 0
    assert code == 404 and f"Could not find base path {missing}" in json.loads(body)["error"]
    assert metrics_code == 200

"""`namegen kubeflow submit|schedule` against a local stub of the KFP v2beta1 REST API.

The stub records every request; the tests assert on what kfp.Client sent, not on mocks.
The package is compiled by the session's `compiled_package` fixture (tests/conftest.py).
"""

from __future__ import annotations

import json
import socket
import threading
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from namegen import cli
from pipeline.kubeflow import client as kubeflow_client


class KfpStub(ThreadingHTTPServer):
    """Answers the KFP v2beta1 calls kfp.Client makes; `status` forces an error answer."""

    def __init__(self, status: int = 200):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status
        self.requests: list[dict] = []
        self.pipelines: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def find(self, method: str, path: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"] == path]


class _Handler(BaseHTTPRequestHandler):
    server: KfpStub

    def log_message(self, *args) -> None:
        pass

    def _record(self) -> dict:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = {"method": self.command, "path": url.path, "query": parse_qs(url.query),
                   "headers": dict(self.headers), "body": body}
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and body:
            request["json"] = json.loads(body)
        elif content_type.startswith("multipart/form-data"):
            # The stdlib's MIME parser (cgi is gone in Python 3.13).
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            form = BytesParser().parsebytes(head + body)
            request["files"] = {part.get_param("name", header="content-disposition"):
                                part.get_payload(decode=True) for part in form.get_payload()}
        self.server.requests.append(request)
        return request

    def _answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._route(self._record())

    def do_POST(self) -> None:  # noqa: N802
        self._route(self._record())

    def _route(self, request: dict) -> None:
        if self.server.status != 200:
            return self._answer(self.server.status, {"error": "denied", "code": 16})
        method, path = request["method"], request["path"]
        base = "/apis/v2beta1"
        if method == "GET" and path == f"{base}/healthz":
            return self._answer(200, {"multi_user": False})
        if method == "GET" and path == f"{base}/experiments":
            return self._answer(200, {})
        if method == "POST" and path == f"{base}/experiments":
            return self._answer(200, {"experiment_id": "exp-1",
                                      "display_name": request["json"]["display_name"]})
        if method == "POST" and path == f"{base}/runs":
            return self._answer(200, {"run_id": "run-42", "display_name": "r"})
        if method == "GET" and path == f"{base}/pipelines":
            return self._answer(200, {})
        if method == "POST" and path == f"{base}/pipelines/upload":
            return self._answer(200, {"pipeline_id": "pipe-1",
                                      "display_name": request["query"]["name"][0]})
        if method == "GET" and path == f"{base}/pipelines/pipe-1/versions":
            return self._answer(200, {"pipeline_versions": [
                {"pipeline_id": "pipe-1", "pipeline_version_id": "ver-1"}], "total_size": 1})
        if method == "POST" and path == f"{base}/recurringruns":
            return self._answer(200, {"recurring_run_id": "job-7", "display_name": "n"})
        return self._answer(404, {"error": f"no route {method} {path}", "code": 5})


@pytest.fixture
def stub():
    server = KfpStub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_submit_creates_a_run_with_the_package_and_typed_parameters(compiled_package, stub, capsys):
    code = cli.main(["kubeflow", "submit", "--package", str(compiled_package), "--host", stub.url,
                     "--experiment", "nightly", "--param", "epochs=3",
                     "--param", "max_nats_per_char=2.5", "--param", "preset=tiny"])
    assert code == 0
    out = capsys.readouterr().out
    assert "run run-42" in out and f"{stub.url}/#/runs/details/run-42" in out
    [experiment] = stub.find("POST", "/apis/v2beta1/experiments")
    assert experiment["json"]["display_name"] == "nightly"
    [run] = stub.find("POST", "/apis/v2beta1/runs")
    body = run["json"]
    assert body["experiment_id"] == "exp-1"
    assert body["runtime_config"]["parameters"] == {"epochs": 3, "max_nats_per_char": 2.5,
                                                    "preset": "tiny"}
    assert body["pipeline_spec"] == yaml.safe_load(compiled_package.read_text())


def test_submit_sends_the_volume_mounts_with_the_run(compiled_volume_package, stub):
    """kfp.Client sends the platform spec (the package's second document) beside the
    PipelineSpec, which is how the KFP backend learns the PVC mounts."""
    code = cli.main(["kubeflow", "submit", "--package", str(compiled_volume_package),
                     "--host", stub.url])
    assert code == 0
    [run] = stub.find("POST", "/apis/v2beta1/runs")
    pipeline_spec, platform_spec = yaml.safe_load_all(compiled_volume_package.read_text())
    assert run["json"]["pipeline_spec"] == {"pipeline_spec": pipeline_spec,
                                            "platform_spec": platform_spec}


def test_schedule_uploads_the_pipeline_and_creates_a_nightly_recurring_run(
        compiled_package, stub, capsys):
    code = cli.main(["kubeflow", "schedule", "--package", str(compiled_package), "--host", stub.url,
                     "--cron", "0 0 3 * * *", "--max-concurrency", "1",
                     "--param", "data_root=gs://bucket/names",
                     "--param", "data_pattern={SPAN}/*.txt"])
    assert code == 0
    assert "recurring run job-7" in capsys.readouterr().out
    [upload] = stub.find("POST", "/apis/v2beta1/pipelines/upload")
    assert upload["query"]["name"] == ["namegen-nightly"]
    [uploaded] = upload["files"].values()
    assert yaml.safe_load(uploaded) == yaml.safe_load(compiled_package.read_text())
    [job] = stub.find("POST", "/apis/v2beta1/recurringruns")
    body = job["json"]
    assert body["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert int(body["max_concurrency"]) == 1
    assert body["no_catchup"] is True
    assert body["experiment_id"] == "exp-1"
    assert body["pipeline_version_reference"] == {"pipeline_id": "pipe-1",
                                                  "pipeline_version_id": "ver-1"}
    assert body["runtime_config"]["parameters"] == {"data_root": "gs://bucket/names",
                                                    "data_pattern": "{SPAN}/*.txt"}


def test_schedule_help_documents_the_span_parameter(capsys):
    with pytest.raises(SystemExit):
        cli.main(["kubeflow", "schedule", "--help"])
    assert "data_pattern" in capsys.readouterr().out


def test_five_field_cron_and_unknown_parameters_fail_before_any_request(
        compiled_package, stub, capsys):
    assert cli.main(["kubeflow", "schedule", "--package", str(compiled_package), "--host", stub.url,
                     "--cron", "0 3 * * *"]) != 0
    assert "6 with seconds first" in capsys.readouterr().err
    assert cli.main(["kubeflow", "submit", "--package", str(compiled_package), "--host", stub.url,
                     "--param", "learning_rate=1"]) != 0
    assert "unknown parameter" in capsys.readouterr().err
    assert stub.requests == []


def test_missing_auth_is_explained(compiled_package, capsys):
    server = KfpStub(status=401)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        code = cli.main(["kubeflow", "submit", "--package", str(compiled_package),
                         "--host", server.url])
    finally:
        server.shutdown()
        server.server_close()
    assert code != 0
    assert "authentication" in capsys.readouterr().err
    assert server.requests  # it did ask


def test_unreachable_host_is_explained(compiled_package, capsys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(kubeflow_client.KubeflowClientError, match="cannot reach"):
        kubeflow_client.submit(str(compiled_package), f"http://127.0.0.1:{port}")

"""Version lifecycle of `namegen serve`: hot reload, corrupt pushes, labels, warmup, SIGTERM."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import threading
import urllib.request
from http.client import HTTPResponse
from pathlib import Path

import pytest

from tests.support.serving_helpers import (
    SCORE_REQUEST,
    copy_version,
    http,
    listening_addresses,
    perturbed_version,
    serve_first_version,
    start_local_server,
    version_states,
    wait_for,
)


def _score(local, version: int | None = None) -> float:
    path = "/v1/models/names" + (f"/versions/{version}" if version else "") + ":predict"
    status, body = http("POST", local.rest + path, SCORE_REQUEST)
    assert status == 200, body
    return body["outputs"]["log_likelihood"][0]


def test_hot_reload_without_failed_requests(tiny_model, tmp_path):
    """Push a v2 with different weights while REST and gRPC clients loop: zero failures,
    traffic moves to v2 (its answers, not v1's), v1 ends."""
    from serving.client import Client

    base = tmp_path / "names"
    local = serve_first_version(tiny_model, base)
    v1_score = _score(local)
    failures, versions_seen, stop = [], set(), threading.Event()

    def loop(url: str) -> None:
        client = Client(url, retries=0)
        for _ in range(5000):  # bounded by count and by the stop event
            if stop.is_set():
                break
            try:
                client.generate("", 4, 1.0, 0)
                if url.startswith("grpc"):
                    versions_seen.add(_grpc_version(local))
            except Exception as error:  # noqa: BLE001  every failure is recorded
                failures.append(repr(error))

    threads = [threading.Thread(target=loop, args=(url,))
               for url in (local.rest, f"grpc://{local.grpc_target}")]
    try:
        for thread in threads:
            thread.start()
        assert wait_for(lambda: len(versions_seen) >= 1)
        perturbed_version(tiny_model, base, 2)
        assert wait_for(lambda: version_states(local) == {"2": "AVAILABLE", "1": "END"})
        assert wait_for(lambda: 2 in versions_seen)
        v2_score = _score(local)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        local.stop()
    assert failures == []
    assert versions_seen == {1, 2}
    assert v2_score != v1_score  # the new weights answer, not a copy of the old ones


def _grpc_version(local) -> int:
    import grpc
    from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc

    with grpc.insecure_channel(local.grpc_target) as channel:
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = "names"
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.GetModelMetadata(request, timeout=10).model_spec.version.value


def test_broken_versions_never_replace_the_serving_one(tiny_model, tmp_path):
    base = tmp_path / "names"
    local = serve_first_version(tiny_model, base)
    try:
        corrupt = base / "2"
        shutil.copytree(tiny_model, corrupt)
        (corrupt / "saved_model.pb").write_bytes(b"not a protobuf")
        assert wait_for(lambda: version_states(local).get("2") == "END")
        half = base / "3"
        (half / "variables").mkdir(parents=True)  # a copy caught halfway: no saved_model.pb
        assert wait_for(lambda: version_states(local).get("3") == "END")
        _, body = http("GET", local.rest + "/v1/models/names")
        by_version = {s["version"]: s for s in body["model_version_status"]}
        assert by_version["1"]["state"] == "AVAILABLE"
        assert by_version["2"]["status"]["error_code"] != "OK"
        assert by_version["3"]["status"]["error_code"] == "NOT_FOUND"
        assert "Could not find SavedModel" in by_version["3"]["status"]["error_message"]
        status, _ = http("POST", local.rest + "/v1/models/names:predict", SCORE_REQUEST)
        assert status == 200
        status, _ = http("POST", local.rest + "/v1/models/names/versions/3:predict", SCORE_REQUEST)
        assert status == 404
        shutil.rmtree(half)  # the copy finishes: version 3 now loads and takes over
        shutil.copytree(tiny_model, half)
        assert wait_for(lambda: version_states(local).get("3") == "AVAILABLE")
        assert wait_for(lambda: version_states(local).get("1") == "END")
    finally:
        local.stop()


def test_config_file_policy_and_labels(tiny_model, tmp_path):
    """The production models.config, pointed at a temp tree: latest 2, stable/canary labels."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    base = tmp_path / "names"
    for version in (1, 2, 3):
        copy_version(tiny_model, base, version)
    config = text_format.Parse((Path("serving") / "models.config").read_text(),
                               model_server_config_pb2.ModelServerConfig())
    model = config.model_config_list.config[0]
    model.base_path = str(base)
    model.version_labels["stable"], model.version_labels["canary"] = 2, 3
    config_file = tmp_path / "models.config"
    config_file.write_text(text_format.MessageToString(config))
    local = start_local_server(base, config_file=config_file)
    try:
        assert version_states(local) == {"3": "AVAILABLE", "2": "AVAILABLE"}
        for label, version in (("stable", 2), ("canary", 3)):
            status, body = http("GET", f"{local.rest}/v1/models/names/labels/{label}/metadata")
            assert status == 200 and body["model_spec"]["version"] == str(version)
            status, body = http("GET", f"{local.rest}/v1/models/names/labels/{label}")
            # as TF Serving: the status route lists every version, whatever the label
            assert status == 200 and {s["version"] for s in body["model_version_status"]} == \
                {"2", "3"}
            status, _ = http("POST", f"{local.rest}/v1/models/names/labels/{label}:predict",
                             SCORE_REQUEST)
            assert status == 200
        status, body = http("GET", f"{local.rest}/v1/models/names/versions/1")
        assert status == 404
    finally:
        local.stop()


def test_warmup_file_replays(tiny_model, tmp_path):
    """The warmup file the export wrote parses as PredictionLogs and the server replays it."""
    from components.trainer.warmup import WARMUP_BATCH_SIZES
    from serving.contract import WARMUP_FILE
    from serving.model_servers import warmup

    version = copy_version(tiny_model, tmp_path / "names", 1)
    assert (version / WARMUP_FILE).is_file()  # written by the export, replayed as is
    logs = warmup.read_warmup_requests(version)
    assert [log.predict_log.request.model_spec.signature_name for log in logs] == \
        ["serving_default"] * 3 + ["sample", "score"]
    assert [log.predict_log.request.inputs["seed"].tensor_shape.dim[0].size
            for log in logs[:3]] == list(WARMUP_BATCH_SIZES)
    local = start_local_server(tmp_path / "names", warmup=True)
    try:
        servable = local.core.manager.servable("names")
        assert local.core.warmup(servable) == 5
        assert version_states(local) == {"1": "AVAILABLE"}
    finally:
        local.stop()
    bad = copy_version(tiny_model, tmp_path / "bad" / "names", 1)
    logs[0].predict_log.request.inputs["prefix"].string_val[:] = ["\u00e9".encode()]
    from tests.serving.test_production_configs import tfrecord_bytes

    (bad / WARMUP_FILE).write_bytes(tfrecord_bytes([log.SerializeToString()
                                                            for log in logs]))
    local = start_local_server(tmp_path / "bad" / "names", warmup=True)
    try:  # a failing warmup request makes the version not loadable, as in TF Serving
        _, body = http("GET", local.rest + "/v1/models/names")
        assert body["model_version_status"][0]["state"] == "END"
        assert "outside the vocabulary" in body["model_version_status"][0]["status"][
            "error_message"]
    finally:
        local.stop()


def _inflight(rest: str) -> int:
    """Requests the server is serving now, from its metrics page (the scrape itself included)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(rest + "/monitoring/prometheus/metrics", timeout=30) as reply:
        page = reply.read().decode()
    for family in text_string_to_metric_families(page):
        if family.name == ":namegen:serving:inflight_requests":
            return int(family.samples[0].value)
    return 0


@pytest.mark.slow
def test_cli_serves_locally_and_drains_on_sigterm(tiny_model, tmp_path):
    """`namegen serve` listens on 127.0.0.1 only (checked on its sockets), and SIGTERM lets
    requests in flight (held open mid-body, seen in flight by the server) finish; exit 0."""
    from namegen.bench.serve import start_server

    base = tmp_path / "names"
    copy_version(tiny_model, base, 1)
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text("prometheus_config { enable: true "
                          'path: "/monitoring/prometheus/metrics" }')
    process, rest, grpc_url = start_server(base, ["--drain-seconds", "60",
                                                  "--monitoring_config_file", str(monitoring)])
    held = []
    try:
        for url in (rest, grpc_url):
            assert listening_addresses(int(url.rsplit(":", 1)[1])) == {"127.0.0.1"}
        body = json.dumps({"signature_name": "score", "inputs": ["Rex", "Ann"]}).encode()
        port = int(rest.rsplit(":", 1)[1])
        for _ in range(3):  # headers and half the body: the request stays in flight
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(b"POST /v1/models/names:predict HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                               + body[:10])
            held.append(connection)
        assert wait_for(lambda: _inflight(rest) == 1 + len(held))
        process.send_signal(signal.SIGTERM)
        # draining has begun (the REST port no longer listens) while the three are mid-body
        assert wait_for(lambda: not listening_addresses(port))
        assert process.poll() is None
        replies = []
        for connection in held:
            connection.sendall(body[10:])
            connection.settimeout(60)
            reply = HTTPResponse(connection)
            reply.begin()
            replies.append((reply.status, json.loads(reply.read())))
        assert process.wait(timeout=60) == 0
        assert [status for status, _ in replies] == [200] * len(held), replies
        assert all(len(body["outputs"]["log_likelihood"]) == 2 for _, body in replies)
    finally:
        for connection in held:
            connection.close()
        if process.poll() is None:
            process.kill()

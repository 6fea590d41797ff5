"""models.config edited under a running server, HandleReloadConfigRequest, Prometheus scrapes.

Uses half_plus_two-style models (tests/serving/conformance/half_plus_two.py: y = 0.5x + b), so each
model and version answers a different, known number: "a" v1 b=2, "a" v2 b=5, "b" v1 b=3.
"""

from __future__ import annotations

import json
import threading

import grpc
import pytest
from google.protobuf import text_format

from tests.serving.conformance import half_plus_two
from tests.support.serving_helpers import http, start_local_server, wait_for

X = json.dumps({"instances": [2.0]}).encode()  # y = 1 + b


def _config(entries: list[tuple[str, str, str, dict]]) -> str:
    configs = []
    for name, base, versions, labels in entries:
        text = (f'config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" '
                f"model_version_policy {{ specific {{ {versions} }} }}")
        text += "".join(f' version_labels {{ key: "{k}" value: {v} }}' for k, v in labels.items())
        configs.append(text + " }")
    return "model_config_list { " + " ".join(configs) + " }"


def _answer(local, path: str) -> tuple[int, float | str]:
    status, body = http("POST", local.rest + path, X)
    return status, body["predictions"][0] if status == 200 else body["error"]


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("reload")
    half_plus_two.build(root / "a" / "00000001", b=2.0)
    half_plus_two.build(root / "a" / "00000002", b=5.0)
    half_plus_two.build(root / "b" / "00000001", b=3.0)
    return root


def test_editing_models_config_adds_removes_and_relabels_under_load(trees, tmp_path):
    """--model_config_file_poll_wait_seconds: a model added, relabelled and removed while
    clients loop on another model (none of their requests fails); a request already holding
    the removed model's servable finishes with that model's answer."""
    from serving.model_servers.limits import Admission

    config = tmp_path / "models.config"
    a = ("a", trees / "a", "versions: 1 versions: 2", {"stable": 1})
    config.write_text(_config([a]))
    local = start_local_server(trees, config_file=config, config_poll_seconds=0.1)
    failures, answers, stop = [], [], threading.Event()

    def loop() -> None:
        for _ in range(100_000):  # bounded by count and by the stop event
            if stop.is_set():
                return
            status, value = _answer(local, "/v1/models/a/versions/1:predict")
            (answers if status == 200 and value == 3.0 else failures).append(value)

    clients = [threading.Thread(target=loop) for _ in range(2)]
    try:
        for client in clients:
            client.start()
        assert _answer(local, "/v1/models/a/labels/stable:predict") == (200, 3.0)
        assert _answer(local, "/v1/models/b:predict")[0] == 404
        # add b
        config.write_text(_config([a, ("b", trees / "b", "versions: 1", {})]))
        assert wait_for(lambda: _answer(local, "/v1/models/b:predict") == (200, 4.0))
        # relabel: stable now names version 2 of a
        a2 = ("a", trees / "a", "versions: 1 versions: 2", {"stable": 2})
        config.write_text(_config([a2, ("b", trees / "b", "versions: 1", {})]))
        assert wait_for(lambda: _answer(local, "/v1/models/a/labels/stable:predict")
                        == (200, 6.0))
        # remove b while one request holds its servable (it waits for the one inference slot)
        saved, local.core.admission = local.core.admission, Admission(running=1, queued=4)
        held: list = []
        try:
            with local.core.admission.slot():
                waiting = threading.Thread(target=lambda: held.append(
                    _answer(local, "/v1/models/b:predict")))
                waiting.start()
                assert wait_for(lambda: local.core.admission._admitted._value <= 3)
                config.write_text(_config([a2]))
                assert wait_for(lambda: local.core.manager.available("b") == [])
            waiting.join(timeout=60)
        finally:
            local.core.admission = saved
        assert held == [(200, 4.0)]  # in flight before the removal: answered by b
        assert wait_for(lambda: _answer(local, "/v1/models/b:predict")[0] == 404)
        assert wait_for(lambda: len(answers) > 20)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=60)
        local.stop()
    assert failures == []


def test_handle_reload_config_request(trees, tmp_path):
    """ModelService.HandleReloadConfigRequest replaces the model list; a bad config is refused
    in the response's status and the models being served stay."""
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    config = tmp_path / "models.config"
    config.write_text(_config([("a", trees / "a", "versions: 1", {})]))
    local = start_local_server(trees, config_file=config)

    def reload(text: str):
        request = model_management_pb2.ReloadConfigRequest()
        text_format.Parse(text, request.config)
        with grpc.insecure_channel(local.grpc_target) as channel:
            return model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
                request, timeout=120)

    try:
        response = reload(_config([("a", trees / "a", "versions: 2", {}),
                                   ("b", trees / "b", "versions: 1", {})]))
        assert response.status.error_code == 0, response
        assert _answer(local, "/v1/models/b:predict") == (200, 4.0)
        assert wait_for(lambda: _answer(local, "/v1/models/a:predict") == (200, 6.0))
        response = reload(_config([("a", trees / "a", "versions: 1", {}),
                                   ("a", trees / "b", "versions: 1", {})]))
        assert response.status.error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "multiple times" in response.status.error_message
        assert _answer(local, "/v1/models/b:predict") == (200, 4.0)
    finally:
        local.stop()


def test_prometheus_scrape_parses(trees, tmp_path):
    """The metrics page is Prometheus text (prometheus_client's parser reads it) with TF
    Serving's names: request counts by model and status, latency histograms by API and
    entrypoint, SavedModel load attempts."""
    from prometheus_client.parser import text_string_to_metric_families

    config = tmp_path / "models.config"
    config.write_text(_config([("a", trees / "a", "versions: 1", {})]))
    local = start_local_server(trees, config_file=config,
                               prometheus_path="/monitoring/prometheus/metrics")
    try:
        for _ in range(3):
            assert _answer(local, "/v1/models/a:predict") == (200, 3.0)
        assert _answer(local, "/v1/models/a/versions/7:predict")[0] == 404
        status, raw = _get(local.rest + "/monitoring/prometheus/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(raw.decode())}
        counts = {(s.labels["model_name"], s.labels["status"]): s.value
                  for s in families[":tensorflow:serving:request_count"].samples}
        assert counts[("a", "OK")] == 3 and counts[("a", "NOT_FOUND")] == 1
        latency = families[":tensorflow:serving:request_latency"]
        assert latency.type == "histogram"
        counted = [s for s in latency.samples if s.name.endswith("_count")]
        assert [(s.labels["API"], s.labels["entrypoint"], s.value) for s in counted] == [
            ("predict", "REST", 4)]
        loads = families[":tensorflow:cc:saved_model:load_attempt_count"].samples
        assert [s.labels["status"] for s in loads] == ["success"]
        assert _get(local.rest + "/monitoring/prometheus/other")[0] == 404
    finally:
        local.stop()


def _get(url: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()

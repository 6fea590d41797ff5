"""Reload and startup as TF Serving does them (tests/serving/conformance/reload_cases.py): its codes
and texts for a refused reload, a non-zero exit for a startup config it cannot serve, and
namegen's --allow_config_reload_rpc switch for the admin RPC."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

from tests.serving.conformance import half_plus_two
from tests.serving.conformance.reload_cases import RELOAD_CASES
from tests.support.serving_helpers import http, start_local_server

CAP = 180.0  # seconds a server may take to start and refuse: generous


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """half_plus_two as models a and b, and a corrupt version; shared with tests/e2e."""
    root = tmp_path_factory.mktemp("startup")
    half_plus_two.build(root / "a" / "1")
    half_plus_two.build(root / "b" / "1", b=3.0)
    (root / "corrupt" / "1").mkdir(parents=True)
    (root / "corrupt" / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    return root


@pytest.fixture(scope="module")
def local(trees):
    config = trees / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "a" base_path: "{trees / "a"}" '
                      'model_platform: "tensorflow" } }')
    server = start_local_server(trees / "a", config_file=config)
    yield server
    server.stop()


def _reload(target: str, text: str):
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(text, request.config)
    with grpc.insecure_channel(target) as channel:
        return model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
            request, timeout=CAP)


@pytest.mark.parametrize("case", RELOAD_CASES, ids=lambda c: c.source)
def test_reload_validation_matches_tf_serving(local, trees, case):
    text = case.config.replace("{a}", str(trees / "a")).replace("{b}", str(trees / "b"))
    response = _reload(local.grpc_target, text)
    assert response.status.error_code == getattr(grpc.StatusCode, case.code).value[0], response
    assert case.message in response.status.error_message
    status, body = http("POST", local.rest + "/v1/models/a:predict",
                        json.dumps({"instances": [2.0]}).encode())
    assert (status, body.get("predictions")) == (200, [3.0])


def test_the_reload_rpc_can_be_turned_off(trees):
    from serving.model_servers import http_server

    local = start_local_server(trees / "a")
    endpoints = http_server.start(local.core, "127.0.0.1", 0, 0, allow_reload=False)
    try:
        with pytest.raises(grpc.RpcError) as error:
            _reload(f"127.0.0.1:{endpoints.grpc_port}", "model_config_list { }")
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "--allow_config_reload_rpc" in error.value.details()
        assert local.core.manager.available("names") == [1]  # nothing was unloaded
    finally:
        endpoints.grpc_server.stop(0)
        endpoints.rest.shutdown()
        local.stop()

"""A small TF Serving client: REST (`http://host:8501`) or gRPC (`grpc://host:8500`).

It retries only UNAVAILABLE (HTTP 503, refused or dropped connections), with exponential
backoff; every other error is raised at once as a ServingError. A keep-alive connection the
server closed while idle is reopened and the request sent again once, whatever `retries` says
(the server never read it). One Client per thread.
"""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import grpc

from data import encoding
from serving import compat, contract
from serving.errors import ServingError

# TensorFlow and TF Serving's protos are imported only on the gRPC paths, so a REST client
# starts without TensorFlow.

SCORE_BATCH = 512  # names per score request (under the server's default --max-rows)
_HTTP_TO_CODE = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND,
                 429: grpc.StatusCode.RESOURCE_EXHAUSTED, 501: grpc.StatusCode.UNIMPLEMENTED,
                 503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.DEADLINE_EXCEEDED}


class Client:
    """Generates and scores names through a TF Serving endpoint (ours or the real one)."""

    def __init__(self, server: str, timeout: float = 30.0, model: str = encoding.MODEL_NAME,
                 version: int | None = None, label: str | None = None, retries: int = 3,
                 backoff: float = 0.2):
        url = urlsplit(server if "://" in server else f"http://{server}")
        if url.scheme not in ("http", "grpc"):
            raise ValueError(f"--server must be http://host:port or grpc://host:port, "
                             f"got {server!r}")
        self.scheme, self.host = url.scheme, url.hostname or "127.0.0.1"
        self.port = url.port or (8501 if url.scheme == "http" else 8500)
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.model, self.version, self.label = model, version, label
        self._http: http.client.HTTPConnection | None = None
        self._channel = self._stubs = None

    # --- the namegen interface ----------------------------------------------------------------
    def generate(self, prefix: str, n: int, temperature: float, seed: int,
                 max_length: int = encoding.MAX_NAME_LENGTH, **controls) -> list[dict]:
        """n names, row i with seed + i; sampling controls not given are neutral (off).

        serving_default when its inputs suffice, else the `sample` signature (eta, ...).
        """
        given = dict(controls, prefix=prefix, temperature=temperature, max_length=max_length)
        unknown = set(given) - set(contract.SAMPLE_INPUTS)
        if unknown:
            raise TypeError(f"unknown generation inputs: {sorted(unknown)}")
        signature = contract.generation_signature(**given)
        out = self.predict(contract.generation_columns(n, [seed + i for i in range(n)],
                                                       signature, **given), signature)
        return [{"name": name, "log_prob": float(log_prob), "length": int(length)}
                for name, log_prob, length in zip(out["name"], out["log_prob"], out["length"])]

    def score(self, names: list[str], batch_size: int = SCORE_BATCH) -> dict:
        """Mean nats (and bits) per character over names, end-of-name included."""
        return contract.summarize_scores(
            self.predict({contract.SCORE_INPUT: names[start:start + batch_size]},
                         contract.SCORE_SIGNATURE)
            for start in range(0, len(names), batch_size))

    # --- TF Serving calls ---------------------------------------------------------------------
    def predict(self, columns: dict[str, list],
                signature_name: str = contract.GENERATE_SIGNATURE) -> dict:
        """Columnar inputs -> output lists (strings decoded as UTF-8)."""
        if self.scheme == "http":
            body = {"signature_name": signature_name, "inputs": columns}
            return self._with_retries(lambda: self._rest("POST", ":predict", body))["outputs"]
        return self._with_retries(lambda: self._grpc_predict(columns, signature_name))

    def status(self) -> dict:
        """GetModelStatus, as the REST JSON body."""
        if self.scheme == "http":
            return self._with_retries(lambda: self._rest("GET", "", None))
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._fill_spec(request.model_spec)
        response = self._with_retries(
            lambda: self._grpc_call("model", "GetModelStatus", request))
        return compat.message_to_dict(response)

    # --- transport ----------------------------------------------------------------------------
    def _with_retries(self, call):
        for attempt in range(self.retries + 1):
            try:
                return call()
            except ServingError as error:
                if error.code != grpc.StatusCode.UNAVAILABLE or attempt == self.retries:
                    raise
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _path(self, suffix: str) -> str:
        path = f"/v1/models/{self.model}"
        if self.version is not None:
            path += f"/versions/{self.version}"
        elif self.label:
            path += f"/labels/{self.label}"
        return path + suffix

    def _rest(self, method: str, suffix: str, body: dict | None) -> dict:
        payload = None if body is None else json.dumps(body).encode("utf-8")
        for attempt in range(2):
            reused = self._http is not None
            try:
                if self._http is None:
                    self._http = http.client.HTTPConnection(self.host, self.port,
                                                            timeout=self.timeout)
                self._http.request(method, self._path(suffix), body=payload,
                                   headers={"Content-Type": "application/json"})
                response = self._http.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self._drop_http()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError) as error:
                self._drop_http()
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: resend once
                raise ServingError(grpc.StatusCode.UNAVAILABLE,
                                   f"{self.host}:{self.port}: {error}") from None
            except (ConnectionError, http.client.HTTPException, OSError) as error:
                self._drop_http()
                code = (grpc.StatusCode.DEADLINE_EXCEEDED if isinstance(error, TimeoutError)
                        else grpc.StatusCode.UNAVAILABLE)
                raise ServingError(code, f"{self.host}:{self.port}: {error}") from None
        try:
            document = json.loads(data)
        except ValueError:
            document = {"error": data[:200].decode("utf-8", errors="replace")}
        if response.status != 200:
            code = _HTTP_TO_CODE.get(response.status, grpc.StatusCode.UNKNOWN)
            raise ServingError(code, document.get("error", f"HTTP {response.status}"))
        return document

    def _fill_spec(self, spec, signature_name: str = "") -> None:
        spec.name = self.model
        if signature_name:
            spec.signature_name = signature_name
        if self.version is not None:
            spec.version.value = self.version
        elif self.label:
            spec.version_label = self.label

    def _grpc_call(self, service: str, method: str, request):
        if self._stubs is None:
            from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

            self._channel = grpc.insecure_channel(f"{self.host}:{self.port}")
            self._stubs = {"predict": prediction_service_pb2_grpc.PredictionServiceStub(
                self._channel), "model": model_service_pb2_grpc.ModelServiceStub(self._channel)}
        try:
            return getattr(self._stubs[service], method)(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServingError(error.code(), error.details() or str(error)) from None

    def _grpc_predict(self, columns: dict[str, list], signature_name: str) -> dict:
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        self._fill_spec(request.model_spec, signature_name)
        for name, values in columns.items():
            request.inputs[name].CopyFrom(
                tf.make_tensor_proto(values, contract.INPUT_DTYPES.get(name)))
        response = self._grpc_call("predict", "Predict", request)
        outputs = {}
        for name, proto in response.outputs.items():
            array = tf.make_ndarray(proto)
            outputs[name] = ([v.decode("utf-8", errors="replace") for v in array.tolist()]
                             if array.dtype == object else array.tolist())
        return outputs

    def _drop_http(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def close(self) -> None:
        self._drop_http()
        if self._channel is not None:
            self._channel.close()
            self._channel = self._stubs = None

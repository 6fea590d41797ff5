"""TF Serving's gRPC services: PredictionService and ModelService, on the shared server core.

Follows model_servers/prediction_service_impl.cc and model_service_impl.cc.
"""

from __future__ import annotations

import logging
import time

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.errors import ServingError
from serving.model_servers import inference
from serving.model_servers.servable import Servable

log = logging.getLogger("namegen.serve")


def checked_spec(request, spec_field: str = "model_spec"):
    """The request's ModelSpec, or TF Serving's INVALID_ARGUMENT when it has none."""
    if not request.HasField(spec_field):
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
    return getattr(request, spec_field)


def spec_version(spec) -> tuple[int | None, str | None]:
    """(version, label) of a ModelSpec; (None, None) means the latest version."""
    return (spec.version.value if spec.HasField("version") else None), (spec.version_label or None)


def _call(core, context, api: str, model_name: str, work):
    """Runs one RPC: in-flight tracking, metrics, and the error as the call's status."""
    began = time.monotonic()
    status = "OK"
    with core.tracked():
        try:
            return work()
        except ServingError as error:
            status = error.code.name
            context.abort(error.code, error.message)
        except Exception as error:  # noqa: BLE001  a bug must not take the server down
            status = "INTERNAL"
            log.exception("gRPC %s failed", api)
            context.abort(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")
        finally:
            core.record_request(model_name, api, "GRPC", status, time.monotonic() - began)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress, MultiInference and GetModelMetadata."""

    def __init__(self, core):
        self.core = core

    def _servable(self, request) -> Servable:
        spec = checked_spec(request)
        return self.core.manager.servable(spec.name, *spec_version(spec))

    def Predict(self, request, context):  # noqa: N802
        def work():
            servable = self._servable(request)
            outputs = self.core.predict_protos(servable, request.model_spec.signature_name,
                                               request.inputs, list(request.output_filter))
            response = predict_pb2.PredictResponse()
            inference.spec_for(response.model_spec, servable, request.model_spec.signature_name)
            for name, array in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(array))
            return response

        return _call(self.core, context, "predict", request.model_spec.name, work)

    def Classify(self, request, context):  # noqa: N802
        return self._infer(request, context, "classify",
                           classification_pb2.ClassificationResponse, inference.classify)

    def Regress(self, request, context):  # noqa: N802
        return self._infer(request, context, "regress",
                           regression_pb2.RegressionResponse, inference.regress)

    def _infer(self, request, context, verb: str, response_type, run):
        """Classify or Regress: run(servable, signature_name, input) into response.result."""
        def work():
            servable = self._servable(request)
            response = response_type()
            self.core.limits.check_examples(*inference.input_size(request.input))
            with self.core.admission.slot():
                response.result.CopyFrom(run(
                    servable, request.model_spec.signature_name, request.input))
            inference.spec_for(response.model_spec, servable, request.model_spec.signature_name)
            return response

        return _call(self.core, context, verb, request.model_spec.name, work)

    def MultiInference(self, request, context):  # noqa: N802
        name = request.tasks[0].model_spec.name if request.tasks else ""

        def work():
            if not request.tasks:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Tasks is empty")
            servable = self._servable(request.tasks[0])
            self.core.limits.check_examples(*inference.input_size(request.input))
            with self.core.admission.slot():
                return inference.multi_inference(servable, request)

        return _call(self.core, context, "multi_inference", name, work)

    def GetModelMetadata(self, request, context):  # noqa: N802
        def work():
            servable = self._servable(request)
            return self.core.metadata(servable, list(request.metadata_field))

        return _call(self.core, context, "metadata", request.model_spec.name, work)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus and HandleReloadConfigRequest."""

    def __init__(self, core, allow_reload: bool = True):
        self.core, self.allow_reload = core, allow_reload

    def GetModelStatus(self, request, context):  # noqa: N802
        def work():
            spec = checked_spec(request)
            return self.core.manager.status(spec.name, *spec_version(spec))

        return _call(self.core, context, "status", request.model_spec.name, work)

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        """Replaces the served models with request.config; the outcome is in the response's
        status (the RPC itself succeeds), as in model_service_impl.cc."""
        if not self.allow_reload:
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          "HandleReloadConfigRequest is turned off on this server "
                          "(--allow_config_reload_rpc=false)")
        response = model_management_pb2.ReloadConfigResponse()
        try:
            self.core.reload_config_proto(request.config)
        except ServingError as error:
            response.status.error_code = error.code.value[0]
            response.status.error_message = error.message
        return response


def add_services(core, grpc_server: grpc.Server, allow_reload: bool = True) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(core), grpc_server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(core, allow_reload), grpc_server)

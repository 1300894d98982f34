"""A test double of TF Serving's gRPC PredictionService (Predict, GetModelMetadata): not TF Serving.

No tensorflow_model_server binary exists here, and KServe's own gRPC is its V2 (Open
Inference) protocol, not PredictionService; so serving/client.py's gRPC path is tested
against this double: tensorflow-serving-api's own servicer base class and protos, in
front of a REAL SavedModel (tf.saved_model.load) whose signature runs on the request's
tensors. Where the client looks, it answers as TF Serving does: the signature's outputs
as TensorProtos, the model spec echoed with its version, NOT_FOUND for a model or version
it does not serve, INVALID_ARGUMENT for a signature or inputs the model does not take,
and GetModelMetadata's "signature_def" as a packed SignatureDefMap. It serves one model,
one version; nothing of TF Serving's batching, version policy or model reloading.

    with serving(model_dir, "big_tipper") as (target, double):   # target: "127.0.0.1:PORT"
        predict_grpc(target, "big_tipper", rows, contract)        # double.requests: what it got
"""

import os
from concurrent import futures
from contextlib import contextmanager

import grpc
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

DEFAULT_SIGNATURE = "serving_default"


class PredictionServiceDouble(prediction_service_pb2_grpc.PredictionServiceServicer):
    """One SavedModel, served as `model_name` version `version`."""

    def __init__(self, model_dir: str, model_name: str, version: int = 1):
        self.model_name, self.version = model_name, version
        self.model = tf.saved_model.load(model_dir)
        with open(os.path.join(model_dir, "saved_model.pb"), "rb") as f:
            saved = saved_model_pb2.SavedModel.FromString(f.read())
        (graph,) = [g for g in saved.meta_graphs if "serve" in g.meta_info_def.tags]
        self.signature_defs = graph.signature_def
        self.requests = []  # what it was sent, for tests to read

    def _check_spec(self, spec, context) -> None:
        if spec.name != self.model_name or (spec.HasField("version") and spec.version.value != self.version):
            version = spec.version.value if spec.HasField("version") else "Latest"
            context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {version}({spec.name})")

    def Predict(self, request, context):  # noqa: N802 - the service's method name
        self.requests.append(request)
        self._check_spec(request.model_spec, context)
        name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        if name not in self.model.signatures:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f'Serving signature name: "{name}" not found in '
                          "signature def")
        function = self.model.signatures[name]
        _, specs = function.structured_input_signature
        sent = set(request.inputs)
        if sent != set(specs):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"input tensors {sorted(sent ^ set(specs))} do not match the signature's inputs: "
                          f"expected {sorted(specs)}")
        inputs = {}
        for key, spec in specs.items():
            proto = request.inputs[key]
            if proto.dtype != spec.dtype.as_datatype_enum:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"Expects arg {key} to be {spec.dtype.name} but "
                              f"{tf.dtypes.as_dtype(proto.dtype).name} is provided")
            inputs[key] = tf.constant(tf.make_ndarray(proto), dtype=spec.dtype)
        try:
            outputs = function(**inputs)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        wanted = list(request.output_filter) or list(outputs)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.model_name
        response.model_spec.version.value = self.version
        response.model_spec.signature_name = name
        for key in wanted:
            if key not in outputs:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"output tensor alias not found in signature: {key}")
            response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key].numpy()))
        return response

    def GetModelMetadata(self, request, context):  # noqa: N802 - the service's method name
        self._check_spec(request.model_spec, context)
        if list(request.metadata_field) != ["signature_def"]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Metadata field not supported: only signature_def is")
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = self.model_name
        response.model_spec.version.value = self.version
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in self.signature_defs.items():
            signatures.signature_def[key].CopyFrom(signature)
        response.metadata["signature_def"].Pack(signatures)
        return response


@contextmanager
def serving(model_dir: str, model_name: str, version: int = 1, host: str = "127.0.0.1"):
    """The double on a free loopback port; yields (its "host:port", the servicer)."""
    double = PredictionServiceDouble(model_dir, model_name, version)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(double, server)
    port = server.add_insecure_port(f"{host}:0")
    server.start()
    try:
        yield f"{host}:{port}", double
    finally:
        server.stop(grace=None)

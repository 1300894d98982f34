"""Clients for the served models: REST (standard library) and TF Serving's gRPC PredictionService.

    predict_rest(url, rows, token=None)              POST {"instances": rows} -> [p, ...]
    predict_grpc(target, model_name, rows, contract) PredictionService.Predict on serving_default
    model_metadata_grpc(target, model_name)          PredictionService.GetModelMetadata

`rows` are the request contract's rows (serving/contract.py): every raw feature named, null
= missing. `for_server(rows, contract, backend)` is the one place where a server that
reads them otherwise gets them rewritten. The gRPC functions import TensorFlow (the
tensorflow-serving-api protos need it), lazily, inside them; the REST client imports
nothing outside the standard library.

Errors are ClientError subclasses whose messages say what to do:
    NotListening    nothing is listening on URL (connection refused)
    TokenRefused    the server refused the token (TorchServe's 400 InvalidKeyException, 401, 403)
    UnknownModel    the server has no such model (404)
    RequestRefused  another 4xx: the server's own message
    ServerFailed    a 5xx, a timeout, or an answer that is not the contract's
"""

import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request

from serving.contract import NUMBER, Contract

TF_MODEL_SERVER = "tensorflow_model_server"  # the registry's name for stock TF Serving
SERVING_DEFAULT = "serving_default"
OUTPUT_KEY = "probability"  # the SavedModel's one output (pipelines/keras_branch/model.py)
START_HINT = "start it with `tandem serve tf|torch`"
TOKEN_ENV = "TANDEM_TORCHSERVE_TOKEN"


class ClientError(RuntimeError):
    """A request to a served model failed: the message says why, and what to do."""


class NotListening(ClientError):
    """Nothing accepts connections where the request went."""


class TokenRefused(ClientError):
    """The server refused the request's token (or its lack of one)."""


class UnknownModel(ClientError):
    """The server answers, but serves no model of that name."""


class RequestRefused(ClientError):
    """The server refused the request (a 4xx other than the above): its message says why."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ServerFailed(ClientError):
    """The server failed (5xx), did not answer in time, or answered something else than the contract."""


# ---------------------------------------------------------------- what each server reads
def for_server(rows: list[dict], contract, backend: str | None = None) -> list[dict]:
    """The contract's rows, as the server behind `backend` (the registry's name) reads them.

    What each server understands of `{"instances": [{feature: value}]}`:
    - tandem's servers — TorchServe with tandem's handler ("torchserve"), and KServe
      ("kserve") — read the contract as it is: null is a missing value, NaN is refused.
    - stock TF Serving ("tensorflow_model_server"), over REST: its JSON parser refuses null
      for a number input (400), and takes the NaN token, which the SavedModel's
      serving_default reads as missing. So a missing number is sent as NaN, and a missing
      string as "" (null is not a string to it either; "" is the model's missing string).
    - TF Serving over gRPC (predict_grpc): tensors, float64 NaN for a missing number, ""
      for a missing string; no JSON at all.
    Any other backend (or None: not known) gets the contract as it is.
    """
    if backend != TF_MODEL_SERVER:
        return rows
    features = getattr(contract, "features", contract)
    out = []
    for row in rows:
        row = dict(row)
        for name, kind in features.items():
            if row.get(name) is None and name in row:
                row[name] = math.nan if kind == NUMBER else ""
        out.append(row)
    return out


# ---------------------------------------------------------------- REST
def model_name_of(url: str) -> str:
    """The model a predict URL names: TF Serving's /v1/models/NAME[...]:predict, KServe's
    /v2/models/NAME/infer, TorchServe's /predictions/NAME[/VERSION]; else the URL."""
    path = urllib.parse.urlsplit(url).path
    match = re.search(r"/v\d/models/([^/:]+)", path) or re.search(r"/predictions/([^/]+)", path)
    return urllib.parse.unquote(match.group(1)) if match else url


def _server_message(body: bytes) -> str:
    """The message in an error answer: TorchServe's {"code", "type", "message"}, TF Serving's
    and KServe's {"error": ...}, FastAPI's {"detail": ...}; else the text itself."""
    text = body.decode("utf-8", "replace").strip()
    try:
        answer = json.loads(text)
    except ValueError:
        return text[:500] or "(no message)"
    if isinstance(answer, dict):
        for key in ("message", "error", "detail"):
            if answer.get(key):
                value = answer[key]
                return value if isinstance(value, str) else json.dumps(value)[:500]
    return text[:500]


def _is_token_refusal(status: int, body: bytes) -> bool:
    if status in (401, 403):
        return True
    if status != 400:
        return False
    text = body.decode("utf-8", "replace")
    return "InvalidKeyException" in text or "Token Authori" in text or "Token Authenti" in text


def _refusal(error: urllib.error.HTTPError, url: str, token: str | None) -> ClientError:
    body = error.read() or b""
    status, message = error.code, _server_message(body)
    if _is_token_refusal(status, body):
        sent = "a token was sent" if token else "no token was sent"
        return TokenRefused(f"the server refused the token: {message} ({status}; {sent}). TorchServe's tokens are "
                            f"new at each start and expire: `tandem query` reads them from the key file "
                            f"`tandem serve` recorded, or set {TOKEN_ENV}")
    if status == 404:
        return UnknownModel(f"the server has no model {model_name_of(url)} ({url} answered 404: {message})")
    if 400 <= status < 500:
        return RequestRefused(f"the server refused the request ({status}): {message}", status)
    return ServerFailed(f"the server failed ({status}) at {url}: {message}")


def post_json(url: str, payload: dict, token: str | None = None, timeout: float = 30) -> dict:
    """POST a JSON object, return the JSON object answered; ClientError if it fails.
    NaN in `payload` goes out as the NaN token (see for_server: TF Serving reads it)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        raise _refusal(error, url, token) from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ConnectionRefusedError):
            raise NotListening(f"nothing is listening on {url}: {START_HINT}") from None
        if isinstance(reason, TimeoutError):
            raise ServerFailed(f"{url} did not answer in {timeout:g}s") from None
        raise ClientError(f"could not reach {url}: {reason}") from None
    except TimeoutError:
        raise ServerFailed(f"{url} did not answer in {timeout:g}s") from None
    except OSError as error:  # reset or closed mid-answer
        raise ServerFailed(f"{url} closed the connection: {error}") from None
    try:
        answer = json.loads(body)
    except ValueError:
        raise ServerFailed(f"{url} answered something that is not JSON: {body[:200]!r}") from None
    if not isinstance(answer, dict):
        raise ServerFailed(f"{url} answered {body[:200]!r}, not a JSON object")
    return answer


def predictions_of(answer: dict, rows: int, where: str) -> list[float]:
    """{"predictions": [p, ...]} with one number per row -> the floats, else ServerFailed."""
    predictions = answer.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != rows:
        raise ServerFailed(f"{where} answered {json.dumps(answer)[:200]}, not {{\"predictions\": [...]}} with "
                           f"{rows} numbers")
    out = []
    for p in predictions:
        if isinstance(p, list) and len(p) == 1:  # a [batch, 1] output
            p = p[0]
        if isinstance(p, dict) and OUTPUT_KEY in p:  # TF Serving's answer for several outputs
            p = p[OUTPUT_KEY]
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise ServerFailed(f"{where} answered a prediction that is not a number: {json.dumps(p)[:80]}")
        out.append(float(p))
    return out


def predict_rest(url: str, rows: list[dict], token: str | None = None, timeout: float = 30) -> list[float]:
    """POST {"instances": rows} to `url` -> one probability per row, in order.
    `rows` go as they are: pass them through for_server first for the server behind `url`."""
    return predictions_of(post_json(url, {"instances": rows}, token, timeout), len(rows), url)


def rest_backend(url: str, timeout: float = 5) -> str | None:
    """Which server answers a TF Serving-style predict URL, asked once: GET its model status
    (/v1/models/NAME). TF Serving answers {"model_version_status": [...]} -> TF_MODEL_SERVER;
    another answer -> "kserve"; no answer -> None."""
    parts = urllib.parse.urlsplit(url)
    path = re.sub(r":predict$", "", parts.path)
    if path == parts.path:
        return None
    try:
        with urllib.request.urlopen(urllib.parse.urlunsplit(parts._replace(path=path)), timeout=timeout) as answer:
            status = json.loads(answer.read())
    except (OSError, ValueError):
        return None
    return TF_MODEL_SERVER if isinstance(status, dict) and "model_version_status" in status else "kserve"


# ---------------------------------------------------------------- gRPC (TF Serving's PredictionService)
def grpc_target(target: str) -> str:
    """host:port from host:port or a URL (grpc://host:port, http://host:port/...)."""
    if "://" in target:
        target = urllib.parse.urlsplit(target).netloc
    return target


def _grpc_error(error, target: str, model_name: str) -> ClientError:
    import grpc

    code, details = error.code(), error.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        return NotListening(f"nothing is listening on {target}: {START_HINT} ({details})")
    if code == grpc.StatusCode.NOT_FOUND:
        return UnknownModel(f"the server has no model {model_name} ({target}: {details})")
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return TokenRefused(f"the server refused the token: {details}")
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.RESOURCE_EXHAUSTED):
        return RequestRefused(f"the server refused the request ({code.name}): {details}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ServerFailed(f"{target} did not answer in time ({details})")
    return ServerFailed(f"the server failed ({code.name}) at {target}: {details}")


def _call(target: str, model_name: str, method: str, request, timeout: float):
    """PredictionService.`method`(request) on a channel of its own; gRPC errors as ClientErrors."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    channel = grpc.insecure_channel(grpc_target(target), options=[
        ("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)])
    try:
        return getattr(prediction_service_pb2_grpc.PredictionServiceStub(channel), method)(request, timeout=timeout)
    except grpc.RpcError as error:
        raise _grpc_error(error, grpc_target(target), model_name) from None
    finally:
        channel.close()


def predict_grpc(target: str, model_name: str, rows: list[dict], contract, timeout: float = 30) -> list[float]:
    """PredictionService.Predict on `serving_default`: one named tensor per raw feature —
    float64 numbers (NaN = missing: TF Serving's tensor path takes NaN) and strings ("" =
    missing) — -> one probability per row, in order. `contract`: a Contract, or its
    {feature: "number" | "string"}; rows that break it raise ContractError."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    features = dict(getattr(contract, "features", contract))
    columns = Contract(features, max_rows=max(1, len(rows))).parse({"instances": rows})
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = SERVING_DEFAULT
    for name, values in columns.numbers.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(values, dtype=np.float64)))
    for name, values in columns.strings.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray([v.encode() for v in values], dtype=object),
                                                           dtype=tf.string))
    answer = _call(target, model_name, "Predict", request, timeout)
    if OUTPUT_KEY not in answer.outputs:
        raise ServerFailed(f"{target} answered outputs {sorted(answer.outputs)}, not {OUTPUT_KEY!r}")
    probabilities = tf.make_ndarray(answer.outputs[OUTPUT_KEY]).reshape(-1)
    if probabilities.shape[0] != len(rows):
        raise ServerFailed(f"{target} answered {probabilities.shape[0]} probabilities for {len(rows)} rows")
    return [float(p) for p in probabilities]


def model_metadata_grpc(target: str, model_name: str, timeout: float = 30) -> dict:
    """PredictionService.GetModelMetadata -> {"model": name, "version": n, "signatures":
    {signature: {"inputs": {name: dtype}, "outputs": {name: dtype}}}} (dtypes as "float64", "string";
    None for an op without one). TF Serving lists every signature, __saved_model_init_op too."""
    import tensorflow as tf
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = model_name
    request.metadata_field.append("signature_def")
    answer = _call(target, model_name, "GetModelMetadata", request, timeout)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    if "signature_def" not in answer.metadata or not answer.metadata["signature_def"].Unpack(signature_map):
        raise ServerFailed(f"{target} answered no signature_def metadata for {model_name}")

    def kinds(tensors) -> dict:  # DT_INVALID (0): e.g. the __saved_model_init_op signature's NoOp
        return {name: tf.dtypes.as_dtype(info.dtype).name if info.dtype else None for name, info in tensors.items()}

    return {"model": answer.model_spec.name or model_name,
            "version": answer.model_spec.version.value if answer.model_spec.HasField("version") else None,
            "signatures": {name: {"inputs": kinds(sig.inputs), "outputs": kinds(sig.outputs)}
                           for name, sig in signature_map.signature_def.items()}}

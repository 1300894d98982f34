"""serving/client.py and `tandem query`: the gRPC client against a PredictionService test
double running a real SavedModel, the REST client's errors against tiny local HTTP servers,
and the CLI against such a server (exit codes, the token from $TANDEM_TORCHSERVE_TOKEN or
the key file the registry names).

The SavedModel here is a stand-in for the Keras branch's export, shaped like it
(pipelines/keras_branch/model.py): a tf.Module whose `serving_default` takes raw named
inputs, [batch] float64 numbers (NaN = missing) and strings ("" = missing), and returns
{"probability": [batch] float32}. It is built, not trained, so that these tests need no
pipeline run; tests/e2e covers the real export.
"""

import json
import math
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import tensorflow as tf
from grpc_double import serving
from helpers import REPO, TAXI

from serving import client, registry
from serving.contract import ContractError
from tandem.exits import FAILED, OK, USAGE

pytestmark = pytest.mark.xdist_group("grpc_double")

FEATURES = {"trip_miles": "number", "fare": "number", "payment_type": "string"}  # the stand-in's contract
ROWS = [
    {"trip_miles": 2.5, "fare": 11.0, "payment_type": "Cash"},
    {"trip_miles": None, "fare": 11.0, "payment_type": "Cash"},  # a missing number: NaN on the wire
    {"trip_miles": 0.0, "fare": 11.0, "payment_type": "Cash"},  # not the same as missing
    {"trip_miles": 17.0, "fare": None, "payment_type": None},
    {"trip_miles": 1.0, "fare": 4.25, "payment_type": ""},
    {"trip_miles": 3, "fare": 52, "payment_type": "Unknown bank"},
]
MODEL = "big_tipper"


class StandIn(tf.Module):
    """A stand-in for the exported SavedModel (see the module's docstring): a fixed logistic
    score in which a missing number and a missing string each count on their own."""

    @tf.function(input_signature=[{
        "trip_miles": tf.TensorSpec([None], tf.float64, name="trip_miles"),
        "fare": tf.TensorSpec([None], tf.float64, name="fare"),
        "payment_type": tf.TensorSpec([None], tf.string, name="payment_type"),
    }])
    def serve(self, raw):
        def number(x, weight, if_missing):
            missing = tf.math.is_nan(x)
            return tf.where(missing, tf.constant(if_missing, tf.float64), weight * tf.math.log1p(tf.abs(x)))

        payment = raw["payment_type"]
        logit = (number(raw["trip_miles"], 0.7, -1.3) + number(raw["fare"], -0.4, 0.9)
                 + tf.where(payment == "Cash", tf.constant(-1.1, tf.float64), 0.2)
                 + tf.where(payment == "", tf.constant(0.6, tf.float64), 0.0) + 0.05)
        return {"probability": tf.cast(tf.sigmoid(logit), tf.float32)}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("stand_in") / "1")
    module = StandIn()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve.get_concrete_function()})
    return path


@pytest.fixture(scope="module")
def in_process(saved_model):
    """rows -> the SavedModel's serving_default, called in this process (NaN / "" for missing)."""
    function = tf.saved_model.load(saved_model).signatures["serving_default"]

    def predict(rows):
        tensors = {name: tf.constant([(math.nan if r[name] is None else float(r[name])) if kind == "number"
                                      else (r[name] or "") for r in rows], tf.float64 if kind == "number" else None)
                   for name, kind in FEATURES.items()}
        return function(**tensors)["probability"].numpy().tolist()

    return predict


@pytest.fixture(scope="module")
def grpc_server(saved_model):
    with serving(saved_model, MODEL, version=7) as (target, double):
        yield target, double


# ---------------------------------------------------------------- gRPC
def test_predict_grpc_answers_what_the_model_answers_in_process(grpc_server, in_process):
    target, double = grpc_server
    answered = client.predict_grpc(target, MODEL, ROWS, FEATURES)
    expected = in_process(ROWS)
    assert answered == pytest.approx(expected, abs=1e-6)  # row by row
    assert abs(answered[1] - answered[2]) > 1e-3  # missing went as missing (NaN), not as 0
    sent = double.requests[-1]
    assert sent.model_spec.signature_name == "serving_default"
    assert {k: tf.dtypes.as_dtype(v.dtype).name for k, v in sent.inputs.items()} == {
        "trip_miles": "float64", "fare": "float64", "payment_type": "string"}
    assert math.isnan(tf.make_ndarray(sent.inputs["trip_miles"])[1])
    assert tf.make_ndarray(sent.inputs["payment_type"]).tolist()[3] == b""


def test_predict_grpc_takes_a_contract_object_and_many_rows(grpc_server, in_process):
    from serving.contract import Contract

    target, _ = grpc_server
    rows = [dict(r, fare=float(i)) for i in range(300) for r in ROWS[:1]]
    assert client.predict_grpc(target, MODEL, rows, Contract(FEATURES)) == pytest.approx(in_process(rows), abs=1e-6)


def test_rows_that_break_the_contract_are_not_sent(grpc_server):
    target, double = grpc_server
    sent = len(double.requests)
    with pytest.raises(ContractError, match="missing feature 'payment_type'"):
        client.predict_grpc(target, MODEL, [{"trip_miles": 1.0, "fare": 2.0}], FEATURES)
    assert len(double.requests) == sent


def test_model_metadata_grpc_lists_the_signatures(grpc_server):
    target, _ = grpc_server
    metadata = client.model_metadata_grpc(target, MODEL)
    assert metadata["model"] == MODEL and metadata["version"] == 7
    assert metadata["signatures"]["serving_default"] == {
        "inputs": {"trip_miles": "float64", "fare": "float64", "payment_type": "string"},
        "outputs": {"probability": "float32"}}


def test_grpc_unknown_model(grpc_server):
    target, _ = grpc_server
    with pytest.raises(client.UnknownModel, match="^the server has no model nope "):
        client.predict_grpc(target, "nope", ROWS[:1], FEATURES)
    with pytest.raises(client.UnknownModel, match="^the server has no model nope "):
        client.model_metadata_grpc(target, "nope")


def test_grpc_inputs_the_signature_does_not_take(grpc_server):
    target, _ = grpc_server
    with pytest.raises(client.RequestRefused, match="INVALID_ARGUMENT.*company"):
        client.predict_grpc(target, MODEL, [dict(ROWS[0], company="Flash Cab")], dict(FEATURES, company="string"))


def test_grpc_nothing_listening():
    port = registry.free_port()
    with pytest.raises(client.NotListening) as error:
        client.predict_grpc(f"127.0.0.1:{port}", MODEL, ROWS[:1], FEATURES, timeout=10)
    assert str(error.value).startswith(f"nothing is listening on 127.0.0.1:{port}: start it with "
                                       "`tandem serve tf|torch`")


# ---------------------------------------------------------------- REST, against tiny servers
class Tiny:
    """A tiny HTTP server in a thread: answers every POST with (status, body), every GET with
    `get` (404 if None), and records what it was sent."""

    def __init__(self, status=200, body=None, get=None):
        self.status, self.body, self.get = status, body if body is not None else {"predictions": []}, get
        self.seen = []
        tiny = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status, body):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                tiny.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self._answer(tiny.status, tiny.body)

            def do_GET(self):  # noqa: N802 - http.server's name
                self._answer(200, tiny.get) if tiny.get is not None else self._answer(404, {"error": "no"})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tiny():
    servers = []

    def start(*args, **kwargs) -> Tiny:
        servers.append(Tiny(*args, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


TORCH_PATH = f"/predictions/{MODEL}"
TF_PATH = f"/v1/models/{MODEL}:predict"
INVALID_KEY = {"code": 400, "type": "InvalidKeyException",
               "message": "Token Authorization failed. Token either incorrect, expired, or not provided correctly"}


def test_predict_rest_posts_the_rows_and_reads_the_predictions(tiny):
    server = tiny(200, {"predictions": [0.25, 0.5]})
    assert client.predict_rest(server.base + TORCH_PATH, ROWS[:2], token="s3cret") == [0.25, 0.5]
    (seen,) = server.seen
    assert seen["path"] == TORCH_PATH and seen["headers"]["Authorization"] == "Bearer s3cret"
    assert seen["headers"]["Content-Type"] == "application/json"
    assert json.loads(seen["body"]) == {"instances": ROWS[:2]}


def test_rest_connection_refused():
    url = f"http://127.0.0.1:{registry.free_port()}{TORCH_PATH}"
    with pytest.raises(client.NotListening) as error:
        client.predict_rest(url, ROWS[:1])
    assert str(error.value) == f"nothing is listening on {url}: start it with `tandem serve tf|torch`"


@pytest.mark.parametrize("status, body", [(400, INVALID_KEY), (401, {"error": "Unauthorized"}),
                                          (403, {"detail": "Forbidden"})])
def test_rest_token_refused(tiny, status, body):
    server = tiny(status, body)
    with pytest.raises(client.TokenRefused) as error:
        client.predict_rest(server.base + TORCH_PATH, ROWS[:1], token="old")
    message = body.get("message") or body.get("error") or body["detail"]
    assert str(error.value).startswith(f"the server refused the token: {message} ({status}; a token was sent)")
    assert client.TOKEN_ENV in str(error.value)


@pytest.mark.parametrize("path, body", [
    (TORCH_PATH, {"code": 404, "type": "ModelNotFoundException", "message": f"Model not found: {MODEL}"}),
    (TF_PATH, {"error": f"Servable not found for request: Latest({MODEL})"})])
def test_rest_unknown_model(tiny, path, body):
    server = tiny(404, body)
    with pytest.raises(client.UnknownModel) as error:
        client.predict_rest(server.base + path, ROWS[:1])
    assert str(error.value).startswith(f"the server has no model {MODEL} ({server.base + path} answered 404: ")


def test_rest_another_4xx_says_the_servers_message(tiny):
    message = "row 0: feature 'fare' must be a number or null, got \"nine\""
    server = tiny(400, {"error": message})
    with pytest.raises(client.RequestRefused) as error:
        client.predict_rest(server.base + TF_PATH, ROWS[:1])
    assert str(error.value) == f"the server refused the request (400): {message}"
    assert error.value.status == 400


@pytest.mark.parametrize("status, body, words", [
    (500, {"error": "boom"}, "the server failed (500)"),
    (200, {"outputs": [0.5]}, "not {\"predictions\""),
    (200, {"predictions": [0.5, 0.5]}, "with 1 numbers"),
    (200, b"<html>", "not JSON")])
def test_rest_a_failing_server_or_another_answer(tiny, status, body, words):
    server = tiny(status, body)
    with pytest.raises(client.ServerFailed, match=words.replace("(", r"\(").replace(")", r"\)")):
        client.predict_rest(server.base + TF_PATH, ROWS[:1])


def test_for_server_sends_missing_numbers_as_nan_to_stock_tf_serving_only(tiny):
    assert client.for_server(ROWS, FEATURES, "kserve") == ROWS
    assert client.for_server(ROWS, FEATURES, "torchserve") == ROWS
    stock = client.for_server(ROWS, FEATURES, client.TF_MODEL_SERVER)
    assert math.isnan(stock[1]["trip_miles"]) and stock[3]["payment_type"] == "" and math.isnan(stock[3]["fare"])
    assert stock[0] == ROWS[0] and ROWS[1]["trip_miles"] is None  # the caller's rows are left as they were
    server = tiny(200, {"predictions": [0.5]})
    client.predict_rest(server.base + TF_PATH, stock[1:2])
    assert b'"trip_miles": NaN' in server.seen[0]["body"]


def test_rest_backend_asks_the_model_status(tiny):
    stock = tiny(get={"model_version_status": [{"version": "1", "state": "AVAILABLE"}]})
    assert client.rest_backend(stock.base + TF_PATH) == client.TF_MODEL_SERVER
    other = tiny(get={"name": MODEL, "ready": True})
    assert client.rest_backend(other.base + TF_PATH) == "kserve"
    assert client.rest_backend(f"http://127.0.0.1:{registry.free_port()}{TF_PATH}") is None


# ---------------------------------------------------------------- `tandem query`, as users run it
def query(*args: str, home, token: str | None = None, stdin: str | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != client.TOKEN_ENV}
    if token is not None:
        env[client.TOKEN_ENV] = token
    out = subprocess.run([sys.executable, "-m", "tandem.cli", "query", *args, "--home", str(home)], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120, input=stdin)
    return out.returncode, out.stdout, out.stderr


def test_query_sends_a_row_with_the_token_from_the_environment(tiny, tmp_path):
    server = tiny(200, {"predictions": [0.25]})
    code, out, err = query("torch", "--url", server.base + TORCH_PATH, "--row", "fare=3", "payment_type=Cash",
                           home=tmp_path, token="s3cret")
    assert code == OK, err
    (seen,) = server.seen
    assert seen["headers"]["Authorization"] == "Bearer s3cret"
    (row,) = json.loads(seen["body"])["instances"]
    assert row == {**dict.fromkeys(TAXI.serving_features), "fare": 3, "payment_type": "Cash"}
    assert "0.250000" in out and "fare" in out


def test_query_json_prints_the_servers_answer(tiny, tmp_path):
    server = tiny(200, {"predictions": [0.125, 0.75], "model_version": "3"})
    code, out, err = query("torch", "--url", server.base + TORCH_PATH, "--row", "fare=3", "--row", "fare=",
                           "--json", home=tmp_path)
    assert code == OK, err
    assert json.loads(out) == {"predictions": [0.125, 0.75], "model_version": "3"}
    assert "Authorization" not in server.seen[0]["headers"]  # no token anywhere: none sent


def test_query_reads_the_token_from_the_key_file_the_registry_names(tiny, tmp_path):
    server = tiny(200, {"predictions": [0.5, 0.5, 0.5]})
    keys = tmp_path / "key_file.json"
    keys.write_text(json.dumps({"management": {"key": "m-key", "expiration time": "x"},
                                "inference": {"key": "i-key", "expiration time": "x"}, "API": {"key": "a-key"}}))
    registry.record(str(tmp_path), registry.Server(
        name="torch", backend="torchserve", pid=os.getpid(), model=MODEL, version="1",
        endpoints={"inference": server.base + TORCH_PATH}, key_file=str(keys)))
    code, out, err = query("torch", home=tmp_path, token="from-env")  # rows: the first 3 of the sample
    assert code == OK, err
    assert server.seen[0]["headers"]["Authorization"] == "Bearer i-key"  # that server's own key
    assert len(json.loads(server.seen[0]["body"])["instances"]) == 3
    # The key goes to that server only: another URL gets the environment's token, or none.
    other = tiny(200, {"predictions": [0.5]})
    for token, sent in ((None, None), ("from-env", "Bearer from-env")):
        code, _, err = query("torch", "--url", other.base + TORCH_PATH, "--row", "fare=1", home=tmp_path, token=token)
        assert code == OK, err
        assert other.seen[-1]["headers"].get("Authorization") == sent


def test_query_tf_sends_nan_to_stock_tf_serving(tiny, tmp_path):
    server = tiny(200, {"predictions": [0.5]}, get={"model_version_status": [{"version": "1"}]})
    code, _, err = query("tf", "--url", server.base + TF_PATH, "--row", "fare=3", home=tmp_path)
    assert code == OK, err
    body = server.seen[0]["body"].decode()
    assert '"trip_miles": NaN' in body and '"company": ""' in body and '"fare": 3' in body


def test_query_rows_from_a_file(tiny, tmp_path):
    rows = [dict.fromkeys(TAXI.serving_features) | {"fare": 7.5}, dict.fromkeys(TAXI.serving_features)]
    (tmp_path / "rows.json").write_text(json.dumps({"instances": rows}))
    server = tiny(200, {"predictions": [0.5, 0.25]})
    code, out, err = query("torch", "--url", server.base, "--file", str(tmp_path / "rows.json"), home=tmp_path)
    assert code == OK, err
    assert server.seen[0]["path"] == TORCH_PATH  # the model's path, added to a bare server URL
    assert json.loads(server.seen[0]["body"]) == {"instances": rows}
    code, out, err = query("torch", "--url", server.base, "--file", "-", home=tmp_path, stdin=json.dumps(rows))
    assert code == OK, err


@pytest.mark.parametrize("status, body, words", [
    (400, INVALID_KEY, "the server refused the token: Token Authorization failed"),
    (404, {"code": 404, "type": "ModelNotFoundException", "message": "Model not found"},
     f"the server has no model {MODEL}"),
    (400, {"code": 400, "type": "BadRequestException", "message": "row 0: unknown feature"},
     "the server refused the request (400): row 0: unknown feature")])
def test_query_server_errors_exit_1(tiny, tmp_path, status, body, words):
    server = tiny(status, body)
    code, out, err = query("torch", "--url", server.base + TORCH_PATH, "--row", "fare=3", home=tmp_path, token="t")
    assert code == FAILED, out + err
    assert f"tandem: {words}" in err and "Traceback" not in err


def test_query_nothing_listening_exits_1(tmp_path):
    url = f"http://127.0.0.1:{registry.free_port()}{TORCH_PATH}"
    code, _, err = query("torch", "--url", url, "--row", "fare=3", home=tmp_path)
    assert code == FAILED
    assert f"tandem: nothing is listening on {url}: start it with `tandem serve tf|torch`" in err


@pytest.mark.parametrize("args, words", [
    (["torch", "--grpc"], "--grpc"),
    (["torch", "--row", "fair=3"], "unknown feature 'fair'"),
    (["torch", "--row", "fare"], "expected FEATURE=VALUE"),
    (["torch", "--row", "fare=three"], "fare is a number feature"),
    (["torch", "--row", "fare=1", "fare=2"], "given twice"),
    (["torch", "--file", "/no/such/rows.json"], "no such file"),
    (["torch", "--file", "{tmp}/bad.json"], "not valid JSON"),
    (["torch", "--file", "{tmp}/short.json"], "missing feature"),
    (["torch", "--file", "{tmp}/scalar.json"], "a list of rows"),
    (["tf", "--url", "127.0.0.1:8501"], "--url"),
    (["torch", "--row", "fare=1", "--file", "x.json"], "not allowed with"),
])
def test_query_bad_arguments_exit_2(tmp_path, args, words):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "short.json").write_text(json.dumps([{"fare": 1.0}]))
    (tmp_path / "scalar.json").write_text("3")
    code, out, err = query(*[a.format(tmp=tmp_path) for a in args], home=tmp_path)
    assert code == USAGE, out + err
    assert "tandem: error:" in err and words in err and "Traceback" not in err


def test_query_sample_rows_are_the_contracts(tiny, tmp_path):
    """With neither --row nor --file: the sample's first rows, numbers as numbers, empty as null."""
    server = tiny(200, {"predictions": [0.5, 0.5, 0.5]})
    code, out, err = query("torch", "--url", server.base + TORCH_PATH, home=tmp_path)
    assert code == OK, err
    rows = json.loads(server.seen[0]["body"])["instances"]
    assert [list(r) for r in rows] == [list(TAXI.serving_features)] * 3
    for row in rows:
        for name, value in row.items():
            assert value is None or isinstance(value, str if TAXI.is_string(name) else (int, float))
    assert len([line for line in out.splitlines() if "0.500000" in line]) == 3


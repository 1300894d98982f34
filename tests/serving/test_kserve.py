"""serving/kserve: tandem's two exports behind KServe's model server, started for real; and
serving/tfserving's configs and command line (its binary is not installable here).

The models are built, not trained (no pipeline runs):
- the .mar: conftest's TorchScript ServingModel, archived by the PyTorch pusher's own archive();
- the SavedModel: a stand-in shaped like pipelines/keras_branch/model.py's export, a tf.Module
  whose `serving_default` signature takes each raw feature as a named [batch] tensor (numbers
  float64, NaN = missing; strings, "" = missing) and returns {"probability": [batch]}, with
  the contract in assets.extra/contract.json (written by the Keras branch's write_contract).
  Inside it is a small logistic model, not the Transform graph and the Keras MLP: KServe and
  the contract see only the signature.

Both servers start once for the module, in parallel, on free loopback ports; every request
goes over HTTP. "Called in-process" is the model itself: the SavedModel's signature, the
TorchScript module.
"""

import http.client
import json
import math
import os
import socket
import time
import types
import urllib.parse
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
import tensorflow as tf
import torch
from google.protobuf import text_format

from serving import registry
from serving.contract import CONTRACT_FILE, DEFAULT_MAX_ROWS, NUMBER
from serving.kserve import server as kserve_server
from serving.tfserving import server as tfserving

pytestmark = pytest.mark.xdist_group("kserve")  # the module's servers are module-scoped fixtures

ROWS = [  # good rows: present, missing (null / ""), out of range and out of vocabulary
    {"trip_miles": 2.5, "fare": 11.0, "hour": 14, "payment_type": "Cash", "trip_seconds": 650},
    {"trip_miles": None, "fare": 4.25, "hour": None, "payment_type": "", "trip_seconds": None},
    {"trip_miles": 17.0, "fare": 52.5, "hour": 30, "payment_type": "Unknown bank", "trip_seconds": 3000.5},
    {"trip_miles": 0.0, "fare": None, "hour": 0, "payment_type": None, "trip_seconds": 0},
    {"trip_miles": 1.0, "fare": 7.5, "hour": 23, "payment_type": "Mobile ✓ ünïcode", "trip_seconds": 12345678901},
]
TOKENS = {"Credit Card": 0.4, "Cash": -0.2, "Mobile": 0.1}


# ---------------------------------------------------------------- the two models, built

class StandInExport(tf.Module):
    """Shaped like the Keras branch's SavedModel: raw named [batch] inputs -> {"probability"}."""

    def __init__(self, features: dict[str, str]):
        super().__init__()
        self.numbers = sorted(n for n, k in features.items() if k == NUMBER)
        self.strings = sorted(n for n, k in features.items() if k != NUMBER)
        self.weights = tf.Variable([0.05 * (-1) ** i / (i + 1) for i in range(len(self.numbers))], dtype=tf.float64)
        self.missing = tf.Variable(-0.3, dtype=tf.float64)
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            list(TOKENS) + [""], list(TOKENS.values()) + [-0.5], value_dtype=tf.float64), default_value=0.0)
        spec = {n: tf.TensorSpec([None], tf.float64 if k == NUMBER else tf.string, name=n) for n, k in features.items()}
        self.serve = tf.function(self._serve, input_signature=[spec])

    def _serve(self, raw):
        logit = tf.zeros_like(raw[self.numbers[0]])
        for i, name in enumerate(self.numbers):
            x = raw[name]
            logit += tf.where(tf.math.is_nan(x), self.missing, self.weights[i] * tf.math.log1p(tf.abs(x)))
        for name in self.strings:
            logit += self.table.lookup(raw[name])
        return {"probability": tf.sigmoid(logit)}


@pytest.fixture(scope="module")
def contract(model_dir) -> dict:
    return json.loads((model_dir / CONTRACT_FILE).read_text())


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, contract) -> str:
    """A pushed version's folder, <base>/1: the stand-in SavedModel with its contract."""
    from pipelines.keras_branch.model import write_contract

    path = str(tmp_path_factory.mktemp("keras") / "tiny" / "1")
    export = StandInExport(contract["features"])
    tf.saved_model.save(export, path, signatures={"serving_default": export.serve.get_concrete_function()})
    write_contract(types.SimpleNamespace(model_name="tiny", contract=lambda: dict(contract["features"])), path)
    return path


@pytest.fixture(scope="module")
def mar(tmp_path_factory, model_dir, contract) -> str:
    """tiny-1.mar, as the PyTorch pusher archives it."""
    from pipelines.torch_branch.pusher import archive

    target = str(tmp_path_factory.mktemp("model_store") / "tiny-1.mar")
    archive(str(model_dir / "model.pt"), contract, target, "tiny", "1")
    return target


def columns(rows: list[dict], features: dict[str, str]) -> tuple[dict, dict]:
    numbers = {n: [math.nan if r[n] is None else float(r[n]) for r in rows] for n, k in features.items() if k == NUMBER}
    strings = {n: [r[n] or "" for r in rows] for n, k in features.items() if k != NUMBER}
    return numbers, strings


@pytest.fixture(scope="module")
def in_process(saved_model, model_dir, contract):
    """{"tf"|"torch": rows -> the model's probabilities, called in this process}."""
    signature = tf.saved_model.load(saved_model).signatures["serving_default"]
    scripted = torch.jit.load(str(model_dir / "model.pt"))

    def tf_model(rows):
        numbers, strings = columns(rows, contract["features"])
        inputs = {n: tf.constant(v, tf.float64) for n, v in numbers.items()}
        inputs.update({n: tf.constant(v, tf.string) for n, v in strings.items()})
        return signature(**inputs)["probability"].numpy().tolist()

    def torch_model(rows):
        numbers, strings = columns(rows, contract["features"])
        with torch.no_grad():
            return scripted({n: torch.tensor(v, dtype=torch.float64) for n, v in numbers.items()}, strings).tolist()

    return {"tf": tf_model, "torch": torch_model}


# ---------------------------------------------------------------- the servers, started

STARTED: dict[str, float] = {}  # seconds each server took to be ready


@pytest.fixture(scope="module")
def servers(saved_model, mar, tmp_path_factory):
    """Both KServe servers, started at once, each on free loopback ports; stopped as `tandem
    serve stop` stops them (registry.stop: SIGTERM to the process group)."""
    home = str(tmp_path_factory.mktemp("home"))
    previous = os.environ.get(registry.RUN_ID_ENV)
    os.environ[registry.RUN_ID_ENV] = "test-run-of-the-caller"  # the servers must not inherit it

    def start(name: str):
        begin = time.time()
        if name == "tf":
            server = kserve_server.start_tf(model_path=saved_model, model_name="tiny", ports={
                "rest": registry.free_port(), "grpc": registry.free_port()}, workdir=os.path.join(home, "tf"))
        else:
            server = kserve_server.start_torch(model_path=mar, model_name="tiny", ports={
                "inference": registry.free_port(), "management": registry.free_port()},
                workdir=os.path.join(home, "torch"))
        STARTED[name] = time.time() - begin
        registry.record(home, server)
        return server

    try:
        with ThreadPoolExecutor(2) as pool:
            futures = {name: pool.submit(start, name) for name in ("tf", "torch")}
        started = {name: future.result() for name, future in futures.items()}
    except BaseException:
        registry.stop(home)
        raise
    finally:
        if previous is None:
            os.environ.pop(registry.RUN_ID_ENV, None)
        else:
            os.environ[registry.RUN_ID_ENV] = previous
    print(f"\nKServe servers ready in: {', '.join(f'{k} {v:.1f}s' for k, v in STARTED.items())}")
    yield started
    begin = time.time()
    stopped = registry.stop(home)
    print(f"\nKServe servers stopped in {time.time() - begin:.1f}s")
    assert {s.name for s in stopped} == {"tf", "torch"} and not any(s.alive for s in stopped)


def call(url: str, body: bytes | None = None, content_type: str | None = "application/json",
         method: str = "POST", headers: dict | None = None) -> tuple[int, object]:
    """One HTTP request (http.client: no header added behind our back) -> (status, JSON or bytes)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        headers = dict(headers or {})
        if content_type is not None:
            headers["Content-Type"] = content_type
        connection.request(method, parts.path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
    finally:
        connection.close()
    try:
        return answer.status, json.loads(data)
    except ValueError:
        return answer.status, data


def instances(rows) -> bytes:
    return json.dumps({"instances": rows}, ensure_ascii=False).encode()


def assert_healthy(server, in_process):
    status, answer = call(server.endpoints["health"], method="GET")
    assert status == 200 and answer == {"name": "tiny", "ready": True}
    status, answer = call(server.endpoints["rest"], instances(ROWS[:2]))
    assert status == 200 and answer["predictions"] == pytest.approx(in_process[server.name](ROWS[:2]), abs=1e-6)


# ---------------------------------------------------------------- good requests

@pytest.mark.parametrize("name", ["tf", "torch"])
@pytest.mark.parametrize("content_type", ["application/json", None, "application/json; charset=utf-8", "text/plain"],
                         ids=["json", "no-content-type", "json-charset", "text"])
def test_good_rows_answer_the_models_probabilities(servers, in_process, name, content_type):
    """application/json (or none): KServe decodes the body; any other type: the contract does."""
    status, answer = call(servers[name].endpoints["rest"], instances(ROWS), content_type)
    assert status == 200, answer
    assert list(answer) == ["predictions"]  # exactly TF Serving's answer for a one-output signature
    assert answer["predictions"] == pytest.approx(in_process[name](ROWS), abs=1e-6)
    assert len(set(answer["predictions"])) == len(ROWS)  # the rows do differ: the test can see a mix-up


@pytest.mark.parametrize("name", ["tf", "torch"])
def test_one_row_and_the_most_rows_answer(servers, in_process, name):
    rows = [ROWS[i % len(ROWS)] for i in range(DEFAULT_MAX_ROWS)]
    for batch in (rows[:1], rows):
        status, answer = call(servers[name].endpoints["rest"], instances(batch))
        assert status == 200 and answer["predictions"] == pytest.approx(in_process[name](batch), abs=1e-6)


@pytest.mark.parametrize("name", ["tf", "torch"])
def test_the_server_runs_as_tandem_serve_records_it(servers, name):
    """Its own session, without the caller's run id, REST where asked, no gRPC on TF Serving's or
    TorchServe's gRPC port (KServe's is the V2 protocol), its log in its workdir."""
    server = servers[name]
    assert server.backend == "kserve" and server.model == "tiny" and server.alive
    assert os.getsid(server.pid) == server.pid
    with open(f"/proc/{server.pid}/environ", "rb") as f:
        assert b"TANDEM_RUN_ID=" not in f.read()
    assert set(server.endpoints) == {"rest", "health", "metrics"}
    assert server.endpoints["rest"].endswith("/v1/models/tiny:predict")
    assert os.path.getsize(os.path.join(server.workdir, kserve_server.LOG_FILE)) > 0
    status, metrics = call(server.endpoints["metrics"], method="GET")
    assert status == 200 and b"request_predict_seconds" in metrics


# ---------------------------------------------------------------- bad requests

ROW = json.dumps(ROWS[0])
NESTED = b"[" * 100_000 + b"]" * 100_000


def body(row_text: str) -> bytes:
    return ('{"instances": [' + row_text + "]}").encode()


# (id, body, what the error says: a fragment, lower case, for each of KServe's decoding and the contract's)
BAD = [
    ("not-json", b"not json", "unrecognized request format", "not valid json"),
    ("empty-body", b"", "unrecognized request format", "not valid json"),
    ("not-utf8", body(ROW.replace('"Cash"', '"Ca\xffsh"')).replace("\xff".encode(), b"\xff"),
     "not valid utf-8", "not utf-8"),
    ("nan", body(ROW.replace("2.5", "NaN")), "unrecognized request format", "finite number"),
    ("infinity", body(ROW.replace("2.5", "Infinity")), "unrecognized request format", "finite number"),
    ("minus-infinity", body(ROW.replace("2.5", "-Infinity")), "unrecognized request format", "finite number"),
    ("float-overflow", body(ROW.replace("2.5", "1e400")), "infinity", "finite number"),
    ("integer-too-large", body(ROW.replace("2.5", "1" + "0" * 400)), "infinity", "too large for a float64"),
    ("integer-5000-digits", body(ROW.replace("2.5", "9" * 5000)), "infinity", "digits"),
    ("nested-too-deeply", b'{"instances": ' + NESTED + b"}", "depth limit", "nested too deeply"),
    ("lone-surrogate", body(ROW.replace('"Cash"', '"\\ud800"')), "surrogate", "not valid unicode"),
    ("array-body", ("[" + ROW + "]").encode(), "expected a json object", "expected a json object"),
    ("no-instances", ('{"rows": [' + ROW + "]}").encode(), "expected a json object", "expected a json object"),
    ("instances-empty", b'{"instances": []}', "non-empty list", "non-empty list"),
    ("instances-not-a-list", b'{"instances": {}}', "non-empty list", "non-empty list"),
    ("too-many-rows", body(",".join([ROW] * (DEFAULT_MAX_ROWS + 1))), "at most 1000", "at most 1000"),
    ("row-not-an-object", b'{"instances": [[1, 2]]}', "row 0: expected an object", "row 0: expected an object"),
    ("missing-feature", body(json.dumps({k: v for k, v in ROWS[0].items() if k != "fare"})),
     "missing feature 'fare'", "missing feature 'fare'"),
    ("unknown-feature", body(json.dumps({**ROWS[0], "tip": 1.0})), "unknown feature 'tip'", "unknown feature 'tip'"),
    ("misspelled-feature", body(ROW.replace('"fare"', '"fair"')), "unknown feature 'fair'", "missing feature 'fare'"),
    ("string-for-number", body(ROW.replace("11.0", '"eleven"')), "'fare' must be a number", "'fare' must be a number"),
    ("bool-for-number", body(ROW.replace("11.0", "true")), "'fare' must be a number", "'fare' must be a number"),
    ("number-for-string", body(ROW.replace('"Cash"', "3")), "'payment_type' must be a string",
     "'payment_type' must be a string"),
    ("object-for-number", body(ROW.replace("11.0", '{"v": 1}')), "'fare' must be a number", "'fare' must be a number"),
    ("other-signature", ('{"signature_name": "serving_examples", "instances": [' + ROW + "]}").encode(),
     "serving_default", "serving_default"),
    ("inputs-not-instances", b'{"inputs": {"fare": [1.0]}}', "expected a json object",
     "expected a json object"),
    ("extra-field", ('{"instances": [' + ROW + '], "rows": 1}').encode(), "unsupported request fields",
     "unsupported request fields"),
]


@pytest.mark.parametrize("name", ["tf", "torch"])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"], ids=["json", "text"])
@pytest.mark.parametrize(("bad", "kserve_says", "contract_says"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_request_is_a_4xx_with_a_message(servers, in_process, name, content_type, bad, kserve_says,
                                               contract_says):
    """application/json: KServe's orjson decodes the body (and refuses what is not JSON itself);
    text/plain: the contract decodes it. Either way a 400 that says what is wrong."""
    status, answer = call(servers[name].endpoints["rest"], bad, content_type)
    expected = kserve_says if content_type == "application/json" else contract_says
    assert status == 400, (status, answer)
    assert isinstance(answer, dict) and list(answer) == ["error"], answer
    assert expected in answer["error"].lower(), answer["error"]
    assert_healthy(servers[name], in_process)


@pytest.mark.parametrize("name", ["tf", "torch"])
def test_other_routes_are_4xx_and_the_server_stays_healthy(servers, in_process, name):
    server = servers[name]
    base = server.endpoints["health"].rsplit("/", 1)[0]  # .../v1/models
    root = base.rsplit("/", 2)[0]
    answers = {
        "unknown model": call(f"{base}/other:predict", instances(ROWS)),
        "GET on predict": call(server.endpoints["rest"], method="GET"),
        "V2 with the contract's body": call(f"{root}/v2/models/tiny/infer", instances(ROWS)),
        "V2 with a V2 body": call(f"{root}/v2/models/tiny/infer", json.dumps({"inputs": [
            {"name": "fare", "shape": [1], "datatype": "FP64", "data": [1.0]}]}).encode()),
    }
    for what, (status, answer) in answers.items():
        assert 400 <= status < 500 and answer, (what, status, answer)
    assert answers["unknown model"][0] == 404
    assert_healthy(server, in_process)


CLOUDEVENT_HEADERS = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "client", "ce-type": "request"}


@pytest.mark.parametrize("name", ["tf", "torch"])
@pytest.mark.parametrize(("headers", "content_type"), [
    (CLOUDEVENT_HEADERS, "application/json"), (CLOUDEVENT_HEADERS, "application/cloudevents+json"),
    ({}, "application/cloudevents+json")], ids=["ce-headers", "ce-headers-ce-json", "ce-json"])
def test_cloudevents_are_not_decoded(servers, in_process, name, headers, content_type):
    """KServe would decode these with the cloudevents library (a 500 for the bad bodies here) and
    wrap the answer in a CloudEvent: the server answers as the contract says instead."""
    url = servers[name].endpoints["rest"]
    status, answer = call(url, instances(ROWS), content_type, headers=headers)
    assert status == 200 and list(answer) == ["predictions"], answer
    assert answer["predictions"] == pytest.approx(in_process[name](ROWS), abs=1e-6)
    for bad in (b"\xff", b"not json", b"[1]"):
        status, answer = call(url, bad, content_type, headers=headers)
        assert status == 400 and list(answer) == ["error"], (bad, status, answer)
    assert_healthy(servers[name], in_process)


@pytest.mark.parametrize("name", ["tf", "torch"])
def test_a_body_shaped_like_a_structured_cloudevent_is_not_unwrapped(servers, name):
    event = {"specversion": "1.0", "id": "1", "source": "client", "type": "request", "time": "2026-01-01T00:00:00Z",
             "data": {"instances": ROWS}}
    status, answer = call(servers[name].endpoints["rest"], json.dumps(event).encode())
    assert status == 400 and answer["error"].startswith('expected a JSON object {"instances"')  # its own fields


def test_the_servers_answer_good_rows_after_all_the_bad_ones(servers, in_process):
    for name, server in servers.items():
        status, answer = call(server.endpoints["rest"], instances(ROWS))
        assert status == 200 and answer["predictions"] == pytest.approx(in_process[name](ROWS), abs=1e-6)


# ---------------------------------------------------------------- starting, and failing to start

def test_a_port_in_use_is_a_clear_error(mar, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(registry.ServingError, match=f"port {port} .rest. is already in use"):
            kserve_server.start_torch(model_path=mar, model_name="tiny", workdir=str(tmp_path),
                                      ports={"inference": port})
    assert not os.path.exists(tmp_path / kserve_server.LOG_FILE)  # no process was started


def test_a_port_taken_between_the_choice_and_the_bind_is_chosen_again(mar, tmp_path, monkeypatch):
    """The race infra validation runs into: another process binds the chosen port after the
    kernel called it free. Bound and not listening, the port passes ensure_free's check and the
    server exits on its own bind (Errno 98); on_free_ports reads that in the error and retries."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        chosen, kernels = iter([port]), registry.free_port
        monkeypatch.setattr(registry, "free_port", lambda host="127.0.0.1": next(chosen, None) or kernels(host))
        seen = []

        def start(ports):
            seen.append(ports["inference"])
            return kserve_server.start_torch(model_path=mar, model_name="tiny", workdir=str(tmp_path / str(len(seen))),
                                             ports=ports)

        server = registry.on_free_ports(start, ("inference",))
        try:
            assert seen[0] == port and len(seen) == 2 and seen[1] != port
            with open(tmp_path / "1" / kserve_server.LOG_FILE) as f:
                assert "address already in use" in f.read().lower()
            assert server.endpoints["rest"].startswith(f"http://127.0.0.1:{seen[1]}/")
            status, answer = call(server.endpoints["rest"], instances(ROWS[:2]))
            assert status == 200 and len(answer["predictions"]) == 2
        finally:
            registry.terminate(server)


def test_a_server_that_exits_says_why_from_its_log(mar, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(registry.ServingError, match="(?s)exited with status .*address already in use"):
            kserve_server.start_torch(model_path=mar, model_name="tiny", workdir=str(tmp_path),
                                      ports={"inference": taken.getsockname()[1]})


def test_a_saved_model_without_its_contract_is_refused(saved_model, tmp_path):
    import shutil

    copy = tmp_path / "1"
    shutil.copytree(saved_model, copy)
    os.remove(copy / "assets.extra" / CONTRACT_FILE)
    with pytest.raises(registry.ServingError, match="carries no request contract"):
        kserve_server.start_tf(model_path=str(copy), model_name="tiny", workdir=str(tmp_path / "w"),
                               ports={"rest": registry.free_port(), "grpc": registry.free_port()})


def test_a_model_that_does_not_load_never_gets_ready(mar, tmp_path):
    """The contract names a feature the model does not read: load() fails, the server exits."""
    bad = tmp_path / "tiny-2.mar"
    with zipfile.ZipFile(mar) as source, zipfile.ZipFile(bad, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == CONTRACT_FILE:
                spec = json.loads(data)
                spec["features"]["tip"] = "number"
                data = json.dumps(spec).encode()
            target.writestr(item, data)
    with pytest.raises(registry.ServingError, match="exited with status") as error:
        kserve_server.start_torch(model_path=str(bad), model_name="tiny", workdir=str(tmp_path / "w"),
                                  ports={"inference": registry.free_port()})
    with open(tmp_path / "w" / kserve_server.LOG_FILE) as f:
        assert "inconsistent" in f.read()
    assert str(tmp_path / "w" / kserve_server.LOG_FILE) in str(error.value)


def test_the_command_line_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TANDEM_RUN_ID", "run-1")
    cmd = kserve_server.command("tf", "m/1", "tiny", str(tmp_path), 8501)
    assert cmd[1:] == ["-m", "serving.kserve.server", "tf", os.path.abspath("m/1"), "--name", "tiny",
                       "--http-port", "8501", "--workdir", str(tmp_path)]
    assert kserve_server.command("torch", "a.mar", "tiny", ".", 8080, 9000)[-2:] == ["--grpc-port", "9000"]
    env = kserve_server.environment()
    assert "TANDEM_RUN_ID" not in env
    assert os.path.isdir(os.path.join(env["PYTHONPATH"].split(os.pathsep)[0], "serving", "kserve"))
    assert set(kserve_server.endpoints("tiny", 8501, 9000)) == {"rest", "health", "metrics", "grpc_v2"}


# ---------------------------------------------------------------- TorchScriptServer in this process

def test_torchscript_server_is_ready_only_after_a_good_load(mar, tmp_path, contract):
    from serving.kserve.models import TorchScriptServer

    model = TorchScriptServer("tiny", mar, str(tmp_path))
    assert not model.ready
    assert model.load() and model.ready
    assert sorted(os.listdir(tmp_path / "model")) == sorted(["MAR-INF", "model.pt", CONTRACT_FILE, "serving",
                                                              "handler.py"])
    assert model.contract.features == contract["features"]


@pytest.mark.gpu
def test_torchscript_server_runs_on_the_gpu(mar, tmp_path, in_process):
    import asyncio

    from serving.kserve.models import TorchScriptServer

    model = TorchScriptServer("tiny", mar, str(tmp_path))
    model.load()
    assert model.device == torch.device("cuda")
    rows, numbers, _ = model.preprocess({"instances": ROWS})
    assert rows == len(ROWS) and {t.device.type for t in numbers.values()} == {"cuda"}
    answer, _ = asyncio.run(model({"instances": ROWS}, headers={}))
    assert answer["predictions"] == pytest.approx(in_process["torch"](ROWS), abs=1e-6)


@pytest.mark.gpu
def test_savedmodel_server_runs_on_the_gpu(saved_model, in_process):
    """TensorFlow places the signature's ops on a GPU it sees: the answers stay the model's."""
    import asyncio

    from serving.kserve.models import SavedModelServer

    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("PyTorch sees a CUDA GPU but TensorFlow does not (its CUDA libraries, "
                    "tensorflow[and-cuda], are not in requirements.lock)")
    model = SavedModelServer("tiny", saved_model)
    model.load()
    tf.config.experimental.reset_memory_stats("GPU:0")
    answer, _ = asyncio.run(model({"instances": ROWS}, headers={}))
    assert answer["predictions"] == pytest.approx(in_process["tf"](ROWS), abs=1e-6)
    assert tf.config.experimental.get_memory_info("GPU:0")["peak"] > 0  # the GPU did the work


# ---------------------------------------------------------------- serving/tfserving: configs, command line

def read(path: str) -> str:
    with open(path) as f:
        return f.read()


@pytest.fixture
def pushed(tmp_path):
    """<base>/{1,2,5}: three pushed versions (empty folders will do for the configs), and a
    folder TF Serving ignores."""
    base = tmp_path / "serving" / "keras" / "tiny"
    for name in ("1", "2", "5", ".pushing-6"):
        (base / name).mkdir(parents=True)
    return base


def test_tf_serving_models_config_serves_the_pinned_and_the_newest_version(pushed, tmp_path):
    from tensorflow_serving.config import model_server_config_pb2

    paths = tfserving.render(str(pushed / "2"), "tiny", str(tmp_path / "w"))
    assert sorted(paths) == sorted([tfserving.MODELS, tfserving.BATCHING, tfserving.MONITORING])
    config = text_format.Parse(read(paths[tfserving.MODELS]), model_server_config_pb2.ModelServerConfig())
    [model] = config.model_config_list.config
    assert model.name == "tiny" and model.base_path == str(pushed) and model.model_platform == "tensorflow"
    assert list(model.model_version_policy.specific.versions) == [2, 5]
    assert dict(model.version_labels) == {"stable": 2, "canary": 5}


def test_tf_serving_newest_version_is_both_stable_and_canary(pushed, tmp_path):
    from tensorflow_serving.config import model_server_config_pb2

    paths = tfserving.render(str(pushed / "5"), 'odd "name"', str(tmp_path / "w"))
    config = text_format.Parse(read(paths[tfserving.MODELS]), model_server_config_pb2.ModelServerConfig())
    [model] = config.model_config_list.config
    assert model.name == 'odd "name"'
    assert list(model.model_version_policy.specific.versions) == [5]
    assert dict(model.version_labels) == {"stable": 5, "canary": 5}


def test_tf_serving_batching_and_monitoring_configs_are_copied_as_they_are(pushed, tmp_path):
    paths = tfserving.render(str(pushed / "1"), "tiny", str(tmp_path / "w"))
    for name in (tfserving.BATCHING, tfserving.MONITORING):
        with open(paths[name]) as rendered, open(os.path.join(tfserving.CONFIG_DIR, name)) as source:
            assert rendered.read() == source.read()
    batching = read(paths[tfserving.BATCHING])
    assert "max_batch_size { value: 1024 }" in batching and DEFAULT_MAX_ROWS <= 1024
    assert f'path: "{tfserving.METRICS_PATH}"' in read(paths[tfserving.MONITORING])


def test_tf_serving_refuses_a_path_that_is_not_a_version(pushed, tmp_path):
    with pytest.raises(registry.ServingError, match="named by a number"):
        tfserving.render(str(pushed), "tiny", str(tmp_path / "w"))


def test_tf_serving_command_line(pushed, tmp_path):
    paths = tfserving.render(str(pushed / "2"), "tiny", str(tmp_path / "w"))
    cmd = tfserving.command(paths, {"rest": 8501, "grpc": 8500}, "/usr/bin/tensorflow_model_server")
    assert cmd == [
        "/usr/bin/tensorflow_model_server", "--port=8500", "--rest_api_port=8501",
        f"--model_config_file={tmp_path / 'w' / 'models.config'}",
        "--allow_version_labels_for_unavailable_models=true",
        "--enable_batching=true", f"--batching_parameters_file={tmp_path / 'w' / 'batching.config'}",
        f"--monitoring_config_file={tmp_path / 'w' / 'monitoring.config'}"]
    urls = tfserving.endpoints("tiny", {"rest": 8501, "grpc": 8500})
    assert urls["rest"] == "http://127.0.0.1:8501/v1/models/tiny/labels/stable:predict"
    assert urls["grpc"] == "127.0.0.1:8500"


def test_tf_serving_without_its_binary_is_a_clear_error(pushed, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(registry.ServingError, match="tensorflow_model_server is not on PATH"):
        tfserving.start(str(pushed / "2"), "tiny", str(tmp_path / "w"), {"rest": 8501, "grpc": 8500})

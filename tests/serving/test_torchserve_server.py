"""serving/torchserve/server.py against a real TorchServe: the hardened configuration
(config.properties), the request contract end to end, and batching.

A small real .mar (pipelines.torch_branch.pusher.archive of conftest's hand-made TorchScript
ServingModel) is served on free ports. One hardened server, all on loopback, serves the whole
module; the registration test starts a second one with the model API on and inference on every
address (as in Kubernetes), and stops it. About 35 s in all, half of it two cold starts.
"""

import contextlib
import http.client
import json
import math
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from serving import registry
from serving.contract import CONTRACT_FILE, DEFAULT_MAX_ROWS
from serving.torchserve import server

pytestmark = pytest.mark.xdist_group("torchserve")

MODEL, VERSION = "tiny", "1"
INVALID_KEY = "Token Authorization failed"  # TorchServe 0.12's InvalidKeyException, answered with 400
MAX_REQUEST_SIZE = 2097152  # config.properties


def ports() -> dict[str, int]:
    return {name: registry.free_port() for name in server.PORTS}


def instances(rows) -> bytes:
    return json.dumps({"instances": rows}).encode()


def stop(started: registry.Server, home) -> None:
    """As `tandem serve stop` does: through the registry."""
    registry.record(str(home), started)
    assert registry.stop(str(home), started.name) == [started]


@pytest.fixture(scope="module")
def mar(model_dir, tmp_path_factory) -> str:
    """tiny-1.mar in a model store of its own, built as the pusher builds it."""
    from pipelines.torch_branch.pusher import archive

    store = tmp_path_factory.mktemp("model_store")
    contract = json.loads((model_dir / CONTRACT_FILE).read_text())
    target = str(store / f"{MODEL}-{VERSION}.mar")
    archive(str(model_dir / "model.pt"), contract, target, MODEL, VERSION)
    return target


@pytest.fixture(scope="module")
def hardened(mar, tmp_path_factory):
    """The production configuration as is: keys on, model API off, everything on loopback."""
    folder = tmp_path_factory.mktemp("torchserve")
    began = time.time()
    started = server.start(model_path=mar, model_name=MODEL, workdir=str(folder / "work"), ports=ports())
    print(f"\nTorchServe cold start to a served request: {time.time() - began:.1f}s")
    yield started
    stop(started, folder / "home")
    assert not started.alive


def key(started, kind="inference") -> str:
    return server.keys(started.workdir)[kind]


def predict(started, body: bytes, auth: str | None = "inference", **kwargs) -> tuple[int, str]:
    return server.request("POST", started.endpoints["inference"], key=key(started, auth) if auth else None,
                          body=body, **kwargs)


def base_url(started) -> str:
    return started.endpoints["inference"].split("/predictions/")[0]


def assert_predictions(status, text, expected):
    assert status == 200, text
    answer = json.loads(text)
    assert list(answer) == ["predictions"] and answer["predictions"] == pytest.approx(expected, abs=1e-6)


def assert_healthy(started, rows, predict_directly):
    status, text = server.request("GET", base_url(started) + "/ping", key=key(started))
    assert status == 200 and json.loads(text) == {"status": "Healthy"}, text
    assert_predictions(*predict(started, instances(rows)), predict_directly(rows))


def test_the_server_is_what_the_cli_records(hardened, mar):
    port = {what: port_of(url) for what, url in hardened.endpoints.items()}
    assert (hardened.backend, hardened.model, hardened.version) == ("torchserve", MODEL, VERSION)
    assert hardened.endpoints == {
        "inference": f"http://127.0.0.1:{port['inference']}/predictions/{MODEL}",
        "management": f"http://127.0.0.1:{port['management']}",
        "metrics": f"http://127.0.0.1:{port['metrics']}/metrics",
        "grpc": f"127.0.0.1:{port['grpc']}",
    }
    assert hardened.alive and os.getpgid(hardened.pid) == hardened.pid  # leads a process group
    assert os.getsid(hardened.pid) == hardened.pid != os.getsid(0)  # in a session of its own
    with open(f"/proc/{hardened.pid}/environ", "rb") as f:
        assert not any(var.startswith(b"TANDEM_RUN_ID=") for var in f.read().split(b"\0"))
    assert hardened.key_file == os.path.join(hardened.workdir, "key_file.json")
    assert os.stat(hardened.key_file).st_mode & 0o777 == 0o600
    assert set(os.listdir(os.path.join(hardened.workdir, "tmp"))) >= {".ts.sock.9000", "models"}  # not in /tmp


def test_a_good_request_answers_the_models_probabilities(hardened, rows, predict_directly):
    status, text = predict(hardened, instances(rows))
    assert_predictions(status, text, predict_directly(rows))
    assert len(set(json.loads(text)["predictions"])) == len(rows)


@pytest.mark.parametrize("header", [None, "Bearer not-the-key", "management", "raw"],
                         ids=["no-key", "wrong-key", "management-key", "no-bearer"])
def test_inference_without_its_key_is_refused(hardened, rows, header):
    keys = server.keys(hardened.workdir)
    headers = {None: {}, "Bearer not-the-key": {"Authorization": "Bearer not-the-key"},
               "management": {"Authorization": f"Bearer {keys['management']}"},
               "raw": {"Authorization": keys["inference"]}}[header]
    req = urllib.request.Request(hardened.endpoints["inference"], data=instances(rows), method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    body = refused.value.read().decode()
    assert refused.value.code == 400 and INVALID_KEY in body and "predictions" not in body


def test_ping_wants_the_inference_key(hardened):
    status, text = server.request("GET", base_url(hardened) + "/ping")
    assert status == 400 and INVALID_KEY in text
    status, text = server.request("GET", base_url(hardened) + "/ping", key=key(hardened))
    assert status == 200 and json.loads(text) == {"status": "Healthy"}


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine other than loopback, or None."""
    candidates = []
    with contextlib.suppress(OSError):
        candidates.append(socket.gethostbyname(socket.gethostname()))
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.254.254.254", 9))  # the default route's interface (a UDP connect sends nothing)
        candidates.append(s.getsockname()[0])
    with contextlib.suppress(OSError), open("/proc/net/fib_trie") as f:  # every local address the kernel knows
        lines = f.read().splitlines()
        candidates += [lines[i - 1].split()[-1] for i in range(1, len(lines)) if lines[i].strip() == "/32 host LOCAL"]
    return next((a for a in candidates if a and not a.startswith(("127.", "0."))), None)


def port_of(url: str) -> int:
    return int(url.split(":")[-1].split("/")[0])


def connects(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(3)
        try:
            s.connect((host, port))
            return True
        except ConnectionRefusedError:
            return False


def test_management_listens_on_loopback_only(hardened):
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    config = server.config_of(hardened.workdir)
    management = port_of(hardened.endpoints["management"])
    grpc_management = int(config["grpc_management_port"])
    assert connects("127.0.0.1", management) and connects("127.0.0.1", grpc_management)
    assert not connects(address, management), f"the management API answers on {address}"
    assert not connects(address, grpc_management), f"gRPC management answers on {address}"
    # ...and so does everything else by default (host="127.0.0.1").
    for url in (hardened.endpoints["inference"], hardened.endpoints["metrics"], hardened.endpoints["grpc"]):
        assert not connects(address, port_of(url)), url


def test_management_wants_its_key(hardened):
    url = hardened.endpoints["management"] + "/models"
    for wrong in (None, key(hardened, "inference"), "not-the-key"):
        status, text = server.request("GET", url, key=wrong)
        assert status == 400 and INVALID_KEY in text, (wrong, text)
    status, text = server.request("GET", url, key=key(hardened, "management"))
    assert status == 200 and [m["modelName"] for m in json.loads(text)["models"]] == [MODEL]


def test_the_hardened_server_refuses_every_registration(hardened, mar, rows, predict_directly):
    management, auth = hardened.endpoints["management"], key(hardened, "management")
    name = os.path.basename(mar)
    for method, path in [("POST", f"/models?url={name}&model_name=again"),  # even from its own store
                         ("POST", "/models?url=http://127.0.0.1:9/evil.mar"),
                         ("DELETE", f"/models/{MODEL}")]:
        status, text = server.request(method, management + path, key=auth)
        assert status == 405 and "MethodNotAllowed" in text, (method, path, status, text)
    # Workflows cannot be switched off in 0.12: allowed_urls is what refuses a remote archive.
    status, text = server.request("POST", management + "/workflows?url=http://127.0.0.1:9/evil.war", key=auth)
    assert 400 <= status < 500 and "does not match any allowed URL" in text, (status, text)
    assert_healthy(hardened, rows, predict_directly)


def test_registration_from_outside_allowed_urls_is_refused(mar, tmp_path, rows, predict_directly):
    """A second server, with the model API on: only archives directly in the store may be registered.
    It serves inference on every address, as in Kubernetes: management stays on loopback."""
    store = os.path.dirname(mar)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(mar, elsewhere / "copy.mar")
    sibling = store + "-evil"  # the store's path is a prefix of it
    os.makedirs(sibling, exist_ok=True)
    shutil.copy(mar, os.path.join(sibling, "copy.mar"))
    started = server.start(model_path=mar, model_name=MODEL, workdir=str(tmp_path / "work"), ports=ports(),
                           host="0.0.0.0", model_api=True)
    try:
        address, config = non_loopback_address(), server.config_of(started.workdir)
        if address:  # without one, test_management_listens_on_loopback_only says so in its skip
            assert connects(address, port_of(started.endpoints["inference"]))  # this check can see a server
            assert connects(address, port_of(started.endpoints["grpc"]))
            assert not connects(address, port_of(started.endpoints["management"]))
            assert not connects(address, int(config["grpc_management_port"]))
        management, auth = started.endpoints["management"], key(started, "management")
        for url in ["http://127.0.0.1:9/evil.mar", "https://example.com/evil.mar", f"file://{elsewhere}/copy.mar",
                    f"file://{sibling}/copy.mar", f"file://{store}/sub/copy.mar"]:
            status, text = server.request("POST", f"{management}/models?url={url}&model_name=evil", key=auth)
            assert 400 <= status < 500 and "does not match any allowed URL" in text, (url, status, text)
        status, text = server.request("POST", f"{management}/models?url=file://{store}/../elsewhere/copy.mar"
                                      "&model_name=evil", key=auth)
        assert 400 <= status < 500 and "Relative path is not allowed" in text, text
        status, text = server.request("GET", f"{management}/models", key=auth)
        assert [m["modelName"] for m in json.loads(text)["models"]] == [MODEL]
        # What is allowed: an archive of the store itself (registered without workers: no need to run it).
        status, text = server.request("POST", f"{management}/models?url={os.path.basename(mar)}&model_name=again",
                                      key=auth)
        assert status == 200 and "registered" in text, text
        assert_healthy(started, rows, predict_directly)
    finally:
        stop(started, tmp_path / "home")
    assert not started.alive
    assert not any(registry.port_in_use(port_of(url)) for url in started.endpoints.values())


def _row(rows, **change) -> dict:
    return {**rows[0], **change}


def _raw(row_text: str) -> bytes:
    return b'{"instances": [' + row_text.encode() + b"]}"


def bad_requests(rows) -> list[tuple[str, bytes, int, str]]:
    """(what, body, status, a piece of the message) for every kind of bad request of the contract."""
    good = json.dumps(rows[0])
    big = "1" + "0" * 400  # an integer JSON takes, a float64 cannot hold
    return [
        ("not UTF-8", b'{"instances": [{"payment_type": "\xff\xfe"}]}', 400, "not UTF-8"),
        ("not JSON", b'{"instances": [', 400, "not valid JSON"),
        ("empty body", b"", 400, "not valid JSON"),
        ("not an object", b"[1, 2]", 400, "expected a JSON object"),
        ("no instances", b'{"rows": []}', 400, "expected a JSON object"),
        ("other fields", json.dumps({"instances": rows, "inputs": 1}).encode(), 400, "unsupported request fields"),
        ("other signature", json.dumps({"instances": rows, "signature_name": "x"}).encode(), 400, "serving_default"),
        ("empty instances", b'{"instances": []}', 400, "non-empty list"),
        ("a row not an object", b'{"instances": [[1, 2]]}', 400, "row 0: expected an object"),
        ("missing feature", instances([{k: v for k, v in rows[0].items() if k != "fare"}]), 400,
         "missing feature 'fare'"),
        ("unknown feature", instances([_row(rows, tip=1.0)]), 400, "unknown feature 'tip'"),
        ("misspelled feature", instances([{("fair" if k == "fare" else k): v for k, v in rows[0].items()}]), 400,
         "missing feature 'fare' (send null for a missing value); unknown feature 'fair'"),
        ("string for a number", instances([_row(rows, fare="nine")]), 400, "'fare' must be a number"),
        ("bool for a number", instances([_row(rows, hour=True)]), 400, "'hour' must be a number"),
        ("number for a string", instances([_row(rows, payment_type=3)]), 400, "'payment_type' must be a string"),
        ("list for a number", instances([_row(rows, fare=[1])]), 400, "'fare' must be a number"),
        ("NaN", _raw(good.replace('"fare": 11.0', '"fare": NaN')), 400, "'fare' must be a finite number"),
        ("Infinity", _raw(good.replace('"fare": 11.0', '"fare": Infinity')), 400, "'fare' must be a finite number"),
        ("-Infinity", _raw(good.replace('"fare": 11.0', '"fare": -Infinity')), 400, "must be a finite number"),
        ("too many rows", instances(rows[:1] * (DEFAULT_MAX_ROWS + 1)), 400,
         f"{DEFAULT_MAX_ROWS + 1} rows in one request; at most {DEFAULT_MAX_ROWS}"),
        ("integer too large", _raw(good.replace('"fare": 11.0', f'"fare": {big}')), 400, "too large for a float64"),
        ("integer with too many digits", _raw(good.replace('"fare": 11.0', '"fare": ' + "9" * 5000)), 400,
         "more than 4300 digits"),
        ("nested too deeply", b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400,
         "nested too deeply"),
        ("over max_request_size", b'{"instances": [' + b" " * MAX_REQUEST_SIZE + b"]}", 413, ""),
    ]


def post_keeping_alive(url: str, body: bytes, key: str) -> tuple[int, str, str]:
    """POST on a keep-alive connection -> (status, reason, body). urllib says "Connection: close",
    and to such a request with a body over max_request_size TorchServe (Netty) answers 413 and
    closes at once: the client, still sending, may see a reset instead. Kept alive, it answers
    413 and reads the rest of the body."""
    host, _, path = url.removeprefix("http://").partition("/")
    connection = http.client.HTTPConnection(host, timeout=10)
    try:
        connection.request("POST", "/" + path, body=body,
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
        response = connection.getresponse()
        return response.status, response.reason, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def test_every_bad_request_answers_4xx_with_a_message_and_the_server_stays_healthy(hardened, rows,
                                                                                   predict_directly):
    answers = {what: post_keeping_alive(hardened.endpoints["inference"], body, key(hardened))
               for what, body, _, _ in bad_requests(rows)}
    print("\n" + "\n".join(f"  {status}  {what}: {(text.strip() or reason)[:100]!r}"
                            for what, (status, reason, text) in answers.items()))
    for what, _, expected, message in bad_requests(rows):
        status, reason, text = answers[what]
        assert status == expected, (what, status, text)
        if message:
            answer = json.loads(text)
            assert list(answer) == ["error"] and message in answer["error"], (what, text)
        else:  # the 413: from TorchServe's HTTP layer, before any worker, with the reason phrase as its message
            assert reason == "Request Entity Too Large", reason
    assert_healthy(hardened, rows, predict_directly)


def test_with_batching_concurrent_requests_each_get_their_own_answer(hardened, rows, predict_directly):
    status, text = server.request("GET", f"{hardened.endpoints['management']}/models/{MODEL}",
                                  key=key(hardened, "management"))
    [described] = json.loads(text)
    assert (described["batchSize"], described["maxBatchDelay"]) == (server.DEFAULT_BATCH_SIZE,
                                                                     server.DEFAULT_MAX_BATCH_DELAY_MS)
    cases = []  # (body, expected status, expected probabilities or a piece of the message)
    for i in range(24):
        if i % 3 == 2:
            bad = [_row(rows, fare=f"n{i}")]
            cases.append((instances(bad), 400, f"got \"n{i}\""))
        else:
            chosen = [rows[(i + j) % len(rows)] for j in range(1 + i % len(rows))]
            cases.append((instances(chosen), 200, predict_directly(chosen)))
    answers = [None] * len(cases)
    inference_key = key(hardened)
    batches_before = batches(hardened)
    gate = threading.Barrier(len(cases))

    def send(i):
        gate.wait()
        answers[i] = server.request("POST", hardened.endpoints["inference"], key=inference_key, body=cases[i][0],
                                    timeout=30)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(cases))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for (_, expected_status, expected), (status, text) in zip(cases, answers, strict=True):
        if expected_status == 200:
            assert_predictions(status, text, expected)
        else:
            assert status == 400 and expected in json.loads(text)["error"], text
    assert batches(hardened) - batches_before < len(cases)  # some batch held several requests


def batches(started) -> int:
    """Batches the worker has received so far (it logs one line per batch), once the log is still."""
    counted, still_since = -1, time.time()
    while time.time() - still_since < 0.5:
        with open(os.path.join(started.workdir, "logs", "model_log.log")) as f:
            now = f.read().count("Backend received inference")
        if now != counted:
            counted, still_since = now, time.time()
        time.sleep(0.1)
    return counted


def test_metrics_are_prometheus_text_without_a_key(hardened, rows):
    predict(hardened, instances(rows))
    status, text = server.request("GET", hardened.endpoints["metrics"])
    assert status == 200, text
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert "# TYPE" in text and samples
    for line in samples:  # name{labels} value
        assert math.isfinite(float(line.rsplit(" ", 1)[1])), line
    assert any(line.startswith("ts_inference_requests_total{") and f'model_name="{MODEL}"' in line
               for line in samples), text


def test_renewed_keys_replace_the_old_ones(hardened, rows, predict_directly):
    old = server.keys(hardened.workdir)
    new = server.renew_keys(hardened.workdir)
    assert new == server.keys(hardened.workdir) and new["inference"] != old["inference"]
    status, text = server.request("POST", hardened.endpoints["inference"], key=old["inference"], body=instances(rows))
    assert status == 400 and INVALID_KEY in text
    assert_predictions(*predict(hardened, instances(rows)), predict_directly(rows))


def test_expired_keys_are_renewed_when_read(hardened, rows, predict_directly):
    with open(hardened.key_file) as f:
        found = json.load(f)
    old = {kind: found[kind]["key"] for kind in ("inference", "management")}
    found["inference"]["expiration time"] = "2000-01-01T00:00:00.000000001Z"  # as if an hour had passed
    with open(hardened.key_file, "w") as f:
        json.dump(found, f)
    assert server.keys(hardened.workdir, renew_expired=False) == old
    new = server.keys(hardened.workdir)
    assert new["inference"] != old["inference"] and new["management"] == old["management"]
    assert_predictions(*predict(hardened, instances(rows)), predict_directly(rows))


def test_a_server_that_cannot_start_says_why(mar, tmp_path):
    taken = ports()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken["management"]))
        holder.listen()
        with pytest.raises(registry.ServingError, match=f"port {taken['management']} .management. is already in use"):
            server.start(model_path=mar, model_name=MODEL, workdir=str(tmp_path / "taken"), ports=taken)
    (tmp_path / "fake.mar").write_bytes(b"not a zip")
    with pytest.raises(registry.ServingError, match="not a tandem model archive"):
        server.start(model_path=str(tmp_path / "fake.mar"), model_name=MODEL, workdir=str(tmp_path / "fake"),
                     ports=ports())


def test_a_server_that_exits_fails_with_its_log(mar, tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))  # the launcher finds no java, and exits
    with pytest.raises(registry.ServingError, match="exited with status") as failed:
        server.start(model_path=mar, model_name=MODEL, workdir=str(tmp_path / "work"), ports=ports())
    assert "java not found" in str(failed.value) and str(tmp_path / "work" / server.LOG_FILE) in str(failed.value)


def test_a_model_that_does_not_load_fails_in_time_with_its_log(model_dir, tmp_path):
    """The worker fails to load the model (its contract disagrees with it): TorchServe retries for
    ever; start gives up at its timeout, stops the server, and shows why."""
    from pipelines.torch_branch.pusher import archive

    contract = json.loads((model_dir / CONTRACT_FILE).read_text())
    contract["features"]["payment_type"] = "number"
    store = tmp_path / "store"
    store.mkdir()
    archive(str(model_dir / "model.pt"), contract, str(store / "broken-1.mar"), "broken", "1")
    taken = ports()
    began = time.time()
    with pytest.raises(registry.ServingError, match="did not serve broken within 15s") as failed:
        server.start(model_path=str(store / "broken-1.mar"), model_name="broken", workdir=str(tmp_path / "work"),
                     ports=taken, timeout=15)  # the worker fails within seconds; slow machines need a margin
    assert time.time() - began < 15 + 20  # the timeout, and the stop's grace at most
    assert "archive is inconsistent" in str(failed.value)
    assert not any(registry.port_in_use(port) for port in taken.values())  # stopped

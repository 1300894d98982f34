"""After `tandem run all` (once for the module): both pushed models answer the same raw
JSON rows — the TF SavedModel's serving_default (called with TensorFlow: no
tensorflow_model_server binary can be installed here) and the .mar behind a real
TorchServe on loopback — and `tandem compare` reports them side by side."""

import contextlib
import glob
import json
import math
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from helpers import IN_MEMORY, SAMPLE_CSV, TAXI, json_rows

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    from tandem.cli import main

    home = str(tmp_path_factory.mktemp("home"))
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        code = main(["run", "all", "--data", SAMPLE_CSV, "--home", home, "--train-steps", "300", *IN_MEMORY])
    assert code == 0
    (saved_model,) = glob.glob(os.path.join(home, "serving", "keras", "big_tipper", "*"))
    (mar,) = glob.glob(os.path.join(home, "serving", "torch", "model_store", "*.mar"))
    return saved_model, mar, home


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def torchserve(pushed, tmp_path_factory):
    _, mar, _ = pushed
    work = tmp_path_factory.mktemp("torchserve")
    ports = [_free_port() for _ in range(3)]
    (work / "config.properties").write_text(
        f"inference_address=http://127.0.0.1:{ports[0]}\nmanagement_address=http://127.0.0.1:{ports[1]}\n"
        f"metrics_address=http://127.0.0.1:{ports[2]}\nvmargs=-Djava.io.tmpdir={work}\n")
    server = subprocess.Popen(
        ["torchserve", "--start", "--foreground", "--ncs", "--disable-token-auth", "--ts-config",
         str(work / "config.properties"), "--model-store", os.path.dirname(mar),
         "--models", f"big_tipper={os.path.basename(mar)}"],
        cwd=work, stdout=open(work / "torchserve.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{ports[0]}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            with contextlib.suppress(OSError):
                status = urllib.request.urlopen(f"http://127.0.0.1:{ports[1]}/models/big_tipper", timeout=2).read()
                if b"READY" in status:
                    break
            assert server.poll() is None, (work / "torchserve.log").read_text()[-3000:]
            time.sleep(1)
        else:
            pytest.fail("TorchServe did not get ready in 120 s:\n" + (work / "torchserve.log").read_text()[-3000:])
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the launcher and its Java server
        server.wait(30)


def _post(url, body: bytes):
    request = urllib.request.Request(f"{url}/predictions/big_tipper", data=body,
                                     headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(request, timeout=30)


def test_both_served_models_answer_the_same_json_rows(pushed, torchserve):
    saved_model, _, _ = pushed
    rows = json_rows()
    torch_answer = json.loads(_post(torchserve, json.dumps({"instances": rows}).encode()).read())
    from_torch = np.array(torch_answer["predictions"])

    serving = tf.saved_model.load(saved_model).signatures["serving_default"]
    inputs = {n: tf.constant([r[n] for r in rows]) if TAXI.is_string(n) else
              tf.constant([math.nan if r[n] is None else r[n] for r in rows], tf.float64) for n in TAXI.serving_features}
    from_tf = serving(**inputs)["probability"].numpy()

    assert from_torch.shape == from_tf.shape == (len(rows),)
    assert np.all((from_torch >= 0) & (from_torch <= 1)) and np.all((from_tf >= 0) & (from_tf <= 1))
    ranks = lambda x: np.argsort(np.argsort(x))  # noqa: E731
    assert np.corrcoef(ranks(from_torch), ranks(from_tf))[0, 1] > 0.5  # same task, same data


@pytest.mark.parametrize("body", [b"not json", b'{"rows": []}', b'{"instances": [{"fare": "nine"}]}'])
def test_torchserve_answers_400_to_a_bad_body(torchserve, body):
    with pytest.raises(urllib.error.HTTPError) as error:
        _post(torchserve, body)
    assert error.value.code == 400


def test_compare_reports_every_section(pushed, run_cli, tmp_path):
    _, _, home = pushed
    out = tmp_path / "reports"
    code, stdout, err = run_cli("compare", "--home", home, "--out", str(out))
    assert code == 0, err
    markdown = (out / "comparison.md").read_text()
    for section in ("Hardware:", "## Quality", "| AUC |", "| accuracy |", "| log loss |", "## Calibration",
                    "## Metrics by slice", "slice_payment_type.png", "slice_trip_start_hour.png", "## Training",
                    "wall time", "examples/s", "## Model size on disk", "## Inference latency", "| batch 1 |",
                    "| batch 64 |", "## Agreement", "same ExampleGen output"):
        assert section in markdown, section
    for plot in ("quality", "calibration", "latency", "slice_payment_type", "slice_trip_start_hour"):
        assert (out / f"{plot}.png").stat().st_size > 1000
    page = (out / "comparison.html").read_text()
    assert page.count("data:image/png;base64,") == 5 and 'src="http' not in page

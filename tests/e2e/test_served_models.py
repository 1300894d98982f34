"""What the first taxi run (tests/e2e/conftest.py) pushed, served: the .mar behind a real
TorchServe on loopback answers the same probabilities as the in-process PyTorch model, row
by row; bad bodies answer 400; `tandem compare` reports both models side by side."""

import contextlib
import glob
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from helpers import TAXI, json_rows

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("taxi_run")]


@pytest.fixture(scope="module")
def pushed(taxi_run):
    """The first run's pushed versions (later runs in this home may push more)."""
    home, out = taxi_run
    keras, mar = (re.search(rf"\[{key}\] pushed: version \d+ -> (\S+)", out).group(1) for key in ("keras", "torch"))
    return keras, mar, home


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
        cwd=work, stdout=open(work / "torchserve.log", "w"),  # noqa: SIM115 - the server's, closed with it
        stderr=subprocess.STDOUT, start_new_session=True)
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


def test_torchserve_answers_what_the_model_answers_in_process(pushed, torchserve, tmp_path):
    _, mar, _ = pushed
    rows = json_rows()
    served = np.array(json.loads(_post(torchserve, json.dumps({"instances": rows}).encode()).read())["predictions"])
    with zipfile.ZipFile(mar) as archive:  # the very model the archive holds, scored in a PyTorch process
        archive.extract("model.pt", tmp_path)
    np.savez(tmp_path / "rows.npz", **{n: np.array([r[n] or "" for r in rows]) if TAXI.is_string(n) else
                                       np.array([math.nan if r[n] is None else r[n] for r in rows])
                                       for n in TAXI.serving_features})
    out = subprocess.run([sys.executable, "-m", "pipelines.torch_branch.runtime.predict", "--rows",
                          str(tmp_path / "rows.npz"), "--out", str(tmp_path / "p.npz"), f"m={tmp_path / 'model.pt'}"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    in_process = np.load(tmp_path / "p.npz")["m"]
    assert served.shape == in_process.shape == (len(rows),)
    np.testing.assert_allclose(served, in_process, atol=1e-6, rtol=0)  # row by row


@pytest.mark.parametrize("body", [b"not json", b'{"rows": []}', b'{"instances": [{"fare": "nine"}]}'])
def test_torchserve_answers_400_to_a_bad_body(torchserve, body):
    with pytest.raises(urllib.error.HTTPError) as error:
        _post(torchserve, body)
    assert error.value.code == 400


def _auc(evaluation_uri: str) -> float:
    """The candidate's overall AUC, read with TFMA from an evaluation's output."""
    for per_slice in tfma.load_metrics(evaluation_uri):
        if not per_slice.slice_key.single_slice_keys:
            return next(kv.value.double_value.value for kv in per_slice.metric_keys_and_values
                        if kv.key.name == "auc" and not kv.key.is_diff and kv.key.model_name != "baseline")
    raise AssertionError(f"no overall AUC in {evaluation_uri}")


def test_compare_reports_the_blessed_models_metrics_and_every_section(pushed, run_cli, tmp_path):
    _, _, home = pushed
    out = tmp_path / "reports"
    code, stdout, err = run_cli("compare", "--home", home, "--out", str(out))
    assert code == 0, err
    markdown = (out / "comparison.md").read_text()
    # The AUCs are the blessed models' own (the first run's; later runs in this home were not
    # blessed or re-blessed the same model), read from the evaluators' outputs with TFMA.
    reported = [float(x) for x in re.search(r"^\| AUC \| ([0-9.]+) \| ([0-9.]+) \|$", markdown, re.M).groups()]
    blessed = []
    for evaluator in ("KerasEvaluator", "TorchEvaluator"):
        runs = sorted(glob.glob(os.path.join(home, "pipelines", "tandem-taxi", evaluator, "blessing", "*")),
                      key=lambda p: int(os.path.basename(p)))
        first = next(r for r in runs if os.path.exists(os.path.join(r, "BLESSED")))
        blessed.append(_auc(first.replace(f"{os.sep}blessing{os.sep}", f"{os.sep}evaluation{os.sep}")))
    assert reported == pytest.approx(blessed, abs=5e-5)
    assert "pushed as version" in markdown
    for section in ("Hardware:", "## Quality", "| AUC |", "| accuracy |", "| log loss |", "## Calibration",
                    "## Metrics by slice", "slice_payment_type.png", "slice_trip_start_hour.png", "## Training",
                    "wall time", "examples/s", "## Model size on disk", "## Inference latency", "| batch 1 |",
                    "| batch 64 |", "## Agreement", "same ExampleGen output"):
        assert section in markdown, section
    for plot in ("quality", "calibration", "latency", "slice_payment_type", "slice_trip_start_hour"):
        assert (out / f"{plot}.png").stat().st_size > 1000
    page = (out / "comparison.html").read_text()
    assert page.count("data:image/png;base64,") == 5 and 'src="http' not in page

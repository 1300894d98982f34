"""The contract test: what the first taxi run (tests/e2e/conftest.py) pushed, behind every
server tandem starts — TorchServe and KServe for the .mar, KServe's V1 server (TF Serving's
REST API) for the SavedModel; the real `tensorflow_model_server` where it is installed —
answers the same rows with the probabilities the models give in-process (1e-6), and refuses
the same bad requests with the same status class and a message; then `tandem compare`
reports the blessed models' own metrics."""

import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from helpers import TAXI, json_rows

from serving import client, registry

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("taxi_run")]
PORTS = ("inference", "management", "metrics", "grpc", "grpc_management", "rest")


@pytest.fixture(scope="module")
def pushed(taxi_run):
    """The first run's pushed versions (later runs in this home may push more)."""
    home, out = taxi_run
    keras, mar = (re.search(rf"\[{key}\] pushed: version \d+ -> (\S+)", out).group(1) for key in ("keras", "torch"))
    return keras, mar, home


@pytest.fixture(scope="module")
def servers(pushed):
    """{name: (predict URL, token)} for every server that can run here, started for real."""
    from serving.kserve import server as kserve
    from serving.torchserve import server as torchserve

    saved_model, mar, _ = pushed
    started, found = [], {}
    work = tempfile.mkdtemp(prefix="tandem-served-")  # short: TorchServe's sockets live there
    try:
        def start(function, model_path, folder):
            return registry.on_free_ports(lambda ports: function(model_path=model_path, model_name="big_tipper",
                                                                 workdir=os.path.join(work, folder), ports=ports),
                                          PORTS)

        ts = start(torchserve.start, mar, "ts")
        started.append(ts)
        found["torchserve"] = (ts.endpoints["inference"], torchserve.keys(ts.workdir)["inference"])
        ks = start(kserve.start_torch, mar, "kt")
        started.append(ks)
        found["kserve-torch"] = (ks.endpoints["rest"], None)
        kt = start(kserve.start_tf, saved_model, "kf")
        started.append(kt)
        found["kserve-tf"] = (kt.endpoints["rest"], None)
        if shutil.which("tensorflow_model_server"):
            from serving.tfserving import server as tfserving

            real = start(tfserving.start, saved_model, "tfs")
            started.append(real)
            found["tensorflow_model_server"] = (real.endpoints["rest"], None)
        yield found
    finally:
        for server in started:
            registry.terminate(server)
        shutil.rmtree(work, ignore_errors=True)


def in_process(pushed, rows, tmp_path) -> dict[str, np.ndarray]:
    """Both models called in-process: the SavedModel here, the archive's TorchScript model in a
    PyTorch process of its own."""
    saved_model, mar, _ = pushed
    columns = {n: np.array([r[n] or "" for r in rows]) if TAXI.is_string(n) else
               np.array([math.nan if r[n] is None else r[n] for r in rows]) for n in TAXI.serving_features}
    keras = tf.saved_model.load(saved_model).signatures["serving_default"]
    tf_side = keras(**{k: tf.constant(v) for k, v in columns.items()})["probability"].numpy()
    with zipfile.ZipFile(mar) as archive:
        archive.extract("model.pt", tmp_path)
    np.savez(tmp_path / "rows.npz", **columns)
    out = subprocess.run([sys.executable, "-m", "pipelines.torch_branch.runtime.predict", "--rows",
                          str(tmp_path / "rows.npz"), "--out", str(tmp_path / "p.npz"), f"m={tmp_path / 'model.pt'}"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return {"tf": tf_side, "torch": np.load(tmp_path / "p.npz")["m"]}


def test_every_server_answers_what_its_model_answers_in_process(pushed, servers, tmp_path):
    rows = json_rows()
    rows += [{**rows[0], "payment_type": "Bitcoin", "company": "A Brand New Cab Co"},  # unseen categories
             {n: None for n in TAXI.serving_features}]  # everything missing
    expected = in_process(pushed, rows, tmp_path)
    for name, (url, token) in servers.items():
        backend = name if name == "tensorflow_model_server" else None
        answer = client.predict_rest(url, client.for_server(rows, TAXI.contract(), backend), token=token)
        model = "tf" if name in ("kserve-tf", "tensorflow_model_server") else "torch"
        np.testing.assert_allclose(answer, expected[model], atol=1e-6, rtol=0, err_msg=name)


BAD = {  # the body, and words the message names (body-level cases: KServe words its parser's own)
    "not JSON": (b"not json", ""),
    "no instances": (b'{"rows": []}', "instances"),
    "a text for a number": (None, "'fare'"),
    "an unknown feature": (None, "unknown feature"),
    "a missing feature": (None, "missing feature"),
    "not UTF-8": (b"\xff\xfe{}", ""),
}


def _body(case: str) -> bytes:
    body, _ = BAD[case]
    if body is not None:
        return body
    row = json_rows(count=1)[0]
    if case == "a text for a number":
        row["fare"] = "nine"
    elif case == "an unknown feature":
        row["farre"] = 1.0
    else:
        del row["company"]
    return json.dumps({"instances": [row]}).encode()


@pytest.mark.parametrize("case", BAD)
def test_every_server_refuses_a_bad_request_with_a_4xx_and_a_message(case, servers):
    for name, (url, token) in servers.items():
        request = urllib.request.Request(url, data=_body(case), headers={
            "Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=30)
        assert 400 <= error.value.code < 500, (name, error.value.code)
        message = error.value.read().decode("utf-8", "replace")
        assert message.strip(), name
        if name != "tensorflow_model_server":  # stock TF Serving words its own messages
            assert BAD[case][1].lower() in message.lower(), (name, message)


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
    code, _, err = run_cli("compare", "--home", home, "--out", str(out))
    assert code == 0, err
    markdown = (out / "comparison.md").read_text()
    # The AUCs are the blessed models' own (the first run's, re-blessed alike by later runs
    # with the same data), read from the evaluators' outputs with TFMA.
    reported = [float(x) for x in re.search(r"^\| AUC \| ([0-9.]+) \| ([0-9.]+) \|$", markdown, re.M).groups()]
    blessed = []
    for evaluator in ("KerasEvaluator", "TorchEvaluator"):
        runs = sorted(glob.glob(os.path.join(home, "pipelines", "tandem-taxi", evaluator, "blessing", "*")),
                      key=lambda p: int(os.path.basename(p)))
        first = next(r for r in runs if os.path.exists(os.path.join(r, "BLESSED")))
        blessed.append(_auc(first.replace(f"{os.sep}blessing{os.sep}", f"{os.sep}evaluation{os.sep}")))
    assert reported == pytest.approx(blessed, abs=5e-5)
    assert "pushed as version" in markdown
    for section in ("Hardware:", "## Quality", "| accuracy |", "| log loss |", "## Calibration",
                    "## Metrics by slice", "slice_payment_type.png", "slice_trip_start_hour.png", "## Training",
                    "wall time", "examples/s", "| batch | 64 | 64 |", "## Model size on disk", "## Inference latency",
                    "| batch 1 |", "| batch 64 |", "## Agreement", "same ExampleGen output"):
        assert section in markdown, section
    for plot in ("quality", "calibration", "latency", "slice_payment_type", "slice_trip_start_hour"):
        assert (out / f"{plot}.png").stat().st_size > 1000
    page = (out / "comparison.html").read_text()
    assert page.count("data:image/png;base64,") == 5 and 'src="http' not in page

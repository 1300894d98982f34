"""serving/torchserve/handler.py, called as TorchServe's worker calls it: one handler per
model, initialize(context) once, then handle(data, context) per batch of requests."""

import json

import pytest
import torch

import serving.torchserve.handler as handler_module
from serving.contract import CONTRACT_FILE
from serving.torchserve.handler import TandemHandler


def loaded(worker) -> TandemHandler:
    handler = TandemHandler()
    handler.initialize(worker.context)
    return handler


def instances(rows) -> bytes:
    return json.dumps({"instances": rows}).encode()


def assert_predictions(answer, expected):
    assert list(answer) == ["predictions"] and answer["predictions"] == pytest.approx(expected, abs=1e-6)


def test_torchserve_loads_the_handler_class():
    """TorchServe takes a handler module's one class as its entry point; a second class fails the load."""
    from ts.model_loader import TsModelLoader

    handle, initialize = TsModelLoader()._get_class_entry_point(handler_module)
    assert isinstance(handle.__self__, TandemHandler) and initialize.__self__ is handle.__self__


def test_good_rows_answer_the_models_probabilities(worker, rows, predict_directly):
    handler = loaded(worker)
    [answer] = handler.handle(worker.batch(instances(rows)), worker.context)
    assert_predictions(answer, predict_directly(rows))
    assert len(set(answer["predictions"])) == len(rows)  # the rows do differ: the test can see a mix-up
    assert worker.status(0)[0] == 200


def test_each_request_of_a_batch_gets_its_own_answer_and_status(worker, rows, predict_directly):
    handler = loaded(worker)
    data = worker.batch(instances(rows[:1]), instances([{**rows[0], "fare": "nine"}]), instances(rows[1:]))
    first, bad, third = handler.handle(data, worker.context)
    assert_predictions(first, predict_directly(rows[:1]))
    assert_predictions(third, predict_directly(rows[1:]))
    code, phrase = worker.status(1)
    assert code == 400 and "'fare'" in phrase and "number" in phrase
    assert bad == {"error": phrase}
    assert worker.status(0)[0] == worker.status(2)[0] == 200


def test_a_batch_of_bad_requests_answers_each(worker):
    handler = loaded(worker)
    answers = handler.handle(worker.batch(b"not json", b'{"rows": []}'), worker.context)
    assert [list(a) for a in answers] == [["error"], ["error"]]
    assert worker.status(0)[0] == worker.status(1)[0] == 400


@pytest.mark.parametrize("decode", ["true", "false"], ids=["decoded-by-torchserve", "raw-bytes"])
def test_a_body_answers_the_same_decoded_or_not(worker, rows, predict_directly, monkeypatch, decode):
    monkeypatch.setenv("TS_DECODE_INPUT_REQUEST", decode)
    handler = loaded(worker)
    data = worker.batch(instances(rows))
    assert isinstance(data[0]["body"], dict if decode == "true" else bytearray)
    [answer] = handler.handle(data, worker.context)
    assert_predictions(answer, predict_directly(rows))


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream"])
def test_a_body_sent_as_text_or_bytes_answers_the_same(worker, rows, predict_directly, content_type):
    handler = loaded(worker)
    [answer] = handler.handle(worker.batch(instances(rows), content_type=content_type), worker.context)
    assert_predictions(answer, predict_directly(rows))


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_is_a_400_after_torchserve_parsed_it(worker, monkeypatch, rows, token):
    """TorchServe's own json.loads takes NaN and +-Infinity as floats: the contract still refuses them."""
    monkeypatch.delenv("TS_DECODE_INPUT_REQUEST", raising=False)  # TorchServe's default: decode JSON
    handler = loaded(worker)
    data = worker.batch(instances([rows[0]]).replace(b'"trip_miles": 2.5', f'"trip_miles": {token}'.encode()))
    assert isinstance(data[0]["body"], dict)  # parsed by TorchServe, not by the contract
    [answer] = handler.handle(data, worker.context)
    code, phrase = worker.status(0)
    assert code == 400 and "'trip_miles'" in phrase and "finite" in phrase and answer == {"error": phrase}


@pytest.mark.parametrize("bad", [b'{"instances": [{"fare": ' + b"9" * 5000 + b"}]}",
                                 b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"],
                         ids=["5000-digits", "nested-too-deeply"])
def test_a_body_torchserve_cannot_decode_is_a_400_not_a_failed_batch(worker, rows, predict_directly, bad):
    """TorchServe forwards such a body undecoded; it must not fail the other requests of its batch."""
    handler = loaded(worker)
    bad_answer, good = handler.handle(worker.batch(bad, instances(rows)), worker.context)
    assert worker.status(0)[0] == 400 and list(bad_answer) == ["error"]
    assert_predictions(good, predict_directly(rows))


def test_a_model_that_reads_other_features_than_its_contract_fails_to_load(make_worker, copy_model_dir):
    model_dir = copy_model_dir()
    (model_dir / CONTRACT_FILE).write_text(json.dumps({"model": "tiny", "features": {"trip_miles": "number"}}))
    with pytest.raises(RuntimeError, match="archive is inconsistent"):
        TandemHandler().initialize(make_worker(model_dir).context)


def test_a_contract_that_says_another_kind_fails_to_load(make_worker, copy_model_dir):
    model_dir = copy_model_dir()
    contract = json.loads((model_dir / CONTRACT_FILE).read_text())
    contract["features"]["payment_type"] = "number"
    (model_dir / CONTRACT_FILE).write_text(json.dumps(contract))
    with pytest.raises(RuntimeError, match="archive is inconsistent"):
        TandemHandler().initialize(make_worker(model_dir).context)


def _moves_inputs_to_its_device(worker, rows, predict_directly, monkeypatch, device):
    handler = loaded(worker)
    assert handler.device == torch.device(device)
    seen = []
    model = handler.model

    def model_on_device(numbers, strings):
        seen.extend(tensor.device for tensor in numbers.values())
        return model(numbers, strings)

    monkeypatch.setattr(handler, "model", model_on_device)
    [answer] = handler.handle(worker.batch(instances(rows)), worker.context)
    assert seen and set(seen) == {torch.device(device)}
    assert_predictions(answer, predict_directly(rows))


def test_the_handler_runs_on_cpu_without_a_gpu_id(worker, rows, predict_directly, monkeypatch):
    _moves_inputs_to_its_device(worker, rows, predict_directly, monkeypatch, "cpu")


@pytest.mark.gpu
def test_the_handler_runs_on_its_gpu(make_worker, model_dir, rows, predict_directly, monkeypatch):
    _moves_inputs_to_its_device(make_worker(model_dir, gpu_id=0), rows, predict_directly, monkeypatch, "cuda:0")


def test_torchserve_sends_each_request_its_own_status_and_body(worker, rows, predict_directly):
    """Through Service.predict: the handler's answers pass TorchServe's checks (one per request,
    JSON-serialisable) and each goes back with its own status."""
    handler = loaded(worker)
    code, message, answers = worker.predict(handler, instances(rows), b'{"instances": []}')
    assert (code, message) == (200, "Prediction success")
    (good_status, _, good_body), (bad_status, bad_phrase, bad_body) = answers
    assert good_status == 200
    assert_predictions(json.loads(good_body), predict_directly(rows))
    assert bad_status == 400 and "non-empty" in bad_phrase and json.loads(bad_body) == {"error": bad_phrase}

"""Fixtures for the serving tests: a small real TorchScript ServingModel, and TorchServe's
worker side of a handler (its Context, and its decoding of a batch of requests).

The model is built, not trained: a hand-made preprocessing spec over five made-up raw
features, and a Net with Glorot-initialised weights from a fixed seed. No TensorFlow.
Test modules get everything through fixtures: this folder has no __init__.py (a `serving`
package here would shadow the real one), so `conftest` is not importable by name.
"""

import io
import json
import os
import shutil
import struct
import uuid

import pytest
import torch

from serving.contract import CONTRACT_FILE

FEATURES = {  # raw feature -> kind, as contract.json and ServingModel.input_kinds() say
    "trip_miles": "number",  # numeric, log
    "fare": "number",  # numeric
    "hour": "number",  # ordinal 0..23
    "payment_type": "string",  # vocabulary
    "trip_seconds": "number",  # quantiles
}
SPEC = {  # preprocessing.py's Preprocessor spec
    "numeric": {"trip_miles": {"mean": 1.2, "var": 0.8, "log": True, "is_int": False},
                "fare": {"mean": 14.0, "var": 90.0, "log": False, "is_int": False}},
    "ordinal": {"hour": {"low": 0, "high": 23}},
    "vocabulary": {"payment_type": {"tokens": ["Credit Card", "Cash", "Mobile"], "is_int": False}},
    "quantiles": {"trip_seconds": {"boundaries": [300.0, 600.0, 1200.0]}},
}
LAYOUT = [  # Net's input: (transformed feature, one-hot width; 0 for a z-score)
    ("trip_miles_xf", 0), ("fare_xf", 0),
    ("hour_xf", 23 - 0 + 2),  # 24 hours and an out-of-range index
    ("payment_type_xf", 3 + 1),  # 3 tokens and out-of-vocabulary
    ("trip_seconds_xf", 3 + 2),  # 4 buckets and missing
]
ROWS = [
    {"trip_miles": 2.5, "fare": 11.0, "hour": 14, "payment_type": "Cash", "trip_seconds": 650},
    {"trip_miles": None, "fare": 4.25, "hour": None, "payment_type": "", "trip_seconds": None},
    {"trip_miles": 17.0, "fare": 52.5, "hour": 30, "payment_type": "Unknown bank", "trip_seconds": 3000.5},
    {"trip_miles": 0.0, "fare": None, "hour": 0, "payment_type": None, "trip_seconds": 0},
]


def build_serving_model() -> torch.jit.ScriptModule:
    from pipelines.torch_branch.runtime.model import Net, ServingModel
    from pipelines.torch_branch.runtime.preprocessing import Preprocessor

    torch.manual_seed(7)
    net = Net(LAYOUT, [8, 4]).eval()
    return torch.jit.script(ServingModel(Preprocessor(SPEC), net, FEATURES))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A model dir as TorchServe unpacks the archive: model.pt and contract.json."""
    path = tmp_path_factory.mktemp("tandem_model")
    build_serving_model().save(str(path / "model.pt"))
    (path / CONTRACT_FILE).write_text(json.dumps({"model": "tiny", "features": FEATURES}))
    return path


@pytest.fixture
def copy_model_dir(model_dir, tmp_path):
    """A copy of model_dir to change, e.g. its contract.json."""
    return lambda: shutil.copytree(model_dir, tmp_path / "model", dirs_exist_ok=True)


@pytest.fixture
def rows():
    """Good rows: present, missing (null / ""), out of range and out of vocabulary."""
    return [dict(row) for row in ROWS]


@pytest.fixture(scope="session")
def predict_directly(model_dir):
    """rows -> the scripted model's probabilities, called directly: no handler, no contract."""
    model = torch.jit.load(str(model_dir / "model.pt"))

    def predict(rows: list[dict]) -> list[float]:
        numbers = {n: torch.tensor([float("nan") if r[n] is None else float(r[n]) for r in rows],
                                   dtype=torch.float64) for n, kind in FEATURES.items() if kind == "number"}
        strings = {n: [r[n] or "" for r in rows] for n, kind in FEATURES.items() if kind == "string"}
        with torch.no_grad():
            return model(numbers, strings).tolist()

    return predict


class _Frames(io.BytesIO):
    """Bytes between TorchServe's frontend and worker: recv(n) as the worker reads its socket,
    number() and field() as we read the worker's answer."""

    recv = io.BytesIO.read

    def number(self) -> int:
        return struct.unpack("!i", self.read(4))[0]

    def field(self, length: int | None = None) -> bytes:
        return self.read(self.number() if length is None else length)


def _frame(*fields: bytes) -> bytes:
    return b"".join(struct.pack("!i", len(f)) + f for f in fields)


def _inference_message(bodies, content_type: str) -> bytes:
    """TorchServe's frontend -> worker frame for a batch of POST bodies (otf_message_handler's format)."""
    end = struct.pack("!i", -1)
    message = b""
    for i, body in enumerate(bodies):
        message += _frame(f"request-{i}".encode())
        message += _frame(b"content-type", content_type.encode()) + end  # request headers
        message += _frame(b"body", content_type.encode(), body) + end  # parameters: the body
    return message + end


def _answers(response: bytes) -> tuple:
    """The worker's predict response -> (batch code, message, [(status, phrase, body) per request])."""
    read = _Frames(response)
    code, message, answers = read.number(), read.field().decode(), []
    while (length := read.number()) != -1:  # a request id's length; -1 ends the list
        read.field(length)  # the request id
        read.field()  # content type
        status, phrase = read.number(), read.field().decode()
        for _ in range(read.number()):  # response headers
            read.field(), read.field()
        answers.append((status, phrase, read.field()))
    return code, message, answers


class Worker:
    """TorchServe's backend worker as a handler sees it: the ts.service.Service it builds once
    per model, with its real Context, and per batch, the data list and request processors it
    builds from the frontend's message (otf_message_handler decodes a JSON body unless
    TS_DECODE_INPUT_REQUEST=false)."""

    def __init__(self, model_dir, gpu_id=None, batch_size=4):
        import ts
        from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl
        from ts.service import Service

        metrics = MetricsCacheYamlImpl(config_file_path=os.path.join(os.path.dirname(ts.__file__), "configs",
                                                                     "metrics.yaml"))
        metrics.initialize_cache()
        metrics.model_name = "tiny"
        metrics.set_request_ids(str(uuid.uuid4()))  # as the model loader does before initialize
        manifest = {"model": {"modelName": "tiny", "serializedFile": "model.pt", "handler": "handler.py",
                              "modelVersion": "1"}}
        self.service = Service("tiny", str(model_dir), manifest, None, gpu_id, batch_size, metrics_cache=metrics)
        self.service.set_cl_socket(None)
        self.context = self.service.context  # system_properties: model_dir, gpu_id, batch_size

    @staticmethod
    def _requests(bodies, content_type: str) -> list:
        from ts.protocol.otf_message_handler import _retrieve_inference_msg

        return _retrieve_inference_msg(_Frames(_inference_message(bodies, content_type)))

    def batch(self, *bodies: bytes, content_type: str = "application/json") -> list:
        """POST bodies -> the `data` TorchServe passes to handle(); sets up the context for them,
        as Service.predict does."""
        from ts.service import Service

        processors, data, ids = Service.retrieve_data_for_inference(self._requests(bodies, content_type))
        self.context.request_ids = ids
        self.context.request_processor = processors
        self.context.metrics.request_ids = ids
        return data

    def status(self, idx: int) -> tuple:
        """(code, phrase) TorchServe answers request idx with."""
        return self.context.get_response_status(idx)

    def predict(self, handler, *bodies: bytes, content_type: str = "application/json") -> tuple:
        """The whole worker round trip, through Service.predict to the bytes sent back to the
        frontend: (batch code, message, [(status, phrase, body) per request])."""
        self.service._entry_point = handler.handle  # what the model loader gives Service
        return _answers(self.service.predict(self._requests(bodies, content_type)))


@pytest.fixture
def make_worker():
    """Worker(model_dir, gpu_id=None, batch_size=4)."""
    return Worker


@pytest.fixture
def worker(model_dir):
    """A CPU worker for model_dir; its handler is not initialised yet."""
    return Worker(model_dir)

"""tandem's two exports as KServe models: load, preprocess, predict, postprocess. Thin.

    SavedModelServer   the Keras branch's SavedModel: its `serving_default` signature (raw
                       features as named [batch] tensors: numbers float64, NaN = missing;
                       strings, "" = missing -> {"probability": [batch]}), with TensorFlow;
                       its contract from the SavedModel's assets.extra/contract.json
    TorchScriptServer  the PyTorch branch's .mar: its TorchScript ServingModel (model.pt) and
                       contract.json, unpacked into the server's workdir; on CUDA when there is one

The request contract is serving/contract.py's, as for every tandem server:

    POST /v1/models/NAME:predict {"instances": [{feature: value, ...}, ...]} -> {"predictions": [p, ...]}

KServe hands preprocess the body it decoded: a dict when the request says it is JSON
(application/json, or no Content-Type: KServe parses it with orjson first, and answers 400
{"error": "Unrecognized request format: ..."} itself for a body that is not JSON, not UTF-8,
has NaN/Infinity, a number past float64's range, a lone surrogate, or nesting past orjson's
limit), else the raw bytes, which Contract.parse decodes and checks the same way. Every
contract violation raises RequestError, a kserve.errors.InvalidInput: KServe answers 400
{"error": message}; serving/kserve/server.py answers it with the error's own status (and
keeps KServe's CloudEvents decoding, which can answer a bad body with a 500, out of the way).

Ready (`self.ready`, GET /v1/models/NAME) only after load() succeeded: the model loaded,
and the features it reads are the ones its contract names.

Standard library, serving/, kserve, and the framework each model needs (imported in
load(), so that each server imports only its own).
"""

import json
import math
import os
import shutil
import zipfile

import kserve
from kserve.errors import InferenceError, InvalidInput

from serving.contract import CONTRACT_FILE, DEFAULT_MAX_ROWS, NUMBER, STRING, Columns, Contract, ContractError

SIGNATURE = "serving_default"
CONTRACT_IN_SAVED_MODEL = os.path.join("assets.extra", CONTRACT_FILE)  # TF Serving ignores assets.extra/
MAR_MANIFEST = os.path.join("MAR-INF", "MANIFEST.json")  # torch-model-archiver's: names the serialized file


class RequestError(InvalidInput):
    """A request that breaks the contract. KServe answers any InvalidInput with 400 {"error":
    message}; the server of serving/kserve/server.py answers this one with `status`."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.status = status


def parse(contract: Contract, payload) -> Columns:
    """What KServe decoded (a dict, or the body's bytes) -> Columns, or RequestError."""
    try:
        columns = contract.parse(payload)
    except ContractError as error:
        raise RequestError(str(error), error.status) from None
    for name, values in columns.strings.items():  # JSON's "\ud800" is a str that no UTF-8 holds
        for i, value in enumerate(values):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as error:
                raise RequestError(f"row {i}: feature {name!r}: the string is not valid Unicode "
                                   f"({error.reason} at character {error.start})") from None
    return columns


def _response(probabilities, rows: int) -> dict:
    """The model's probabilities -> the contract's answer; a model that answers otherwise is a 500."""
    probabilities = [float(p) for p in probabilities]
    if len(probabilities) != rows:
        raise InferenceError(f"the model answered {len(probabilities)} values for {rows} rows")
    odd = [p for p in probabilities if not (math.isfinite(p) and 0.0 <= p <= 1.0)]
    if odd:
        raise InferenceError(f"the model answered {len(odd)} values that are not probabilities, e.g. {odd[0]}")
    return Contract.response(probabilities)


def _check_reads(reads: dict, contract: Contract, where: str) -> None:
    if reads != contract.features:
        raise RuntimeError(f"the model reads {reads} but its {CONTRACT_FILE} says {contract.features}: "
                           f"{where} is inconsistent")


class SavedModelServer(kserve.Model):
    """The Keras branch's SavedModel (a pushed version's folder), served with TensorFlow."""

    def __init__(self, name: str, model_dir: str, max_rows: int = DEFAULT_MAX_ROWS):
        super().__init__(name)
        self.model_dir = model_dir
        self.max_rows = max_rows
        self.contract: Contract | None = None
        self.signature = None
        self._loaded = None  # the restored object: the signature's variables live as long as it does

    def load(self) -> bool:
        import tensorflow as tf

        contract_file = os.path.join(self.model_dir, CONTRACT_IN_SAVED_MODEL)
        if not os.path.exists(contract_file):
            raise FileNotFoundError(f"{contract_file}: the SavedModel carries no request contract (one pushed "
                                    "before SavedModels carried theirs): push the model again")
        self.contract = Contract.from_file(contract_file, self.max_rows)
        self._loaded = tf.saved_model.load(self.model_dir)
        if SIGNATURE not in self._loaded.signatures:
            raise RuntimeError(f"{self.model_dir}: no {SIGNATURE!r} signature (it has: "
                               f"{', '.join(self._loaded.signatures) or 'none'})")
        self.signature = self._loaded.signatures[SIGNATURE]
        kinds = {tf.float64: NUMBER, tf.string: STRING}
        specs = self.signature.structured_input_signature[1]
        odd = {name: spec.dtype.name for name, spec in specs.items()
               if spec.dtype not in kinds or spec.shape.rank != 1}
        if odd:
            raise RuntimeError(f"{SIGNATURE} takes inputs that are not [batch] float64 or string tensors: {odd}")
        _check_reads({name: kinds[spec.dtype] for name, spec in specs.items()}, self.contract,
                     f"the SavedModel {self.model_dir}")
        if len(self.signature.structured_outputs) != 1:
            raise RuntimeError(f"{SIGNATURE} has outputs {sorted(self.signature.structured_outputs)}; "
                               "tandem's has one, the probability")
        self.ready = True
        return self.ready

    def preprocess(self, payload, headers=None) -> tuple:
        """The request -> (rows, the signature's named input tensors)."""
        import tensorflow as tf

        columns = parse(self.contract, payload)
        inputs = {name: tf.constant(values, dtype=tf.float64) for name, values in columns.numbers.items()}
        inputs.update({name: tf.constant([v.encode("utf-8") for v in values], dtype=tf.string)
                       for name, values in columns.strings.items()})
        return columns.rows, inputs

    def predict(self, payload: tuple, headers=None) -> tuple:
        rows, inputs = payload
        (probability,) = self.signature(**inputs).values()
        return rows, probability.numpy().reshape(-1).tolist()

    def postprocess(self, result: tuple, headers=None, response_headers=None) -> dict:
        rows, probabilities = result
        return _response(probabilities, rows)


class TorchScriptServer(kserve.Model):
    """The PyTorch branch's .mar (or a folder it was unpacked into), served with PyTorch:
    model.pt on CUDA when torch.cuda.is_available(), else on the CPU."""

    def __init__(self, name: str, model_path: str, workdir: str, max_rows: int = DEFAULT_MAX_ROWS):
        super().__init__(name)
        self.model_path = model_path
        self.workdir = workdir
        self.max_rows = max_rows
        self.contract: Contract | None = None
        self.model = None
        self.device = None

    def unpack(self) -> str:
        """The .mar -> <workdir>/model (afresh each load); a folder is used as it is."""
        if os.path.isdir(self.model_path):
            return self.model_path
        folder = os.path.join(self.workdir, "model")
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        with zipfile.ZipFile(self.model_path) as mar:
            mar.extractall(folder)  # ZipFile keeps every member inside `folder`
        return folder

    def load(self) -> bool:
        import torch

        folder = self.unpack()
        self.contract = Contract.from_file(os.path.join(folder, CONTRACT_FILE), self.max_rows)
        serialized = "model.pt"
        if os.path.exists(os.path.join(folder, MAR_MANIFEST)):
            with open(os.path.join(folder, MAR_MANIFEST)) as f:
                serialized = json.load(f).get("model", {}).get("serializedFile", serialized)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = torch.jit.load(os.path.join(folder, serialized), map_location=self.device).eval()
        _check_reads(dict(self.model.input_kinds()), self.contract, f"the archive {self.model_path}")
        self.ready = True
        return self.ready

    def preprocess(self, payload, headers=None) -> tuple:
        """The request -> (rows, numbers as float64 tensors on the model's device, strings)."""
        import torch

        columns = parse(self.contract, payload)
        numbers = {name: torch.tensor(values, dtype=torch.float64, device=self.device)
                   for name, values in columns.numbers.items()}
        return columns.rows, numbers, columns.strings

    def predict(self, payload: tuple, headers=None) -> tuple:
        import torch

        rows, numbers, strings = payload
        with torch.no_grad():
            return rows, self.model(numbers, strings).cpu().reshape(-1).tolist()

    def postprocess(self, result: tuple, headers=None, response_headers=None) -> dict:
        rows, probabilities = result
        return _response(probabilities, rows)

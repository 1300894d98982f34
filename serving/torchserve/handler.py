"""TorchServe handler for a tandem model: load, preprocess, predict, postprocess. Thin.

The archive holds a TorchScript ServingModel (raw rows in, probabilities out; the
preprocessing is inside it), its contract.json, and serving/contract.py. The request
contract is serving/contract.py's, the same as every tandem server:

    {"instances": [{"trip_miles": 2.5, "payment_type": "Cash", ...}, ...]} -> {"predictions": [0.83, ...]}

With server-side batching, one request's error does not fail the others in its batch:
each answers with its own status.

TorchServe loads a handler module's one class (it refuses a module that defines two), so
this module defines TandemHandler only; between the steps a batch is a list with, per
request, its parsed Columns or the ContractError it raised.
"""

import os

import torch
from ts.torch_handler.base_handler import BaseHandler

from serving.contract import CONTRACT_FILE, Columns, Contract, ContractError


class TandemHandler(BaseHandler):
    def initialize(self, context):
        super().initialize(context)  # loads the TorchScript model onto self.device
        # TorchServe's base handler switches float32 matrix products to TF32 on Ampere and
        # newer GPUs when it is imported. For this small network that saves nothing, and it
        # moved probabilities by up to 3e-5 from the CPU's (an H200, measured): the worker
        # holds one model, so full float32 for its process keeps the GPU's answers the model's.
        torch.set_float32_matmul_precision("highest")
        self.contract = Contract.from_file(os.path.join(context.system_properties["model_dir"], CONTRACT_FILE))
        reads = dict(self.model.input_kinds())
        if reads != self.contract.features:
            raise RuntimeError(f"the model reads {reads} but its {CONTRACT_FILE} says "
                               f"{self.contract.features}: the archive is inconsistent")

    def preprocess(self, data) -> list:
        """TorchServe's batch -> per request, Columns or a ContractError."""
        requests = []
        for request in data:
            body = request.get("body") if request.get("body") is not None else request.get("data")
            try:
                requests.append(self.contract.parse(body))
            except ContractError as error:
                requests.append(error)
        return requests

    def inference(self, requests: list, *args, **kwargs) -> tuple:
        """All good requests' rows in one call -> (requests, their probabilities in order)."""
        good = [r for r in requests if isinstance(r, Columns)]
        if not good:
            return requests, []
        numbers = {name: torch.tensor([v for r in good for v in r.numbers[name]], dtype=torch.float64,
                                      device=self.device) for name in good[0].numbers}
        strings = {name: [v for r in good for v in r.strings[name]] for name in good[0].strings}
        with torch.no_grad():
            return requests, self.model(numbers, strings).cpu().tolist()

    def postprocess(self, inferred: tuple) -> list:
        """One answer per request: its predictions, or its error with its own status."""
        requests, probabilities = inferred
        out, start = [], 0
        for idx, request in enumerate(requests):
            if isinstance(request, ContractError):
                self.context.set_response_status(request.status, str(request), idx=idx)
                out.append({"error": str(request)})
            else:
                out.append(Contract.response(probabilities[start:start + request.rows]))
                start += request.rows
        return out

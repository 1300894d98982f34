"""TorchServe handler for a tandem model: load, preprocess, predict, postprocess. Thin.

The archive holds a TorchScript ServingModel (raw rows in, probabilities out; the
preprocessing is inside it), its contract.json, and serving/contract.py. The request
contract is serving/contract.py's, the same as every tandem server:

    {"instances": [{"trip_miles": 2.5, "payment_type": "Cash", ...}, ...]} -> {"predictions": [0.83, ...]}

With server-side batching, one request's error does not fail the others in its batch:
each answers with its own status.
"""

import os
from dataclasses import dataclass

import torch
from ts.torch_handler.base_handler import BaseHandler

from serving.contract import CONTRACT_FILE, Columns, Contract, ContractError


@dataclass
class Batch:
    """Per request of TorchServe's batch: parsed Columns, or the ContractError it raised."""

    requests: list
    probabilities: list | None = None


class TandemHandler(BaseHandler):
    def initialize(self, context):
        super().initialize(context)  # loads the TorchScript model onto self.device
        self.contract = Contract.from_file(os.path.join(context.system_properties["model_dir"], CONTRACT_FILE))
        reads = self.model.input_kinds()
        if dict(reads) != self.contract.features:
            raise RuntimeError(f"the model reads {dict(reads)} but its {CONTRACT_FILE} says "
                               f"{self.contract.features}: the archive is inconsistent")

    def preprocess(self, data) -> Batch:
        requests = []
        for request in data:
            body = request.get("body") if request.get("body") is not None else request.get("data")
            try:
                requests.append(self.contract.parse(body))
            except ContractError as error:
                requests.append(error)
        return Batch(requests)

    def inference(self, batch: Batch, *args, **kwargs) -> Batch:
        good = [r for r in batch.requests if isinstance(r, Columns)]
        if good:
            numbers = {name: torch.tensor([v for r in good for v in r.numbers[name]], dtype=torch.float64,
                                          device=self.device) for name in good[0].numbers}
            strings = {name: [v for r in good for v in r.strings[name]] for name in good[0].strings}
            with torch.no_grad():
                batch.probabilities = self.model(numbers, strings).cpu().tolist()
        return batch

    def postprocess(self, batch: Batch) -> list:
        out, start = [], 0
        for idx, request in enumerate(batch.requests):
            if isinstance(request, ContractError):
                self.context.set_response_status(request.status, str(request), idx=idx)
                out.append({"error": str(request)})
            else:
                out.append(Contract.response(batch.probabilities[start:start + request.rows]))
                start += request.rows
        return out

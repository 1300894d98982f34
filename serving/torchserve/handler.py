"""TorchServe handler for tandem's big-tipper model: thin, and needs only torch.

The archived model is a TorchScript ServingModel: raw rows in, probabilities out; the
preprocessing (the Transform parameters) is inside it. This handler only turns the
request body into its inputs, with the same contract as TF Serving's REST predict:

    {"instances": [{"trip_miles": 2.5, "payment_type": "Cash", ...}, ...]}
    -> {"predictions": [{"probability": 0.83}, ...]}

A missing number is sent as null (or NaN, or left out), a missing string as "" (or
null, or left out). A malformed body answers 400 with what is wrong.
"""

import json
import math

import torch
from ts.torch_handler.base_handler import BaseHandler
from ts.utils.util import PredictionException

# The raw features the model takes: numbers and strings (components/features.py).
STRING_FEATURES = ("payment_type", "company")
NUMBER_FEATURES = (
    "trip_miles", "fare", "trip_seconds", "trip_start_hour", "trip_start_day", "trip_start_month",
    "pickup_community_area", "dropoff_community_area", "dropoff_census_tract",
    "pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude",
)


def _instances(body) -> list:
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as error:
            raise PredictionException(f"request body is not JSON: {error}", 400) from None
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list) or not body["instances"]:
        raise PredictionException('expected {"instances": [{feature: value, ...}, ...]}', 400)
    for row in body["instances"]:
        if not isinstance(row, dict):
            raise PredictionException("each instance must be an object of feature values", 400)
    return body["instances"]


def _number(row: dict, name: str) -> float:
    value = row.get(name)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PredictionException(f"feature {name!r} must be a number or null, got {value!r}", 400)
    return float(value)


def _string(row: dict, name: str) -> str:
    value = row.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PredictionException(f"feature {name!r} must be a string or null, got {value!r}", 400)
    return value


class BigTipperHandler(BaseHandler):
    def preprocess(self, data):
        rows, counts = [], []
        for request in data:
            instances = _instances(request.get("body") if request.get("body") is not None else request.get("data"))
            rows += instances
            counts.append(len(instances))
        self._counts = counts
        numbers = {n: torch.tensor([_number(r, n) for r in rows], dtype=torch.float64) for n in NUMBER_FEATURES}
        strings = {n: [_string(r, n) for r in rows] for n in STRING_FEATURES}
        return numbers, strings

    def inference(self, data, *args, **kwargs):
        numbers, strings = data
        with torch.no_grad():
            return self.model(numbers, strings)

    def postprocess(self, data):
        probabilities = data.tolist()
        out, start = [], 0
        for count in self._counts:  # one response per request in the batch
            out.append({"predictions": [{"probability": p} for p in probabilities[start:start + count]]})
            start += count
        return out

"""The request contract every tandem server and client shares. Standard library only.

    POST {"instances": [{feature: value, ...}, ...]}  ->  {"predictions": [p, ...]}

TF Serving's REST predict body for the SavedModel's `serving_default`, and its answer for a
signature with one output: one probability per row, in order. Every row names every raw
feature the model reads (a model's `contract.json` lists them, with their kind), and
nothing else. `null` is a missing value; so is "" for a string. A number is a JSON number,
finite; a string is a JSON string. Anything else is the client's error: a 4xx with a
message that names the problem (400; 413 for a body over the server's size limit).
"""

import json
import math
import sys
from dataclasses import dataclass, field

CONTRACT_FILE = "contract.json"  # beside a served model: {"model": name, "features": {name: kind}}
NUMBER, STRING = "number", "string"
DEFAULT_MAX_ROWS = 1000  # rows per request; a server may configure another cap


class ContractError(ValueError):
    """A request breaks the contract: `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Columns:
    """A parsed request, column by column: numbers as floats (NaN = missing), strings as
    str ("" = missing)."""

    rows: int
    numbers: dict[str, list[float]] = field(default_factory=dict)
    strings: dict[str, list[str]] = field(default_factory=dict)


def _loads(body) -> object:
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as error:
            raise ContractError(f"the request body is not UTF-8 text: {error}") from None
    if not isinstance(body, str):
        return body  # already parsed by the server
    try:  # NaN and +-Infinity parse to floats here, as where a server parses: both refuse them in _number
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise ContractError(f"the request body is not valid JSON: {error}") from None
    except ValueError:  # past Python's limit on integer digits
        raise ContractError(f"the request body has an integer with more than {sys.get_int_max_str_digits()} "
                            "digits: send numbers a float64 can hold") from None
    except RecursionError:
        raise ContractError("the request body is nested too deeply") from None


@dataclass(frozen=True)
class Contract:
    features: dict[str, str]  # raw feature -> NUMBER or STRING
    model: str = ""
    max_rows: int = DEFAULT_MAX_ROWS

    @classmethod
    def from_file(cls, path: str, max_rows: int = DEFAULT_MAX_ROWS) -> "Contract":
        with open(path) as f:
            spec = json.load(f)
        features = dict(spec["features"])
        odd = {name: kind for name, kind in features.items() if kind not in (NUMBER, STRING)}
        if odd:
            raise ValueError(f"{path}: a feature's kind is {NUMBER!r} or {STRING!r}, not {odd}")
        return cls(features=features, model=spec.get("model", ""), max_rows=max_rows)

    def parse(self, body) -> Columns:
        """A request body (bytes, text, or JSON already parsed) -> Columns, or ContractError."""
        request = _loads(body)
        if not isinstance(request, dict) or "instances" not in request:
            raise ContractError('expected a JSON object {"instances": [{feature: value, ...}, ...]}')
        unknown = set(request) - {"instances", "signature_name"}
        if unknown or request.get("signature_name", "serving_default") != "serving_default":
            raise ContractError(f"unsupported request fields {sorted(unknown) or ['signature_name']}: "
                                'send {"instances": [...]} for the serving_default signature')
        rows = request["instances"]
        if not isinstance(rows, list) or not rows:
            raise ContractError('"instances" must be a non-empty list of rows')
        if len(rows) > self.max_rows:
            raise ContractError(f"{len(rows)} rows in one request; at most {self.max_rows} are accepted")
        columns = Columns(rows=len(rows))
        for name, kind in self.features.items():
            (columns.numbers if kind == NUMBER else columns.strings)[name] = []
        for i, row in enumerate(rows):
            self._parse_row(i, row, columns)
        return columns

    def _parse_row(self, i: int, row, columns: Columns) -> None:
        if not isinstance(row, dict):
            raise ContractError(f"row {i}: expected an object of feature values, got {type(row).__name__}")
        missing = [name for name in self.features if name not in row]
        unknown = [name for name in row if name not in self.features]
        if missing or unknown:  # a misspelled feature is both: name both
            problems = []
            if missing:
                problems.append(f"missing feature {_some(missing)} (send null for a missing value)")
            if unknown:
                problems.append(f"unknown feature {_some(unknown)}")
            raise ContractError(f"row {i}: {'; '.join(problems)}; the model reads: {', '.join(sorted(self.features))}")
        for name, kind in self.features.items():
            value = row[name]
            if kind == NUMBER:
                columns.numbers[name].append(_number(i, name, value))
            else:
                columns.strings[name].append(_string(i, name, value))

    @staticmethod
    def response(probabilities) -> dict:
        return {"predictions": [float(p) for p in probabilities]}


def _some(names: list) -> str:
    return repr(names[0]) + (f" and {len(names) - 1} more" if len(names) > 1 else "")


def _number(i: int, name: str, value) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ContractError(f"row {i}: feature {name!r} must be a number or null, got {json.dumps(value)[:40]}")
    try:
        number = float(value)
    except OverflowError:
        raise ContractError(f"row {i}: feature {name!r}: the number is too large for a float64") from None
    if not math.isfinite(number):
        raise ContractError(f"row {i}: feature {name!r} must be a finite number or null, got {json.dumps(value)}")
    return number


def _string(i: int, name: str, value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ContractError(f"row {i}: feature {name!r} must be a string or null, got {json.dumps(value)[:40]}")
    return value

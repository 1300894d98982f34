"""The TorchServe handler runs without the pipeline code, so it names the raw features
itself: hold that list equal to the one source of truth, and its request parsing to
the documented contract (run in a subprocess: the handler imports torch)."""

import ast
import json
import os
import subprocess
import sys

from components import features as F

HANDLER = os.path.join(os.path.dirname(__file__), "..", "..", "serving", "torchserve", "handler.py")

PARSE = """
import json, sys
from ts.utils.util import PredictionException
sys.path.insert(0, sys.argv[1])
import handler
h = handler.BigTipperHandler()
out = []
for body in json.loads(sys.argv[2]):
    try:
        numbers, strings = h.preprocess([{"body": body}])
        out.append({"rows": len(strings["payment_type"]), "fare": numbers["fare"].tolist(),
                    "company": strings["company"]})
    except PredictionException as error:
        out.append({"error": error.error_code, "message": str(error)})
print(json.dumps(out))
"""


def _handler_constants():
    tree = ast.parse(open(HANDLER).read())
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.literal_eval(node.value) if isinstance(node.value, ast.Tuple) else None
    return values


def test_handler_features_are_the_serving_features():
    constants = _handler_constants()
    strings = {n for n in F.SERVING_FEATURES if F.RAW_DTYPES[n] == F.STRING}
    assert set(constants["STRING_FEATURES"]) == strings
    assert set(constants["NUMBER_FEATURES"]) == set(F.SERVING_FEATURES) - strings


def test_handler_parses_rows_and_rejects_bad_bodies():
    bodies = [
        {"instances": [{"fare": 9.5, "company": None}, {"payment_type": "Cash"}]},  # missing -> NaN / ""
        "not json at all",
        {"rows": []},
        {"instances": [{"fare": "nine"}]},
        {"instances": [3]},
    ]
    out = subprocess.run([sys.executable, "-c", PARSE, os.path.dirname(HANDLER),
                          json.dumps([json.dumps(b) if not isinstance(b, str) else b for b in bodies])],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ok, not_json, no_instances, text_number, not_object = json.loads(out.stdout)
    assert ok["rows"] == 2 and ok["fare"][0] == 9.5 and ok["fare"][1] != ok["fare"][1]  # NaN
    assert ok["company"] == ["", ""]
    for bad, words in ((not_json, "not JSON"), (no_instances, "instances"), (text_number, "'fare'"),
                       (not_object, "object")):
        assert bad["error"] == 400 and words in bad["message"], bad

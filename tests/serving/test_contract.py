"""serving/contract.py: what a request body may be, and the 400 that names what it breaks."""

import json
import math

import pytest

from serving.contract import Contract, ContractError

CONTRACT = Contract(features={"miles": "number", "hour": "number", "company": "string", "payment": "string"},
                    model="taxi", max_rows=3)
ROW = '{"miles": 2.5, "hour": 14, "company": "Flash Cab", "payment": "Cash"}'


def body(*rows: str, **fields: str) -> bytes:
    """{"instances": [rows...], other fields...} as bytes; each row and field JSON text."""
    parts = [f'"instances": [{", ".join(rows)}]'] + [f'"{name}": {value}' for name, value in fields.items()]
    return ("{" + ", ".join(parts) + "}").encode()


def row(**values: str) -> str:
    """ROW with some values replaced (JSON text) or removed (None)."""
    fields = {"miles": "2.5", "hour": "14", "company": '"Flash Cab"', "payment": '"Cash"'} | values
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items() if v is not None) + "}"


def test_good_rows_become_columns_with_missing_values():
    columns = CONTRACT.parse(body(ROW, '{"miles": null, "hour": 0, "company": "", "payment": null}'))
    assert columns.rows == 2
    assert columns.numbers["miles"][0] == 2.5 and math.isnan(columns.numbers["miles"][1])
    assert columns.numbers["hour"] == [14.0, 0.0]
    assert columns.strings == {"company": ["Flash Cab", ""], "payment": ["Cash", ""]}


def test_text_and_a_bytearray_parse_as_bytes_do():
    assert CONTRACT.parse(body(ROW).decode()) == CONTRACT.parse(bytearray(body(ROW))) == CONTRACT.parse(body(ROW))


def test_the_default_signature_may_be_named():
    assert CONTRACT.parse(body(ROW, signature_name='"serving_default"')).rows == 1


def test_the_answer_is_tf_servings_for_one_output():
    assert Contract.response([0.25, 1]) == {"predictions": [0.25, 1.0]}


def test_a_contract_reads_its_file(tmp_path):
    (tmp_path / "contract.json").write_text(json.dumps({"model": "taxi", "features": CONTRACT.features}))
    assert Contract.from_file(str(tmp_path / "contract.json"), max_rows=3) == CONTRACT


BAD = [  # (id, body, words its message must hold)
    ("not-utf8", b'\xff\xfe{"instances": []}', ["UTF-8"]),
    ("not-json", b'{"instances": [', ["not valid JSON"]),
    ("not-an-object", b"[1, 2]", ["JSON object", "instances"]),
    ("no-instances", b'{"rows": []}', ["instances"]),
    ("instances-not-a-list", b'{"instances": {"miles": 1}}', ["instances", "list"]),
    ("empty-instances", body(), ["instances", "non-empty"]),
    ("row-not-an-object", body("[2.5, 14, \"Flash Cab\", \"Cash\"]"), ["row 0", "object"]),
    ("missing-feature", body(ROW, row(company=None)), ["row 1", "missing", "'company'"]),
    ("unknown-feature", body(row(tip="1.5")), ["unknown", "'tip'"]),
    ("misspelled-feature", body(row(company=None, compnay='"Flash Cab"')), ["'company'", "'compnay'"]),
    ("string-for-number", body(row(miles='"2.5"')), ["'miles'", "number"]),
    ("number-for-string", body(row(company="7")), ["'company'", "string"]),
    ("bool-for-number", body(row(miles="true")), ["'miles'", "number", "true"]),
    ("bool-for-string", body(row(payment="false")), ["'payment'", "string"]),
    ("list-for-number", body(row(hour="[14]")), ["'hour'", "number"]),
    ("nan", body(row(miles="NaN")), ["'miles'", "finite", "NaN"]),
    ("infinity", body(row(hour="Infinity")), ["'hour'", "finite", "Infinity"]),
    ("minus-infinity", body(row(miles="-Infinity")), ["'miles'", "finite", "-Infinity"]),
    ("float-overflow", body(row(miles="1e400")), ["'miles'", "finite"]),
    ("int-too-large-for-a-float", body(row(miles=str(10**400))), ["'miles'", "too large"]),
    ("int-with-5000-digits", body(row(miles="9" * 5000)), ["integer", "digits"]),
    ("nested-too-deeply", b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", ["nested"]),
    ("too-many-rows", body(ROW, ROW, ROW, ROW), ["4 rows", "at most 3"]),
    ("other-signature", body(ROW, signature_name='"predict"'), ["signature_name", "serving_default"]),
    ("other-field", body(ROW, inputs="{}"), ["'inputs'"]),
]


@pytest.mark.parametrize("bad, words", [pytest.param(b, w, id=i) for i, b, w in BAD])
def test_a_bad_body_is_a_400_that_names_the_problem(bad, words):
    with pytest.raises(ContractError) as error:
        CONTRACT.parse(bad)
    assert error.value.status == 400
    for word in words:
        assert word in str(error.value)


PARSED = [param for param in BAD if param[0] not in {"not-utf8", "not-json", "int-with-5000-digits",
                                                     "nested-too-deeply"}]  # json.loads refuses these


@pytest.mark.parametrize("bad, words", [pytest.param(b, w, id=i) for i, b, w in PARSED])
def test_a_body_a_server_already_parsed_gets_the_same_answer(bad, words):
    """As TorchServe's worker parses a JSON body: NaN and +-Infinity become floats."""
    with pytest.raises(ContractError) as from_bytes:
        CONTRACT.parse(bad)
    with pytest.raises(ContractError) as from_parsed:
        CONTRACT.parse(json.loads(bad))
    assert (from_parsed.value.status, str(from_parsed.value)) == (from_bytes.value.status, str(from_bytes.value))


def test_a_good_body_a_server_already_parsed_gives_the_same_columns():
    good = body(ROW, '{"miles": null, "hour": 0, "company": "", "payment": null}')
    assert repr(CONTRACT.parse(json.loads(good))) == repr(CONTRACT.parse(good))  # repr: NaN != NaN

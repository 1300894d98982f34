"""`tandem predict`'s argument errors, through the real CLI in a process of its own: exit 2
and one line naming the problem; nothing written. No pipeline run: where a pushed model
is needed, a stand-in archive holds the contract (its model is never loaded, but in the
last test, where a broken one fails the PyTorch process: exit 1). tests/e2e/test_predict.py
scores with real pushed models."""

import json
import os
import zipfile

import pytest
from helpers import SAMPLE_CSV, TAXI, read_rows, write_rows

from tandem.exits import FAILED, USAGE


def fake_pushed_archive(home, features: dict | None = None, version: int = 1700000000) -> str:
    """<home>/serving/torch/model_store/big_tipper-<version>.mar, as the pusher lays it out:
    the manifest, a model.pt (not a model), and the contract."""
    store = os.path.join(home, "serving", "torch", "model_store")
    os.makedirs(store, exist_ok=True)
    path = os.path.join(store, f"{TAXI.model_name}-{version}.mar")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("MAR-INF/MANIFEST.json", json.dumps({"model": {"modelName": TAXI.model_name,
                                                                        "serializedFile": "model.pt"}}))
        archive.writestr("model.pt", b"not a TorchScript model")
        archive.writestr("contract.json", json.dumps({"model": TAXI.model_name,
                                                      "features": features or TAXI.contract()}))
    return path


def sample_without(tmp_path, column: str) -> str:
    header, rows = read_rows()
    return write_rows(tmp_path / f"no_{column}.csv", [h for h in header if h != column], rows)


@pytest.fixture
def predict(run_cli, tmp_path):
    def run(*args: str) -> tuple[int, str, str]:
        return run_cli("predict", *args)

    return run


@pytest.mark.parametrize("target", ["tf", "torch"])
def test_no_pushed_model_says_what_to_run(predict, tmp_path, target):
    code, out, err = predict(target, "--home", str(tmp_path / "home"), "--data", SAMPLE_CSV,
                             "--out", str(tmp_path / "p.csv"))
    assert code == USAGE, out + err
    assert f"run `tandem run {target}` first" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "p.csv")


BAD = {
    "no such CSV": (["--data", "/no/such/trips.csv"], "--data /no/such/trips.csv: no such file"),
    "a folder for --data": (["--data", "{tmp}"], "a folder"),
    "a CSV without a model feature": (["--data", "{tmp}/no_fare.csv"], "no column 'fare'"),
    "--out into a missing folder": (["--out", "/no/such/folder/p.csv"], "--out"),
    "--out onto --data": (["--data", "{tmp}/copy.csv", "--out", "{tmp}/copy.csv"], "the same file as --data"),
    "a number column with a word": (["--data", "{tmp}/word.csv"], "data row 2: fare is not a finite number: 'nine'"),
    "an infinite number": (["--data", "{tmp}/inf.csv"], "data row 1: trip_miles is not a finite number: 'inf'"),
    "a row with too many fields": (["--data", "{tmp}/ragged.csv"], "data row 1 has 21 fields, the header 18"),
}


@pytest.mark.parametrize("target", ["tf", "torch"])
@pytest.mark.parametrize("case", BAD)
def test_bad_arguments_exit_2_and_write_nothing(predict, tmp_path, case, target):
    header, rows = read_rows()
    sample_without(tmp_path, "fare")
    write_rows(tmp_path / "copy.csv", header, rows)
    write_rows(tmp_path / "word.csv", header, [rows[0], {**rows[1], "fare": "nine"}, *rows[2:]])
    write_rows(tmp_path / "inf.csv", header, [{**rows[0], "trip_miles": "inf"}, *rows[1:]])
    with open(tmp_path / "ragged.csv", "w") as f:
        f.write(",".join(header) + "\n" + ",".join(["1"] * (len(header) + 3)) + "\n")
    home = str(tmp_path / "home")
    fake_pushed_archive(home)  # the torch branch's model is "pushed"; the tf branch's is not
    argv, words = BAD[case]
    given = dict(zip(argv[::2], argv[1::2], strict=True))
    args = {"--data": SAMPLE_CSV, "--out": str(tmp_path / "p.csv"), **given}
    code, out, err = predict(target, "--home", home, *[a.format(tmp=tmp_path) for kv in args.items() for a in kv])
    assert code == USAGE, out + err
    if target == "tf" and case in ("a number column with a word", "an infinite number", "a row with too many fields"):
        words = "run `tandem run tf` first"  # the cells are read after the model is found
    assert "tandem: error:" in err and words in err and "Traceback" not in err, err
    assert not os.path.exists(tmp_path / "p.csv")
    assert not [n for n in os.listdir(tmp_path) if ".partial" in n]


def test_a_feature_the_pushed_model_reads_and_the_csv_lacks(predict, tmp_path):
    """The pushed model's own contract is checked too (a model pushed before the dataset changed)."""
    home = str(tmp_path / "home")
    fake_pushed_archive(home, {**TAXI.contract(), "pickup_census_tract": "number", "weather": "string"})
    code, out, err = predict("torch", "--home", home, "--data", SAMPLE_CSV, "--out", str(tmp_path / "p.csv"))
    assert code == USAGE, out + err
    assert "no column 'weather'" in err and "the pushed torch model reads" in err


def test_a_model_that_does_not_load_fails_with_exit_1(predict, tmp_path):
    home = str(tmp_path / "home")
    fake_pushed_archive(home)
    code, out, err = predict("torch", "--home", home, "--data", SAMPLE_CSV, "--out", str(tmp_path / "p.csv"))
    assert code == FAILED, out + err
    assert "the PyTorch scoring process failed" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == ["home"]

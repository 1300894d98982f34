"""The shared gate: the curated schema accepts real data and stops corrupted copies.

Each corrupted copy of the checked-in sample goes through `tandem run tf`; the run must
stop before Transform with a message naming the problem, and train and push nothing.
"""

import os

import pytest
import tensorflow_data_validation as tfdv

from helpers import IN_MEMORY, SAMPLE_CSV, TAXI, read_rows, write_rows
from tandem.cli import EXIT_FAILED, EXIT_INVALID_DATA


@pytest.mark.parametrize("path", [SAMPLE_CSV, TAXI.bundled_csv("")], ids=["sample", "bundled"])
def test_curated_schema_accepts_the_real_data(path):
    stats = tfdv.generate_statistics_from_csv(path)
    anomalies = tfdv.validate_statistics(stats, tfdv.load_schema_text(TAXI.schema_path))
    assert dict(anomalies.anomaly_info) == {}


def _set(column, value, every=7):
    def corrupt(header, rows):
        for i, r in enumerate(rows):
            if i % every == 0:
                r[column] = value
        return header, rows
    return corrupt


def _drop(column):
    return lambda header, rows: ([h for h in header if h != column], rows)


def _add(column):
    def corrupt(header, rows):
        for r in rows:
            r[column] = "1"
        return header + [column], rows
    return corrupt


# name -> (how to corrupt the sample, text the message must hold)
CORRUPTIONS = {
    "missing column": (_drop("fare"), "feature 'fare'"),
    "text in a numeric column": (_set("trip_miles", "twelve"), "feature 'trip_miles'"),
    "unseen category": (_set("payment_type", "Bitcoin"), "feature 'payment_type'"),
    "out of range": (_set("trip_start_hour", "25"), "feature 'trip_start_hour'"),
    "missing label input": (_set("tips", ""), "feature 'tips'"),
    "new column (schema drift)": (_add("driver_rating"), "feature 'driver_rating'"),
}


def _assert_nothing_after_the_gate(home):
    ran = set(os.listdir(os.path.join(home, "pipelines", "tandem-taxi")))
    assert ran <= {"CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomaliesGate"}, ran
    assert not os.path.exists(os.path.join(home, "serving"))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_gate_stops_corrupted_data(name, tmp_path, run_cli):
    corrupt, expected = CORRUPTIONS[name]
    header, rows = corrupt(*read_rows())
    data = write_rows(tmp_path / "trips.csv", header, rows)
    home = str(tmp_path / "home")
    code, out, err = run_cli("run", "tf", "--data", data, "--home", home, *IN_MEMORY)
    assert code == EXIT_INVALID_DATA, out + err
    assert "STOPPED by the validation gate" in err
    assert expected in err
    assert "ExampleAnomalies" in err  # where the full report is
    _assert_nothing_after_the_gate(home)


@pytest.mark.parametrize("content", ["", open(SAMPLE_CSV).readline()], ids=["empty", "header only"])
def test_a_file_without_rows_is_stopped_by_the_gate(content, tmp_path, run_cli):
    (tmp_path / "empty.csv").write_text(content)
    home = str(tmp_path / "home")
    code, _, err = run_cli("run", "tf", "--data", str(tmp_path / "empty.csv"), "--home", home, *IN_MEMORY)
    assert code == EXIT_INVALID_DATA
    assert "no rows" in err
    _assert_nothing_after_the_gate(home)


@pytest.mark.parametrize("bad_line", ['14,8.85,4,19,7,"unbalanced', "1,2,3"], ids=["quote", "field count"])
def test_malformed_csv_ends_in_a_clear_message(bad_line, tmp_path, run_cli):
    lines = open(SAMPLE_CSV).read().splitlines()
    (tmp_path / "trips.csv").write_text("\n".join(lines[:50] + [bad_line] + lines[50:]) + "\n")
    home = str(tmp_path / "home")
    code, _, err = run_cli("run", "tf", "--data", str(tmp_path / "trips.csv"), "--home", home, *IN_MEMORY)
    assert code == EXIT_FAILED
    assert "could not read the CSV input" in err and "trips.csv" in err
    assert "CsvExampleGen failed" in err
    assert "Traceback" not in err
    _assert_nothing_after_the_gate(home)


def test_with_spans_the_latest_span_is_read_and_validated(tmp_path, run_cli):
    header, rows = read_rows()
    (tmp_path / "span-1").mkdir()
    (tmp_path / "span-2").mkdir()
    write_rows(tmp_path / "span-1" / "trips.csv", header, rows)
    _, corrupted = _set("payment_type", "Bitcoin")(header, read_rows()[1])
    write_rows(tmp_path / "span-2" / "trips.csv", header, corrupted)
    home = str(tmp_path / "home")
    code, out, err = run_cli("run", "tf", "--data", str(tmp_path), "--input-pattern", "span-{SPAN}/*.csv",
                             "--home", home, *IN_MEMORY)
    assert code == EXIT_INVALID_DATA and "Bitcoin" in err  # span 2, not span 1, was read


def test_schema_draft_infers_every_column(tmp_path, run_cli):
    out = tmp_path / "draft.pbtxt"
    code, stdout, err = run_cli("schema", "draft", "--data", SAMPLE_CSV, "--out", str(out),
                                "--home", str(tmp_path / "home"))
    assert code == 0, err
    draft = tfdv.load_schema_text(str(out))
    assert {f.name for f in draft.feature} == set(read_rows()[0])


@pytest.mark.parametrize("pipeline", ["torch", "all"])
def test_the_same_gate_stops_the_pytorch_branch_with_the_same_message(pipeline, tmp_path, run_cli):
    corrupt, expected = CORRUPTIONS["unseen category"]
    data = write_rows(tmp_path / "trips.csv", *corrupt(*read_rows()))
    home = str(tmp_path / "home")
    code, _, err = run_cli("run", pipeline, "--data", data, "--home", home, *IN_MEMORY)
    assert code == EXIT_INVALID_DATA and expected in err and "Bitcoin" in err
    _assert_nothing_after_the_gate(home)

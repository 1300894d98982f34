"""The shared gate: the curated schema accepts the real data and stops bad data.

Each bad dataset goes through the real CLI (`tandem run tf`, a process of its own). The run
must stop at the gate (exit 3) or at ExampleGen (exit 1, a file it cannot read) with a
message naming the problem, and train and push nothing.
"""

import os

import pytest
import tensorflow_data_validation as tfdv
from helpers import SAMPLE_CSV, TAXI, read_rows, write_rows

from tandem.exits import FAILED, INVALID_DATA

with open(SAMPLE_CSV) as _sample:
    SAMPLE_LINES = _sample.readlines()
FRONT = {"CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomaliesGate"}


@pytest.mark.parametrize("path", [SAMPLE_CSV, TAXI.bundled_csv("")], ids=["sample", "bundled"])
def test_curated_schema_accepts_the_real_data(path):
    stats = tfdv.generate_statistics_from_csv(path)
    anomalies = tfdv.validate_statistics(stats, tfdv.load_schema_text(TAXI.schema_path))
    assert dict(anomalies.anomaly_info) == {}


# ------------------------------------------------------------ ways to spoil the sample
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


def _first(n):
    return lambda header, rows: (header, rows[:n])


# name -> (how to spoil the sample, text the message must hold); each stops at the gate
SPOILED = {
    "missing column": (_drop("fare"), "feature 'fare'"),
    "text in a numeric column": (_set("trip_miles", "twelve"), "feature 'trip_miles'"),
    "a fraction in an integer column": (_set("trip_start_day", "3.5"), "feature 'trip_start_day'"),
    "unseen category": (_set("payment_type", "Bitcoin"), "feature 'payment_type'"),
    "missing category": (_set("payment_type", ""), "feature 'payment_type'"),
    "hour out of range": (_set("trip_start_hour", "25"), "feature 'trip_start_hour'"),
    "community area out of range": (_set("pickup_community_area", "0"), "feature 'pickup_community_area'"),
    "census tract out of range": (_set("dropoff_census_tract", "999"), "feature 'dropoff_census_tract'"),
    "latitude outside Chicago": (_set("pickup_latitude", "0.0"), "feature 'pickup_latitude'"),
    "negative fare": (_set("fare", "-3.25"), "feature 'fare'"),
    "timestamp before the data set": (_set("trip_start_timestamp", "86400"), "feature 'trip_start_timestamp'"),
    "missing label input": (_set("tips", ""), "feature 'tips'"),
    "NaN label input": (_set("tips", "nan"), "feature 'tips'"),
    "NaN fare": (_set("fare", "nan"), "feature 'fare'"),
    "infinite distance": (_set("trip_miles", "inf"), "feature 'trip_miles'"),
    "new column (schema drift)": (_add("driver_rating"), "feature 'driver_rating'"),
    "too few rows": (_first(30), "fewer than expected"),
}


def _assert_nothing_after_the_gate(home):
    ran = set(os.listdir(os.path.join(home, "pipelines", "tandem-taxi")))
    assert ran <= FRONT | {"ValidatedStatisticsHistory", "KerasLatestBlessedModel"}, ran
    assert not os.path.exists(os.path.join(home, "serving"))


def run_tf(run_cli, data, home, *extra):
    return run_cli("run", "tf", "--data", str(data), "--home", str(home), *extra)


@pytest.mark.parametrize("name", SPOILED)
def test_the_gate_stops_bad_data(name, tmp_path, run_cli):
    spoil, expected = SPOILED[name]
    data = write_rows(tmp_path / "trips.csv", *spoil(*read_rows()))
    code, out, err = run_tf(run_cli, data, tmp_path / "home")
    assert code == INVALID_DATA, out + err
    assert "STOPPED by the validation gate" in err and expected in err
    assert "ExampleAnomalies" in err  # where the full report is
    assert "Traceback" not in err
    _assert_nothing_after_the_gate(tmp_path / "home")


@pytest.mark.parametrize("rows", [None, 0], ids=["empty", "header only"])
def test_a_file_without_rows_is_stopped_by_the_gate(rows, tmp_path, run_cli):
    (tmp_path / "empty.csv").write_text("" if rows is None else "".join(SAMPLE_LINES[:1]))
    code, _, err = run_tf(run_cli, tmp_path / "empty.csv", tmp_path / "home")
    assert code == INVALID_DATA and "no rows" in err
    _assert_nothing_after_the_gate(tmp_path / "home")


@pytest.mark.parametrize("bad_line", ['14,8.85,4,19,7,"unbalanced', "1,2,3"], ids=["quote", "field count"])
def test_a_file_csv_cannot_read_ends_in_a_clear_message(bad_line, tmp_path, run_cli):
    lines = "".join(SAMPLE_LINES).splitlines()
    (tmp_path / "trips.csv").write_text("\n".join(lines[:50] + [bad_line] + lines[50:]) + "\n")
    code, _, err = run_tf(run_cli, tmp_path / "trips.csv", tmp_path / "home")
    assert code == FAILED
    assert "could not read the CSV input" in err and "trips.csv" in err and "CsvExampleGen failed" in err
    assert "Traceback" not in err
    _assert_nothing_after_the_gate(tmp_path / "home")


def test_a_semicolon_separated_file_is_stopped(tmp_path, run_cli):
    text = "".join(SAMPLE_LINES).replace(",", ";")
    (tmp_path / "trips.csv").write_text(text)
    code, _, err = run_tf(run_cli, tmp_path / "trips.csv", tmp_path / "home")
    assert code == INVALID_DATA and "feature 'fare'" in err  # one column, named by the whole header
    _assert_nothing_after_the_gate(tmp_path / "home")


@pytest.mark.parametrize("pipeline", ["torch", "all"])
def test_the_same_gate_stops_the_pytorch_branch_with_the_same_message(pipeline, tmp_path, run_cli):
    spoil, expected = SPOILED["unseen category"]
    data = write_rows(tmp_path / "trips.csv", *spoil(*read_rows()))
    code, _, err = run_cli("run", pipeline, "--data", data, "--home", str(tmp_path / "home"))
    assert code == INVALID_DATA and expected in err and "Bitcoin" in err
    _assert_nothing_after_the_gate(tmp_path / "home")


def test_schema_draft_infers_every_column(tmp_path, run_cli):
    out = tmp_path / "draft.pbtxt"
    code, _, err = run_cli("schema", "draft", "--data", SAMPLE_CSV, "--out", str(out), "--home", str(tmp_path / "home"))
    assert code == 0, err
    assert {f.name for f in tfdv.load_schema_text(str(out)).feature} == set(read_rows()[0])

"""Spans: only the latest span is read and validated, and it is compared with the previous
one that passed the gate (drift), through the real CLI.

One folder of spans for the module, growing as a user's would: span 1 is bad, span 2 good
(read alone: it trains; nothing earlier passed, so drift is not checked), span 3 drifted
(stopped, naming the feature, the distance and span 2)."""

import os

import pytest
from helpers import IN_MEMORY, read_rows, write_rows

from tandem.exits import INVALID_DATA

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("spans")]
PATTERN = "span-{SPAN}/*.csv"


@pytest.fixture(scope="module")
def spans(tmp_path_factory):
    root = tmp_path_factory.mktemp("spans")
    header, rows = read_rows()
    (root / "span-1").mkdir()
    write_rows(root / "span-1" / "trips.csv", header, [{**r, "payment_type": "Bitcoin"} for r in rows])
    (root / "span-2").mkdir()
    write_rows(root / "span-2" / "trips.csv", header, rows)
    return root, tmp_path_factory.mktemp("home")


def run(run_cli, spans):
    root, home = spans
    return run_cli("run", "tf", "--data", str(root), "--input-pattern", PATTERN, "--home", str(home),
                   "--train-steps", "200", *IN_MEMORY)


def pushed(home):
    folder = os.path.join(home, "serving", "keras", "big_tipper")
    return sorted(v for v in os.listdir(folder) if v.isdigit()) if os.path.isdir(folder) else []


def test_the_latest_span_is_read_alone_and_the_first_is_not_checked_for_drift(spans, run_cli):
    code, out, err = run(run_cli, spans)
    assert code == 0, err  # span 1's Bitcoin was not read
    assert "drift: not checked (no previous span)" in out
    assert len(pushed(spans[1])) == 1


def test_a_span_that_drifted_from_the_previous_one_is_stopped(spans, run_cli):
    root, home = spans
    before = pushed(home)
    header, rows = read_rows()
    (root / "span-3").mkdir()
    write_rows(root / "span-3" / "trips.csv", header, [{**r, "payment_type": "Cash"} for r in rows])
    code, _, err = run(run_cli, spans)
    assert code == INVALID_DATA, err
    assert "feature 'payment_type': drift since span 2" in err and "Linfty distance" in err
    assert pushed(home) == before  # nothing trained or pushed on it


def test_a_span_like_the_previous_one_passes_and_says_so(spans, run_cli):
    root, _ = spans
    (root / "span-3" / "trips.csv").unlink()
    with open(root / "span-2" / "trips.csv") as src, open(root / "span-3" / "trips.csv", "w") as dst:
        dst.write(src.read())
    code, out, err = run(run_cli, spans)
    assert code == 0, err
    assert "drift since span 2: none above the schema's thresholds" in out

"""Spans: only the latest span is read and validated, and it is compared with the previous
one that passed the gate (drift), through the real CLI.

One folder of spans, growing as a user's would, run in order by the fixture: span 1 is bad,
span 2 good (read alone: it trains; nothing earlier passed, so drift is not checked), span 3
drifted (stopped, naming the feature, the distance and span 2), then span 3 replaced by data
like span 2's (passes, drift checked against span 2). The tests read what each run did."""

import os

import pytest
from helpers import read_rows, tandem, write_rows

from tandem.exits import INVALID_DATA

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("spans")]
PATTERN = "span-{SPAN}/*.csv"


def pushed(home):
    folder = os.path.join(home, "serving", "keras", "big_tipper")
    return sorted(v for v in os.listdir(folder) if v.isdigit()) if os.path.isdir(folder) else []


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root, home = tmp_path_factory.mktemp("spans"), str(tmp_path_factory.mktemp("home"))
    header, rows = read_rows()

    def span(number, changed):
        (root / f"span-{number}").mkdir(exist_ok=True)
        write_rows(root / f"span-{number}" / "trips.csv", header, [{**r, **changed} for r in rows])

    def run():
        out = tandem("run", "tf", "--data", str(root), "--input-pattern", PATTERN, "--home", home,
                     "--train-steps", "200")
        return out, pushed(home)

    span(1, {"payment_type": "Bitcoin"})
    span(2, {})
    first = run()
    span(3, {"payment_type": "Cash"})
    drifted = run()
    span(3, {})
    like_before = run()
    return first, drifted, like_before


def test_the_latest_span_is_read_alone_and_the_first_is_not_checked_for_drift(runs):
    (out, versions), _, _ = runs
    assert out.returncode == 0, out.stderr  # span 1's Bitcoin was not read
    assert "drift: not checked (no previous span)" in out.stdout
    assert len(versions) == 1


def test_a_span_that_drifted_from_the_previous_one_is_stopped(runs):
    (_, before), (out, after), _ = runs
    assert out.returncode == INVALID_DATA, out.stdout + out.stderr
    assert "feature 'payment_type': drift since span 2" in out.stderr and "Linfty distance" in out.stderr
    assert after == before  # nothing trained or pushed on it


def test_a_span_like_the_previous_one_passes_and_says_so(runs):
    _, _, (out, _) = runs
    assert out.returncode == 0, out.stderr
    assert "drift since span 2: none above the schema's thresholds" in out.stdout

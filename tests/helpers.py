"""Test helpers: the checked-in sample and ways to write corrupted copies of it."""

import csv
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_CSV = os.path.join(REPO, "data", "taxi_sample.csv")
# Tests run small data: one in-process Beam worker starts faster than a pool.
IN_MEMORY = ["--beam-arg=--direct_running_mode=in_memory"]


def read_rows(path: str = SAMPLE_CSV) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


def write_rows(path, header: list[str], rows: list[dict]) -> str:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return str(path)

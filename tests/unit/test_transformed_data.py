"""pipelines/transformed_data.load_split: how both trainers read the Transform's output.
Parquet shards of transformed examples written here as tandem's Transform writes them
(tf.Transform's Arrow schema: a list column per feature; components/materialize.py; that
the Transform itself writes them so is tests/unit/test_materialize.py), read back as columns."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.transformed_data import load_split

ROWS = [(0.5, 1), (-1.25, 0), (3.0, 1), (2.0, 0), (0.0, 0)]  # (z, label)
SCHEMA = pa.schema([("label", pa.large_list(pa.int64())), ("z", pa.large_list(pa.float32()))])


def write(folder, name: str, rows: list[tuple], schema=SCHEMA) -> None:
    """Rows of (z values, label values) as one Parquet shard."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({"label": [label for _, label in rows], "z": [z for z, _ in rows]}, schema=schema)
    pq.write_table(table, folder / name, compression="zstd")


def one_each(rows):
    return [([z], [label]) for z, label in rows]


def rows_of(columns) -> list[tuple]:
    return sorted(zip(columns["z"].tolist(), columns["label"].tolist(), strict=True))


def test_every_row_of_every_shard_comes_back_once_as_one_value_per_feature(tmp_path):
    write(tmp_path, "transformed_examples-00000-of-00002.parquet", one_each(ROWS[:2]))
    write(tmp_path, "transformed_examples-00001-of-00002.parquet", one_each(ROWS[2:]))
    columns = load_split([str(tmp_path / "*")])
    assert columns["z"].dtype == np.float32 and columns["label"].dtype == np.int64
    assert rows_of(columns) == sorted(ROWS)


def test_only_the_files_the_pattern_names_are_read(tmp_path):
    write(tmp_path / "Split-train", "part-0.parquet", one_each(ROWS[:3]))
    write(tmp_path / "Split-eval", "part-0.parquet", one_each(ROWS[3:]))
    (tmp_path / "Split-train" / "notes.txt").write_text("not data")
    assert rows_of(load_split([str(tmp_path / "Split-train" / "*.parquet")])) == sorted(ROWS[:3])


def test_the_rows_come_in_the_same_order_whatever_the_shards(tmp_path):
    write(tmp_path / "a", "part-0.parquet", one_each(ROWS))
    for i, row in enumerate(reversed(ROWS)):
        write(tmp_path / "b", f"part-{i}.parquet", one_each([row]))
    first, second = load_split([str(tmp_path / "a" / "*")]), load_split([str(tmp_path / "b" / "*")])
    assert first["z"].tolist() == second["z"].tolist() and first["label"].tolist() == second["label"].tolist()


@pytest.mark.parametrize("bad, says", [
    (([], [1]), r"'z' has 0 values in row 1"),            # a value missing
    (([1.0, 2.0], [1]), r"'z' has 2 values in row 1"),    # two values where Transform writes one
    (([1.0], None), r"'label' has 0 values in row 1"),    # a null list
], ids=["missing", "repeated", "null"])
def test_a_row_without_exactly_one_value_per_feature_is_an_error_naming_the_feature(tmp_path, bad, says):
    write(tmp_path, "part-0.parquet", [([0.5], [1]), bad])
    with pytest.raises(ValueError, match=rf"transformed examples in .*{says}"):
        load_split([str(tmp_path / "*")])


def test_a_column_that_is_not_numbers_is_an_error_naming_it(tmp_path):
    schema = pa.schema([("label", pa.large_list(pa.int64())), ("z", pa.large_list(pa.binary()))])
    write(tmp_path, "part-0.parquet", [([b"x"], [1])], schema=schema)
    with pytest.raises(ValueError, match=r"transformed feature 'z' is large_list<\w+: binary>"):
        load_split([str(tmp_path / "*")])


def test_tfrecords_or_no_files_are_an_error_naming_the_files(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "transformed_examples-00000-of-00001.gz").write_bytes(b"\x1f\x8b not parquet")
    with pytest.raises(ValueError, match=r"transformed examples in .*old/\*: .*[Pp]arquet"):
        load_split([str(tmp_path / "old" / "*")])
    with pytest.raises(ValueError, match=r"transformed examples in .*nothing/\*: no files"):
        load_split([str(tmp_path / "nothing" / "*")])


def test_a_split_without_rows_gives_empty_columns(tmp_path):
    write(tmp_path, "part-0.parquet", [])
    columns = load_split([str(tmp_path / "*")])
    assert {name: (len(values), values.dtype) for name, values in columns.items()} == {
        "z": (0, np.float32), "label": (0, np.int64)}

"""The Transform's output split as in-memory columns: as read (the PyTorch trainer batches
them through their canonical order), or in the canonical row order (the Keras trainer, and
both trainers' eval splits; pipelines/training.py). No TensorFlow: pyarrow reads the Parquet
shards that tandem's Transform writes (components/materialize.py), column by column.

Each transformed feature is a list column, as tf.Transform's Arrow schema has it, and the
trainers take exactly one number per row: a row with none or several, or a column that is
not numbers, is an error that names it. On the 1.04e6 transformed taxi rows of
bench/train_throughput.py, reading and checking took 0.2-0.4 s in a warm process (0.4-0.9 s as
a process's first read; the Transform's row groups of 2^17 rows, components/materialize.py);
the same rows as gzipped tf.Examples took 3-6 s to decode through tf.data and
tf.io.parse_example (and 10.5 s through TFXIO's readers).
"""

import fnmatch
import io
import posixpath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs
import pyarrow.parquet as pq

from pipelines.training import in_canonical_order


def _files(file_patterns: list[str]) -> tuple[pyarrow.fs.FileSystem, list[str]]:
    """The files matching `file_patterns` (a folder, then a glob of names, as TFX's
    io_utils.all_files_pattern gives them: local paths or URIs such as gs://), sorted."""
    found, filesystem = [], None
    for pattern in file_patterns:
        folder, names = posixpath.split(pattern)
        filesystem, path = pyarrow.fs.FileSystem.from_uri(folder if "://" in folder else posixpath.abspath(folder))
        found += [info.path for info in filesystem.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
                  if info.type == pyarrow.fs.FileType.File and fnmatch.fnmatch(info.base_name, names)]
    if not found:
        raise ValueError("no files")
    return filesystem, sorted(found)


def _one_number_per_row(name: str, column: pa.ChunkedArray) -> np.ndarray:
    lists = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if not (pa.types.is_list(lists.type) or pa.types.is_large_list(lists.type)) or not (
            pa.types.is_integer(lists.type.value_type) or pa.types.is_floating(lists.type.value_type)):
        raise ValueError(f"transformed feature {name!r} is {lists.type}: the trainers take a list of numbers, "
                         "one per row")
    lengths = pc.list_value_length(lists).fill_null(0)
    if len(lists) and not pc.all(pc.equal(lengths, 1)).as_py():
        bad = int(pc.index(pc.equal(lengths, 1), False).as_py())
        raise ValueError(f"transformed feature {name!r} has {lengths[bad].as_py()} values in row {bad} of its "
                         "split: the trainers take exactly one per row")
    return lists.flatten().to_numpy(zero_copy_only=False)


def read_split(file_patterns: list[str]) -> dict[str, np.ndarray]:
    """Transformed examples (Parquet: features and label, one value each) ->
    {name: [rows] array}, in the files' order (training.canonical_order gives the order the
    trainers use)."""
    try:
        filesystem, files = _files(file_patterns)
        table = pq.read_table(files, filesystem=filesystem)  # not Parquet (another Transform's TFRecords), corrupt
        return {name: _one_number_per_row(name, table.column(name)) for name in table.column_names}
    except (pa.ArrowException, OSError, ValueError) as error:
        raise ValueError(f"transformed examples in {', '.join(file_patterns)}: {error}") from None


def load_split(file_patterns: list[str]) -> dict[str, np.ndarray]:
    """read_split's columns, in the canonical order."""
    return in_canonical_order(read_split(file_patterns))


def warm_up() -> None:
    """Pay pyarrow's start-up for reading Parquet (its thread pools, its allocator) on a table of
    one cell, ahead of the job: a process's first read of the 1.04e6-row train split above took
    0.36 s of reading alone, 0.13 s after this (which costs 0.17 s, ahead)."""
    one = io.BytesIO()
    pq.write_table(pa.table({"x": pa.array([[0.0]], pa.list_(pa.float32()))}), one)
    pq.read_table(pa.BufferReader(one.getvalue()))

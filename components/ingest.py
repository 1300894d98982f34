"""Ingest: CSV files become tf.Examples in an explicit train/eval split.

A run reads one folder of CSV files (`input_base`). `input_pattern` selects files in it;
with `{SPAN}` in the pattern (e.g. `span-{SPAN}/*.csv`) ExampleGen reads the latest span
and records its number, so new data arrives as a new span folder.

ExampleGen is TFX's CSV ExampleGen (FileBasedExampleGen with its CSV executor: reading,
parsing, type inference, hash splits, span handling), with two changes that leave the
examples as they are: see CsvExecutor.
"""

import itertools
import os

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow_data_validation as tfdv
from google.protobuf import any_pb2, struct_pb2
from tensorflow.core.example import example_pb2
from tfx.components.example_gen import base_example_gen_executor as tfx_example_gen
from tfx.components.example_gen import write_split
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils
from tfx_bsl.coders import csv_decoder
from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder

from components import statistics
from components.beam_mode import runs_in_memory
from components.fingerprint import code_fingerprint

STATISTICS_OPTIONS = "statistics_options"  # in the custom config: the options, as JSON (example_gen)


def _column(cells: list, kind: csv_decoder.ColumnType) -> pa.Array:
    """One CSV column of a batch of rows as TFX's CSV executor types it: one value per cell, an
    empty list for an empty cell, and no value kind at all (a null) in an all-empty column."""
    convert, arrow_type = {csv_decoder.ColumnType.INT: (int, pa.int64()),
                           csv_decoder.ColumnType.FLOAT: (float, pa.float32()),
                           csv_decoder.ColumnType.STRING: (bytes, pa.large_binary())}.get(kind, (None, pa.int64()))
    if convert is None:  # UNKNOWN: TFX writes tf.train.Feature() for every row
        return pa.nulls(len(cells), pa.large_list(arrow_type))
    values = [convert(cell) for cell in cells if cell]
    offsets = np.zeros(len(cells) + 1, np.int64)
    np.cumsum([bool(cell) for cell in cells], out=offsets[1:])
    if kind == csv_decoder.ColumnType.FLOAT:  # Python's float, then float32 as the proto rounds it
        with np.errstate(over="ignore"):
            values = np.asarray(values, np.float64).astype(np.float32)
    return pa.LargeListArray.from_arrays(offsets, pa.array(values, arrow_type))


@beam.typehints.with_input_types(list[list[csv_decoder.CSVCell]])
@beam.typehints.with_output_types(list[csv_decoder.ColumnInfo])
class _ColumnTypes(csv_decoder.ColumnTypeInferrer):
    """tfx_bsl's ColumnTypeInferrer (TFX's CSV type inference) for a batch of parsed rows at a
    time: a column's type is still the widest of its cells' (INT < FLOAT < STRING), found a
    column at a time, with tfx_bsl's own per-cell rule for any cell the quick path cannot
    settle (3x faster on the taxi columns)."""

    def add_input(self, accumulator, rows):
        for i, name in enumerate(self._column_names):  # a column never seen typed stays UNKNOWN
            kind = _widest_type([row[i] for row in rows if row[i]])
            if kind > accumulator.get(name, csv_decoder.ColumnType.UNKNOWN):
                accumulator[name] = kind
        return accumulator


def _widest_type(cells: list) -> csv_decoder.ColumnType:
    """max(csv_decoder._InferValueType(cell) for cell in cells): UNKNOWN for no cells."""
    if not cells:
        return csv_decoder.ColumnType.UNKNOWN
    try:  # INT when every cell is an int64; an integer beyond it types the column STRING
        ints = [int(cell) for cell in cells]
        inside = min(ints) >= csv_decoder._INT64_MIN and max(ints) <= csv_decoder._INT64_MAX
        return csv_decoder.ColumnType.INT if inside else csv_decoder.ColumnType.STRING
    except ValueError:
        pass
    try:  # some cell is no int: FLOAT when every cell is a number, but for huge integers
        numbers = [float(cell) for cell in cells]
    except ValueError:
        return csv_decoder.ColumnType.STRING
    huge = [cell for cell, number in zip(cells, numbers, strict=True) if not abs(number) < 2.0**62]
    return max([csv_decoder.ColumnType.FLOAT, *map(csv_decoder._InferValueType, huge)])


def _record_batch(rows: list, column_infos: list) -> pa.RecordBatch:
    """A batch of parsed rows, typed as TFX's CSV executor types them, column by column in Arrow:
    what tfx_bsl's C++ encoder turns into the tf.Examples TFX's _ParsedCsvToTfExample makes, at
    once instead of one protobuf message per cell in Python (2.7x faster on 1e5 taxi rows)."""
    columns = [_column([row[i] for row in rows], info.type) for i, info in enumerate(column_infos)]
    return pa.RecordBatch.from_arrays(columns, [info.name for info in column_infos])


def _as_decoded(batch: pa.RecordBatch, column_infos: list) -> pa.RecordBatch:
    """The record batch tfx_bsl's decoder (TFXIO, StatisticsGen's reader) makes of the batch's
    tf.Examples: columns by name, and a column with no value kind typed null."""
    unknown = {info.name for info in column_infos if info.type == csv_decoder.ColumnType.UNKNOWN}
    names = sorted(batch.schema.names)
    return pa.RecordBatch.from_arrays(
        [pa.nulls(batch.num_rows, pa.null()) if n in unknown else batch.column(n) for n in names], names)


class _RowsToExamples(beam.DoFn):
    """TFX's _ParsedCsvToTfExample for a batch of parsed rows at once (see _record_batch)."""

    def setup(self):
        self._encoder = RecordBatchToExamplesEncoder()

    def process(self, rows: list, column_infos: list):
        yield from map(example_pb2.Example.FromString, self._encoder.encode(_record_batch(rows, column_infos)))


class _RowsToSplits(beam.DoFn):
    """_RowsToExamples, then TFX's split of the examples (beam.Partition with TFX's
    _PartitionFn), for a batch of rows at once: out comes, tagged with each split's index, the
    list of the batch's examples it holds, serialized. An example goes where TFX sends it:
    _PartitionFn hashes its deterministic serialization (or the partition feature's), which is
    what is written. A Beam step per example fewer, and one serialization fewer, than TFX's
    Partition -> MaybeSerialize.

    With `batches`, also (split name, its rows as a record batch) tagged BATCHES: the rows as
    StatisticsGen would read them back from the examples (_as_decoded)."""

    BATCHES = "batches"

    def __init__(self, split_config: example_gen_pb2.SplitConfig, batches: bool = False):
        self._split_config, self._batches = split_config, batches
        self._buckets = list(itertools.accumulate(s.hash_buckets for s in split_config.splits))

    def setup(self):
        self._encoder = RecordBatchToExamplesEncoder()

    def process(self, rows: list, column_infos: list):
        by_feature = self._split_config.HasField("partition_feature_name")
        batch = _record_batch(rows, column_infos)
        records, rows_of = [[] for _ in self._buckets], [[] for _ in self._buckets]
        for row, encoded in enumerate(self._encoder.encode(batch)):
            example = example_pb2.Example.FromString(encoded)
            record = example.SerializeToString(deterministic=True)  # the C++ encoder's map order is its own
            index = 0 if len(self._buckets) == 1 else tfx_example_gen._PartitionFn(
                example if by_feature else record, len(self._buckets), self._buckets, self._split_config)
            records[index].append(record)
            rows_of[index].append(row)
        decoded = _as_decoded(batch, column_infos) if self._batches else None
        for index, (split, its_records, its_rows) in enumerate(zip(self._split_config.splits, records, rows_of,
                                                                   strict=True)):
            if its_records:
                yield beam.pvalue.TaggedOutput(str(index), its_records)
                if decoded is not None:
                    yield beam.pvalue.TaggedOutput(self.BATCHES, (split.name, decoded.take(pa.array(its_rows))))


class _ParsedRows(beam.DoFn):
    """A CSV file's records, parsed, in batches: TFX's reader (whole records, quoted line
    breaks included) and tfx_bsl's parser (ParseCSVLine's), in one step instead of three
    Beam steps per row. Blank lines are skipped and a row of another width is an error, as
    in TFX's executor."""

    BATCH = 4096

    def __init__(self, column_names: list[str]):
        self._column_names = column_names

    def setup(self):
        self._read = tfx_csv._ReadCsvRecordsFromTextFile().process
        self._parser = csv_decoder._CSVRecordReader(",")

    def process(self, csv_file: str):
        batch = []
        for record in self._read(csv_file):
            row = self._parser.ReadLine(record)
            if not row:
                continue
            if len(row) != len(self._column_names):
                raise ValueError(f"Columns do not match specified csv headers: {self._column_names} -> {row}")
            batch.append(row)
            if len(batch) == self.BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


def _typed_rows(pipeline: beam.Pipeline, csv_pattern: str):
    """TFX's CSV reading (the same files, header checks, reading, parsing and types): the
    files' parsed rows, in batches, and the columns' types (a side input)."""
    csv_files = fileio.glob(csv_pattern)
    if not csv_files:
        raise RuntimeError(f"Split pattern {csv_pattern} does not match any files.")
    column_names = io_utils.load_csv_column_names(csv_files[0])
    for csv_file in csv_files[1:]:
        if io_utils.load_csv_column_names(csv_file) != column_names:
            raise RuntimeError(f"Files in same split {csv_pattern} have different header.")
    batches = (pipeline
               | "CreateFilenames" >> beam.Create(csv_files)
               | "ReadAndParse" >> beam.ParDo(_ParsedRows(column_names)))
    column_infos = beam.pvalue.AsSingleton(
        batches | "InferColumnTypes" >> beam.CombineGlobally(_ColumnTypes(column_names, skip_blank_lines=True)))
    return batches, column_infos


class _CsvToExample(tfx_csv._CsvToExample):
    """TFX's CSV-to-tf.Example transform, typing and converting rows in batches."""

    def expand(self, pipeline):
        batches, column_infos = _typed_rows(pipeline, self._csv_pattern)
        return batches | "ToTFExample" >> beam.ParDo(_RowsToExamples(), column_infos)


class _CsvToSplits(beam.PTransform):
    """_CsvToExample and TFX's split in one (_RowsToSplits): ({split name: a PCollection of its
    serialized tf.Examples}, with `batches` a PCollection of (split name, record batch), else
    None)."""

    def __init__(self, csv_pattern: str, split_config: example_gen_pb2.SplitConfig, batches: bool = False):
        super().__init__()
        self._csv_pattern, self._split_config, self._batches = csv_pattern, split_config, batches

    def expand(self, pipeline):
        rows, column_infos = _typed_rows(pipeline, self._csv_pattern)
        indices = [str(i) for i in range(len(self._split_config.splits))]
        tags = indices + [_RowsToSplits.BATCHES] if self._batches else indices
        out = rows | "ToSplits" >> beam.ParDo(_RowsToSplits(self._split_config, self._batches),
                                              column_infos).with_outputs(*tags)
        result = {split.name: out[i] | f"Records[{split.name}]" >> beam.FlatMap(iter).with_output_types(bytes)
                  for i, split in zip(indices, self._split_config.splits, strict=True)}
        return result, out[_RowsToSplits.BATCHES] if self._batches else None


@beam.ptransform_fn
def _write_local(example_split, output_split_path, output_format, exec_properties=None):
    """write_split.WriteSplit for serialized tf.Examples (CsvExecutor.GenerateExamplesByBeam's),
    without the Reshuffle before the write, and uncompressed (no ".gz": every reader, TFX's
    TFXIO, tf.Transform's, TFMA's and tandem's, tells the compression by the file name)."""
    del output_format, exec_properties
    return example_split | "Write" >> beam.io.WriteToTFRecord(
        os.path.join(output_split_path, write_split.DEFAULT_FILE_NAME))


class CsvExecutor(tfx_csv.Executor):
    """TFX's CSV ExampleGen executor, with the same examples out, faster:

    - Rows are typed and become tf.Examples a batch at a time (_ColumnTypes, _RowsToExamples),
      on every runner.
    - Where it writes the splits locally (below), it also splits them a batch of rows at a time
      (GenerateExamplesByBeam): the same examples in the same splits, with two Beam steps per
      example fewer. ExampleGen alone on 1e5 taxi rows in this process, alternated: 4.3-4.5 s
      -> 3.8 s.
    - Where it writes the splits locally and the custom config names statistics options
      (example_gen), it computes the splits' statistics from the rows it writes, in the same
      pass, for StatisticsGen to take (components/statistics.py).
    - On DirectRunner it writes each split as it comes. TFX reshuffles every example before
      it writes a split (write_split.WriteSplit; TFX's own TODO: "make shuffle optional").
      That is a GroupByKey, and DirectRunner holds one whole in memory: the front could not
      run 1e7 taxi rows in 24 GiB. Measured on 1e6 rows, ExampleGen alone, the same examples
      out: 86.4 s and 7.3 GiB at peak with the reshuffle, 67.5 s and 5.0 GiB without
      (bench/ingest_validate.py measures the front). Other runners shuffle on disk and
      balance the output shards with it, so they keep TFX's write.
    - On DirectRunner it writes the splits uncompressed. TFX gzips them: zlib is the largest
      single cost of writing them, and StatisticsGen, Transform and the evaluators inflate
      them again. The files take about 5x the disk (about 0.5 GB per 1e6 taxi rows), on a
      local disk; cloud runners keep TFX's gzip. The Examples artifact still says
      "tfrecords_gzip": TFX's name for the TFRecord family, whatever the compression (TFX
      has no other; tfx_bsl's own TFXIO says it of every TFRecord source).
    """

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _CsvToExample

    def Do(self, input_dict, output_dict, exec_properties):
        if not self._writes_local(exec_properties):
            return super().Do(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        options = _statistics_options(exec_properties)
        if not (options and statistics.options_covered(options)):
            options = None
        self._statistics_ahead = options and (options, examples.uri)  # read by GenerateExamplesByBeam
        # The base executor's Do writes each split with write_split.WriteSplit, looked up when
        # it runs. Components can run side by side in this process (pipelines/local_dag.py),
        # but a pipeline has one ExampleGen, and nothing else writes splits with it.
        tfx_write = write_split.WriteSplit
        write_split.WriteSplit = _write_local
        try:
            super().Do(input_dict, output_dict, exec_properties)
        finally:
            write_split.WriteSplit = tfx_write
        if options:
            examples.set_string_custom_property(statistics.AHEAD, options.to_json())

    def GenerateExamplesByBeam(self, pipeline, exec_properties):
        """{split name: its serialized tf.Examples}, as TFX's, with the split done a batch of
        rows at a time where the splits are written locally (_CsvToSplits); and the splits'
        statistics, where Do asks for them."""
        if not self._writes_local(exec_properties):
            return super().GenerateExamplesByBeam(pipeline, exec_properties)
        inputs = proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                                           example_gen_pb2.Input())
        outputs = proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
                                            example_gen_pb2.Output())
        ahead = getattr(self, "_statistics_ahead", None)
        if outputs.split_config.splits:  # one input split, split by hash (TFX asserts it has one)
            assert len(inputs.splits) == 1, "input must have only one split when output split is specified."
            parts = [pipeline | "InputToRecord" >> _CsvToSplits(_pattern(exec_properties, inputs.splits[0]),
                                                                outputs.split_config, bool(ahead))]
        else:  # the input's splits as they are
            whole = [example_gen_pb2.SplitConfig(splits=[example_gen_pb2.SplitConfig.Split(name=s.name,
                                                                                          hash_buckets=1)])
                     for s in inputs.splits]
            parts = [pipeline | f"InputToRecord[{split.name}]" >> _CsvToSplits(_pattern(exec_properties, split), config,
                                                                             bool(ahead))
                     for split, config in zip(inputs.splits, whole, strict=True)]
        splits = {name: records for part, _ in parts for name, records in part.items()}
        if ahead:
            options, uri = ahead
            _ = ([batches for _, batches in parts]
                 | "StatisticsBatches" >> beam.Flatten()
                 | "Statistics" >> statistics.WriteSplitStatistics(
                     options, {name: statistics.ahead_uri(uri, name) for name in splits}))
        return splits

    def _writes_local(self, exec_properties) -> bool:
        """Whether the splits are written by _write_local (DirectRunner, tf.Examples)."""
        payload = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        return runs_in_memory(self._beam_pipeline_args) and payload != example_gen_pb2.FORMAT_PARQUET


def _pattern(exec_properties: dict, split: example_gen_pb2.Input.Split) -> str:
    return os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split.pattern)


def _statistics_options(exec_properties: dict) -> tfdv.StatsOptions | None:
    """The statistics options in the component's custom config (example_gen), if any."""
    config = proto_utils.json_to_proto(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "{}",
                                       example_gen_pb2.CustomConfig())
    fields = struct_pb2.Struct()
    if not config.custom_config.Unpack(fields) or STATISTICS_OPTIONS not in fields.fields:
        return None
    return tfdv.StatsOptions.from_json(fields.fields[STATISTICS_OPTIONS].string_value)


def split_config(eval_fraction_buckets: tuple[int, int]) -> example_gen_pb2.Output:
    """Train/eval by hash buckets, e.g. (4, 1) = 80 % / 20 %, stable across runs."""
    train, eval_ = eval_fraction_buckets
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=train),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_),
    ]))


def custom_config(statistics_options: tfdv.StatsOptions | None) -> example_gen_pb2.CustomConfig:
    """The executor's code fingerprint (an edit to the code is a cache miss) and the options
    of the statistics to compute of the splits as they are written, if any."""
    fields = {"code": struct_pb2.Value(string_value=code_fingerprint(__name__))}
    if statistics_options:
        fields[STATISTICS_OPTIONS] = struct_pb2.Value(string_value=statistics_options.to_json())
    config = any_pb2.Any()
    config.Pack(struct_pb2.Struct(fields=fields))
    return example_gen_pb2.CustomConfig(custom_config=config)


def example_gen(input_base: str, input_pattern: str, buckets: tuple[int, int],
                statistics_options: tfdv.StatsOptions | None = None) -> FileBasedExampleGen:
    """TFX's CSV ExampleGen with CsvExecutor. Given `statistics_options` (StatisticsGen's), it
    computes the splits' statistics as it writes them, on DirectRunner, and StatisticsGen takes
    them (components/statistics.py)."""
    return FileBasedExampleGen(
        input_base=input_base,
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern=input_pattern)]),
        output_config=split_config(buckets),
        custom_config=custom_config(statistics_options),
        custom_executor_spec=executor_spec.BeamExecutorSpec(CsvExecutor),
    ).with_id("CsvExampleGen")

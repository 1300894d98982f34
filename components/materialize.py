"""Transform: TFX's component, with the transformed examples written as Parquet.

TFX's executor writes the transformed examples in the input's file format: from ExampleGen's
TFRecords, gzipped tf.Examples, which every reader must decode record by record. Both
trainers read a whole split into memory columns (pipelines/transformed_data.py), and on the
1.04e6 transformed taxi training rows of bench/train_throughput.py that decoding took 3-6 s,
more than a fifth of the PyTorch trainer's whole run. Here the same rows are written as
Parquet, column by column, from the record batches tf.Transform produces (Beam's batched
Parquet sink, zstd, in row groups of up to 2^17 rows); reading them back took 0.1-0.2 s, and the
split took a fifth of the bytes.
Writing them costs less too: the Transform on 1e6 taxi rows took 44-47 s, against TFX's
executor's 62-70 s (alternated); on 15k rows, the same time.

The schema is the one TFX's own Parquet output has (tf.Transform's Arrow schema for the
transformed features: a list column per feature), and the artifact says what it holds
(file format Parquet, payload format Parquet), so a TFX reader (tfxio_utils, a Trainer's
data_accessor) reads it as such. Everything else is TFX's executor, unchanged.
"""

import threading

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.parquetio import WriteToParquetBatched
from tensorflow_transform import impl_helper
from tfx.components import Transform as TfxTransform
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.transform import executor as tfx_transform
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

FILE_FORMAT = example_gen_pb2.FileFormat.Name(example_gen_pb2.FILE_FORMAT_PARQUET)
SUFFIX = ".parquet"
CODEC = "zstd"  # the smallest of snappy / none / zstd on the taxi rows, and as fast to read
# Rows per Parquet row group, at most (a bundle's last one holds the rest). The sink writes
# each table it gets as a row group of its own, and tf.Transform's record batches hold about
# 1,000 rows: 554 row groups a file, whose metadata and per-group decoding made reading the
# 1.04e6-row train split take 0.9-1.2 s; in groups of 2^17 rows, 0.10-0.12 s, and the files
# took half the bytes of the small groups' (10.8 MB against 22.4 MB).
ROW_GROUP_ROWS = 1 << 17


class _ParquetProcessor(tfx_transform.TransformProcessor):
    @staticmethod
    @beam.ptransform_fn
    def _EncodeAndWrite(pcoll, schema, file_format, output_path):  # noqa: N802 (TFX's name)
        """TFX's hook for writing one split's transformed examples; `file_format`, the
        input's, is not used: the output is always Parquet."""
        arrow_schema = impl_helper.make_tensor_to_arrow_converter(schema).arrow_schema()
        return (pcoll
                | "RecordBatches" >> beam.Keys()
                | "RowGroups" >> beam.BatchElements(min_batch_size=ROW_GROUP_ROWS, max_batch_size=ROW_GROUP_ROWS,
                                                    element_size_fn=lambda batch: batch.num_rows)
                | "ToTables" >> beam.Map(lambda batches: pa.Table.from_batches(batches).select(arrow_schema.names))
                | "WriteToParquet" >> WriteToParquetBatched(output_path, arrow_schema, codec=CODEC,
                                                           file_name_suffix=SUFFIX))


# TFX's Executor.Do makes its TransformProcessor by name, from its module: for the length of
# one Do (one at a time in a process), that name is the Parquet-writing one.
_PROCESSOR_NAME = threading.Lock()


class Executor(tfx_transform.Executor):
    def Do(self, input_dict, output_dict, exec_properties):
        with _PROCESSOR_NAME:
            tfx_transform.TransformProcessor = _ParquetProcessor
            try:
                super().Do(input_dict, output_dict, exec_properties)
            finally:
                tfx_transform.TransformProcessor = _ParquetProcessor.__base__
        for examples in output_dict.get(standard_component_specs.TRANSFORMED_EXAMPLES_KEY, []):
            mark_parquet(examples)


def mark_parquet(examples) -> None:
    """An Examples artifact says it holds Parquet, as TFX's readers look it up."""
    examples.set_string_custom_property(example_gen_utils.FILE_FORMAT_PROPERTY_NAME, FILE_FORMAT)
    examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_PARQUET)


class Transform(TfxTransform):
    """TFX's Transform (the same inputs, outputs and options), running Executor. The front
    puts this module in the code fingerprint of the Transform's custom_config, beside
    preprocessing_fn's (components/front.py), so an edit here is a cache miss."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

"""Transform: TFX's component and executor, writing the transformed splits uncompressed on
DirectRunner.

TFX's Transform gzips the transformed examples it writes (TransformProcessor._EncodeAndWrite
names them .gz), and every trainer inflates them again before its first step: on the 1.04e6-row
train split of bench/train_throughput.py, about 1.2 s of the PyTorch trainer's decode. As
ExampleGen's splits (components/ingest.py), they are written uncompressed on a local runner:
every reader (TFX's TFXIO, the trainers' tandem readers) tells the compression by the name.
About 5x the disk, on a local disk; other runners keep TFX's gzip. The artifact is TFX's
Examples either way.
"""

import apache_beam as beam
import pyarrow as pa
from tfx.components import Transform as TfxTransform
from tfx.components.transform import executor as tfx_transform
from tfx.components.transform import labels
from tfx.dsl.components.base import executor_spec

from components.ingest import runs_in_memory

TFX_PROCESSOR = tfx_transform.TransformProcessor


class _LocalTransformProcessor(TFX_PROCESSOR):
    """TFX's TransformProcessor, writing TFRecords without gzip."""

    @staticmethod
    @beam.ptransform_fn
    @beam.typehints.with_input_types(tuple[pa.RecordBatch, dict[str, pa.Array]])
    def _EncodeAndWrite(pcoll, schema, file_format, output_path):
        if file_format != labels.FORMAT_TFRECORD:
            return pcoll | "TFX" >> TFX_PROCESSOR._EncodeAndWrite(
                schema=schema, file_format=file_format, output_path=output_path)
        return (pcoll
                | "EncodeAndSerialize" >> beam.ParDo(TFX_PROCESSOR._RecordBatchToExamplesFn(schema))
                | "ExtractExamples" >> beam.Values()
                | "WriteToTFRecord" >> beam.io.WriteToTFRecord(output_path))


class Executor(tfx_transform.Executor):
    def Do(self, input_dict, output_dict, exec_properties):
        if not runs_in_memory(self._beam_pipeline_args):
            return super().Do(input_dict, output_dict, exec_properties)
        # TFX's Do instantiates the module's TransformProcessor when it runs. Components can
        # run side by side in this process (pipelines/local_dag.py), but a pipeline has one
        # Transform, and nothing else uses TransformProcessor.
        tfx_transform.TransformProcessor = _LocalTransformProcessor
        try:
            return super().Do(input_dict, output_dict, exec_properties)
        finally:
            tfx_transform.TransformProcessor = TFX_PROCESSOR


class Transform(TfxTransform):
    """TFX's Transform (the same inputs, outputs and options), running Executor."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

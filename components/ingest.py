"""Ingest: CSV files become tf.Examples in an explicit train/eval split.

A run reads one folder of CSV files (`input_base`). `input_pattern` selects files in it;
with `{SPAN}` in the pattern (e.g. `span-{SPAN}/*.csv`) ExampleGen reads the latest span
and records its number, so new data arrives as a new span folder.
"""

from tfx.components import CsvExampleGen
from tfx.proto import example_gen_pb2


def split_config(eval_fraction_buckets: tuple[int, int]) -> example_gen_pb2.Output:
    """Train/eval by hash buckets, e.g. (4, 1) = 80 % / 20 %, stable across runs."""
    train, eval_ = eval_fraction_buckets
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=train),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_),
    ]))


def example_gen(input_base: str, input_pattern: str, buckets: tuple[int, int]):
    return CsvExampleGen(
        input_base=input_base,
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern=input_pattern)]),
        output_config=split_config(buckets),
    )

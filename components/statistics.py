"""StatisticsGen: TFX's component, with all splits' statistics computed in one pass, or
taken from the pass ExampleGen wrote the splits in.

TFX's executor applies TFDV's GenerateStatistics once per split: a graph of a few hundred
Beam transforms per split, each built, translated and run stage by stage, so a second split
doubles a cost that on small inputs is most of the work. Here every split's record batches
are keyed by the split's name and go once through the same combiners, per key (TFDV's
GenerateSlicedStatisticsImpl, which GenerateStatistics itself applies with one key for
all); each split's statistics are then written where and as TFX writes them
(WriteSplitStatistics). The result is the same per split: counts equal, means and deviations
to the last bits (float sums in another order), and what TFDV derives from its quantiles
sketch (quantiles, medians, the histograms) equal while the sketch holds every value, and
within the sketch's error beyond that, where it depends on how the rows were batched and
merged (as it does between two runners of TFX's own executor).

The pass pays where the Beam pipeline runs in this process (DirectRunner's in-process engine,
tandem's preset for small inputs): StatisticsGen in the front on 1e4 / 1e5 taxi rows, alternated,
3.4 -> 1.9 s / 4.7 -> 4.2 s. Where workers are processes of their own it costs more than it
saves: Beam materializes the flattened record batches between stages and ships them between
processes (1e6 rows, a worker per core: 26-30 s in one pass, 19-21 s per split). There, and
for what the pass does not cover (a schema, sampling, an allowlist, slicing, sharded or
partitioned output), TFX's executor runs.

On DirectRunner the front's ExampleGen runs the same pass on the rows it converts, as it
writes them (components/ingest.py): the record batches StatisticsGen would decode from the
examples, without reading or decoding them again, and in the Beam pipeline ExampleGen runs
anyway. With worker processes the pass is fused with the conversion in each worker, and only
the combiners' accumulators travel. ExampleGen records the options it used on the Examples
artifact (AHEAD); StatisticsGen takes those statistics when its own options are the same and
the pass covers them, and computes its own otherwise. The front, alternated: 1e5 taxi rows in
this process 7.5-7.7 -> 4.9 s; 1e6 rows, a worker per core, 65.2 -> 40.1-44.0 s (ExampleGen
itself 42.8 -> 39.9-43.8 s: within its noise).
"""

import json
import os

import apache_beam as beam
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.components import StatisticsGen as TfxStatisticsGen
from tfx.components.statistics_gen import executor as tfx_statistics
from tfx.components.util import tfxio_utils
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import json_utils, stats_utils

from components.beam_mode import runs_in_this_process
from components.fingerprint import code_fingerprint

KEYS = standard_component_specs
CODE = "code"  # the exec property that carries the code fingerprint
# The front's options. 100 histogram buckets, not 10: the Jensen-Shannon divergence of a
# long-tailed number (fare) is computed on them, and 10 equal-width buckets lump nearly all
# rows in one.
OPTIONS = tfdv.StatsOptions(num_histogram_buckets=100)
# A custom property of an Examples artifact: the options (JSON) ExampleGen computed its splits'
# statistics with (components/ingest.py), in the pass that wrote them.
AHEAD = "statistics_computed_with"


def _split_statistics(statistics: statistics_pb2.DatasetFeatureStatisticsList,
                      split: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    """One split's dataset out of all splits', unnamed as GenerateStatistics leaves it; for a
    split without rows, the empty dataset GenerateStatistics writes for no input."""
    result = statistics_pb2.DatasetFeatureStatisticsList()
    dataset = result.datasets.add()
    for keyed in statistics.datasets:
        if keyed.name == split:
            dataset.CopyFrom(keyed)
            dataset.name = ""
    return result


class Executor(tfx_statistics.Executor):
    def Do(self, input_dict, output_dict, exec_properties):
        options = tfdv.StatsOptions()
        if exec_properties.get(KEYS.STATS_OPTIONS_JSON_KEY):
            options = tfdv.StatsOptions.from_json(exec_properties[KEYS.STATS_OPTIONS_JSON_KEY])
        covered = _one_pass_covers(options, input_dict, exec_properties)
        examples = artifact_utils.get_single_instance(input_dict[KEYS.EXAMPLES_KEY])
        ahead = covered and _computed_ahead(examples, options)
        if not (ahead or covered and runs_in_this_process(self._beam_pipeline_args)):
            return super().Do(input_dict, output_dict, exec_properties)

        excluded = json_utils.loads(exec_properties.get(KEYS.EXCLUDE_SPLITS_KEY, "null")) or []
        splits = [s for s in artifact_utils.decode_split_names(examples.split_names) if s not in excluded]
        if not splits:
            raise ValueError(f"No splits for examples artifact: {examples}")
        statistics = artifact_utils.get_single_instance(output_dict[KEYS.STATISTICS_KEY])
        # The artifact's properties as TFX's executor sets them.
        statistics.split_names = artifact_utils.encode_split_names(splits)
        statistics.span = examples.span
        statistics.set_string_custom_property(tfx_statistics.STATS_DASHBOARD_LINK,
                                              stats_utils.generate_stats_dashboard_link(statistics))
        statistics.set_json_value_custom_property(tfx_statistics.SAMPLE_RATE_BY_SPLIT_PROPERTY_NAME,
                                                  json_utils.dumps(dict.fromkeys(splits, 1.0)))
        outputs = {split: artifact_utils.get_split_uri([statistics], split) for split in splits}
        if ahead:  # ExampleGen computed them with these options, from the rows it wrote
            for split, uri in outputs.items():
                fileio.makedirs(uri)
                fileio.copy(os.path.join(ahead_uri(examples.uri, split), tfx_statistics.DEFAULT_FILE_NAME),
                            os.path.join(uri, tfx_statistics.DEFAULT_FILE_NAME), overwrite=True)  # a retry
            return
        with self._make_beam_pipeline() as pipeline:
            keyed = []
            for split in splits:
                tfxio = tfxio_utils.get_split_tfxio(examples=[examples], split=split,
                                                    telemetry_descriptors=["StatisticsGen"])
                keyed.append(pipeline
                             | f"TFXIORead[{split}]" >> tfxio.BeamSource()
                             | f"KeyBySplit[{split}]" >> beam.WithKeys(split))
            _ = keyed | "Splits" >> beam.Flatten() | WriteSplitStatistics(options, outputs)


class WriteSplitStatistics(beam.PTransform):
    """(split name, record batch) pairs in; each split's statistics out, to
    `<uris[split]>/FeatureStats.pb` as TFX's StatisticsGen writes them (the one pass)."""

    def __init__(self, options: tfdv.StatsOptions, uris: dict[str, str]):
        super().__init__()
        self._options, self._uris = options, uris

    def expand(self, keyed_batches):
        all_splits = keyed_batches | "GenerateStatistics" >> stats_impl.GenerateSlicedStatisticsImpl(
            self._options, is_slicing_enabled=True)
        for split, uri in self._uris.items():
            _ = (all_splits
                 | f"Select[{split}]" >> beam.Map(_split_statistics, split)
                 | f"WriteStatsOutput[{split}]" >> tfdv.WriteStatisticsToBinaryFile(
                     os.path.join(uri, tfx_statistics.DEFAULT_FILE_NAME)))
        return beam.pvalue.PDone(keyed_batches.pipeline)


def ahead_uri(examples_uri: str, split: str) -> str:
    """Where ExampleGen leaves the statistics it computed of a split: in its artifact, beside
    (not in) the split's folder of examples, which readers take whole."""
    return os.path.join(examples_uri, "Statistics", f"Split-{split}")


def _computed_ahead(examples, options: tfdv.StatsOptions) -> bool:
    """Whether ExampleGen computed every split's statistics with these very options (the same
    JSON: options written by another TFDV version compare unequal, and are not taken)."""
    if not examples.has_custom_property(AHEAD):
        return False
    try:
        same = json.loads(examples.get_string_custom_property(AHEAD)) == json.loads(options.to_json())
    except ValueError:
        return False
    splits = artifact_utils.decode_split_names(examples.split_names)
    return same and all(fileio.exists(os.path.join(ahead_uri(examples.uri, s), tfx_statistics.DEFAULT_FILE_NAME))
                        for s in splits)


def options_covered(options: tfdv.StatsOptions) -> bool:
    """True where GenerateStatistics, with these options, would only key the record batches
    before its combiners and leave one result per split."""
    return not (options.schema or options.sample_rate or options.feature_allowlist
                or options.experimental_filter_read_paths or options.experimental_slice_functions
                or options.slicing_config or options.experimental_result_partitions != 1)


def _one_pass_covers(options: tfdv.StatsOptions, input_dict: dict, exec_properties: dict) -> bool:
    """options_covered, and no schema, sampling or sharded output among the component's own
    inputs and properties."""
    return options_covered(options) and not (input_dict.get(KEYS.SCHEMA_KEY)
                                             or exec_properties.get(KEYS.SAMPLE_RATE_BY_SPLIT_KEY)
                                             or exec_properties.get(KEYS.SHARDED_STATS_OUTPUT_KEY))


class StatisticsGen(TfxStatisticsGen):
    """TFX's StatisticsGen (the same inputs, outputs and options), running Executor."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # TFX keys its cache on the exec properties and names the executor by its path: with
        # a fingerprint of this code among them, an edit to it is a cache miss. TFX's
        # StatisticsGen reads only the properties it knows (components/fingerprint.py).
        self.exec_properties[CODE] = code_fingerprint(__name__)


def statistics_gen(examples) -> StatisticsGen:
    return StatisticsGen(examples=examples, stats_options=OPTIONS)

"""Does each of DirectRunner's running modes deliver every element to a GroupByKey?

Why tandem refuses `--direct_running_mode=multi_threading` (pipelines/runners.py): the threaded
workers' output goes through a buffer that a thread flushes every second, while the worker goes
on writing to it. An element written during a flush is lost; one cut in two fails to decode in
the runner's GroupByKey ("Invalid PaneInfoEncoding"). Rerun this after upgrading Beam: once
multi_threading delivers every element, run after run, the refusal can go.

    scripts/env run python scripts/beam_threaded_workers.py [--runs 4]

Each run: 8 bundles of 20 elements, each element a list that takes ~50 ms to encode (the
window a flush has to fall in), grouped under two keys: 160 elements expected.
"""

import argparse

import apache_beam as beam
from apache_beam.metrics import Metrics, MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

MODES = ("in_memory", "multi_processing", "multi_threading")
BUNDLES, PER_BUNDLE, KEYS = 8, 20, 2


def delivered(mode: str) -> int:
    """Elements that reach the far side of a GroupByKey, in a pipeline on `mode` (Beam's counter)."""
    workers = 1 if mode == "in_memory" else 2  # in_memory runs one bundle at a time, whatever it is told
    options = PipelineOptions([f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"])
    pipeline = beam.Pipeline(options=options)
    _ = (pipeline
         | beam.Create(range(BUNDLES))
         | beam.FlatMap(lambda i: [(i % KEYS, list(range(300_000))) for _ in range(PER_BUNDLE)])
         | beam.GroupByKey()
         | beam.Map(lambda grouped: Metrics.counter("check", "delivered").inc(len(grouped[1]))))
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_name("delivered"))["counters"]
    return sum(c.committed for c in counters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    expected = BUNDLES * PER_BUNDLE
    for mode in MODES:
        counts = []
        for _ in range(args.runs):
            try:
                counts.append(str(delivered(mode)))
            except Exception as error:  # noqa: BLE001 - a cut element fails the run: say so, go on
                counts.append(f"failed ({type(error).__name__}: {str(error).splitlines()[-1][:60]})")
        lost = sum(1 for c in counts if c != str(expected))
        print(f"{mode:17} {expected} expected, delivered: {', '.join(counts)}  ({lost} of {args.runs} runs short)")


if __name__ == "__main__":
    main()

"""Benchmark: ingest + validation throughput, tandem's shared front vs. two baselines.

    python -m bench.ingest_validate [--rows 10000 100000 1000000] [--out bench/results]

For each size, on data generated from the real sample (components/data.generate), in
one run and on one machine, it times:
  (a) tfdv.generate_statistics_from_csv on the CSV (statistics only, in-process Beam)
  (b) TFX's default front: CsvExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator
  (c) tandem's front up to the gate: CsvExampleGen -> StatisticsGen -> ImportSchemaGen
      -> ExampleValidator -> AnomaliesGate
All compute full (unsampled) statistics; (b) and (c) run on LocalDagRunner with Beam's
DirectRunner, caching off: (b) in multi-processing mode (one worker per core), (c) in the
mode `tandem run` picks for the input's size (pipelines/config.py: local_beam_args). It
prints one table with rows/s, the ratios c/a and c/b (> 1 means tandem took longer), and the
issue's targets: tandem's throughput >= 0.5x TFDV's at 1e4 rows, >= 0.7x at 1e5 and 1e6.
"""

import argparse
import os
import shutil
import tempfile
import time

import tensorflow_data_validation as tfdv
from tfx import v1 as tfx

from components import data, datasets, ingest
from components.front import FrontConfig, create_front
from components.validate import stage_schema
from pipelines.config import LOCAL_BEAM_ARGS, local_beam_args
from pipelines.runner import run_pipeline

TAXI = datasets.load("taxi")
TARGETS = {10_000: 0.5, 100_000: 0.7, 1_000_000: 0.7}  # tandem's throughput / TFDV's, at least


def _pipeline(name, work, components, beam_args):
    return tfx.dsl.Pipeline(
        pipeline_name=name, pipeline_root=os.path.join(work, name), components=components,
        enable_cache=False, beam_pipeline_args=list(beam_args),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(work, f"{name}.sqlite")))


def tfdv_only(csv_path, work):
    tfdv.generate_statistics_from_csv(csv_path, output_path=os.path.join(work, "stats.tfrecord"))


def tfx_default_front(csv_path, work):
    example_gen = ingest.example_gen(os.path.dirname(csv_path), os.path.basename(csv_path), (4, 1))
    stats = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=stats.outputs["statistics"])
    validator = tfx.components.ExampleValidator(statistics=stats.outputs["statistics"], schema=schema.outputs["schema"])
    run_pipeline(_pipeline("tfx-default", work, [example_gen, stats, schema, validator], LOCAL_BEAM_ARGS),
                 echo=lambda _: None)


def tandem_front(csv_path, work):
    schema = stage_schema(TAXI.schema_path, os.path.join(work, "schema"))
    front = create_front(FrontConfig(os.path.dirname(csv_path), schema, input_pattern=os.path.basename(csv_path),
                                     dataset=TAXI.name))
    front.transform.remove_upstream_node(front.gate)  # measure up to the gate, without Transform
    components = [c for c in front.components() if c is not front.transform]
    beam_args = local_beam_args(os.path.getsize(csv_path))
    run_pipeline(_pipeline("tandem-front", work, components, beam_args), echo=lambda _: None)


CONTENDERS = {"a: tfdv on CSV": tfdv_only, "b: TFX default front": tfx_default_front, "c: tandem front": tandem_front}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--work", default=None, help="scratch folder (default: a temp folder, removed after)")
    args = parser.parse_args()
    work_root = args.work or tempfile.mkdtemp(prefix="tandem-bench-")
    results = {}
    try:
        for rows in args.rows:
            csv_dir = os.path.join(work_root, f"data-{rows}")
            os.makedirs(csv_dir, exist_ok=True)
            csv_path = data.generate(TAXI, TAXI.bundled_csv(work_root), rows, os.path.join(csv_dir, "trips.csv"),
                                     seed=rows)
            for name, fn in CONTENDERS.items():
                work = tempfile.mkdtemp(dir=work_root)
                start = time.perf_counter()
                fn(csv_path, work)
                results[rows, name] = time.perf_counter() - start
                print(f"  {rows:>9,} rows  {name:<22} {results[rows, name]:8.1f} s", flush=True)
                shutil.rmtree(work, ignore_errors=True)
    finally:
        if not args.work:
            shutil.rmtree(work_root, ignore_errors=True)
    print(f"\n{'rows':>10} | " + " | ".join(f"{n:>22}" for n in CONTENDERS) + " |  c/a |  c/b")
    print("-" * 11 + "+" + "+".join(["-" * 24] * len(CONTENDERS)) + "+------+------")
    for rows in args.rows:
        cells = [f"{results[rows, n]:7.1f} s {rows / results[rows, n]:>8,.0f}/s" for n in CONTENDERS]
        a, b, c = (results[rows, n] for n in CONTENDERS)
        print(f"{rows:>10,} | " + " | ".join(f"{x:>22}" for x in cells) + f" | {c / a:4.2f} | {c / b:4.2f}")
    print("\ntargets (tandem's throughput / TFDV's = a/c):")
    for rows in args.rows:
        ratio = results[rows, "a: tfdv on CSV"] / results[rows, "c: tandem front"]
        target = TARGETS.get(rows)
        print(f"  {rows:>10,} rows: {ratio:4.2f}x" + (f" (target >= {target}x): " + ("met" if ratio >= target
                                                                                  else "NOT met") if target else ""))
    print(f"\nmachine: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
